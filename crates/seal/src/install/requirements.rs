//! What `seal install` installs: named packages, requirement files, `[project].dependencies`
//! of pyproject.toml, or exactly the artifacts of `seal.lock`.
//!
//! Inputs are read on the host and handed to the install sandbox as a copy: the sandbox never
//! sees the project tree. Lines that would let a requirement file steer pip (options such as
//! `--index-url`, `-e`, nested `-r`) are refused: seal decides where packages come from.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::project::Project;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    /// "wheel", or "sdist" for a package built offline from this source archive.
    #[serde(default = "wheel_kind")]
    pub kind: String,
}

fn wheel_kind() -> String {
    "wheel".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    pub version: u32,
    pub python: String,
    pub index: String,
    #[serde(rename = "package", default)]
    pub packages: Vec<LockedPackage>,
}

impl Lock {
    pub fn read(path: &Path) -> Result<Lock> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), one_line(&e.to_string())))
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a lock always serializes");
        format!(
            "# seal.lock: the exact artifacts of this project's environment (name, version, sha256).\n\
             # `seal install` with no arguments recreates the environment from it; do not edit.\n{body}"
        )
    }

    /// Requirement lines pinning every wheel by version and hash (sdists are fetched and
    /// built separately; their wheels' hashes are known only after the build).
    pub fn requirement_lines(&self) -> Vec<String> {
        self.packages
            .iter()
            .filter(|p| p.kind != "sdist")
            .map(|p| format!("{}=={} --hash=sha256:{}", p.name, p.version, p.sha256))
            .collect()
    }

    /// Fetcher specs for the locked source archives: name==version#sha256=digest.
    pub fn sdist_specs(&self) -> Vec<String> {
        self.packages
            .iter()
            .filter(|p| p.kind == "sdist")
            .map(|p| format!("{}=={}#sha256={}", p.name, p.version, p.sha256))
            .collect()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub enum Source {
    Arguments,
    Files(Vec<PathBuf>),
    Pyproject,
    Lock(Lock),
}

pub struct Requirements {
    pub lines: Vec<String>,
    pub source: Source,
}

impl Requirements {
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Arguments => "the command line".into(),
            Source::Files(f) => f
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Source::Pyproject => "pyproject.toml [project].dependencies".into(),
            Source::Lock(_) => "seal.lock".into(),
        }
    }

    pub fn locked(&self) -> Option<&Lock> {
        match &self.source {
            Source::Lock(l) => Some(l),
            _ => None,
        }
    }
}

/// A direct reference (`name @ url` with any spacing or extras, a VCS or archive URL, a
/// local path) instead of a name resolved against the index. PEP 508 puts `@` only in direct
/// references, so any `@` or URL scheme counts.
fn is_direct_reference(req: &str) -> bool {
    let lower = req.to_ascii_lowercase();
    lower.contains('@')
        || lower.contains("://")
        || ["git+", "hg+", "svn+", "bzr+", "file:", ".", "/", "~"]
            .iter()
            .any(|p| lower.starts_with(p))
}

/// Lines of a requirements file with pip's continuation rule applied (a trailing `\` joins
/// the next line), numbered by where each logical line starts.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let (start, mut acc) = cur.take().unwrap_or((n + 1, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                cur = Some((start, acc));
            }
            None => {
                acc.push_str(raw);
                out.push((start, acc));
            }
        }
    }
    if let Some(last) = cur {
        out.push(last);
    }
    out
}

/// Check one requirement line; `origin` names where it came from for the error message.
pub(super) fn check_line(line: &str, origin: &str, allow_direct: bool) -> Result<Option<String>> {
    let line = match line
        .find(" #")
        .or_else(|| line.starts_with('#').then_some(0))
    {
        Some(i) => &line[..i],
        None => line,
    }
    .trim();
    if line.is_empty() {
        return Ok(None);
    }
    if line.starts_with('-') {
        bail!(
            "{origin}: {line:?}: pip options are not allowed in requirements (seal chooses the index; \
             use seal's --index-url / --allow-host, and list packages by name)"
        );
    }
    if is_direct_reference(line) && !allow_direct {
        bail!(
            "{origin}: {line:?} is a direct URL or path requirement; these bypass the index and are \
             refused unless you pass --allow-direct-urls (and --allow-host for its host)"
        );
    }
    Ok(Some(line.to_string()))
}

fn pyproject_dependencies(path: &Path) -> Result<Option<Vec<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), one_line(&e.to_string())))?;
    let Some(deps) = doc.get("project").and_then(|p| p.get("dependencies")) else {
        return Ok(None);
    };
    let arr = deps.as_array().with_context(|| {
        format!(
            "{}: [project].dependencies must be a list of strings",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for d in arr {
        out.push(
            d.as_str()
                .with_context(|| {
                    format!(
                        "{}: [project].dependencies must be a list of strings",
                        path.display()
                    )
                })?
                .to_string(),
        );
    }
    Ok(Some(out))
}

/// Decide what to install, in this order: packages named on the command line and `-r` files;
/// else `seal.lock` if it exists; else `[project].dependencies` of pyproject.toml.
/// `policy_files` are the requirement files of the project's policy, used after seal.lock and
/// before pyproject.toml.
/// With `relock`, seal.lock is passed over (`seal add` and `remove` resolve anew).
pub fn gather(
    packages: &[String],
    files: &[PathBuf],
    policy_files: &[PathBuf],
    project: &Project,
    allow_direct: bool,
    relock: bool,
) -> Result<Requirements> {
    let mut lines = Vec::new();
    let use_lock = !relock && project.lock_file().is_file();
    let from_policy = packages.is_empty() && files.is_empty() && !use_lock;
    let files = if from_policy { policy_files } else { files };
    if !packages.is_empty() || !files.is_empty() {
        for p in packages {
            if let Some(l) = check_line(p, "argument", allow_direct)? {
                lines.push(l);
            }
        }
        for f in files {
            let text = std::fs::read_to_string(f).with_context(|| format!("-r {}", f.display()))?;
            for (n, line) in logical_lines(&text) {
                let origin = format!("{}:{n}", f.display());
                if let Some(l) = check_line(&line, &origin, allow_direct)? {
                    lines.push(l);
                }
            }
        }
        let source = if files.is_empty() {
            Source::Arguments
        } else {
            Source::Files(files.to_vec())
        };
        if lines.is_empty() {
            bail!("nothing to install: the requirement files list no packages");
        }
        return Ok(Requirements { lines, source });
    }
    if use_lock {
        let lock = Lock::read(&project.lock_file())?;
        return Ok(Requirements {
            lines: lock.requirement_lines(),
            source: Source::Lock(lock),
        });
    }
    if let Some(deps) = pyproject_dependencies(&project.root.join("pyproject.toml"))? {
        for d in &deps {
            if let Some(l) = check_line(d, "pyproject.toml [project].dependencies", allow_direct)? {
                lines.push(l);
            }
        }
        return Ok(Requirements {
            lines,
            source: Source::Pyproject,
        });
    }
    // Last, as pip users expect of a project that has one: requirements.txt at the root.
    let requirements_txt = project.root.join("requirements.txt");
    if requirements_txt.is_file() {
        return gather(&[], &[requirements_txt], &[], project, allow_direct, relock);
    }
    bail!(
        "nothing to install: name packages (seal install requests), give -r requirements.txt, \
         or add [project].dependencies to pyproject.toml"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_direct_references_are_refused() {
        assert!(check_line("--index-url https://x/simple", "f", false).is_err());
        assert!(check_line("-e .", "f", false).is_err());
        assert!(check_line("-r other.txt", "f", false).is_err());
        assert!(check_line("pkg @ git+https://host/repo", "f", false).is_err());
        assert!(check_line("git+https://host/repo#egg=x", "f", false).is_err());
        assert!(check_line("./local/path", "f", false).is_err());
        for sneaky in [
            "hidden@ http://127.0.0.1:1/x.whl",
            "hidden @\thttp://127.0.0.1:1/x.whl",
            "hidden[x]@ http://127.0.0.1:1/x.whl",
            "hidden@file:///tmp/x.whl",
        ] {
            assert!(check_line(sneaky, "f", false).is_err(), "{sneaky}");
        }
        let joined = logical_lines("hidden \\\n@ http://127.0.0.1:1/x.whl\nother\n");
        assert_eq!(joined[0].0, 1);
        assert!(check_line(&joined[0].1, "f", false).is_err());
        assert_eq!(joined[1], (3, "other".to_string()));
        assert!(check_line("pkg @ git+https://host/repo", "f", true)
            .unwrap()
            .is_some());
        assert_eq!(
            check_line("requests>=2 # web", "f", false)
                .unwrap()
                .as_deref(),
            Some("requests>=2")
        );
        assert_eq!(check_line("# only a comment", "f", false).unwrap(), None);
        assert_eq!(
            check_line("numpy==2.0 ; python_version >= '3.9'", "f", false)
                .unwrap()
                .as_deref(),
            Some("numpy==2.0 ; python_version >= '3.9'")
        );
    }

    #[test]
    fn lock_round_trips() {
        let lock = Lock {
            version: 1,
            python: "3.11".into(),
            index: "https://pypi.org/simple".into(),
            packages: vec![LockedPackage {
                name: "six".into(),
                version: "1.16.0".into(),
                file: "six-1.16.0-py2.py3-none-any.whl".into(),
                sha256: "ab".repeat(32),
                kind: "wheel".into(),
            }],
        };
        let text = lock.to_toml();
        assert!(text.starts_with("# seal.lock"));
        let back: Lock = toml::from_str(&text).unwrap();
        assert_eq!(back, lock);
        assert_eq!(
            back.requirement_lines()[0],
            format!("six==1.16.0 --hash=sha256:{}", "ab".repeat(32))
        );
    }
}
