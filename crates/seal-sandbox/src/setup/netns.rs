//! The sandbox's network namespace, created off the critical path.
//!
//! Creating a network namespace costs the kernel about half a millisecond (it registers a
//! full set of per-namespace sysctls), as long as building the whole root file system. A
//! short-lived helper creates it and brings `lo` up while init mounts; init then joins it.

use std::fs::File;
use std::os::fd::{OwnedFd, RawFd};

use super::SetupError;
use crate::sys::{self, Forked};

pub struct PendingNetns {
    pid: libc::pid_t,
    ready_rx: OwnedFd,
    release_tx: OwnedFd,
}

fn err(step: &str) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |e| SetupError::new(step.to_string(), e)
}

/// Fork the helper. Must run inside the sandbox's user namespace (so that it owns the new
/// network namespace) and before any descriptor the program must not see is opened.
pub fn start(close_in_helper: &[RawFd]) -> Result<PendingNetns, SetupError> {
    let (ready_rx, ready_tx) = sys::pipe_cloexec().map_err(err("pipe"))?;
    let (release_rx, release_tx) = sys::pipe_cloexec().map_err(err("pipe"))?;
    match sys::fork().map_err(err("cannot fork the network helper"))? {
        Forked::Child => {
            // Descriptors whose end of file others wait for (the report pipe).
            for &fd in close_in_helper {
                sys::close_raw(fd);
            }
            drop(ready_rx);
            drop(release_tx);
            let ok = sys::unshare(libc::CLONE_NEWNET).is_ok() && sys::loopback_up().is_ok();
            if ok {
                let _ = sys::write_all(std::os::fd::AsRawFd::as_raw_fd(&ready_tx), b"1");
                // Stay alive (holding the namespace) until init has joined it.
                let _ = sys::read_byte(&release_rx);
            }
            sys::exit_now(if ok { 0 } else { 1 })
        }
        Forked::Parent(pid) => Ok(PendingNetns {
            pid,
            ready_rx,
            release_tx,
        }),
    }
}

impl PendingNetns {
    /// Join the helper's namespace. Needs the sandbox's own /proc, where the helper is visible.
    pub fn join(self) -> Result<(), SetupError> {
        let ready = sys::read_byte(&self.ready_rx).unwrap_or(false);
        if !ready {
            let _ = sys::waitpid(self.pid, false);
            return Err(SetupError::new(
                "cannot create the network namespace".into(),
                std::io::Error::from_raw_os_error(libc::EPERM),
            ));
        }
        let ns = File::open(format!("/proc/{}/ns/net", self.pid))
            .map_err(err("cannot open the network namespace"))?;
        sys::setns(&OwnedFd::from(ns), libc::CLONE_NEWNET)
            .map_err(err("cannot join the network namespace"))?;
        // The helper exits once released; init's reaper collects it.
        drop(self.release_tx);
        Ok(())
    }
}
