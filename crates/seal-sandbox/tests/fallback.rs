//! The fallback engine (no namespaces): what the program can and cannot reach.
//!
//! Every test runs twice: as the test process's uid (root in CI), and, when that is root,
//! again as uid 65534 in a copy of this test binary placed in a world-readable directory and
//! run with `--exact NAME` (see [`each_variant`]). Probes are small Python or sh programs that
//! write `key=result` lines into a results file in the one writable directory; every path they
//! touch belongs to the test, and the only network address used is 127.0.0.1.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seal_sandbox::export::{copy_back, ExportPolicy, LinkPolicy};
use seal_sandbox::{
    host_probe, run_fallback, run_fallback_with, run_fallback_with_options, Access, Error,
    FallbackOptions, HandoffRequest, LandlockLevel, LandlockMode, Limits, ModeChanges, Mount,
    Network, Spec, Status,
};

const PYTHON: &str = "/usr/bin/python3";
const NOBODY: u32 = 65534;
/// Set in the re-executed copy that runs one test as uid 65534.
const VARIANT_ENV: &str = "SEAL_FALLBACK_TEST_VARIANT";
/// A liveness guard for every run, never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(60);

fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn random_hex() -> String {
    let mut b = [0u8; 6];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Run `body` as this process's uid and, when that is root, as uid 65534 too.
/// A copy of this test binary at `to`, made by `cp` rather than in this process: a child that
/// another test thread forks inherits every descriptor open at that moment until it execs, and
/// executing a file still open for writing somewhere fails with ETXTBSY.
fn copy_test_binary(to: &Path) {
    let copied = Command::new("cp")
        .arg(std::env::current_exe().unwrap())
        .arg(to)
        .status()
        .unwrap();
    assert!(copied.success(), "cp of the test binary failed");
}

fn each_variant(name: &str, body: fn()) {
    body();
    if std::env::var_os(VARIANT_ENV).is_some() {
        return;
    }
    if getuid() != 0 {
        eprintln!("{name}: not root, the uid 65534 variant is skipped");
        return;
    }
    let dir = PathBuf::from(format!(
        "/tmp/seal-fb-bin-{}-{}",
        std::process::id(),
        random_hex()
    ));
    fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o755);
    let exe = dir.join("fallback-tests");
    copy_test_binary(&exe);
    set_mode(&exe, 0o755);
    let out = Command::new(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(VARIANT_ENV, "uid65534")
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} as uid {NOBODY} failed:\n{stdout}\n{stderr}"
    );
}

/// A test-owned directory tree, removed at the end:
/// `ro/` granted read-only, `rw/` granted read-write (results go there), `secret/` not granted.
struct Scratch {
    root: PathBuf,
    /// Removed on drop (not when another process made it).
    owned: bool,
}

impl Scratch {
    fn new() -> Self {
        let root = PathBuf::from(format!(
            "/tmp/seal-fb-{}-{}-{}",
            getuid(),
            std::process::id(),
            random_hex()
        ));
        fs::create_dir(&root).unwrap();
        set_mode(&root, 0o700);
        for d in ["ro", "rw", "secret", "home"] {
            fs::create_dir(root.join(d)).unwrap();
        }
        fs::write(root.join("ro/data.txt"), "visible").unwrap();
        fs::write(root.join("secret/canary"), "CANARY-SECRET").unwrap();
        Scratch { root, owned: true }
    }

    /// A scratch tree made by the process that started this one.
    fn existing(root: PathBuf) -> Self {
        Scratch { root, owned: false }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn results(&self) -> BTreeMap<String, String> {
        let text = fs::read_to_string(self.p("rw/results")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(&self, argv: &[&str]) -> Spec {
        let bind = |p: PathBuf, access| Mount::Bind {
            src: p.clone(),
            dst: p,
            access,
        };
        Spec {
            argv: argv.iter().map(OsString::from).collect(),
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), self.p("home").into()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            cwd: self.p("rw"),
            hostname: "sandbox".into(),
            uid: 1000,
            gid: 1000,
            root_size_bytes: 1 << 20,
            mounts: vec![
                bind("/usr".into(), Access::ReadOnly),
                Mount::BindIfExists {
                    src: "/etc/ld.so.cache".into(),
                    dst: "/etc/ld.so.cache".into(),
                },
                Mount::Proc {
                    dst: "/proc".into(),
                },
                Mount::Dev {
                    dst: "/dev".into(),
                    shm_size_bytes: 1 << 20,
                    devices: vec![],
                },
                Mount::Tmpfs {
                    dst: self.p("home"),
                    mode: 0o700,
                    size_bytes: 64 << 20,
                },
                bind(self.p("ro"), Access::ReadOnly),
                bind(self.p("rw"), Access::ReadWrite),
            ],
            network: Network::LoopbackOnly,
            handoff: HandoffRequest::default(),
            limits: Limits {
                timeout: Some(DEADLINE),
                ..Limits::default()
            },
            // Best effort: the fallback refuses to run without Landlock in any mode, and
            // "required" (fully enforced) would refuse kernels older than ABI 6 (Debian 12's 6.1).
            landlock: LandlockMode::BestEffort,
        }
    }

    /// A Python probe: `body` calls `t(name, callable)` for each attempt.
    fn python(&self, body: &str) -> Spec {
        let script = format!("{PRELUDE}\n{body}\n");
        fs::write(self.p("ro/probe.py"), script).unwrap();
        self.spec(&[PYTHON, "-I", self.p("ro/probe.py").to_str().unwrap()])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Records `name=OK[ value]` or `name=ERRNO_NAME` for each attempt.
const PRELUDE: &str = r#"
import errno, os, sys
_out = open("results", "w")
def t(name, f):
    try:
        r = f()
        _out.write(f"{name}=OK{'' if r is None else ' ' + str(r)}\n")
    except OSError as e:
        _out.write(f"{name}={errno.errorcode.get(e.errno, e.errno)}\n")
    _out.flush()
def read(p):
    with open(p, "rb") as f:
        return f.read().decode(errors="replace")
def write(p, data="x"):
    with open(p, "w") as f:
        f.write(data)
"#;

/// This kernel's Landlock ABI (0 without Landlock).
fn landlock_abi() -> u32 {
    host_probe::landlock_abi().unwrap_or(0)
}

/// Full on kernels whose Landlock has every right the fallback asks for (ABI 6), partial
/// before (the subset the kernel knows is still enforced).
fn expected_landlock_level() -> LandlockLevel {
    if landlock_abi() >= 6 {
        LandlockLevel::Full
    } else {
        LandlockLevel::Partial
    }
}

fn exited(outcome: &seal_sandbox::Outcome) -> i32 {
    match outcome.status {
        Status::Exited(c) => c,
        Status::TimedOut => panic!("the run timed out"),
    }
}

fn alive(pid: i32) -> bool {
    // A reaped process has no /proc entry; a reused pid would not be our sleep.
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
}

fn read_pid(p: &Path) -> i32 {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

/// None of the `sleep`s whose pids the program wrote into `rw/<pid_files>` is alive after
/// `what` (the run's end, the time limit).
#[track_caller]
fn assert_all_dead(s: &Scratch, pid_files: &[&str], what: &str) {
    for f in pid_files {
        let pid = read_pid(&s.p(&format!("rw/{f}")));
        assert!(!alive(pid), "{f}: process {pid} outlived {what}");
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn reads_only_granted_paths() {
    each_variant("reads_only_granted_paths", || {
        let s = Scratch::new();
        let spec = s.python(&format!(
            r#"
t("granted", lambda: read("{ro}/data.txt"))
t("canary", lambda: read("{secret}/canary"))
t("list_secret", lambda: os.listdir("{secret}"))
t("list_scratch_root", lambda: os.listdir("{root}"))
t("list_root", lambda: os.listdir("/"))
t("own_home", lambda: os.listdir(os.environ["HOME"]))
t("link_to_canary", lambda: (os.symlink("{secret}/canary", "link"), read("link")))
"#,
            ro = s.p("ro").display(),
            secret = s.p("secret").display(),
            root = s.root.display(),
        ));
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        assert_eq!(r["granted"], "OK visible");
        assert_eq!(r["canary"], "EACCES");
        assert_eq!(r["list_secret"], "EACCES");
        assert_eq!(r["list_scratch_root"], "EACCES");
        assert_eq!(r["list_root"], "EACCES");
        assert_eq!(r["own_home"], "OK []");
        assert_eq!(r["link_to_canary"], "EACCES");
        let e = &outcome.enforcement;
        assert_eq!(
            e.isolation,
            seal_sandbox::Isolation::Fallback,
            "{}",
            e.isolation
        );
        assert!(
            e.isolation.to_string().starts_with("none"),
            "{}",
            e.isolation
        );
        assert_eq!(e.landlock, expected_landlock_level());
        assert!(e.limitations.iter().any(|l| l.starts_with("/proc")));
    });
}

#[test]
fn writes_only_in_the_writable_grant() {
    each_variant("writes_only_in_the_writable_grant", || {
        let s = Scratch::new();
        let spec = s.python(&format!(
            r#"
t("rw", lambda: write("{rw}/new"))
t("ro", lambda: write("{ro}/new"))
t("ro_existing", lambda: write("{ro}/data.txt"))
t("secret", lambda: write("{secret}/new"))
t("truncate_canary", lambda: os.truncate("{secret}/canary", 0))
t("mkdir_root", lambda: os.mkdir("{root}/new"))
t("rename_out", lambda: os.rename("{rw}/new", "{secret}/moved"))
t("hardlink_in", lambda: os.link("{secret}/canary", "{rw}/stolen"))
t("unlink_canary", lambda: os.unlink("{secret}/canary"))
t("world_writable", lambda: os.chmod("{rw}/new", 0o666))
t("setuid", lambda: os.chmod("{rw}/new", 0o4755))
t("acl", lambda: os.setxattr("{rw}/new", "user.x", b"1"))
"#,
            rw = s.p("rw").display(),
            ro = s.p("ro").display(),
            secret = s.p("secret").display(),
            root = s.root.display(),
        ));
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        assert_eq!(r["rw"], "OK");
        for k in ["ro", "ro_existing", "secret", "mkdir_root"] {
            assert_eq!(r[k], "EACCES", "{k}");
        }
        // Landlock refuses truncation from ABI 3; before, seccomp refuses truncate() by path
        // (rules.rs, missing_features).
        let truncate = if landlock_abi() >= 3 {
            "EACCES"
        } else {
            eprintln!("NOTE: Landlock ABI < 3: truncation is refused by seccomp (EPERM)");
            "EPERM"
        };
        assert_eq!(r["truncate_canary"], truncate, "truncate_canary");
        assert!(
            matches!(r["rename_out"].as_str(), "EACCES" | "EXDEV"),
            "{r:?}"
        );
        assert!(
            matches!(r["hardlink_in"].as_str(), "EACCES" | "EXDEV"),
            "{r:?}"
        );
        assert_eq!(r["unlink_canary"], "EACCES");
        // chmod is a no-op answering success (see chmod_and_chown_change_nothing).
        assert_eq!(r["world_writable"], "OK");
        assert_eq!(r["setuid"], "OK");
        let mode = fs::metadata(s.p("rw/new")).unwrap().permissions().mode();
        assert_eq!(mode & 0o6002, 0, "mode {mode:o}");
        // Python names errno 95 ENOTSUP (the same number as EOPNOTSUPP on Linux).
        assert!(
            matches!(r["acl"].as_str(), "ENOTSUP" | "EOPNOTSUPP"),
            "{r:?}"
        );
        assert_eq!(
            fs::read_to_string(s.p("secret/canary")).unwrap(),
            "CANARY-SECRET"
        );
        assert_eq!(fs::read_to_string(s.p("ro/data.txt")).unwrap(), "visible");
        assert!(!s.p("secret/moved").exists() && !s.p("new").exists());
    });
}

#[test]
fn chmod_and_chown_change_nothing() {
    each_variant("chmod_and_chown_change_nothing", || {
        let s = Scratch::new();
        let canary = s.p("secret/canary");
        set_mode(&canary, 0o600);
        let inside = s.p("rw/mine.sh");
        fs::write(&inside, "#!/bin/sh\nexit 0\n").unwrap();
        set_mode(&inside, 0o640);
        let meta = |p: &Path| {
            let m = fs::metadata(p).unwrap();
            (m.permissions().mode() & 0o7777, m.uid(), m.gid())
        };
        let (canary_before, inside_before) = (meta(&canary), meta(&inside));
        let spec = s.python(&format!(
            r#"
import shutil
uid, gid = os.getuid(), os.getgid()
t("chmod_outside", lambda: os.chmod("{canary}", 0o644))
t("chmod_outside_nofollow", lambda: os.chmod("{canary}", 0o644, follow_symlinks=False))
t("chmod_outside_setuid", lambda: os.chmod("{canary}", 0o4777))
t("chown_outside", lambda: os.chown("{canary}", 0, 0))
t("lchown_outside", lambda: os.lchown("{canary}", uid, 0))
t("chmod_inside", lambda: os.chmod("{inside}", 0o755))
def fchmod_inside():
    with open("{inside}", "rb") as f:
        os.fchmod(f.fileno(), 0o777)
        os.fchown(f.fileno(), uid, 0)
t("fchmod_inside", fchmod_inside)
t("mode_seen_inside", lambda: oct(os.stat("{inside}").st_mode & 0o7777))
t("exec_inside", lambda: os.access("{inside}", os.X_OK))
t("shutil_copy", lambda: shutil.copy("{ro}/data.txt", "{rw}/copy.txt") and None)
"#,
            canary = canary.display(),
            inside = inside.display(),
            ro = s.p("ro").display(),
            rw = s.p("rw").display(),
        ));
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        for k in [
            "chmod_outside",
            "chmod_outside_nofollow",
            "chmod_outside_setuid",
            "chown_outside",
            "lchown_outside",
            "chmod_inside",
            "fchmod_inside",
            "shutil_copy",
        ] {
            assert_eq!(r[k], "OK", "{k}: {r:?}");
        }
        assert_eq!(r["mode_seen_inside"], "OK 0o640");
        assert_eq!(r["exec_inside"], "OK False");
        assert_eq!(
            meta(&canary),
            canary_before,
            "the canary's mode or owner changed"
        );
        assert_eq!(
            meta(&inside),
            inside_before,
            "the granted file's mode or owner changed"
        );
        assert_eq!(fs::read_to_string(s.p("rw/copy.txt")).unwrap(), "visible");
        let e = &outcome.enforcement;
        assert!(
            e.seccomp.contains("chmod and chown (skipped"),
            "{}",
            e.seccomp
        );

        // Positive control: the same call outside the sandbox changes the mode.
        let st = Command::new(PYTHON)
            .args(["-I", "-c", "import os, sys; os.chmod(sys.argv[1], 0o644)"])
            .arg(&canary)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            meta(&canary).0,
            0o644,
            "positive control: chmod did not apply"
        );
    });
}

#[test]
fn a_trusted_caller_may_set_modes_inside_its_grants() {
    each_variant("a_trusted_caller_may_set_modes_inside_its_grants", || {
        let s = Scratch::new();
        let inside = s.p("rw/tool.sh");
        fs::write(&inside, "#!/bin/sh\nexit 0\n").unwrap();
        set_mode(&inside, 0o644);
        let spec = s.python(&format!(
            r#"
t("exec_bit", lambda: os.chmod("{inside}", 0o755))
t("world_writable", lambda: os.chmod("{inside}", 0o666))
t("setuid", lambda: os.chmod("{inside}", 0o4755))
"#,
            inside = inside.display(),
        ));
        let options = FallbackOptions {
            mode_changes: ModeChanges::Restricted,
        };
        let (outcome, ()) = run_fallback_with_options(&spec, options, |_| ()).unwrap();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        assert_eq!(r["exec_bit"], "OK");
        assert_eq!(r["world_writable"], "EPERM");
        assert_eq!(r["setuid"], "EPERM");
        let mode = fs::metadata(&inside).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
    });
}

#[test]
fn no_socket_but_connected_pairs() {
    each_variant("no_socket_but_connected_pairs", || {
        let s = Scratch::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = s.python(&format!(
            r#"
import asyncio, socket
t("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
t("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
t("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
t("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
t("connect", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=5))
def pair():
    a, b = socket.socketpair()
    a.sendall(b"ping")
    return b.recv(4).decode()
t("pair", pair)
t("dgram_pair", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
t("asyncio", lambda: asyncio.run(asyncio.sleep(0)))
"#
        ));
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        for k in ["inet", "inet6", "unix", "netlink", "connect", "dgram_pair"] {
            assert_eq!(r[k], "EACCES", "{k}");
        }
        assert_eq!(r["pair"], "OK ping");
        assert_eq!(r["asyncio"], "OK");
        assert!(listener.accept().is_err(), "the listener was reached");
    });
}

#[test]
fn other_processes_are_out_of_reach() {
    each_variant("other_processes_are_out_of_reach", || {
        let s = Scratch::new();
        let mut sleeper = Command::new("/usr/bin/sleep").arg("60").spawn().unwrap();
        let pid = sleeper.id();
        let spec = s.python(&format!(
            r#"
import ctypes, resource, signal
t("environ", lambda: read("/proc/self/environ"))
t("other_environ", lambda: read("/proc/{pid}/environ"))
t("list_proc", lambda: os.listdir("/proc"))
t("signal0", lambda: os.kill({pid}, 0))
t("sigterm", lambda: os.kill({pid}, signal.SIGTERM))
t("prlimit_other", lambda: resource.prlimit({pid}, resource.RLIMIT_CPU, (1, 1)))
t("prlimit_self", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
libc = ctypes.CDLL(None, use_errno=True)
def sysv():
    if libc.shmget(0, 4096, 0o1600) == -1:
        raise OSError(ctypes.get_errno(), "shmget")
t("shmget", sysv)
"#
        ));
        let outcome = run_fallback(&spec).unwrap();
        let still_running = sleeper.try_wait().unwrap().is_none();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(exited(&outcome), 0);
        let r = s.results();
        for k in ["environ", "other_environ", "list_proc"] {
            assert_eq!(r[k], "EACCES", "{k}");
        }
        for k in ["prlimit_other", "shmget"] {
            assert_eq!(r[k], "EPERM", "{k}");
        }
        assert_eq!(r["prlimit_self"], "OK");
        if landlock_abi() >= 6 {
            for k in ["signal0", "sigterm"] {
                assert_eq!(r[k], "EPERM", "{k}");
            }
            assert!(
                still_running,
                "the sandboxed program killed a process outside"
            );
        } else {
            // The documented limitation (rules.rs, missing_features; README "lifetime"):
            // without Landlock's signal scoping the program can signal this user's other
            // processes. Asserted, so that the day it is closed the test says so.
            eprintln!(
                "NOTE: Landlock ABI < 6: signals are not scoped; asserting the documented gap"
            );
            assert_eq!(r["signal0"], "OK", "signal0");
            // kill() succeeding is the proof; the sleeper's death may lag on a slow machine.
            assert_eq!(r["sigterm"], "OK", "sigterm");
        }
    });
}

#[test]
fn daemons_do_not_survive_the_program() {
    each_variant("daemons_do_not_survive_the_program", || {
        let s = Scratch::new();
        let script = "setsid sh -c 'sleep 1000 & echo $! > setsid.pid'; \
                      ( sleep 1000 & echo $! > orphan.pid ); \
                      sleep 1000 & echo $! > child.pid; \
                      exit 3";
        let outcome = run_fallback(&s.spec(&["/bin/sh", "-c", script])).unwrap();
        assert_eq!(exited(&outcome), 3);
        assert_all_dead(&s, &["setsid.pid", "orphan.pid", "child.pid"], "the run");
    });
}

#[test]
fn python_double_fork_daemon_does_not_survive() {
    each_variant("python_double_fork_daemon_does_not_survive", || {
        let s = Scratch::new();
        let spec = s.python(
            r#"
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", ["sleep", "1000"])
    os._exit(0)
os.wait()
time.sleep(0.2)
t("started", lambda: None)
"#,
        );
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        assert_eq!(s.results()["started"], "OK");
        // The daemon's pid never reaches the program's results (it has no /proc to look it
        // up): find it by the HOME only this run's processes have.
        let survivors = sleepers_with_home(&s.p("home"));
        assert!(survivors.is_empty(), "sleep survived: {survivors:?}");
    });
}

/// `sleep` processes whose environment has `HOME=home`.
fn sleepers_with_home(home: &Path) -> Vec<i32> {
    let mut marker = b"HOME=".to_vec();
    marker.extend_from_slice(home.as_os_str().as_encoded_bytes());
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            cmd.starts_with(b"sleep\0") && env.split(|&b| b == 0).any(|kv| kv == marker)
        })
        .collect()
}

/// The parent of `pid` (the ppid field of /proc/PID/stat), if it exists.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Neither running nor left as a zombie child of this process.
fn gone(pid: i32) -> bool {
    !alive(pid) && parent_of(pid) != Some(std::process::id() as i32)
}

/// A program that starts a double-forked daemon (a `sleep` in its own session) and records
/// its pid and the keeper's (its parent's), then waits.
const DAEMON_AND_WAIT: &str = r#"
import time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        os.execv("/usr/bin/sleep", ["sleep", "1000"])
    os.write(w, str(pid).encode())
    os._exit(0)
os.close(w)
daemon = os.read(r, 32).decode()
os.wait()
t("daemon", lambda: daemon)
t("keeper", lambda: os.getppid())
time.sleep(1000)
"#;

/// Wait until the program of [`DAEMON_AND_WAIT`] has recorded the keeper's pid, check that it
/// is a child of this process, and return it.
fn keeper_of(s: &Scratch) -> i32 {
    let start = Instant::now();
    let keeper = loop {
        if let Some(k) = s.results().get("keeper") {
            break k.strip_prefix("OK ").unwrap().parse::<i32>().unwrap();
        }
        assert!(start.elapsed() < DEADLINE, "the program never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(parent_of(keeper), Some(std::process::id() as i32));
    keeper
}

fn is_child_subreaper() -> bool {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER stores one int at the address given.
    let rc = unsafe {
        libc::prctl(
            libc::PR_GET_CHILD_SUBREAPER,
            &mut flag as *mut libc::c_int as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    assert_eq!(rc, 0);
    flag != 0
}

#[test]
fn a_killed_keeper_leaves_no_daemon_behind() {
    each_variant("a_killed_keeper_leaves_no_daemon_behind", || {
        // What a program can do where Landlock does not scope signals (ABI < 6), done from
        // outside here: kill its keeper while a daemon of its runs.
        let s = Scratch::new();
        let spec = s.python(DAEMON_AND_WAIT);
        // The caller's other children: a process of its own and another run under way.
        let mut bystander = Command::new("/usr/bin/sleep").arg("60").spawn().unwrap();
        let other = Scratch::new();
        let other_spec = other.spec(&[
            "/bin/sh",
            "-c",
            ": > started; while [ ! -e go ]; do sleep 0.05; done; exit 5",
        ]);
        let other_run = std::thread::spawn(move || run_fallback(&other_spec).map(|o| o.status));
        let started = other.p("rw/started");
        let start = Instant::now();
        while !started.exists() {
            assert!(start.elapsed() < DEADLINE, "the other run never started");
            std::thread::sleep(Duration::from_millis(10));
        }

        let (outcome, keeper) = run_fallback_with(&spec, |_| {
            let keeper = keeper_of(&s);
            // SAFETY: kill with a valid signal; the pid is our unreaped child.
            assert_eq!(unsafe { libc::kill(keeper, libc::SIGKILL) }, 0);
            keeper
        })
        .unwrap();
        let daemon: i32 = s.results()["daemon"]
            .strip_prefix("OK ")
            .unwrap()
            .parse()
            .unwrap();
        assert!(gone(daemon), "the daemon {daemon} outlived its keeper");
        let survivors = sleepers_with_home(&s.p("home"));
        assert!(survivors.is_empty(), "sleep survived: {survivors:?}");
        assert_eq!(outcome.status, Status::Exited(128 + libc::SIGKILL));
        assert!(gone(keeper));

        let bystander_alive = bystander.try_wait().unwrap().is_none();
        let _ = bystander.kill();
        let _ = bystander.wait();
        assert!(bystander_alive, "the caller's own child was killed");
        fs::write(other.p("rw/go"), "").unwrap();
        assert_eq!(other_run.join().unwrap().unwrap(), Status::Exited(5));
        if std::env::var_os(VARIANT_ENV).is_some() {
            // The only run of this process is over: the flag is as it was.
            assert!(!is_child_subreaper());
        }
    });
}

#[test]
fn a_stopped_keeper_is_killed_after_the_time_limit() {
    each_variant("a_stopped_keeper_is_killed_after_the_time_limit", || {
        // Stopping the keeper (as a program can where Landlock does not scope signals) must
        // not suspend the time limit.
        let s = Scratch::new();
        let mut spec = s.python(DAEMON_AND_WAIT);
        spec.limits.timeout = Some(Duration::from_secs(1));
        let start = Instant::now();
        let (outcome, ()) = run_fallback_with(&spec, |_| {
            let keeper = keeper_of(&s);
            // SAFETY: kill with a valid signal; the pid is our unreaped child.
            assert_eq!(unsafe { libc::kill(keeper, libc::SIGSTOP) }, 0);
        })
        .unwrap();
        assert_eq!(outcome.status, Status::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(30));
        let survivors = sleepers_with_home(&s.p("home"));
        assert!(survivors.is_empty(), "sleep survived: {survivors:?}");
    });
}

#[test]
fn inode_flags_cannot_be_changed_through_a_read_only_grant() {
    each_variant(
        "inode_flags_cannot_be_changed_through_a_read_only_grant",
        || {
            const FLAGS: &str = r#"
import fcntl, struct
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_NODUMP_FL = 0x80086601, 0x40086602, 0x40
def getflags(p):
    with open(p, "rb") as f:
        return struct.unpack("l", fcntl.ioctl(f.fileno(), FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
def setflags(p, flags):
    with open(p, "rb") as f:
        fcntl.ioctl(f.fileno(), FS_IOC_SETFLAGS, struct.pack("l", flags))
"#;
            let s = Scratch::new();
            let target = s.p("ro/data.txt");
            let spec = s.python(&format!(
                r#"{FLAGS}
t("get", lambda: getflags("{target}") & FS_NODUMP_FL)
t("set_nodump", lambda: setflags("{target}", getflags("{target}") | FS_NODUMP_FL))
t("after", lambda: getflags("{target}") & FS_NODUMP_FL)
"#,
                target = target.display(),
            ));
            let outcome = run_fallback(&spec).unwrap();
            assert_eq!(exited(&outcome), 0);
            let r = s.results();
            assert_eq!(r["get"], "OK 0");
            assert_eq!(r["set_nodump"], "EPERM");
            assert_eq!(r["after"], "OK 0");
            assert!(outcome.enforcement.seccomp.contains("FS_IOC_SETFLAGS"));

            // Control: the same calls outside the sandbox, through a read-only descriptor too.
            let control = format!(
                "{FLAGS}\nimport sys\np = sys.argv[1]\nsetflags(p, getflags(p) | FS_NODUMP_FL)\n\
             print(getflags(p) & FS_NODUMP_FL)\nsetflags(p, getflags(p) & ~FS_NODUMP_FL)\n"
            );
            let out = Command::new(PYTHON)
                .args(["-I", "-c", &control])
                .arg(&target)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "control: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "64");
        },
    );
}

#[test]
fn exit_codes_propagate() {
    each_variant("exit_codes_propagate", || {
        let s = Scratch::new();
        for (script, want) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 128 + 15)] {
            let outcome = run_fallback(&s.spec(&["/bin/sh", "-c", script])).unwrap();
            assert_eq!(outcome.status, Status::Exited(want), "{script}");
        }
    });
}

#[test]
fn programs_that_cannot_run_give_126_and_127() {
    each_variant("programs_that_cannot_run_give_126_and_127", || {
        let s = Scratch::new();
        let code = |argv: &[&str]| match run_fallback(&s.spec(argv)) {
            Err(e @ Error::Setup { .. }) => e.exit_code(),
            other => panic!("{argv:?}: expected a setup error, got {other:?}"),
        };
        assert_eq!(code(&["no-such-program-seal-test"]), 127);
        assert_eq!(code(&["/nonexistent/program"]), 127);
        // Executable on the host but outside every grant: Landlock refuses to execute it.
        let hidden = s.p("secret/tool.sh");
        fs::write(&hidden, "#!/bin/sh\nexit 0\n").unwrap();
        set_mode(&hidden, 0o755);
        assert_eq!(code(&[hidden.to_str().unwrap()]), 126);
    });
}

#[test]
fn the_time_limit_kills_everything() {
    each_variant("the_time_limit_kills_everything", || {
        let s = Scratch::new();
        let mut spec = s.spec(&[
            "/bin/sh",
            "-c",
            "( sleep 1000 & echo $! > orphan.pid ); sleep 1000 & echo $! > child.pid; wait",
        ]);
        spec.limits.timeout = Some(Duration::from_millis(700));
        let start = Instant::now();
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(outcome.status, Status::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_all_dead(&s, &["orphan.pid", "child.pid"], "the time limit");
    });
}

#[test]
fn staging_directories_are_handed_back() {
    each_variant("staging_directories_are_handed_back", || {
        let s = Scratch::new();
        let stage = s.p("stage");
        fs::create_dir(&stage).unwrap();
        let dest = s.p("dest");
        fs::create_dir(&dest).unwrap();
        let mut spec = s.spec(&["/bin/sh", "-c", "echo result > ../stage/out.txt"]);
        spec.mounts.push(Mount::Staging {
            dst: stage.clone(),
            size_bytes: 1 << 20,
            max_files: 100,
        });
        let outcome = run_fallback(&spec).unwrap();
        assert_eq!(exited(&outcome), 0);
        assert_eq!(outcome.staged.len(), 1);
        let (dst, fd) = &outcome.staged[0];
        assert_eq!(dst, &stage);
        let policy = ExportPolicy {
            links: LinkPolicy::Internal,
            keep_exec: false,
            overwrite: false,
            max_bytes: 1 << 20,
            max_files: 100,
        };
        let report = copy_back(fd, &dest, &policy);
        assert!(report.aborted.is_none(), "{report:?}");
        assert_eq!(
            fs::read_to_string(dest.join("out.txt")).unwrap(),
            "result\n"
        );
    });
}

#[test]
fn spec_refusals_are_one_line() {
    each_variant("spec_refusals_are_one_line", || {
        let s = Scratch::new();
        let spec_err = |spec: &Spec| match run_fallback(spec) {
            Err(Error::Spec(text)) => {
                assert!(!text.contains('\n'), "{text}");
                text
            }
            other => panic!("expected a spec error, got {other:?}"),
        };
        let mut moved = s.spec(&["/bin/true"]);
        moved.mounts.push(Mount::Bind {
            src: s.p("ro"),
            dst: "/seal/env".into(),
            access: Access::ReadOnly,
        });
        assert!(spec_err(&moved).contains("cannot show"));
        let mut listeners = s.spec(&["/bin/true"]);
        listeners.handoff.listen_ports = vec![8080];
        assert!(spec_err(&listeners).contains("network namespace"));
        let mut off = s.spec(&["/bin/true"]);
        off.landlock = LandlockMode::Off;
        assert!(spec_err(&off).contains("Landlock"));
        // The namespace engine does not offer the channel.
        let mut channel = s.spec(&["/bin/true"]);
        channel.handoff.connection_channel = true;
        assert!(matches!(seal_sandbox::run(&channel), Err(Error::Spec(_))));
    });
}

/// `LandlockMode::Required` means fully enforced: it runs where the ABI has every right and is
/// refused in words (not the library's bit flags) where it has not.
#[test]
fn required_landlock_runs_in_full_or_is_refused_in_words() {
    each_variant(
        "required_landlock_runs_in_full_or_is_refused_in_words",
        || {
            let s = Scratch::new();
            let mut spec = s.spec(&["/bin/true"]);
            spec.landlock = LandlockMode::Required;
            match host_probe::landlock_abi() {
                Ok(abi) if abi >= 6 => {
                    let outcome = run_fallback(&spec).unwrap();
                    assert_eq!(exited(&outcome), 0);
                    assert_eq!(outcome.enforcement.landlock, LandlockLevel::Full);
                }
                abi => {
                    eprintln!("NOTE: Landlock {abi:?} < 6: Required must be refused here");
                    let err = match run_fallback(&spec) {
                        Err(e) => e.to_string(),
                        Ok(o) => panic!("ran with Required on an older ABI: {:?}", o.enforcement),
                    };
                    assert!(err.contains("run without --require-landlock"), "{err}");
                }
            }
        },
    );
}

#[test]
fn namespaces_probe_answers() {
    each_variant("namespaces_probe_answers", || {
        // This host allows unprivileged user namespaces (the namespace engine's tests need
        // them), so the probe must say so for root and for uid 65534 alike.
        assert_eq!(host_probe::check_namespaces(), Ok(()));
        assert!(host_probe::userns_available());
    });
}

/// Send `fd` with one byte over a Unix socket (SCM_RIGHTS), as seal's proxy side would.
fn send_fd(sock: &OwnedFd, fd: i32) {
    let mut byte = [b'S'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain old data; zeroed is a valid initial value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds CMSG_SPACE(sizeof fd) bytes, so the first header
    // exists and its data area has room for one descriptor; msg points at live buffers.
    let n = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd);
        libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    assert_eq!(n, 1, "sendmsg: {}", std::io::Error::last_os_error());
}

#[test]
fn the_connection_channel_brings_a_connected_stream() {
    each_variant("the_connection_channel_brings_a_connected_stream", || {
        let s = Scratch::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).unwrap();
            let mut reply = b"pong:".to_vec();
            reply.extend_from_slice(&buf);
            conn.write_all(&reply).unwrap();
        });
        let mut spec = s.python(
            r#"
import socket
def leaked():
    # 0-2 are stdio, 3 the channel, 4 the results file; nothing else may be open.
    found = []
    for fd in range(5, 256):
        try:
            os.fstat(fd)
            found.append(fd)
        except OSError:
            pass
    return found
t("leaked", leaked)
t("own_socket", lambda: socket.socket())
def via_channel():
    ch = socket.socket(fileno=3)
    ch.send(b"c")
    _, fds, _, _ = socket.recv_fds(ch, 1, 1)
    conn = socket.socket(fileno=fds[0])
    conn.sendall(b"ping")
    reply = b""
    while chunk := conn.recv(64):
        reply += chunk
    return reply.decode()
t("channel", via_channel)
"#,
        );
        spec.handoff.connection_channel = true;
        let (outcome, answered) = run_fallback_with(&spec, |started| {
            let channel = started.connection_channel.expect("a channel was asked for");
            std::thread::spawn(move || {
                let mut req = [0u8; 1];
                // SAFETY: req is one writable byte.
                let n = unsafe { libc::recv(channel.as_raw_fd(), req.as_mut_ptr().cast(), 1, 0) };
                if n != 1 {
                    return false;
                }
                let stream = TcpStream::connect(addr).unwrap();
                send_fd(&channel, stream.as_raw_fd());
                true
            })
        })
        .unwrap();
        assert_eq!(exited(&outcome), 0);
        assert!(answered.join().unwrap());
        server.join().unwrap();
        let r = s.results();
        assert_eq!(r["own_socket"], "EACCES");
        assert_eq!(r["channel"], "OK pong:ping");
        assert_eq!(r["leaked"], "OK []");
    });
}

#[test]
fn serve_connection_channel_answers_every_request_until_the_program_ends() {
    each_variant(
        "serve_connection_channel_answers_every_request_until_the_program_ends",
        || {
            let s = Scratch::new();
            let mut spec = s.python(
                r#"
import socket
ch = socket.socket(fileno=3)
def ask():
    ch.send(b"c")
    _, anc, _, _ = ch.recvmsg(1, socket.CMSG_SPACE(4))
    if not anc:
        raise ConnectionRefusedError(111, "no stream")
    conn = socket.socket(fileno=int.from_bytes(anc[0][2][:4], "little"))
    conn.sendall(b"ping")
    return conn.recv(64).decode()
t("first", ask)
t("second", ask)
t("refused", ask)
"#,
            );
            spec.handoff.connection_channel = true;
            let (outcome, server) = run_fallback_with(&spec, |started| {
                let channel = started.connection_channel.expect("a channel was asked for");
                std::thread::spawn(move || {
                    let mut served = 0;
                    let r = seal_sandbox::serve_connection_channel(&channel, || {
                        served += 1;
                        if served > 2 {
                            return Err(std::io::Error::other("no more"));
                        }
                        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
                        let n = served;
                        std::thread::spawn(move || {
                            let mut ours = ours;
                            let mut buf = [0u8; 4];
                            ours.read_exact(&mut buf).unwrap();
                            ours.write_all(format!("pong{n}").as_bytes()).unwrap();
                        });
                        Ok(theirs)
                    });
                    (r.is_ok(), served)
                })
            })
            .unwrap();
            assert_eq!(exited(&outcome), 0);
            // It returned on its own: the program's end closed the channel.
            assert_eq!(server.join().unwrap(), (true, 3));
            let r = s.results();
            assert_eq!(r["first"], "OK pong1");
            assert_eq!(r["second"], "OK pong2");
            assert_eq!(r["refused"], "ECONNREFUSED");
        },
    );
}

#[test]
fn signals_sent_to_the_caller_reach_the_program() {
    each_variant("signals_sent_to_the_caller_reach_the_program", || {
        let s = Scratch::new();
        let spec = s.spec(&[
            "/bin/sh",
            "-c",
            "trap 'exit 42' TERM; : > ready; while :; do sleep 0.05; done",
        ]);
        let ready = s.p("rw/ready");
        let (outcome, ()) = run_fallback_with(&spec, |_| {
            let start = Instant::now();
            while !ready.exists() && start.elapsed() < DEADLINE {
                std::thread::sleep(Duration::from_millis(10));
            }
            // To this thread only, where it stays blocked until the engine forwards it; a
            // process-wide signal could land on another thread of the test harness.
            // SAFETY: pthread_kill on the calling thread with a valid signal number.
            let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) };
            assert_eq!(rc, 0);
        })
        .unwrap();
        assert_eq!(outcome.status, Status::Exited(42));
    });
}

/// Not a test on its own: the process [`killing_the_caller_kills_the_sandbox`] starts and
/// SIGKILLs in the middle of a run.
#[test]
fn helper_run_until_killed() {
    let Some(root) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let s = Scratch::existing(root.into());
    let script = "( sleep 1000 & echo $! > orphan.pid ); sleep 1000 & echo $! > child.pid; wait";
    let _ = run_fallback(&s.spec(&["/bin/sh", "-c", script]));
}

const HELPER_ENV: &str = "SEAL_FALLBACK_TEST_HELPER_DIR";

#[test]
fn killing_the_caller_kills_the_sandbox() {
    each_variant("killing_the_caller_kills_the_sandbox", || {
        let s = Scratch::new();
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args(["helper_run_until_killed", "--exact", "--nocapture"])
            .env(HELPER_ENV, &s.root)
            .env_remove(VARIANT_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pids = [s.p("rw/orphan.pid"), s.p("rw/child.pid")];
        let start = Instant::now();
        while !pids
            .iter()
            .all(|p| fs::read_to_string(p).is_ok_and(|t| t.ends_with('\n')))
        {
            assert!(
                start.elapsed() < DEADLINE,
                "the helper's program never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        helper.kill().unwrap();
        helper.wait().unwrap();
        for p in &pids {
            let pid = read_pid(p);
            let start = Instant::now();
            while alive(pid) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(
                !alive(pid),
                "{}: process {pid} outlived the caller ({})",
                p.display(),
                family(pid)
            );
        }
    });
}

/// A process's state and its parent's, for a failure message: who was left holding it.
fn family(pid: i32) -> String {
    let field = |pid: &str, name: &str| {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            })
            .unwrap_or_else(|| "?".into())
    };
    let pid = pid.to_string();
    let ppid = field(&pid, "PPid:");
    let cmdline = fs::read(format!("/proc/{ppid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default();
    format!(
        "state {}, parent {ppid} ({cmdline}) state {}, stack: {}",
        field(&pid, "State:"),
        field(&ppid, "State:"),
        fs::read_to_string(format!("/proc/{ppid}/stack")).unwrap_or_default()
    )
}

const PROBE_ENV: &str = "SEAL_FALLBACK_TEST_PROBE_RESULTS";

/// Not a test on its own: run inside a fallback sandbox by
/// [`the_probe_sees_namespaces_blocked_inside_the_fallback`].
#[test]
fn helper_probe_namespaces() {
    let Some(results) = std::env::var_os(PROBE_ENV) else {
        return;
    };
    let answer = match host_probe::check_namespaces() {
        Ok(()) => "available".to_string(),
        Err(why) => why,
    };
    fs::write(results, format!("probe={answer}\n")).unwrap();
}

#[test]
fn the_probe_sees_namespaces_blocked_inside_the_fallback() {
    each_variant(
        "the_probe_sees_namespaces_blocked_inside_the_fallback",
        || {
            // The fallback's own seccomp filter stands in for a container that refuses user
            // namespaces: the probe must try, fail, and say which step was refused.
            let s = Scratch::new();
            let exe = s.p("ro/fallback-tests");
            copy_test_binary(&exe);
            // Through sh only to silence the inner test harness's report.
            let command = format!(
                "exec {} helper_probe_namespaces --exact --test-threads=1 >/dev/null 2>&1",
                exe.display()
            );
            let mut spec = s.spec(&["/bin/sh", "-c", &command]);
            spec.env.push((PROBE_ENV.into(), s.p("rw/results").into()));
            let outcome = run_fallback(&spec).unwrap();
            assert_eq!(exited(&outcome), 0);
            let probe = &s.results()["probe"];
            assert!(
                probe.starts_with("creating user, mount, PID and network namespaces"),
                "{probe}"
            );
        },
    );
}
