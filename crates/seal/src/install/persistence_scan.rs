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

/// The entries of `dir`, sorted; none when it cannot be read.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// lib/pythonX.Y directories of a venv; lib64 is usually a link to lib and is read once.
fn python_lib_dirs(env: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["lib", "lib64"]
        .iter()
        .flat_map(|lib| entries(&env.join(lib)))
        .filter(|p| name_of(p).starts_with("python") && p.is_dir())
        .collect();
    out.dedup_by(|a, b| a.canonicalize().ok() == b.canonicalize().ok());
    out
}

fn scan_site_packages(env: &Path, sp: &Path, out: &mut Vec<Finding>) {
    for p in entries(sp) {
        let name = name_of(&p);
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
    let top = entries(env)
        .into_iter()
        .filter(|p| !usual_top.contains(&name_of(p).as_str()));
    let beside_site_packages = python_lib_dirs(env)
        .iter()
        .flat_map(|py| entries(py))
        .filter(|p| name_of(p) != "site-packages" && !is_empty_dir(p))
        .collect::<Vec<_>>();
    let headers = entries(&env.join("include"))
        .into_iter()
        .filter(|p| !is_empty_dir(p));
    for p in top.chain(beside_site_packages).chain(headers) {
        out.push(Finding {
            kind: "outside-site-packages",
            path: rel(env, &p),
            detail: "written outside site-packages and bin".into(),
        });
    }
}

pub fn scan(env: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    for py in python_lib_dirs(env) {
        scan_site_packages(env, &py.join("site-packages"), &mut out);
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
        std::fs::create_dir_all(env.join("lib/python3.11/stray")).unwrap();
        std::fs::write(env.join("lib/python3.11/stray/x"), "").unwrap();
        // venv's lib64 -> lib link must not report everything twice.
        std::os::unix::fs::symlink("lib", env.join("lib64")).unwrap();
        let f = scan(env);
        let mut paths: Vec<&str> = f.iter().map(|x| x.path.as_str()).collect();
        let n = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), n, "duplicate findings: {f:?}");
        assert!(
            !paths.iter().any(|p| p.starts_with("lib64/")),
            "lib64 read twice: {f:?}"
        );
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
        assert!(kinds.contains(&("outside-site-packages", "lib/python3.11/stray")));
    }
}
