//! After a run with a writable notebook directory: what the sandboxed code left there that
//! tools on the host would execute.
//!
//! Protected names at the top are read-only during the run, but the directory is writable at
//! every depth: a nested `.git` (its config's `core.fsmonitor` runs on `git status`), a nested
//! `pyproject.toml` (the next `seal run` from that subdirectory would obey its policy), and above
//! all bytecode: a `.pyc` whose header names the source's mtime and size runs on the host in
//! place of an unchanged `.py`, where no review of the sources can see it. Changes are found by
//! inode change time, which the program cannot set (unlike mtime).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::layout::PROTECTED;

/// Enough for any notebook directory; a bigger tree is reviewed up to here and says so.
const MAX_ENTRIES: usize = 500_000;

/// A moment before the run: inode times come from a coarse clock that may lag a little.
pub fn start_mark() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 - 1)
        .unwrap_or(0)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Review {
    /// Bytecode written during the run, removed (Python rebuilds caches from the sources).
    pub removed_bytecode: Vec<PathBuf>,
    /// Protected names created or changed during the run, at any depth: left for the user.
    pub suspicious: Vec<PathBuf>,
    pub truncated: bool,
}

fn is_bytecode(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "pyc" || e == "pyo")
        || p.parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "__pycache__")
}

/// Walk `dir` (never following links, skipping seal's own `.seal`), remove bytecode changed
/// since `since` and list protected names changed since then.
pub fn review(dir: &Path, since: i64) -> Review {
    let mut out = Review::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                out.truncated = true;
                return out;
            }
            let path = e.path();
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if d == dir && e.file_name() == ".seal" {
                continue;
            }
            let changed = meta.ctime() >= since;
            let name = e.file_name();
            if changed && PROTECTED.iter().any(|p| name == *p) {
                out.suspicious.push(path.clone());
            }
            if meta.is_dir() {
                stack.push(path);
            } else if changed && is_bytecode(&path) && std::fs::remove_file(&path).is_ok() {
                out.removed_bytecode.push(path);
            }
        }
    }
    out
}

/// Review and tell the user, one line per finding.
pub fn report(dir: &Path, since: i64) {
    let r = review(dir, since);
    if !r.removed_bytecode.is_empty() {
        eprintln!(
            "seal: removed {} bytecode files written in {} during the run (a planted .pyc runs on your machine in place of its source)",
            r.removed_bytecode.len(),
            dir.display()
        );
    }
    for p in &r.suspicious {
        eprintln!(
            "seal: warning: the sandboxed program created or changed {}; tools on your machine may run code from it: review or delete it",
            p.display()
        );
    }
    if r.truncated {
        eprintln!(
            "seal: warning: {} has more than {MAX_ENTRIES} entries; only part of it was reviewed",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_protected_names_and_removes_new_bytecode() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let old_pyc = root.join("__pycache__/old.cpython-311.pyc");
        std::fs::create_dir_all(old_pyc.parent().unwrap()).unwrap();
        std::fs::write(&old_pyc, b"old").unwrap();
        std::fs::create_dir_all(root.join(".seal/env")).unwrap();
        std::fs::write(root.join(".seal/env/x.pyc"), b"env").unwrap();
        // Everything above existed before the run.
        let since = start_mark() + 2;
        std::thread::sleep(std::time::Duration::from_millis(2100));
        std::fs::create_dir_all(root.join("sub/.git")).unwrap();
        std::fs::write(root.join("sub/pyproject.toml"), b"[tool.seal]").unwrap();
        std::fs::write(root.join("__pycache__/mod.cpython-311.pyc"), b"evil").unwrap();
        std::fs::write(root.join("notes.ipynb"), b"{}").unwrap();
        let r = review(root, since);
        assert_eq!(
            r.removed_bytecode,
            vec![root.join("__pycache__/mod.cpython-311.pyc")]
        );
        assert!(old_pyc.exists() && root.join(".seal/env/x.pyc").exists());
        let mut s = r.suspicious.clone();
        s.sort();
        assert_eq!(
            s,
            vec![root.join("sub/.git"), root.join("sub/pyproject.toml")]
        );
        assert!(root.join("notes.ipynb").exists());
    }
}
