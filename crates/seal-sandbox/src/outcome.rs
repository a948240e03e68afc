//! The one result both engines return: how the program ended, what enforced each protection,
//! and what the sandbox handed over. Callers decide on these types, never on report text.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use crate::landlock_rules::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The program ended; a program killed by signal N is reported as 128+N.
    Exited(i32),
    /// The wall-clock limit expired and the sandbox was killed.
    TimedOut,
}

/// Which engine isolated the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// [`crate::run`]: user, mount, PID, network, IPC, UTS and cgroup namespaces.
    Namespaces,
    /// [`crate::run_fallback`]: no namespace, Landlock and seccomp on host paths.
    Fallback,
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::Namespaces => "user, mount, pid, network (loopback only), ipc, uts, cgroup",
            Isolation::Fallback => {
                "none (user namespaces unavailable): Landlock + seccomp fallback"
            }
        })
    }
}

/// What enforces one limit of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitStatus {
    /// The spec asked for no such limit.
    NotRequested,
    /// Enforced, by what and how exactly.
    Enforced(String),
    /// Asked for but not enforced on this host, and why.
    NotEnforced(String),
}

impl LimitStatus {
    pub fn is_not_enforced(&self) -> bool {
        matches!(self, LimitStatus::NotEnforced(_))
    }
}

impl fmt::Display for LimitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitStatus::NotRequested => f.write_str("none requested"),
            LimitStatus::Enforced(how) => f.write_str(how),
            LimitStatus::NotEnforced(why) => write!(f, "NOT ENFORCED: {why}"),
        }
    }
}

/// What enforced each protection during a run, for `seal run -v`.
#[derive(Debug, Clone)]
pub struct Enforcement {
    pub isolation: Isolation,
    pub landlock: Level,
    /// What the seccomp filter refuses, from the filter's own rules.
    pub seccomp: String,
    pub pids: LimitStatus,
    pub memory: LimitStatus,
    pub cpus: LimitStatus,
    /// What this run could not enforce as the spec asked, one sentence each (fallback mode;
    /// empty in the namespace mode).
    pub limitations: Vec<String>,
}

#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub enforcement: Enforcement,
    /// Forks refused because the PIDs limit was reached (cgroup only; 0 when unknown).
    pub pids_limit_hits: u64,
    /// Processes killed because the sandbox reached its memory limit (cgroup only).
    pub oom_kills: u64,
    /// The staging area of each `Mount::Staging`, by its path inside, still open after the
    /// sandbox is gone; copy the results out with [`crate::export::copy_back`].
    pub staged: Vec<(PathBuf, OwnedFd)>,
    pub supervisor_peak_rss_kib: Option<u64>,
    /// The calls seen, when [`crate::HandoffRequest::observe`] asked.
    pub observed: Vec<crate::Observed>,
    /// Calls past the record cap: counted, not kept.
    pub observed_dropped: u64,
}

/// Descriptors from inside the sandbox, handed to [`crate::run_with`]'s callback once the
/// program has started.
#[derive(Default)]
pub struct Started {
    /// Listening sockets on 127.0.0.1 inside the sandbox, by port.
    pub listeners: Vec<(u16, std::net::TcpListener)>,
    /// The sandbox's network namespace, if requested.
    pub netns: Option<OwnedFd>,
    /// Connections into the sandbox's loopback, if requested.
    pub connector: Option<crate::Connector>,
    /// The caller's end of [`crate::HandoffRequest::connection_channel`] (fallback mode).
    pub connection_channel: Option<OwnedFd>,
}
