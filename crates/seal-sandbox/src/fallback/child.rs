//! The two processes of a fallback run below the caller: the keeper, a child subreaper that
//! outlives every process of the run and kills what is left, and the program, which restricts
//! itself and executes.
//!
//! Both are forked from a caller that may have other threads, so they only use what was
//! prepared before the fork, and the keeper first closes every descriptor it was not given:
//! a copy of another concurrent run's pipe would keep that run from seeing end of file.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::reap;
use super::rules;
use super::translate::Grant;
use crate::driver::program::{fail, restrict_and_exec, Capabilities, Rlimit, Tail};
use crate::setup::EXIT_SETUP_FAILED;
use crate::spec::LandlockMode;
use crate::sys::{self, fallback as fsys, Forked, SigSet};

/// Where the program finds the connection channel.
pub const CHANNEL_FD: RawFd = 3;

/// Everything both processes need, prepared by the caller before forking.
pub struct Launch<'a> {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: &'a Path,
    pub grants: &'a [Grant],
    pub landlock: LandlockMode,
    pub seccomp_filter: &'a [libc::sock_filter],
    pub rlimits: Vec<Rlimit>,
    pub affinity: Option<usize>,
    /// `tasks` files of the run's cgroups (root only); the program joins them.
    pub join_fds: Vec<RawFd>,
    pub original_mask: SigSet,
    /// The signals forwarded to the program (already blocked by the caller).
    pub forwarded: &'a [libc::c_int],
    /// End of file here means the caller is gone or wants the run over.
    pub alive_rx: RawFd,
    pub report_tx: RawFd,
    /// The program's end of the connection channel.
    pub channel: Option<RawFd>,
}

/// The keeper's side of the fork. Never returns.
pub fn keeper_main(l: &Launch<'_>) -> ! {
    let mut keep = vec![l.alive_rx, l.report_tx];
    keep.extend(l.channel);
    keep.extend(&l.join_fds);
    if let Err(e) = fsys::close_all_except(&keep) {
        fail(
            l.report_tx,
            EXIT_SETUP_FAILED,
            format!("cannot close inherited descriptors: {e}"),
        );
    }
    // A caller that ignores SIGCHLD would pass that on, and the keeper would never hear of
    // the program's end.
    sys::default_signal(libc::SIGCHLD);
    if let Err(e) = fsys::set_child_subreaper(true) {
        fail(
            l.report_tx,
            EXIT_SETUP_FAILED,
            format!("PR_SET_CHILD_SUBREAPER: {e}"),
        );
    }
    let mut waited = l.forwarded.to_vec();
    waited.push(libc::SIGCHLD);
    let waited = SigSet::of(&waited);
    let signals = match waited.block().and_then(|_| fsys::signalfd(&waited)) {
        Ok(fd) => fd,
        Err(e) => fail(
            l.report_tx,
            EXIT_SETUP_FAILED,
            format!("cannot wait for signals: {e}"),
        ),
    };
    let keeper = fsys::getpid();
    let program = match sys::fork() {
        Ok(Forked::Child) => program_main(l, keeper),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => fail(
            l.report_tx,
            EXIT_SETUP_FAILED,
            format!("cannot fork the program: {e}"),
        ),
    };
    // Only the program may hold these: its exec is what closes the report pipe, and the
    // channel's end of file must mean that the program and its children are gone.
    sys::close_raw(l.report_tx);
    if let Some(fd) = l.channel {
        sys::close_raw(fd);
    }
    for &fd in &l.join_fds {
        sys::close_raw(fd);
    }
    watch(program, &signals, l.alive_rx)
}

/// Forward signals sent to seal (not the ones the terminal already delivered to the
/// program's process group), reap orphans, and end everything when the program ends or the
/// caller lets go of the alive pipe.
fn watch(program: libc::pid_t, signals: &OwnedFd, alive_rx: RawFd) -> ! {
    loop {
        let ready = match fsys::poll_readable(&[signals.as_raw_fd(), alive_rx], None) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(_) => {
                reap::kill_all_descendants();
                sys::exit_now(EXIT_SETUP_FAILED)
            }
        };
        if ready[1] {
            reap::kill_all_descendants();
            sys::exit_now(128 + libc::SIGKILL)
        }
        while let Ok(Some(info)) = fsys::read_signal(signals) {
            if info.signo != libc::SIGCHLD && info.code != sys::SI_KERNEL {
                let _ = sys::kill(program, info.signo);
            }
        }
        while let Ok(Some((pid, status))) = sys::waitpid(-1, true) {
            if pid == program {
                reap::kill_all_descendants();
                sys::exit_now(status.code())
            }
        }
    }
}

/// The program's side: the last restrictions, then `execve`. Never returns.
fn program_main(l: &Launch<'_>, keeper: libc::pid_t) -> ! {
    let mut report = l.report_tx;
    // The Rust runtime ignores SIGPIPE; the program must start with the default.
    sys::default_signal(libc::SIGPIPE);
    if let Err(e) = l.original_mask.set_mask() {
        fail(
            report,
            EXIT_SETUP_FAILED,
            format!("cannot restore the signal mask: {e}"),
        );
    }
    if let Err(e) = sys::set_parent_death_signal(libc::SIGKILL) {
        fail(report, EXIT_SETUP_FAILED, format!("PR_SET_PDEATHSIG: {e}"));
    }
    if fsys::getppid() != keeper {
        // The keeper died before the death signal was armed.
        sys::exit_now(EXIT_SETUP_FAILED);
    }
    for &fd in &l.join_fds {
        if let Err(e) = sys::write_all(fd, b"0") {
            fail(
                report,
                EXIT_SETUP_FAILED,
                format!("cannot join the sandbox's cgroup: {e}"),
            );
        }
    }
    if let Err(e) = place_descriptors(l, &mut report) {
        fail(report, EXIT_SETUP_FAILED, e);
    }
    if let Err(e) = std::env::set_current_dir(l.cwd) {
        fail(
            report,
            EXIT_SETUP_FAILED,
            format!("working directory {}: {e}", l.cwd.display()),
        );
    }
    // Without a user namespace the caller's capabilities are real ones: root's go from every
    // set; a user has none to lose but ambient ones.
    let capabilities = if sys::getuid() == 0 || fsys::geteuid() == 0 {
        Capabilities::AllSets
    } else {
        Capabilities::AllButBounding
    };
    let tail = Tail {
        report,
        program: &l.program,
        argv: &l.argv,
        envp: &l.envp,
        rlimits: &l.rlimits,
        affinity: l.affinity,
        capabilities,
        seccomp_filter: l.seccomp_filter,
        // socket() is refused outright here: there are no network calls to observe.
        observe: None,
    };
    restrict_and_exec(&tail, || rules::restrict(l.grants, l.landlock))
}

/// The channel at descriptor 3, inherited; everything else above 2 close-on-exec.
fn place_descriptors(l: &Launch<'_>, report: &mut RawFd) -> Result<(), String> {
    let first_closed = match l.channel {
        Some(channel) => {
            if *report == CHANNEL_FD {
                *report = fsys::dup_cloexec_above(*report, CHANNEL_FD + 1)
                    .map_err(|e| format!("cannot move the report pipe: {e}"))?;
            }
            fsys::place_at(channel, CHANNEL_FD)
                .map_err(|e| format!("cannot place the connection channel at fd 3: {e}"))?;
            CHANNEL_FD as libc::c_uint + 1
        }
        None => 3,
    };
    sys::cloexec_from(first_closed).map_err(|e| format!("cannot close inherited descriptors: {e}"))
}
