//! What both engines hand to execve: the program found in the spec's PATH, argv and envp as
//! C strings.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::setup::EXIT_SETUP_FAILED;
use crate::spec::Spec;

pub fn cstring(s: &OsStr) -> CString {
    // Arguments and environment come from the OS or from validated CLI input and cannot hold
    // NUL; replace one defensively rather than abort in a child.
    let bytes: Vec<u8> = s
        .as_bytes()
        .iter()
        .map(|&b| if b == 0 { b'?' } else { b })
        .collect();
    CString::new(bytes).expect("NUL bytes were replaced")
}

pub fn argv(spec: &Spec) -> Vec<CString> {
    spec.argv.iter().map(|a| cstring(a)).collect()
}

/// `NAME=VALUE` for each variable of the spec (nothing is inherited).
pub fn envp(spec: &Spec) -> Vec<CString> {
    spec.env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            cstring(&kv)
        })
        .collect()
}

/// Find `argv[0]` the way execvp would, but in the spec's PATH (not the caller's); relative
/// PATH entries count from the spec's cwd. Called where the program's file system is visible
/// (inside the new root, or on the host in the fallback). Errors carry the exit code.
pub fn resolve(spec: &Spec) -> Result<PathBuf, (i32, String)> {
    let name = spec
        .argv
        .first()
        .ok_or((EXIT_SETUP_FAILED, "no program given".to_string()))?;
    if name.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(name));
    }
    let path: OsString = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = spec.cwd.join(dir).join(name);
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return Ok(candidate);
        }
    }
    Err((
        127,
        format!(
            "program {:?} not found in the sandbox's PATH ({})",
            name,
            Path::new(&path).display()
        ),
    ))
}
