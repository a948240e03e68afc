//! The caller's side of a run, in both engines.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use crate::landlock_rules::Level;
use crate::limits::LimitPlan;
use crate::outcome::{Enforcement, Isolation, Outcome, Status};
use crate::report::Message;
use crate::sys::{self, SigSet};
use crate::Error;

/// Signals sent to seal that are passed on to the program.
pub const FORWARDED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Block `signals` while `run` drives the sandbox (they are waited for, not handled), and
/// restore the caller's mask afterwards, however `run` ends. `run` receives the mask to give
/// the program back before it executes.
pub fn with_signals_blocked<T>(
    signals: &SigSet,
    run: impl FnOnce(SigSet) -> Result<T, Error>,
) -> Result<T, Error> {
    let original = signals
        .block()
        .map_err(|e| Error::Io("blocking signals".into(), e))?;
    let result = run(original);
    let _ = original.set_mask();
    result
}

/// Read the report pipe to end of file, which the program's `execve` causes (the pipe is
/// close-on-exec) or its death: the Landlock level the program got, or the setup failure
/// it reported.
pub fn read_start_report(report_rx: OwnedFd) -> Result<Level, Error> {
    let mut wire = String::new();
    let _ = std::fs::File::from(report_rx).read_to_string(&mut wire);
    let mut landlock = Level::Disabled;
    for msg in Message::decode_all(&wire) {
        match msg {
            Message::Landlock(l) => landlock = l,
            Message::Error { code, text } => return Err(Error::Setup { code, text }),
        }
    }
    Ok(landlock)
}

/// What a run's engine found out, to be assembled into its [`Outcome`].
pub struct Ended {
    pub status: Status,
    pub isolation: Isolation,
    pub landlock: Level,
    pub seccomp: String,
    pub limitations: Vec<String>,
    pub staged: Vec<(PathBuf, OwnedFd)>,
    pub observed: (Vec<crate::Observed>, u64),
}

/// The outcome of a run that has ended, with its limits' statuses and cgroup events.
pub fn outcome(ended: Ended, limits: &LimitPlan) -> Outcome {
    let (pids_limit_hits, oom_kills) = limits.events();
    Outcome {
        status: ended.status,
        enforcement: Enforcement {
            isolation: ended.isolation,
            landlock: ended.landlock,
            seccomp: ended.seccomp,
            pids: limits.pids_status.clone(),
            memory: limits.memory_status.clone(),
            cpus: limits.cpus_status.clone(),
            limitations: ended.limitations,
        },
        pids_limit_hits,
        oom_kills,
        staged: ended.staged,
        supervisor_peak_rss_kib: sys::peak_rss_kib(),
        observed: ended.observed.0,
        observed_dropped: ended.observed.1,
    }
}
