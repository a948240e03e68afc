//! Running commands with a liveness deadline: [`Run`] (what to run), [`Running`] (started,
//! output collected in the background) and [`Output`] (how it ended).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{wait_until, Probe};

/// How long a command's stdout and stderr may stay open after it ended, unless
/// [`Run::pipe_grace`] says otherwise.
pub const PIPE_GRACE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Output

/// How a command ended and what it printed.
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

/// The shell's view of a status: the exit code, or 128+N when killed by signal N.
pub fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

impl Output {
    /// The shell's view of the status: the code, or 128+N if killed by signal N.
    pub fn code(&self) -> i32 {
        shell_code(self.status)
    }

    /// The command, its status and output (each stream cut to its last 12000 bytes), for
    /// assertion messages.
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

    /// The probe results printed on stdout.
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

    pub fn expect_failure(&self) -> &Self {
        assert!(
            self.code() != 0,
            "expected a failure, got exit 0\n{}",
            self.describe()
        );
        self
    }

    /// stderr lines starting with `prefix`.
    pub fn stderr_lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
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

// ---------------------------------------------------------------------------------------------
// Starting processes

/// `cmd.spawn()`, retried while it fails with ETXTBSY: another test thread may be forking while
/// a copied executable was open for writing, and the copy is then briefly "busy".
pub fn spawn_retrying(cmd: &mut Command) -> Child {
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

/// Read `r` to its end into `acc` on a thread; the receiver hears when it is done.
pub fn reader(mut r: impl Read + Send + 'static, acc: Arc<Mutex<Vec<u8>>>) -> mpsc::Receiver<()> {
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

// ---------------------------------------------------------------------------------------------
// Run: a command to run

/// A command to run with a deadline, its input and a label for messages.
pub struct Run {
    pub cmd: Command,
    pub(super) stdin: Option<Vec<u8>>,
    pub(super) deadline: Duration,
    pub(super) pipe_grace: Duration,
    pub(super) what: String,
}

impl Run {
    /// `cmd` (its program and environment already set), labelled `what` in messages, killed
    /// (and the test failed) if it runs longer than `deadline`: a liveness bound, never a
    /// timing assertion.
    pub fn new(cmd: Command, what: impl Into<String>, deadline: Duration) -> Run {
        Run {
            cmd,
            stdin: None,
            deadline,
            pipe_grace: PIPE_GRACE,
            what: what.into(),
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

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Run {
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

    /// Feed `data` on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, data: &[u8]) -> Run {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn deadline(mut self, d: Duration) -> Run {
        self.deadline = d;
        self
    }

    /// How long stdout and stderr may stay open after the process ended (default
    /// [`PIPE_GRACE`]) before [`Running::finish`] concludes something of it survived.
    pub fn pipe_grace(mut self, d: Duration) -> Run {
        self.pipe_grace = d;
        self
    }

    /// Run to completion; panics (after killing it) if the deadline passes.
    pub fn output(self) -> Output {
        self.spawn().finish()
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
            pipe_grace: self.pipe_grace,
            what: self.what,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running: a started command

/// A started command.
pub struct Running {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    out_done: mpsc::Receiver<()>,
    err_done: mpsc::Receiver<()>,
    start: Instant,
    deadline: Duration,
    pipe_grace: Duration,
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

    /// Whether it has ended (it is reaped then: signal it no more).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait until stdout contains `needle`; panics with the output so far on timeout.
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

    /// Send `sig`; it must be delivered.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Send `sig` if it can still be delivered (unlike [`Running::signal`], never fails).
    pub fn kill(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Wait for the end (killing it at the deadline) and collect the output. Fails if stdout
    /// or stderr stay open long after the process ended: then a process holding them (part of
    /// a sandbox) survived it.
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
            thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.start.elapsed();
        // The pipes close when every process holding them is gone. If they stay open long
        // after the process ended, something of it (of the sandbox) survived.
        let grace = self.pipe_grace;
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
            "{}: stdout/stderr still open {grace:?} after the process exited: a process \
             holding them survived\n{}",
            self.what,
            out.describe()
        );
        out
    }
}
