//! The lock made from what the fetch step downloaded: each wheel's name, version and hash.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};

use super::requirements::{Lock, LockedPackage};
use super::sdists::SdistInfo;
use crate::python::Interpreter;

pub(super) fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}

/// name and version from a wheel's file name (`name-version-...-tag.whl`).
pub(super) fn wheel_name_version(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".whl")?;
    let mut parts = stem.split('-');
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// One artifact per wheel in `wheels`, plus the source archives that were built offline
/// (whose locally built wheels are recorded through their sdist, not by their own hash).
pub(super) fn lock_from_artifacts(
    wheels: &Path,
    sdists: &[SdistInfo],
    python: &Interpreter,
    index: &str,
) -> Result<Lock> {
    let built: Vec<String> = sdists.iter().map(|s| normalize(&s.name)).collect();
    let mut packages = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(wheels)?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let file = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (name, version) = wheel_name_version(&file)
            .ok_or_else(|| anyhow!("unexpected artifact {file} (not a wheel)"))?;
        if built.contains(&normalize(&name)) {
            continue;
        }
        packages.push(LockedPackage {
            name,
            version,
            sha256: sha256_file(&f)?,
            file,
            kind: "wheel".into(),
        });
    }
    for s in sdists {
        packages.push(LockedPackage {
            name: s.name.clone(),
            version: s.version.clone(),
            file: s.file.clone(),
            sha256: s.sha256.clone(),
            kind: "sdist".into(),
        });
    }
    Ok(Lock {
        version: 1,
        python: python.version.clone(),
        index: index.to_string(),
        packages,
    })
}

/// PEP 503 name normalization.
pub(super) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names() {
        assert_eq!(
            wheel_name_version("six-1.16.0-py2.py3-none-any.whl"),
            Some(("six".into(), "1.16.0".into()))
        );
        assert_eq!(wheel_name_version("x.tar.gz"), None);
    }
}
