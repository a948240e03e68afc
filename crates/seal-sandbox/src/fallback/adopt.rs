//! The caller's side of a run's lifetime: what happens to the program's processes when its
//! keeper dies before them.
//!
//! Every process of a run descends from its keeper, a child subreaper, so while the keeper
//! lives no orphan of the run goes anywhere else, and the keeper kills them all before it
//! exits. But the keeper can be killed: from outside, or by the program itself on a kernel
//! whose Landlock does not scope signals (ABI < 6, e.g. Ubuntu 24.04's 6.8), where a
//! process of the sandbox may signal any process of the same user. Its orphans would then go
//! to the host's init and outlive the run, the time limit and seal, Landlock grants and all.
//!
//! So for as long as any run is under way the caller is a child subreaper too ([`Adoption`]),
//! and a dead keeper's orphans come to it; once the keeper has been reaped, [`kill_adopted`]
//! kills and reaps them. They are told from the caller's other children (whatever else the
//! process forked, other runs' keepers) by what the program's processes cannot shed: same
//! real uid, no_new_privs, and more seccomp filters than the caller's thread that ran the
//! keeper. Neither a keeper (which has none of these) nor anything the caller spawns itself
//! matches, unless that child installs seccomp filters of its own under no_new_privs: such a
//! direct child, alive at that moment, would be taken for one of the sandbox's.
//!
//! The subreaper flag belongs to the whole caller process and stays until cleared: it is
//! set when the first concurrent run starts and cleared when the last one ends (unless the
//! caller already had it). Meanwhile an orphan of one of the caller's unrelated children
//! (a daemon it started) also comes to the caller rather than to init; it is left alone, and
//! stays a zombie of the caller once it ends.
//!
//! Residual gap: where Landlock does not scope signals, the program can signal the caller
//! too. One that stops or kills the caller and the keeper together (SIGSTOP to the caller
//! first, or kill(-1, SIGKILL) from a process that survives it) leaves its processes to the
//! next subreaper up or to init, with their Landlock domain and seccomp filter but no time
//! limit: nothing in the process tree is left to end them. Only a kernel with Landlock ABI 6
//! (signal scoping) or a cgroup of the run's own closes that.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

use super::reap;
use crate::sys::{self, fallback as fsys};

/// How many fallback runs of this process are under way, and whether the first of them made
/// the process a child subreaper (so that the last one clears the flag again).
struct Runs {
    count: usize,
    set_here: bool,
}

static RUNS: Mutex<Runs> = Mutex::new(Runs {
    count: 0,
    set_here: false,
});

fn runs() -> MutexGuard<'static, Runs> {
    // The counter stays consistent whatever panicked while holding the lock.
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// One run's share of the caller being a child subreaper: taken before its keeper is
/// forked, released after the keeper has been reaped (and [`kill_adopted`] has run if
/// needed).
pub struct Adoption(());

impl Adoption {
    pub fn begin() -> io::Result<Adoption> {
        let mut runs = runs();
        if runs.count == 0 {
            let already = fsys::is_child_subreaper()?;
            if !already {
                fsys::set_child_subreaper(true)?;
            }
            runs.set_here = !already;
        }
        runs.count += 1;
        Ok(Adoption(()))
    }
}

impl Drop for Adoption {
    fn drop(&mut self) {
        let mut runs = runs();
        runs.count -= 1;
        if runs.count == 0 && runs.set_here {
            let _ = fsys::set_child_subreaper(false);
            runs.set_here = false;
        }
    }
}

/// What /proc/PID/status says about a process, as far as telling the sandbox's apart goes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Marks {
    ppid: Option<libc::pid_t>,
    /// The real uid.
    uid: Option<u32>,
    no_new_privs: bool,
    seccomp_mode: u32,
    /// Since Linux 5.9 (older kernels have no Landlock either).
    seccomp_filters: Option<u64>,
}

impl Marks {
    fn parse(status: &str) -> Marks {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next())
        };
        Marks {
            ppid: field("PPid").and_then(|v| v.parse().ok()),
            uid: field("Uid").and_then(|v| v.parse().ok()),
            no_new_privs: field("NoNewPrivs") == Some("1"),
            seccomp_mode: field("Seccomp").and_then(|v| v.parse().ok()).unwrap_or(0),
            seccomp_filters: field("Seccomp_filters").and_then(|v| v.parse().ok()),
        }
    }

    /// Whether this process, a child of `caller` (whose thread's marks are `caller_marks`),
    /// carries what every process of a fallback sandbox has and cannot drop.
    fn is_sandboxed_child(&self, caller: libc::pid_t, uid: u32, caller_marks: &Marks) -> bool {
        let more_filters = match (self.seccomp_filters, caller_marks.seccomp_filters) {
            (Some(theirs), Some(ours)) => theirs > ours,
            _ => self.seccomp_mode == 2 && caller_marks.seccomp_mode != 2,
        };
        self.ppid == Some(caller) && self.uid == Some(uid) && self.no_new_privs && more_filters
    }
}

/// Children of this (possibly multi-threaded) process: each thread's children, or every
/// process's parent on kernels without CONFIG_PROC_CHILDREN.
fn children_of(me: libc::pid_t) -> Vec<libc::pid_t> {
    if fs::metadata(format!("/proc/{me}/task/{me}/children")).is_err() {
        return reap::children_by_scan(me);
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{me}/task")) else {
        return reap::children_by_scan(me);
    };
    let mut kids: Vec<libc::pid_t> = tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    kids.sort_unstable();
    kids.dedup();
    kids
}

/// The caller's children that came from a sandbox, each as a pidfd (so that nothing that
/// reuses a number is signalled or reaped).
fn adopted(me: libc::pid_t, uid: u32, caller_marks: &Marks) -> Vec<OwnedFd> {
    children_of(me)
        .into_iter()
        .filter_map(|pid| {
            // Opened before looking, so that what is looked at is what will be signalled.
            let fd = fsys::pidfd_open(pid).ok()?;
            let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            Marks::parse(&status)
                .is_sandboxed_child(me, uid, caller_marks)
                .then_some(fd)
        })
        .collect()
}

/// Kill and reap every process the caller adopted from a sandbox whose keeper died, until
/// none is left: each round's victims hand their own children to the caller in turn. Called
/// on the thread that forked the keeper, whose seccomp filters the keeper inherited.
pub fn kill_adopted() {
    let me = fsys::getpid();
    let uid = sys::getuid();
    let Ok(own) = fs::read_to_string("/proc/thread-self/status") else {
        return; // no /proc: nothing can be told apart
    };
    let caller_marks = Marks::parse(&own);
    loop {
        let victims = adopted(me, uid, &caller_marks);
        if victims.is_empty() {
            return;
        }
        for fd in &victims {
            let _ = fsys::pidfd_send_signal(fd, libc::SIGKILL);
        }
        let reaped = victims
            .iter()
            .filter(|fd| fsys::wait_pidfd(fd).is_ok())
            .count();
        if reaped == 0 {
            // Someone else reaps them (a waitpid(-1) elsewhere in the caller): nothing more
            // can be done from here.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "Name:\tseal\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n\
                          NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n";

    fn child(ppid: i32, uid: u32, nnp: u8, mode: u8, filters: u8) -> Marks {
        Marks::parse(&format!(
            "Name:\tsleep\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n\
             NoNewPrivs:\t{nnp}\nSeccomp:\t{mode}\nSeccomp_filters:\t{filters}\n"
        ))
    }

    #[test]
    fn parses_status() {
        let m = child(42, 1000, 1, 2, 3);
        assert_eq!(
            m,
            Marks {
                ppid: Some(42),
                uid: Some(1000),
                no_new_privs: true,
                seccomp_mode: 2,
                seccomp_filters: Some(3),
            }
        );
        assert_eq!(Marks::parse("garbage"), Marks::default());
    }

    #[test]
    fn only_sandboxed_children_of_the_caller_match() {
        let caller = Marks::parse(CALLER);
        assert!(child(42, 1000, 1, 2, 1).is_sandboxed_child(42, 1000, &caller));
        // Another process's child, another uid, no no_new_privs, no filter of its own.
        assert!(!child(43, 1000, 1, 2, 1).is_sandboxed_child(42, 1000, &caller));
        assert!(!child(42, 0, 1, 2, 1).is_sandboxed_child(42, 1000, &caller));
        assert!(!child(42, 1000, 0, 2, 1).is_sandboxed_child(42, 1000, &caller));
        assert!(!child(42, 1000, 1, 0, 0).is_sandboxed_child(42, 1000, &caller));
        // A caller already under seccomp (a container): one filter more than its own.
        let confined = Marks::parse(
            &CALLER
                .replace("Seccomp:\t0", "Seccomp:\t2")
                .replace("Seccomp_filters:\t0", "Seccomp_filters:\t1"),
        );
        assert!(!child(42, 1000, 1, 2, 1).is_sandboxed_child(42, 1000, &confined));
        assert!(child(42, 1000, 1, 2, 2).is_sandboxed_child(42, 1000, &confined));
        // Without a filter count, the mode alone.
        let old = Marks::parse("PPid:\t42\nUid:\t7\t7\t7\t7\nNoNewPrivs:\t1\nSeccomp:\t2\n");
        assert!(old.is_sandboxed_child(42, 7, &Marks::default()));
    }
}
