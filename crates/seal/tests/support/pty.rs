//! Running a command on a pseudo-terminal ([`Run::spawn_in_pty`]).

use std::fs;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{reader, shell_code, spawn_retrying, wait_until, Run};

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

impl Run {
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
        (shell_code(status), elapsed, self.transcript())
    }
}
