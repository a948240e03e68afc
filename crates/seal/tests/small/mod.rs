//! Helpers shared by the small CLI test files (doctor_demo, shell_exec, policy_file, publish,
//! jupyter_browser): run seal as the calling user and, when that is root, as uid 65534 too.
#![allow(dead_code)] // each test crate uses its own subset

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const NOBODY: u32 = 65534;

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The uids each test runs as: the caller, and uid 65534 when the caller is root. The skipped
/// variant is announced, never silent.
pub fn users() -> Vec<Option<u32>> {
    if is_root() {
        vec![None, Some(NOBODY)]
    } else {
        eprintln!("WARNING: not root: the uid {NOBODY} variant of these tests is SKIPPED");
        vec![None]
    }
}

/// A copy of the seal binary in `dir` (made 0755), usable by any uid.
///
/// Copied by `cp`, not in this process: a child that another test thread forks inherits every
/// descriptor open at that moment until it execs, and executing a file still open for writing
/// somewhere fails with ETXTBSY ("Text file busy").
pub fn copy_binary(dir: &Path) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("seal");
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_seal"))
        .arg(&bin)
        .status()
        .unwrap();
    assert!(copied.success(), "cp of the seal binary failed");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// `bin ARGS` as `uid` (None: the caller) in `cwd`, with a clean environment: PATH
/// /usr/bin:/bin and HOME /nonexistent, nothing else.
pub fn seal_command(bin: &Path, uid: Option<u32>, cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent");
    if let Some(u) = uid {
        c.uid(u).gid(u);
    }
    c
}

/// [`seal_command`], run to its end.
pub fn seal_output(bin: &Path, uid: Option<u32>, cwd: &Path, args: &[&str]) -> Output {
    seal_command(bin, uid, cwd, args).output().unwrap()
}

/// A 0755 scratch directory (removed on drop) with a copy of seal and a project `proj`.
pub struct Scratch {
    _dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub project: PathBuf,
}

/// A [`Scratch`] whose project holds `files` (path relative to it, content; parent
/// directories made as needed), the whole project owned by `uid`.
pub fn scratch(uid: Option<u32>, files: &[(&str, &str)]) -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let bin = copy_binary(dir.path());
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    for (rel, content) in files {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    if let Some(u) = uid {
        chown_tree(&project, u);
    }
    Scratch {
        _dir: dir,
        bin,
        project,
    }
}

impl Scratch {
    /// [`seal_command`] of this copy of seal, in the project.
    pub fn command(&self, uid: Option<u32>, args: &[&str]) -> Command {
        seal_command(&self.bin, uid, &self.project, args)
    }

    /// [`Scratch::command`], run to its end.
    pub fn seal(&self, uid: Option<u32>, args: &[&str]) -> Output {
        self.command(uid, args).output().unwrap()
    }
}

pub fn chown_tree(p: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(p)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Exit status and both streams, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
