//! What in an environment runs code on every interpreter start, or was written where packages
//! do not normally write. Installing cannot stop a package from shipping a `.pth` hook (it is a
//! legitimate feature), so seal shows the user every one of them.

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    /// Path relative to the environment.
    pub path: String,
    pub detail: String,
}

fn rel(env: &Path, p: &Path) -> String {
    p.strip_prefix(env)
        .unwrap_or(p)
        .to_string_lossy()
        .escape_debug()
        .to_string()
}

fn short(line: &str) -> String {
    let l: String = line.trim().chars().take(120).collect();
    l.escape_debug().to_string()
}

/// site-packages directories of a venv: lib/pythonX.Y/site-packages (and lib64 twins).
fn site_packages(env: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        if let Ok(entries) = std::fs::read_dir(env.join(lib)) {
            for e in entries.flatten() {
                let sp = e.path().join("site-packages");
                if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
                    out.push(sp);
                }
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.canonicalize().ok() == b.canonicalize().ok());
    out
}

fn scan_site_packages(env: &Path, sp: &Path, out: &mut Vec<Finding>) {
    let Ok(entries) = std::fs::read_dir(sp) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".pth") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // site.py executes lines that start with "import" followed by a space or tab.
            for line in text.lines() {
                if line.starts_with("import ") || line.starts_with("import\t") {
                    out.push(Finding {
                        kind: "pth-code",
                        path: rel(env, &p),
                        detail: format!("runs at every interpreter start: {}", short(line)),
                    });
                }
            }
        }
        if matches!(
            name.as_str(),
            "sitecustomize.py" | "usercustomize.py" | "sitecustomize" | "usercustomize"
        ) {
            out.push(Finding {
                kind: "startup-hook",
                path: rel(env, &p),
                detail: format!("{name} is imported at every interpreter start"),
            });
        }
    }
}

/// An empty directory holds nothing that could run (venv itself creates include/pythonX.Y).
fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// Entries of a venv that are not where packages normally install.
fn outside_usual_places(env: &Path, out: &mut Vec<Finding>) {
    // `.lock` is uv's lock file for concurrent installs into the venv.
    let usual_top = ["bin", "lib", "lib64", "include", "pyvenv.cfg", ".lock"];
    if let Ok(entries) = std::fs::read_dir(env) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !usual_top.contains(&name.as_str()) {
                out.push(Finding {
                    kind: "outside-site-packages",
                    path: rel(env, &p),
                    detail: "written outside site-packages and bin".into(),
                });
            }
        }
    }
    for lib in ["lib", "lib64"] {
        if let Ok(entries) = std::fs::read_dir(env.join(lib)) {
            for e in entries.flatten() {
                let py = e.path();
                if let Ok(inner) = std::fs::read_dir(&py) {
                    for i in inner.flatten() {
                        if i.file_name() != "site-packages" && !is_empty_dir(&i.path()) {
                            out.push(Finding {
                                kind: "outside-site-packages",
                                path: rel(env, &i.path()),
                                detail: "written outside site-packages and bin".into(),
                            });
                        }
                    }
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(env.join("include")) {
        for e in entries.flatten().filter(|e| !is_empty_dir(&e.path())) {
            out.push(Finding {
                kind: "outside-site-packages",
                path: rel(env, &e.path()),
                detail: "written outside site-packages and bin".into(),
            });
        }
    }
}

pub fn scan(env: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    for sp in site_packages(env) {
        scan_site_packages(env, &sp, &mut out);
    }
    outside_usual_places(env, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pth_code_hooks_and_stray_files() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path();
        let sp = env.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&sp).unwrap();
        std::fs::create_dir_all(env.join("bin")).unwrap();
        std::fs::write(env.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(sp.join("paths.pth"), "/some/path\n").unwrap();
        std::fs::write(sp.join("evil.pth"), "import os; os.system('x')\n").unwrap();
        std::fs::write(sp.join("sitecustomize.py"), "").unwrap();
        std::fs::create_dir_all(env.join("etc/cron.d")).unwrap();
        let f = scan(env);
        let kinds: Vec<(&str, &str)> = f.iter().map(|x| (x.kind, x.path.as_str())).collect();
        assert!(
            kinds.contains(&("pth-code", "lib/python3.11/site-packages/evil.pth")),
            "{kinds:?}"
        );
        assert!(!kinds.iter().any(|(_, p)| p.ends_with("paths.pth")));
        assert!(kinds.contains(&(
            "startup-hook",
            "lib/python3.11/site-packages/sitecustomize.py"
        )));
        assert!(kinds.contains(&("outside-site-packages", "etc")));
    }
}
