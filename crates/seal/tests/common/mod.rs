//! Shared harness of the integration tests.
//!
//! * Every isolation test runs twice: as the test process's uid (root in CI) and as uid 65534
//!   (unprivileged), see [`each_variant`]. Not running as root, only the current-uid variant
//!   runs and the skip is printed.
//! * [`TestEnv`] makes a per-test fake HOME full of canaries (files and environment variables),
//!   a project directory (the working directory), an output directory, and runs probes either
//!   in seal or directly (the positive control: same interpreter, environment, uid, cwd).
//! * Probes are Python scripts built from [`PRELUDE`]; they print one `PROBE<TAB>key<TAB>value`
//!   line per attempt, the value being "OK", a result, or the errno name. The probes (and
//!   checks) the namespace-mode and the fallback-mode tests share are in [`probes`], run in
//!   either sandbox by [`probes::Mode`].
//! * Sinks ([`Sink`]) listen on host loopback only (127.0.0.1, an abstract Unix socket, a path
//!   Unix socket). No test sends anything anywhere else.
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories, `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub mod probes;

/// The interpreter every test uses (never a pyenv shim under /root).
pub const PYTHON: &str = "/usr/bin/python3";
/// PATH of the seal process and of direct runs.
pub const HOST_PATH: &str = "/usr/bin:/bin";
pub const NOBODY: u32 = 65534;
/// Upper bound for any single seal run: a liveness guard, never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Canary files, relative to the fake HOME.
pub const CANARY_FILES: &[&str] = &[
    ".ssh/id_rsa",
    ".aws/credentials",
    ".kube/config",
    ".netrc",
    ".bashrc",
    ".pypirc",
    ".git-credentials",
    ".docker/config.json",
];
/// Canary environment variables set on the seal process.
pub const CANARY_ENV: &[&str] = &["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"];

// ---------------------------------------------------------------------------------------------
// Small utilities

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// A JSON string literal.
pub fn jstr(s: impl AsRef<str>) -> String {
    let mut out = String::from("\"");
    for c in s.as_ref().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON path string.
pub fn jpath(p: &Path) -> String {
    jstr(p.to_str().expect("test paths are UTF-8"))
}

/// A JSON object from already-encoded values.
pub fn jobj(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", jstr(k), v))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// A JSON array of strings.
pub fn jarr<S: AsRef<str>>(items: &[S]) -> String {
    let body: Vec<String> = items.iter().map(jstr).collect();
    format!("[{}]", body.join(", "))
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "(non-string panic)".into()
    }
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------------------------
// The per-process work directory (world-traversable, removed at exit)

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
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("seal-it-")) else {
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

/// `/tmp/seal-it-<pid>-<rand>`, mode 0755 so that uid 65534 can traverse it.
pub fn work_root() -> &'static Path {
    WORK_ROOT.get_or_init(|| {
        sweep_stale_work_roots();
        let p = PathBuf::from(format!(
            "/tmp/seal-it-{}-{}",
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

/// A copy of the seal binary that uid 65534 can execute (the build tree may not be
/// reachable for it). One copy per test process.
fn unprivileged_seal() -> PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = work_root().join("bin");
        fs::create_dir(&dir).expect("creating the binary directory");
        set_mode(&dir, 0o755);
        let tmp = dir.join("seal.partial");
        fs::copy(env!("CARGO_BIN_EXE_seal"), &tmp).expect("copying the seal binary");
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

/// How every degraded (Landlock + seccomp fallback) run announces itself on stderr.
pub const DEGRADED_WARNING: &str = "seal: warning: degraded isolation (";

/// The run used the fallback, chosen by seal itself (auto mode): exactly one warning line,
/// naming the reason.
pub fn assert_fell_back(out: &Output) {
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with(DEGRADED_WARNING))
        .collect();
    assert!(
        warnings.len() == 1 && warnings[0].contains("user namespaces are unavailable"),
        "expected one degraded-isolation warning naming the missing user namespaces (no_userns.py \
         blocks them on x86_64 only)\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Variants: who runs seal

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
}

pub fn variants() -> Vec<Variant> {
    let uid = getuid();
    // SAFETY: getgid cannot fail.
    let gid = unsafe { libc::getgid() };
    let own = Variant {
        name: if uid == 0 {
            "root".into()
        } else {
            format!("uid{uid}")
        },
        uid,
        gid,
        seal: PathBuf::from(env!("CARGO_BIN_EXE_seal")),
        switch: false,
    };
    let mut all = vec![own];
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
            // Written to the real stderr, not the captured test output, so that it shows even
            // when every test passes.
            let skipped = if uid == NOBODY {
                "the root variant"
            } else {
                "the root variant and the uid-65534 variant"
            };
            let _ = io::stderr().write_all(
                format!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! seal tests: running as uid {uid}, not root: only the uid-{uid} variant runs.\n\
                 !!! SKIPPED: {skipped} (switching uid needs root).\n\
                 !!! Run the suite as root to cover the root and the uid-65534 variants.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            )
                .as_bytes(),
            );
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

// ---------------------------------------------------------------------------------------------
// Probes

/// Helpers shared by every probe. `A` holds the JSON arguments (argv[1]); `put`/`attempt`
/// record results; `emit()` prints them.
pub const PRELUDE: &str = r#"
import ctypes, errno, json, os, platform, signal, socket, struct, sys, time
A = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
_R = {}
def ename(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, "E%d" % e.errno)
    if isinstance(e, TimeoutError):
        return "TIMEOUT"
    return "EXC:%s:%s" % (type(e).__name__, e)
def put(k, v):
    _R[k] = v
def attempt(k, fn, *args):
    try:
        v = fn(*args)
        _R[k] = "OK" if v is None else v
    except Exception as e:
        _R[k] = ename(e)
    return _R[k]
def esc(v):
    s = v if isinstance(v, str) else json.dumps(v)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
def emit():
    sys.stdout.write("".join("PROBE\t%s\t%s\n" % (k, esc(v)) for k, v in _R.items()))
    sys.stdout.flush()
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
NR = {
    "x86_64": dict(keyctl=250, unshare=272, io_uring_setup=425, clone3=435,
                   process_vm_readv=310, clone=56),
    "aarch64": dict(keyctl=219, unshare=97, io_uring_setup=425, clone3=435,
                    process_vm_readv=270, clone=220),
}[platform.machine()]
def cres(r):
    if r == -1:
        e = ctypes.get_errno()
        return errno.errorcode.get(e, "E%d" % e)
    return "OK"
def syscall(name, *args):
    ctypes.set_errno(0)
    return cres(LIBC.syscall(ctypes.c_long(NR[name]), *args))
def in_child(fn):
    """Run fn in a throwaway forked child; return its result (a string)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                res = fn()
                res = "OK" if res is None else str(res)
            except BaseException as e:
                res = ename(e)
            os.write(w, res.encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode() or "EXC:child-died"
def read_head(path, n=300):
    with open(path, "rb") as f:
        return f.read(n).decode("utf-8", "replace")
def status_field(name, pid="self"):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return "missing"
def open_for_write_only(path):
    """Open for writing WITHOUT writing or truncating (harmless on host-global files)."""
    os.close(os.open(path, os.O_WRONLY))
"#;

/// Results printed by a probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub map: BTreeMap<String, String>,
    pub context: String,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Probe {
    pub fn parse(stdout: &str, context: String) -> Probe {
        let map = stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            // (A pty may echo injected input in front of a line.)
            .filter_map(|l| l.find("PROBE\t").map(|i| &l[i + 6..]))
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        Probe { map, context }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn get(&self, key: &str) -> &str {
        match self.map.get(key) {
            Some(v) => v,
            None => panic!(
                "probe result {key:?} missing\n{}\nall results: {:#?}",
                self.context, self.map
            ),
        }
    }

    /// Assert the value of `key` is one of `allowed` (errno names, "OK", ...).
    pub fn expect_in(&self, key: &str, allowed: &[&str]) {
        let v = self.get(key);
        assert!(
            allowed.contains(&v),
            "{key}: expected one of {allowed:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_eq(&self, key: &str, expected: &str) {
        let v = self.get(key);
        assert!(
            v == expected,
            "{key}: expected {expected:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_contains(&self, key: &str, needle: &str) {
        let v = self.get(key);
        assert!(
            v.contains(needle),
            "{key}: expected it to contain {needle:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_not_in(&self, key: &str, forbidden: &[&str]) {
        let v = self.get(key);
        assert!(
            !forbidden.contains(&v),
            "{key}: must not be one of {forbidden:?}, got {v:?}\n{}",
            self.context
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands with a deadline

/// How a command ended and what it printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub what: String,
}

impl Output {
    /// The shell's view of the status: the code, or 128+N if killed by signal N.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }

    pub fn describe(&self) -> String {
        format!(
            "--- {}\n--- exit {} after {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.what,
            self.code(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }

    pub fn probe(&self) -> Probe {
        Probe::parse(&self.stdout, self.describe())
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit status\n{}",
            self.describe()
        );
        self
    }

    pub fn expect_success(&self) -> &Self {
        self.expect_code(0)
    }
}

fn spawn_retrying(cmd: &mut Command) -> Child {
    // Another test thread may be forking while the seal copy was open for writing: the copy
    // is then briefly "busy" (ETXTBSY). Retry.
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 200 => {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot start {cmd:?}: {e}"),
        }
    }
}

fn reader(mut r: impl Read + Send + 'static, acc: Arc<Mutex<Vec<u8>>>) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => acc.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(());
    });
    rx
}

/// A command to run with a deadline, its input and a label for messages.
pub struct Run {
    pub cmd: Command,
    stdin: Option<Vec<u8>>,
    deadline: Duration,
    what: String,
}

impl Run {
    pub fn new(cmd: Command, what: String) -> Run {
        Run {
            cmd,
            stdin: None,
            deadline: DEADLINE,
            what,
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Run {
        self.what.push(' ');
        self.what.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> Run {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Run {
        self.cmd.env_remove(k);
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Run {
        self.cmd.current_dir(dir);
        self
    }

    pub fn stdin(mut self, data: &[u8]) -> Run {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn deadline(mut self, d: Duration) -> Run {
        self.deadline = d;
        self
    }

    /// Run to completion; panics (after killing it) if the deadline passes.
    pub fn output(self) -> Output {
        let running = self.spawn();
        running.finish()
    }

    /// Start it; stdout and stderr are collected in the background.
    pub fn spawn(mut self) -> Running {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = spawn_retrying(&mut self.cmd);
        if let Some(data) = self.stdin.take() {
            let mut w = child.stdin.take().expect("piped stdin");
            thread::spawn(move || {
                let _ = w.write_all(&data);
            });
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let out_done = reader(child.stdout.take().expect("piped"), out.clone());
        let err_done = reader(child.stderr.take().expect("piped"), err.clone());
        Running {
            child,
            out,
            err,
            out_done,
            err_done,
            start,
            deadline: self.deadline,
            what: self.what,
        }
    }

    /// Start it with a new pseudo-terminal as its controlling terminal and stdin, stdout and
    /// stderr (it becomes a session leader).
    pub fn spawn_in_pty(mut self) -> PtySession {
        let (master, slave) = openpty();
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        self.cmd
            .stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            self.cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let child = spawn_retrying(&mut self.cmd);
        drop(slave);
        let buf = Arc::new(Mutex::new(Vec::new()));
        let reader_master = fs::File::from(master.try_clone().expect("dup master"));
        let done = reader(reader_master, buf.clone());
        PtySession {
            child,
            master: fs::File::from(master),
            buf,
            done,
            start,
            deadline: self.deadline,
            what: self.what,
        }
    }
}

/// A started command.
pub struct Running {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    out_done: mpsc::Receiver<()>,
    err_done: mpsc::Receiver<()>,
    start: Instant,
    deadline: Duration,
    pub what: String,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Wait until stdout contains `needle`; panics with the output so far on timeout.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.stdout_so_far().contains(needle) || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        let out = self.stdout_so_far();
        assert!(
            ok && out.contains(needle),
            "{}: {needle:?} did not appear on stdout within {timeout:?}\nstdout:\n{out}\nstderr:\n{}",
            self.what,
            self.stderr_so_far()
        );
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Wait for the end (killing it at the deadline) and collect the output.
    pub fn finish(mut self) -> Output {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => panic!("{}: wait failed: {e}", self.what),
            }
            if self.start.elapsed() > self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "{}: still running after the {:?} deadline; killed\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.deadline,
                    self.stdout_so_far(),
                    self.stderr_so_far()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.start.elapsed();
        // The pipes close when every process holding them is gone. If they stay open long
        // after seal returned, something of the sandbox survived it.
        let grace = Duration::from_secs(15);
        let open_out = self.out_done.recv_timeout(grace).is_err();
        let open_err = self.err_done.recv_timeout(grace).is_err();
        let out = Output {
            status,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
            elapsed,
            what: self.what.clone(),
        };
        assert!(
            !(open_out || open_err),
            "{}: stdout/stderr still open {grace:?} after the process exited: a process \
             holding them survived\n{}",
            self.what,
            out.describe()
        );
        out
    }
}

pub fn openpty() -> (OwnedFd, OwnedFd) {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: master and slave are valid out-pointers; the other arguments may be NULL.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", io::Error::last_os_error());
    // SAFETY: openpty succeeded: both descriptors are open and owned by nobody else.
    unsafe {
        for fd in [master, slave] {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

/// A command running on a pseudo-terminal we hold the master of.
pub struct PtySession {
    pub child: Child,
    master: fs::File,
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
    start: Instant,
    deadline: Duration,
    pub what: String,
}

impl PtySession {
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.transcript().contains(needle) || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(
            ok && self.transcript().contains(needle),
            "{}: {needle:?} did not appear on the terminal within {timeout:?}\ntranscript:\n{}",
            self.what,
            self.transcript()
        );
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("writing to the pty");
    }

    /// Wait for the end (killing it at the deadline): (exit code, elapsed, transcript).
    pub fn finish(mut self) -> (i32, Duration, String) {
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if self.start.elapsed() > self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: still running after {:?}; killed\ntranscript:\n{}",
                    self.what,
                    self.deadline,
                    self.transcript()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.start.elapsed();
        let _ = self.done.recv_timeout(Duration::from_secs(5));
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        (code, elapsed, self.transcript())
    }
}

// ---------------------------------------------------------------------------------------------
// The per-test environment

pub struct TestEnv {
    pub v: Variant,
    /// The test's own directory (mode 0755, owned by the test process).
    pub dir: PathBuf,
    /// The fake HOME with canaries (owned by the variant's user).
    pub home: PathBuf,
    /// The project: `home/proj`, the working directory.
    pub project: PathBuf,
    /// An output directory: `home/out` (exists, owned by the variant's user).
    pub out: PathBuf,
    /// A directory for host sockets (0755, owned by the test process).
    pub run_dir: PathBuf,
    /// "CANARY-<random>": every canary starts with it.
    pub tag: String,
    /// A random string unique to this test, for markers and file names.
    pub nonce: String,
    /// The environment of the seal process and of direct runs.
    pub env: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new(v: &Variant, name: &str) -> TestEnv {
        let nonce = random_hex(6);
        let dir = work_root().join(format!("{name}-{}-{nonce}", v.name));
        fs::create_dir(&dir).expect("creating the test directory");
        set_mode(&dir, 0o755);
        let tag = format!("CANARY-{}", random_hex(8));
        let home = dir.join("home");
        let project = home.join("proj");
        let out = home.join("out");
        let run_dir = dir.join("run");
        let mut env = TestEnv {
            v: v.clone(),
            dir,
            home: home.clone(),
            project: project.clone(),
            out: out.clone(),
            run_dir: run_dir.clone(),
            tag: tag.clone(),
            nonce,
            env: Vec::new(),
        };
        env.mkdir_owned(&home, 0o700);
        for rel in CANARY_FILES {
            let p = home.join(rel);
            let mut parents = Vec::new();
            let mut cur = p.parent().unwrap();
            while cur != home {
                parents.push(cur.to_path_buf());
                cur = cur.parent().unwrap();
            }
            for d in parents.iter().rev() {
                if !d.exists() {
                    env.mkdir_owned(d, 0o700);
                }
            }
            env.write_owned(&p, &env.canary_file_content(rel), 0o600);
        }
        env.mkdir_owned(&project, 0o755);
        env.mkdir_owned(&out, 0o755);
        fs::create_dir(&run_dir).expect("creating the socket directory");
        set_mode(&run_dir, 0o755);
        env.env = vec![
            ("PATH".into(), HOST_PATH.into()),
            ("HOME".into(), home.to_str().unwrap().into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        for name in CANARY_ENV {
            env.env.push((name.to_string(), env.canary_env_value(name)));
        }
        env
    }

    pub fn canary_file_content(&self, rel: &str) -> String {
        format!("{}-file-{}", self.tag, rel.trim_start_matches('.'))
    }

    pub fn canary_env_value(&self, name: &str) -> String {
        format!("{}-env-{name}", self.tag)
    }

    pub fn chown_to_user(&self, p: &Path) {
        if self.v.switch {
            chown(p, Some(self.v.uid), Some(self.v.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    /// Create a directory owned by the variant's user.
    pub fn mkdir_owned(&self, p: &Path, mode: u32) {
        fs::create_dir(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown_to_user(p);
    }

    /// Write a file owned by the variant's user.
    pub fn write_owned(&self, p: &Path, content: &str, mode: u32) {
        fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown_to_user(p);
    }

    /// Write a probe (PRELUDE + body + emit()) into the project; returns its path.
    pub fn probe(&self, name: &str, body: &str) -> PathBuf {
        let p = self.project.join(format!("{name}.py"));
        self.write_owned(&p, &format!("{PRELUDE}\n{body}\nemit()\n"), 0o644);
        p
    }

    fn base_command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.current_dir(&self.project);
        self.v.apply(&mut cmd);
        // Raise the soft core-size limit to the hard one, so that the RLIMIT_CORE=0 seen
        // inside is seal's doing. Restore the default disposition of the signals the tests
        // send: a test run started in the background of a non-interactive shell inherits
        // SIGINT and SIGQUIT ignored, and an ignored signal never reaches seal.
        // SAFETY: getrlimit/setrlimit/signal are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                let mut lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_CORE, &mut lim) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                    libc::setrlimit(libc::RLIMIT_CORE, &lim);
                }
                Ok(())
            });
        }
        cmd
    }

    /// `seal run --python /usr/bin/python3` as the variant's user, in the project, with the
    /// test environment. Add flags, then `--` and the program.
    pub fn seal(&self) -> Run {
        let cmd = self.base_command(&self.v.seal);
        Run::new(cmd, format!("[{}] seal", self.v.name)).args(&["run", "--python", PYTHON])
    }

    /// `seal` with no arguments yet (for top-level options and `run` without `--python`).
    pub fn seal_bare(&self) -> Run {
        let cmd = self.base_command(&self.v.seal);
        Run::new(cmd, format!("[{}] seal", self.v.name))
    }

    /// Like [`TestEnv::seal`], on a simulated host without user namespaces: `python3
    /// no_userns.py SEAL run --python /usr/bin/python3`, the wrapper installing a seccomp
    /// filter that makes clone/unshare with CLONE_NEWUSER fail with EPERM before it execs seal
    /// (see [`no_userns_wrapper`]).
    pub fn seal_no_userns(&self) -> Run {
        self.seal_bare_no_userns()
            .args(&["run", "--python", PYTHON])
    }

    /// [`TestEnv::seal_bare`] under the no-user-namespace wrapper.
    pub fn seal_bare_no_userns(&self) -> Run {
        let cmd = self.base_command(Path::new(PYTHON));
        Run::new(cmd, format!("[{}] no_userns.py", self.v.name))
            .args(&["-I", "-S"])
            .arg(no_userns_wrapper())
            .arg(&self.v.seal)
    }

    /// `seal run --python /usr/bin/python3 FLAGS -- PROGRAM...`
    pub fn seal_run(&self, flags: &[&str], program: &[&str]) -> Output {
        self.seal().args(flags).arg("--").args(program).output()
    }

    /// Run a probe in seal: `seal run FLAGS -- /path/probe.py ARGS_JSON` (see [`probes::Mode`]
    /// for the fallback).
    pub fn run_probe(&self, probe: &Path, args: &str, flags: &[&str]) -> Output {
        probes::Mode::Namespaces.run(self, probe, args, flags)
    }

    /// The positive control: the same probe without seal (`python3 -I -S`), same environment,
    /// uid and working directory.
    pub fn run_direct(&self, probe: &Path, args: &str) -> Output {
        let cmd = self.base_command(Path::new(PYTHON));
        Run::new(cmd, format!("[{}] direct python3 -I -S", self.v.name))
            .args(&["-I", "-S"])
            .arg(probe)
            .arg(args)
            .output()
    }

    /// [`TestEnv::run_direct`], which must succeed; its results.
    pub fn direct_ok(&self, probe: &Path, args: &str) -> Probe {
        let out = self.run_direct(probe, args);
        out.expect_success();
        out.probe()
    }

    /// A plain command (not seal) with the test environment, as the variant's user.
    pub fn host_command(&self, program: &str) -> Run {
        let cmd = self.base_command(Path::new(program));
        Run::new(cmd, format!("[{}] {program}", self.v.name))
    }

    /// No canary may appear in anything a sandboxed run printed.
    pub fn assert_no_canary(&self, out: &Output) {
        assert!(
            !out.stdout.contains(&self.tag) && !out.stderr.contains(&self.tag),
            "a canary ({}) appeared in the output of a sandboxed run\n{}",
            self.tag,
            out.describe()
        );
    }

    /// The canary file contents, checked to be untouched.
    pub fn canary_files_intact(&self) {
        for rel in CANARY_FILES {
            let got = fs::read_to_string(self.home.join(rel)).unwrap_or_default();
            assert_eq!(
                got,
                self.canary_file_content(rel),
                "host file ~/{rel} changed"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sinks on host loopback

/// What a sink saw.
#[derive(Default)]
struct SinkLog {
    connections: AtomicUsize,
    data: Mutex<Vec<u8>>,
}

/// A listener on host loopback (TCP 127.0.0.1, UDP 127.0.0.1, abstract or path Unix socket)
/// recording every connection or datagram it receives. The UDP sink answers each datagram.
pub struct Sink {
    /// TCP/UDP port, or 0.
    pub port: u16,
    /// Abstract socket name (without the leading NUL) or socket path, for Unix sinks.
    pub name: String,
    log: Arc<SinkLog>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    fn accept_loop<S: Read + Send + 'static>(
        mut accept: impl FnMut() -> io::Result<S> + Send + 'static,
        set_timeout: impl Fn(&S) + Send + 'static,
    ) -> (Arc<SinkLog>, Arc<AtomicBool>) {
        let log = Arc::new(SinkLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match accept() {
                    Ok(mut conn) => {
                        l.connections.fetch_add(1, Ordering::SeqCst);
                        set_timeout(&conn);
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = conn.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            l.data.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        (log, stop)
    }

    /// A TCP listener on 127.0.0.1:0.
    pub fn tcp() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (log, stop) = Self::accept_loop(
            move || {
                let (c, _) = listener.accept()?;
                c.set_nonblocking(false)?;
                Ok(c)
            },
            |c: &std::net::TcpStream| {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            },
        );
        Sink {
            port,
            name: String::new(),
            log,
            stop,
        }
    }

    /// A listener on the host's abstract Unix socket `\0seal-test-<random>`.
    pub fn abstract_unix() -> Sink {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("seal-test-{}", random_hex(8));
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        let listener = UnixListener::bind_addr(&addr).expect("bind abstract socket");
        listener.set_nonblocking(true).unwrap();
        Self::unix(listener, name)
    }

    /// A listener on a path Unix socket (mode 0777 so any uid may connect).
    pub fn path_unix(path: &Path) -> Sink {
        let listener = UnixListener::bind(path).expect("bind unix socket");
        set_mode(path, 0o777);
        listener.set_nonblocking(true).unwrap();
        Self::unix(listener, path.to_str().unwrap().to_string())
    }

    fn unix(listener: UnixListener, name: String) -> Sink {
        let (log, stop) = Self::accept_loop(
            move || {
                let (c, _) = listener.accept()?;
                c.set_nonblocking(false)?;
                Ok(c)
            },
            |c: &std::os::unix::net::UnixStream| {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            },
        );
        Sink {
            port: 0,
            name,
            log,
            stop,
        }
    }

    /// A UDP "DNS stub" on 127.0.0.1:0: records every datagram and answers it.
    pub fn udp_dns() -> Sink {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let log = Arc::new(SinkLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    l.connections.fetch_add(1, Ordering::SeqCst);
                    l.data.lock().unwrap().extend_from_slice(&buf[..n]);
                    // Answer: the query with the QR bit set (enough for the probe to see a reply).
                    let mut reply = buf[..n].to_vec();
                    if reply.len() > 2 {
                        reply[2] |= 0x80;
                    }
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Sink {
            port,
            name: String::new(),
            log,
            stop,
        }
    }

    /// Connections accepted (TCP/Unix) or datagrams received (UDP).
    pub fn hits(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.log.data.lock().unwrap()).into_owned()
    }

    /// Wait a little, then assert nothing at all reached the sink.
    pub fn assert_untouched(&self, what: &str) {
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            self.hits(),
            0,
            "{what}: the host sink was reached; it received {:?}",
            self.received()
        );
        assert!(self.received().is_empty());
    }

    /// Positive control: wait until the sink received `needle`.
    pub fn assert_received(&self, needle: &str, what: &str) {
        let ok = wait_until(Duration::from_secs(10), || self.received().contains(needle));
        assert!(
            ok,
            "{what}: positive control: the sink did not receive {needle:?} (hits {}, got {:?})",
            self.hits(),
            self.received()
        );
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Host processes

/// Host processes (other than this one) whose command line contains `marker`.
pub fn procs_with_marker(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) {
            found.push((pid, text));
        }
    }
    found
}

/// Wait up to `timeout` for every host process carrying `marker` to be gone; returns those
/// still there.
pub fn wait_procs_gone(marker: &str, timeout: Duration) -> Vec<(i32, String)> {
    let mut left = Vec::new();
    wait_until(timeout, || {
        left = procs_with_marker(marker);
        left.is_empty()
    });
    left
}

/// Kill (SIGKILL) every host process carrying `marker` (cleanup after positive controls).
pub fn kill_marked(marker: &str) {
    for (pid, _) in procs_with_marker(marker) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// A host process the test started; killed when dropped.
pub struct HostProcess {
    pub child: Child,
}

impl HostProcess {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-sleeping host Python process run as the variant's user, with `secret` in its
/// environment and `marker` in its command line. It allows any process of its uid to trace it
/// (PR_SET_PTRACER_ANY, in case Yama is on) so that the positive control can.
pub fn host_sleeper(env: &TestEnv, marker: &str, secret: &str) -> HostProcess {
    let mut cmd = Command::new(PYTHON);
    cmd.env_clear()
        .env("PATH", HOST_PATH)
        .env("SEAL_HOST_SECRET", secret)
        .args([
            "-I",
            "-S",
            "-c",
            "import ctypes, sys, time\n\
             ctypes.CDLL(None).prctl(0x59616d61, ctypes.c_ulong(2**64 - 1), 0, 0, 0)\n\
             print('ready', flush=True)\n\
             time.sleep(300)",
            marker,
        ])
        .current_dir(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    env.v.apply(&mut cmd);
    let mut child = spawn_retrying(&mut cmd);
    let mut line = [0u8; 6];
    child
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut line)
        .expect("the host sleeper did not start");
    HostProcess { child }
}
