//! Finding the base Python interpreter and what of the host it needs (its prefix).
//!
//! Discovery must be cheap: `seal run` starts in a few milliseconds, so the interpreter is
//! never started just to ask where it lives, except when the `python3` on PATH is a shim script
//! (pyenv, asdf) that only the shim itself can resolve.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The real executable, all symlinks resolved.
    pub executable: PathBuf,
    /// The installation prefix holding `lib/pythonX.Y` (and usually `bin/`).
    pub prefix: PathBuf,
    /// "3.11"
    pub version: String,
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_script(p: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"#!")
        .unwrap_or(false)
}

/// Ask an interpreter (through its shim) a question, isolated from user site-packages and
/// without running `site` (so no `.pth` file of the base environment executes here).
fn ask(python: &Path, expr: &str) -> Result<String> {
    let out = Command::new(python)
        .args(["-I", "-S", "-c", &format!("import sys; print({expr})")])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("{} failed to report {expr}", python.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn version_from_name(exe: &Path) -> Option<String> {
    let name = exe.file_name()?.to_str()?;
    let v = name.strip_prefix("python")?;
    (v.starts_with("3.") && v[2..].chars().all(|c| c.is_ascii_digit()) && v.len() > 2)
        .then(|| v.to_string())
}

fn stdlib_version(prefix: &Path) -> Option<String> {
    let mut found: Vec<String> = std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("python3.") && prefix.join("lib").join(n).join("os.py").exists())
        .map(|n| n["python".len()..].to_string())
        .collect();
    found.sort();
    found.pop()
}

/// Resolve the interpreter seal runs programs with when the project has no environment.
pub fn discover(explicit: Option<&Path>) -> Result<Interpreter> {
    let candidate = match explicit {
        Some(p) if p.as_os_str().to_string_lossy().contains('/') => p.to_path_buf(),
        Some(p) => search_path(&p.to_string_lossy())
            .ok_or_else(|| anyhow!("--python {}: not found on PATH", p.display()))?,
        None => search_path("python3").ok_or_else(|| {
            anyhow!("no python3 on PATH; install Python 3 or pass --python /path/to/python3")
        })?,
    };
    let mut exe = candidate
        .canonicalize()
        .with_context(|| format!("python interpreter {}", candidate.display()))?;
    if is_script(&exe) {
        exe = PathBuf::from(ask(&exe, "sys.executable")?)
            .canonicalize()
            .with_context(|| {
                format!(
                    "resolving the interpreter behind the shim {}",
                    candidate.display()
                )
            })?;
    }
    let bin = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", exe.display()))?;
    let guess = bin.parent().unwrap_or(Path::new("/")).to_path_buf();
    let version = version_from_name(&exe).or_else(|| stdlib_version(&guess));
    let (prefix, version) = match version {
        Some(v)
            if guess
                .join("lib")
                .join(format!("python{v}"))
                .join("os.py")
                .exists() =>
        {
            (guess, v)
        }
        _ => {
            // Unusual layout: let the interpreter say where its standard library is.
            let answer = ask(
                &exe,
                "sys.base_prefix + '\\n' + '%d.%d' % sys.version_info[:2]",
            )?;
            let mut lines = answer.lines();
            let prefix = PathBuf::from(lines.next().unwrap_or_default());
            let version = lines.next().unwrap_or_default().to_string();
            (prefix, version)
        }
    };
    Ok(Interpreter {
        executable: exe,
        prefix,
        version,
    })
}

/// Whether `python -m venv` can put pip into an environment offline: the interpreter has
/// ensurepip and a pip wheel for it, bundled (`ensurepip/_bundled`, python.org and most
/// builds) or in Debian's `/usr/share/python-wheels` (packages python3-venv and
/// python3-pip-whl). Found from the files alone; nothing is started.
pub fn can_seed_pip(python: &Interpreter) -> bool {
    let ensurepip = python
        .prefix
        .join("lib")
        .join(format!("python{}", python.version))
        .join("ensurepip");
    let has_pip_wheel = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("pip-") && name.ends_with(".whl")
            })
        })
    };
    ensurepip.join("__init__.py").is_file()
        && (has_pip_wheel(&ensurepip.join("_bundled"))
            || has_pip_wheel(Path::new("/usr/share/python-wheels")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_name(Path::new("/usr/bin/python3.11")).as_deref(),
            Some("3.11")
        );
        assert_eq!(
            version_from_name(Path::new("/x/bin/python3.13")).as_deref(),
            Some("3.13")
        );
        assert_eq!(version_from_name(Path::new("/usr/bin/python3")), None);
        assert_eq!(
            version_from_name(Path::new("/usr/bin/python3.11-config")),
            None
        );
    }

    #[test]
    fn discovers_the_system_interpreter_without_running_it() {
        let i = discover(Some(Path::new("/usr/bin/python3"))).expect("python3 is installed");
        assert!(i.executable.is_absolute());
        assert!(i
            .prefix
            .join("lib")
            .join(format!("python{}", i.version))
            .join("os.py")
            .exists());
    }
}
