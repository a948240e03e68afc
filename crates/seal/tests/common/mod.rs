//! Harness of the isolation, fallback, functional, CLI-error and limit tests (on top of the
//! shared [`harness`]: variants, work root, commands, probe results).
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
//! * Sinks ([`Sink`], from the harness) listen on host loopback only (127.0.0.1, an abstract
//!   Unix socket, a path Unix socket). No test sends anything anywhere else.
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories, `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../harness/mod.rs"]
mod harness;
pub mod probes;

pub use harness::*;

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
        let (dir, nonce) = test_dir(v, name);
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
            v.write_private(&home, rel, &env.canary_file_content(rel));
        }
        env.mkdir_owned(&project, 0o755);
        env.mkdir_owned(&out, 0o755);
        fs::create_dir(&run_dir).expect("creating the socket directory");
        set_mode(&run_dir, 0o755);
        env.env = base_env(&home);
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
        self.v.chown(p);
    }

    /// Create a directory owned by the variant's user.
    pub fn mkdir_owned(&self, p: &Path, mode: u32) {
        self.v.mkdir(p, mode);
    }

    /// Write a file owned by the variant's user.
    pub fn write_owned(&self, p: &Path, content: &str, mode: u32) {
        self.v.write(p, content, mode);
    }

    /// Write a probe (PRELUDE + body + emit()) into the project; returns its path.
    pub fn probe(&self, name: &str, body: &str) -> PathBuf {
        let p = self.project.join(format!("{name}.py"));
        self.write_owned(&p, &format!("{PRELUDE}\n{body}\nemit()\n"), 0o644);
        p
    }

    fn base_command(&self, program: &Path) -> Command {
        let mut cmd = self.v.command(program, &self.env, &self.project);
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
        Run::new(cmd, format!("[{}] seal", self.v.name), DEADLINE)
            .args(&["run", "--python", PYTHON])
    }

    /// `seal` with no arguments yet (for top-level options and `run` without `--python`).
    pub fn seal_bare(&self) -> Run {
        let cmd = self.base_command(&self.v.seal);
        Run::new(cmd, format!("[{}] seal", self.v.name), DEADLINE)
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
        self.seal_bare_wrapped(&[])
    }

    /// Like [`TestEnv::seal`], on a simulated Ubuntu 23.10+ host (AppArmor's
    /// restrict_unprivileged_userns): `no_userns.py --without-caps`, where a user namespace
    /// can be created but other namespaces and mounts are refused with EPERM.
    pub fn seal_userns_without_caps(&self) -> Run {
        self.seal_bare_userns_without_caps()
            .args(&["run", "--python", PYTHON])
    }

    /// [`TestEnv::seal_bare`] under `no_userns.py --without-caps`.
    pub fn seal_bare_userns_without_caps(&self) -> Run {
        self.seal_bare_wrapped(&["--without-caps"])
    }

    fn seal_bare_wrapped(&self, wrapper_flags: &[&str]) -> Run {
        let cmd = self.base_command(Path::new(PYTHON));
        Run::new(
            cmd,
            format!("[{}] no_userns.py {}", self.v.name, wrapper_flags.join(" ")),
            DEADLINE,
        )
        .args(&["-I", "-S"])
        .arg(no_userns_wrapper())
        .args(wrapper_flags)
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
        Run::new(
            cmd,
            format!("[{}] direct python3 -I -S", self.v.name),
            DEADLINE,
        )
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
        Run::new(cmd, format!("[{}] {program}", self.v.name), DEADLINE)
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
// Host processes

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
