//! Harness of the data-in/data-out (`staging.rs`) and resource-limit (`limits.rs`) tests.
//!
//! Self-contained on purpose (it does not depend on `tests/common`, which evolves separately).
//!
//! * Every test runs once per [`Variant`]: as the test process's uid (root in CI) and, when
//!   that is root, again as uid 65534 with a world-executable copy of the seal binary. Not
//!   running as root, only the current uid runs and the skip is printed loudly.
//! * [`Env`] is a per-test directory tree under a private work root in /tmp: a fake HOME
//!   with an `~/.ssh/id_rsa` canary, a project (the working directory, where probes live), an
//!   output directory and whatever the test adds; everything the unprivileged variant needs is
//!   owned by it.
//! * Probes are Python scripts ([`PRELUDE`] + body) that print `PROBE<TAB>key<TAB>value` lines
//!   as they go (flushed at once, so a run killed half way still reports what it did).
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories and `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const PYTHON: &str = "/usr/bin/python3";
pub const HOST_PATH: &str = "/usr/bin:/bin";
pub const NOBODY: u32 = 65534;
/// Liveness bound of any single command (never a timing assertion).
pub const DEADLINE: Duration = Duration::from_secs(180);

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

// ---------------------------------------------------------------------------------------------
// Small utilities

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// FNV-1a, enough to notice a changed file.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A JSON string literal (for probe arguments).
pub fn jstr(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

pub fn jpath(p: &Path) -> String {
    jstr(p.to_str().expect("test paths are UTF-8"))
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
        thread::sleep(Duration::from_millis(20));
    }
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

/// Entries of a directory (names as bytes), empty if it cannot be read.
pub fn dir_names(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Every path below `root` (relative), depth first, not following links.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    fn go(root: &Path, rel: &Path, acc: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(root.join(rel)) else {
            return;
        };
        let mut names: Vec<OsString> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            acc.push(r.clone());
            if fs::symlink_metadata(root.join(&r)).is_ok_and(|m| m.is_dir()) {
                go(root, &r, acc);
            }
        }
    }
    let mut acc = Vec::new();
    go(root, Path::new(""), &mut acc);
    acc
}

/// The `.seal-incoming-*` entries directly in `dir` (crash leftovers of copy-back).
pub fn incoming_leftovers(dir: &Path) -> Vec<OsString> {
    dir_names(dir)
        .into_iter()
        .filter(|n| n.as_bytes().starts_with(b".seal-incoming"))
        .collect()
}

/// A description of every entry below `root` (type, mode, owner, size, mtime, link target,
/// content hash of files up to 8 MiB), skipping the subtrees in `skip`. Two equal snapshots
/// mean nothing was created, removed or changed there.
pub fn snapshot(root: &Path, skip: &[&Path]) -> BTreeMap<PathBuf, String> {
    fn go(p: &Path, skip: &[&Path], acc: &mut BTreeMap<PathBuf, String>) {
        if skip.contains(&p) {
            return;
        }
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        let ft = m.file_type();
        let mut d = format!(
            "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.nlink()
        );
        if ft.is_symlink() {
            d.push_str(&format!(" -> {:?}", fs::read_link(p).ok()));
        } else if ft.is_file() && m.size() <= 8 * MIB {
            d.push_str(&format!(" fnv={:x}", fnv(&fs::read(p).unwrap_or_default())));
        }
        acc.insert(p.to_path_buf(), d);
        if ft.is_dir() {
            let mut names: Vec<OsString> = fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            names.sort();
            for n in names {
                go(&p.join(n), skip, acc);
            }
        }
    }
    let mut acc = BTreeMap::new();
    go(root, skip, &mut acc);
    acc
}

/// Assert two snapshots are equal, naming the differences.
pub fn assert_same_snapshot(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diffs.push(format!("removed: {}", k.display())),
            Some(w) if w != v => diffs.push(format!("changed: {}: {v} => {w}", k.display())),
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            diffs.push(format!("created: {} ({})", k.display(), after[k]));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: host files outside the output directory changed:\n{}",
        diffs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The per-process work root

static WORK_ROOT: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_work_root() {
    if std::env::var_os("SEAL_TEST_KEEP").is_some() {
        return;
    }
    if let Some(p) = WORK_ROOT.get() {
        let _ = fs::remove_dir_all(p);
    }
}

fn sweep_stale_work_roots() {
    for name in dir_names(Path::new("/tmp")) {
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("seal-st-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(Path::new("/tmp").join(&name));
        }
    }
}

/// `/tmp/seal-st-<pid>-<random>`, mode 0755 so that uid 65534 can traverse it; removed when
/// the test process exits.
pub fn work_root() -> &'static Path {
    WORK_ROOT.get_or_init(|| {
        sweep_stale_work_roots();
        let p = PathBuf::from(format!(
            "/tmp/seal-st-{}-{}",
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

/// A copy of the seal binary in a world-readable 0755 directory (the build tree may not be
/// reachable for uid 65534). Copied once, then renamed into place.
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

// ---------------------------------------------------------------------------------------------
// Variants

#[derive(Clone, Debug)]
pub struct Variant {
    /// "root", "uid65534", or "uid<N>" when the tests do not run as root.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub seal: PathBuf,
    /// Commands must switch to uid/gid (the test process is root, the variant is not).
    pub switch: bool,
}

impl Variant {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn apply(&self, cmd: &mut Command) {
        if self.switch {
            cmd.uid(self.uid).gid(self.gid);
        }
    }
}

/// Print on the real stderr, past the test harness's output capture: for skips and
/// degraded checks that must be seen even when the test passes.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
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
            let others = if uid == NOBODY {
                "the ROOT variant is SKIPPED".to_string()
            } else {
                "the ROOT and UID-65534 variants are SKIPPED".to_string()
            };
            loud(&format!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! seal staging/limits tests run as uid {uid}, NOT root: only the uid-{uid}\n\
                 !!! variant runs; {others} (switching uid needs root).\n\
                 !!! Run the tests as root to cover both.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            ));
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

/// Helpers of every probe: `A` holds the JSON arguments (argv[1]); `put(k, v)` prints one
/// result line at once; `attempt(k, fn, ...)` records "OK", a value, or the errno name.
pub const PRELUDE: &str = r#"
import errno, json, os, socket, stat, sys, time
A = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
def ename(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, "E%d" % e.errno)
    return "EXC:%s:%s" % (type(e).__name__, e)
def esc(v):
    s = v if isinstance(v, str) else json.dumps(v)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
def put(k, v):
    sys.stdout.write("PROBE\t%s\t%s\n" % (k, esc(v)))
    sys.stdout.flush()
def attempt(k, fn, *args):
    try:
        v = fn(*args)
        v = "OK" if v is None else v
    except Exception as e:
        v = ename(e)
    put(k, v)
    return v
def write(path, data, mode=None):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
"#;

/// Results printed by a probe (the last value of each key wins).
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
            .filter_map(|l| l.strip_prefix("PROBE\t"))
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        Probe { map, context }
    }

    pub fn opt(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
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

    pub fn num(&self, key: &str) -> u64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}: not a number: {v:?}\n{}", self.context))
    }

    pub fn expect_in(&self, key: &str, allowed: &[&str]) {
        let v = self.get(key);
        assert!(
            allowed.contains(&v),
            "{key}: expected one of {allowed:?}, got {v:?}\n{}",
            self.context
        );
    }

    pub fn expect_eq(&self, key: &str, expected: &str) {
        self.expect_in(key, &[expected]);
    }
}

// ---------------------------------------------------------------------------------------------
// Commands with a deadline

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// stderr as raw bytes (to check that no raw control character was printed).
    pub stderr_raw: Vec<u8>,
    pub elapsed: Duration,
    pub what: String,
}

impl Output {
    /// The shell's view: the exit code, or 128+N when killed by signal N.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }

    pub fn describe(&self) -> String {
        let cut = |s: &str| -> String {
            if s.len() > 12000 {
                let mut i = s.len() - 12000;
                while !s.is_char_boundary(i) {
                    i += 1;
                }
                format!("[... {} bytes cut ...]{}", i, &s[i..])
            } else {
                s.to_string()
            }
        };
        format!(
            "--- {}\n--- exit {} after {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.what,
            self.code(),
            self.elapsed,
            cut(&self.stdout),
            cut(&self.stderr)
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

    /// The `--json` report: the last stderr line that is a JSON object with `exit_code`.
    pub fn json(&self) -> serde_json::Value {
        self.stderr
            .lines()
            .rev()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v.get("exit_code").is_some())
            .unwrap_or_else(|| panic!("no --json report on stderr\n{}", self.describe()))
    }

    /// The `seal: <name> ...` line printed by `-v` (e.g. "memory limit").
    pub fn verbose_line(&self, name: &str) -> String {
        let prefix = format!("seal: {name}");
        self.stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line on stderr\n{}", self.describe()))
            .to_string()
    }
}

fn spawn_retrying(cmd: &mut Command) -> Child {
    // Another test thread may fork while the seal copy is open for writing (ETXTBSY).
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

pub struct Run {
    pub cmd: Command,
    deadline: Duration,
    what: String,
}

impl Run {
    pub fn new(cmd: Command, what: String) -> Run {
        Run {
            cmd,
            deadline: DEADLINE,
            what,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Run {
        self.what.push(' ');
        self.what.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: &[S]) -> Run {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn deadline(mut self, d: Duration) -> Run {
        self.deadline = d;
        self
    }

    pub fn output(self) -> Output {
        self.spawn().finish()
    }

    pub fn spawn(mut self) -> Running {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = spawn_retrying(&mut self.cmd);
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
}

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

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait until stdout contains `needle`; panics with the output so far otherwise.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.stdout_so_far().contains(needle) || self.exited()
        });
        let out = self.stdout_so_far();
        assert!(
            ok && out.contains(needle),
            "{}: {needle:?} did not appear on stdout within {timeout:?}\nstdout:\n{out}\nstderr:\n{}",
            self.what,
            self.stderr_so_far()
        );
    }

    pub fn kill(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Wait for the end (killing it at the deadline) and collect the output. Fails if the
    /// output pipes stay open long after the process ended (something survived it).
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
                    "{}: still running after the {:?} liveness deadline; killed\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.deadline,
                    self.stdout_so_far(),
                    self.stderr_so_far()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.start.elapsed();
        let grace = Duration::from_secs(15);
        let open_out = self.out_done.recv_timeout(grace).is_err();
        let open_err = self.err_done.recv_timeout(grace).is_err();
        let raw = self.err.lock().unwrap().clone();
        let out = Output {
            status,
            stdout: self.stdout_so_far(),
            stderr: String::from_utf8_lossy(&raw).into_owned(),
            stderr_raw: raw,
            elapsed,
            what: self.what.clone(),
        };
        assert!(
            !(open_out || open_err),
            "{}: stdout/stderr still open {grace:?} after the process ended: a process of \
             the run survived it\n{}",
            self.what,
            out.describe()
        );
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The per-test environment

pub struct Env {
    pub v: Variant,
    /// The test's directory (0755, owned by the test process).
    pub dir: PathBuf,
    /// Fake HOME (owned by the variant's user) with the `~/.ssh/id_rsa` canary.
    pub home: PathBuf,
    /// The project: `home/proj`, the working directory; probes are written here.
    pub project: PathBuf,
    /// An output directory `home/out` (exists, owned by the variant's user).
    pub out: PathBuf,
    /// `home/.ssh/id_rsa`
    pub canary: PathBuf,
    pub canary_content: String,
    /// Random, unique to this test: for markers and file names.
    pub nonce: String,
    pub env: Vec<(String, String)>,
}

impl Env {
    pub fn new(v: &Variant, name: &str) -> Env {
        let nonce = random_hex(6);
        let dir = work_root().join(format!("{name}-{}-{nonce}", v.name));
        fs::create_dir(&dir).expect("creating the test directory");
        set_mode(&dir, 0o755);
        let home = dir.join("home");
        let env = Env {
            v: v.clone(),
            dir: dir.clone(),
            home: home.clone(),
            project: home.join("proj"),
            out: home.join("out"),
            canary: home.join(".ssh/id_rsa"),
            canary_content: format!(
                "-----BEGIN FAKE KEY CANARY-{nonce}-----\nnot a key\n-----END-----\n"
            ),
            nonce,
            env: vec![
                ("PATH".into(), HOST_PATH.into()),
                ("HOME".into(), home.to_str().unwrap().into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
        };
        env.mkdir(&home, 0o755);
        env.mkdir(&home.join(".ssh"), 0o700);
        env.write(&env.canary, env.canary_content.as_bytes(), 0o600);
        env.mkdir(&env.project, 0o755);
        env.mkdir(&env.out, 0o755);
        env
    }

    /// Give `p` (never a link's target) to the variant's user.
    pub fn chown_to_user(&self, p: &Path) {
        if self.v.switch {
            std::os::unix::fs::lchown(p, Some(self.v.uid), Some(self.v.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    /// Give a whole tree to the variant's user.
    pub fn chown_tree(&self, p: &Path) {
        if !self.v.switch {
            return;
        }
        self.chown_to_user(p);
        for rel in walk(p) {
            self.chown_to_user(&p.join(rel));
        }
    }

    /// Create a directory owned by the variant's user.
    pub fn mkdir(&self, p: &Path, mode: u32) {
        fs::create_dir(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown_to_user(p);
    }

    /// Write a file owned by the variant's user.
    pub fn write(&self, p: &Path, content: &[u8], mode: u32) {
        fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        set_mode(p, mode);
        self.chown_to_user(p);
    }

    /// Write a probe (PRELUDE + body) into the project; returns its path.
    pub fn probe(&self, name: &str, body: &str) -> PathBuf {
        let p = self.project.join(format!("{name}.py"));
        self.write(&p, format!("{PRELUDE}\n{body}\n").as_bytes(), 0o644);
        p
    }

    pub fn canary_intact(&self) {
        let got = fs::read_to_string(&self.canary).unwrap_or_default();
        assert_eq!(got, self.canary_content, "the ~/.ssh/id_rsa canary changed");
        let m = fs::symlink_metadata(&self.canary).unwrap();
        assert!(
            m.is_file() && m.mode() & 0o7777 == 0o600,
            "canary mode/type changed"
        );
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.current_dir(&self.project);
        self.v.apply(&mut cmd);
        cmd
    }

    /// `seal run --python /usr/bin/python3` as the variant's user, in the project.
    pub fn seal(&self) -> Run {
        Run::new(
            self.command(&self.v.seal),
            format!("[{}] seal", self.v.name),
        )
        .args(&["run", "--python", PYTHON])
    }

    /// `seal run ... FLAGS -- python3 PROBE ARGS`
    pub fn seal_probe(&self, flags: &[&str], probe: &Path, args: &str) -> Run {
        self.seal()
            .args(flags)
            .args(&["--", "python3"])
            .arg(probe)
            .arg(args)
    }

    /// The positive control: the same probe directly (no seal), same user, environment and
    /// working directory.
    pub fn direct(&self, probe: &Path, args: &str) -> Output {
        Run::new(
            self.command(Path::new(PYTHON)),
            format!("[{}] direct python3 -I -S", self.v.name),
        )
        .args(&["-I", "-S"])
        .arg(probe)
        .arg(args)
        .output()
    }

    /// A host command as the variant's user.
    pub fn host_command(&self, program: &str) -> Run {
        Run::new(
            self.command(Path::new(program)),
            format!("[{}] {program}", self.v.name),
        )
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

/// Wait up to `timeout` for every host process carrying `marker` to be gone.
pub fn assert_procs_gone(marker: &str, timeout: Duration, what: &str) {
    let mut left = Vec::new();
    wait_until(timeout, || {
        left = procs_with_marker(marker);
        left.is_empty()
    });
    if !left.is_empty() {
        let n = left.len();
        for (pid, _) in &left {
            // SAFETY: kill has no memory-safety preconditions; only processes carrying this
            // test's unique marker are signalled.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        panic!(
            "{what}: {n} process(es) carrying the marker {marker} outlived seal: {:?}",
            &left[..n.min(5)]
        );
    }
}

/// `MemTotal` of /proc/meminfo in bytes.
pub fn mem_total() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
