//! Support of the isolation, fallback, functional, CLI-error and concurrency tests, on top of
//! [`super`] (variants, the work root, [`TestHome`], commands, probe results).
//!
//! * Every isolation test runs twice: as the test process's uid (root in CI) and as uid 65534
//!   (unprivileged), see [`each_variant`]. Not running as root, only the current-uid variant
//!   runs and the skip is printed.
//! * [`TestEnv`] is a [`TestHome`] (a fake HOME full of canaries, files and environment
//!   variables, a project directory, an output directory) that runs probes either in seal or
//!   directly (the positive control: same interpreter, environment, uid, cwd).
//! * Probes are Python scripts built from [`PRELUDE`]; they print one `PROBE<TAB>key<TAB>value`
//!   line per attempt, the value being "OK", a result, or the errno name. The probes (and
//!   checks) the namespace-mode and the fallback-mode tests share are in [`probes`], run in
//!   either sandbox by [`probes::Mode`].
//! * Sinks ([`Sink`]) listen on host loopback only (127.0.0.1, an abstract
//!   Unix socket, a path Unix socket). No test sends anything anywhere else.
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories, `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub mod probes;

pub use super::*;

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
pub const PRELUDE: &str = include_str!("prelude.py");

// ---------------------------------------------------------------------------------------------
// The per-test environment

/// A [`TestHome`] and the seal commands of the isolation tests; its fields are the home's.
pub struct TestEnv {
    base: TestHome,
}

derefs_to_test_home!(TestEnv);

impl TestEnv {
    pub fn new(v: &Variant, name: &str) -> TestEnv {
        TestEnv {
            base: TestHome::new(v, name),
        }
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
