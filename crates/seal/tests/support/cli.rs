//! Support of the small CLI test files (doctor_demo, shell_exec, policy_file, publish,
//! jupyter_browser): a scratch project and a copy of seal, run as the calling user and, when
//! that is root, as uid 65534 too (the variants of [`super::variants`]). No fake HOME: these
//! tests run seal with HOME=/nonexistent.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use super::NOBODY;
use super::{copy_executable, getuid, variants};

pub fn is_root() -> bool {
    getuid() == 0
}

/// The uids each test runs as, from the one variant runner ([`variants`]): None for the caller,
/// and uid 65534 when the caller is root. A skipped variant is announced loudly, never silent;
/// `SEAL_TEST_VARIANTS` selects as everywhere.
pub fn users() -> Vec<Option<u32>> {
    variants()
        .iter()
        .map(|v| v.switch.then_some(v.uid))
        .collect()
}

/// A copy of the seal binary in `dir` (made 0755, as `dir` is), usable by any uid; copied by
/// `cp` (see [`copy_executable`]).
pub fn copy_binary(dir: &Path) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("seal");
    copy_executable(Path::new(env!("CARGO_BIN_EXE_seal")), &bin);
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

/// `seal demo`'s table says what a sandbox blocks: the listener on host loopback, the secret in
/// the environment, writes to the project, every interface but lo; seccomp in force.
pub fn assert_demo_isolates(o: &Output) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let row = |name: &str| {
        t.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name:?}\n{t}"))
            .to_string()
    };
    // Without seal the probe reaches the listener and sees the secret; inside it does not.
    let net = row("a service on host 127.0.0.1");
    assert!(
        net.contains("connected") && net.contains("blocked (ECONNREFUSED)"),
        "{net}"
    );
    let secret = row("secret in the environment");
    assert!(
        secret.contains("visible") && secret.ends_with("not visible"),
        "{secret}"
    );
    let write = row("write the project directory");
    assert!(
        write.contains("writable") && write.contains("blocked (EROFS)"),
        "{write}"
    );
    assert!(row("network interfaces").trim_end().ends_with(" lo"), "{t}");
    assert!(row("seccomp mode").trim_end().ends_with('2'), "{t}");
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
