//! Who runs seal: the [`Variant`]s, the per-process work root and the seal copy for uid 65534.

use std::fs;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::{
    bang_frame, copy_executable, getuid, loud, panic_message, random_hex, set_mode, HOST_PATH,
    NOBODY,
};

// ---------------------------------------------------------------------------------------------
// The per-process work directory (world-traversable, removed at exit)

/// Prefix of the work roots in /tmp; what follows it is `<pid>-<random>`.
const WORK_ROOT_PREFIX: &str = "seal-it-";

static WORK_ROOT: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_work_root() {
    if std::env::var_os("SEAL_TEST_KEEP").is_some() {
        return;
    }
    if let Some(p) = WORK_ROOT.get() {
        let _ = fs::remove_dir_all(p);
    }
}

/// Remove work directories left behind by test processes that no longer exist.
fn sweep_stale_work_roots() {
    let Ok(entries) = fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(WORK_ROOT_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// `/tmp/seal-it-<pid>-<random>`, mode 0755 so that uid 65534 can traverse it; removed when
/// the test process exits.
pub fn work_root() -> &'static Path {
    WORK_ROOT.get_or_init(|| {
        sweep_stale_work_roots();
        let p = PathBuf::from(format!(
            "/tmp/{WORK_ROOT_PREFIX}{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        fs::create_dir(&p).expect("creating the work root");
        set_mode(&p, 0o755);
        // SAFETY: registering a plain extern "C" fn with no preconditions.
        unsafe { libc::atexit(remove_work_root) };
        p
    })
}

/// A fresh directory for one test of one variant, `<work root>/<name>-<variant>-<nonce>` (mode
/// 0755, owned by the test process), and the nonce: random, unique to this test, for markers
/// and file names.
pub fn test_dir(v: &Variant, name: &str) -> (PathBuf, String) {
    let nonce = random_hex(6);
    let dir = work_root().join(format!("{name}-{}-{nonce}", v.name));
    fs::create_dir(&dir).expect("creating the test directory");
    set_mode(&dir, 0o755);
    (dir, nonce)
}

/// The environment every test command starts from: `PATH` [`HOST_PATH`], `HOME` the test's
/// fake home, `LANG` C.UTF-8; nothing else of the test process's.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), HOST_PATH.into()),
        ("HOME".into(), home.to_str().unwrap().into()),
        ("LANG".into(), "C.UTF-8".into()),
    ]
}

/// A copy of the seal binary that uid 65534 can execute (the build tree may not be reachable
/// for it), 0755 in a 0755 directory. One copy per test process, made by `cp` (see
/// [`copy_executable`]) and renamed into place; it is started through the ETXTBSY-retrying
/// spawn of [`super::Run`] all the same.
fn unprivileged_seal() -> PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = work_root().join("bin");
        fs::create_dir(&dir).expect("creating the binary directory");
        set_mode(&dir, 0o755);
        let tmp = dir.join("seal.partial");
        copy_executable(Path::new(env!("CARGO_BIN_EXE_seal")), &tmp);
        set_mode(&tmp, 0o755);
        let dst = dir.join("seal");
        fs::rename(&tmp, &dst).expect("renaming the seal copy");
        dst
    })
    .clone()
}

/// tests/support/no_userns.py (a seccomp filter that makes the kernel refuse user namespaces
/// to what it execs), copied where every uid can read it. One copy per test process.
pub fn no_userns_wrapper() -> PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = work_root().join("support");
        fs::create_dir(&dir).expect("creating the support directory");
        set_mode(&dir, 0o755);
        let dst = dir.join("no_userns.py");
        fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/no_userns.py"),
            &dst,
        )
        .expect("copying no_userns.py");
        set_mode(&dst, 0o644);
        dst
    })
    .clone()
}

// ---------------------------------------------------------------------------------------------
// Variants

#[derive(Clone, Debug)]
pub struct Variant {
    /// "root", "uid65534" or "uid<N>" (the current uid when not root).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The seal binary this variant runs.
    pub seal: PathBuf,
    /// Whether commands must switch to `uid`/`gid` (the test process is root, uid is not).
    pub switch: bool,
}

impl Variant {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Apply this variant's identity to a command.
    pub fn apply(&self, cmd: &mut Command) {
        if self.switch {
            // std clears the supplementary groups when a root process sets a uid.
            cmd.uid(self.uid).gid(self.gid);
        }
    }

    /// `program` as this variant's user, with exactly the environment `env`, in `cwd`.
    pub fn command(&self, program: &Path, env: &[(String, String)], cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.current_dir(cwd);
        self.apply(&mut cmd);
        cmd
    }

    /// Give `p` (a link itself, never its target) to this variant's user, if commands switch
    /// to it.
    pub fn chown(&self, p: &Path) {
        if self.switch {
            std::os::unix::fs::lchown(p, Some(self.uid), Some(self.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    /// Create a directory owned by this variant's user.
    pub fn mkdir(&self, p: &Path, mode: u32) {
        fs::create_dir(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown(p);
    }

    /// Write a file owned by this variant's user.
    pub fn write(&self, p: &Path, content: impl AsRef<[u8]>, mode: u32) {
        fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown(p);
    }

    /// Write `home/rel` 0600, creating the missing directories between `home` and it 0700,
    /// everything owned by this variant's user (a secret of a fake HOME).
    pub fn write_private(&self, home: &Path, rel: &str, content: &str) {
        let p = home.join(rel);
        let mut parents = Vec::new();
        let mut cur = p.parent().unwrap();
        while cur != home {
            parents.push(cur.to_path_buf());
            cur = cur.parent().unwrap();
        }
        for d in parents.iter().rev() {
            if !d.exists() {
                self.mkdir(d, 0o700);
            }
        }
        self.write(&p, content, 0o600);
    }
}

pub fn variants() -> Vec<Variant> {
    let uid = getuid();
    // SAFETY: getgid cannot fail.
    let gid = unsafe { libc::getgid() };
    let mut all = vec![Variant {
        name: if uid == 0 {
            "root".into()
        } else {
            format!("uid{uid}")
        },
        uid,
        gid,
        seal: PathBuf::from(env!("CARGO_BIN_EXE_seal")),
        switch: false,
    }];
    if uid == 0 {
        all.push(Variant {
            name: "uid65534".into(),
            uid: NOBODY,
            gid: NOBODY,
            seal: unprivileged_seal(),
            switch: true,
        });
    } else {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::SeqCst) {
            // On the real stderr, not the captured test output, so that it shows even when
            // every test passes.
            let skipped = if uid == NOBODY {
                "the root variant"
            } else {
                "the root variant and the uid-65534 variant"
            };
            loud(&bang_frame(&format!(
                "!!! seal tests ({}): running as uid {uid}, NOT root: only the uid-{uid} variant\n\
                 !!! runs. SKIPPED: {skipped} (switching uid needs root).\n\
                 !!! Run the suite as root to cover the root and the uid-65534 variants.",
                env!("CARGO_CRATE_NAME")
            )));
        }
    }
    if let Ok(only) = std::env::var("SEAL_TEST_VARIANTS") {
        all.retain(|v| only.split(',').any(|o| o == v.name));
    }
    all
}

/// Run `f` once per variant; every variant runs even if an earlier one failed, and the test
/// fails naming each failed variant.
pub fn each_variant(f: impl Fn(&Variant)) {
    let mut failures = Vec::new();
    for v in variants() {
        eprintln!("=== variant {} (uid {})", v.name, v.uid);
        if let Err(e) = std::panic::catch_unwind(AssertUnwindSafe(|| f(&v))) {
            failures.push(format!("[{}] {}", v.name, panic_message(&*e)));
        }
    }
    if !failures.is_empty() {
        panic!(
            "failed in {} variant(s):\n{}",
            failures.len(),
            failures.join("\n---\n")
        );
    }
}
