//! The host side of a run: create the namespaces, wait for the program to start, forward
//! signals, enforce the wall-clock limit, and report how it ended.

use std::path::PathBuf;
use std::time::Instant;

use crate::driver::host::{outcome, read_start_report, with_signals_blocked, Ended, FORWARDED};
use crate::limits;
use crate::outcome::{Isolation, Outcome, Started, Status};
use crate::setup::{self, ChildPlan};
use crate::spec::{Mount, Spec};
use crate::sys::{self, Forked, SigSet};
use crate::Error;

/// The network namespace is not in this list: init creates it concurrently (setup::netns);
/// nor the cgroup namespace: init creates it once it is in the sandbox's cgroups.
const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// Resolve host paths once, before any namespace exists, so that the child binds exactly the
/// files the caller named, and order mounts so that parents come before what is mounted
/// inside them.
fn prepare(spec: &Spec) -> Result<Spec, Error> {
    if spec.uid == 0 || spec.gid == 0 {
        return Err(Error::Spec(
            "the program must not run as uid or gid 0 inside".into(),
        ));
    }
    if spec.argv.is_empty() {
        return Err(Error::Spec("no program to run".into()));
    }
    if spec.handoff.connection_channel {
        return Err(Error::Spec(
            "a connection channel is only offered in fallback mode".into(),
        ));
    }
    let mut out = spec.clone();
    let mut mounts = Vec::with_capacity(spec.mounts.len());
    for m in &spec.mounts {
        match m {
            Mount::Bind { src, dst, access } => {
                let real = src
                    .canonicalize()
                    .map_err(|e| Error::Spec(format!("{}: {e}", src.display())))?;
                mounts.push(Mount::Bind {
                    src: real,
                    dst: dst.clone(),
                    access: *access,
                });
            }
            Mount::BindIfExists { src, dst } => {
                if let Ok(real) = src.canonicalize() {
                    mounts.push(Mount::BindIfExists {
                        src: real,
                        dst: dst.clone(),
                    });
                }
            }
            Mount::CopyTree {
                src,
                dst,
                size_bytes,
            } => {
                let real = src
                    .canonicalize()
                    .map_err(|e| Error::Spec(format!("{}: {e}", src.display())))?;
                mounts.push(Mount::CopyTree {
                    src: real,
                    dst: dst.clone(),
                    size_bytes: *size_bytes,
                });
            }
            Mount::CopyIfExists { src, dst } => {
                if let Ok(real) = src.canonicalize() {
                    mounts.push(Mount::CopyIfExists {
                        src: real,
                        dst: dst.clone(),
                    });
                }
            }
            other => mounts.push(other.clone()),
        }
    }
    mounts.sort_by_key(|m| m.dst().components().count());
    out.mounts = mounts;
    Ok(out)
}

/// Run `spec` to completion.
pub fn run(spec: &Spec) -> Result<Outcome, Error> {
    run_with(spec, |_| ()).map(|(outcome, ())| outcome)
}

/// Run `spec`; once the program has started, call `on_start` with what the sandbox handed
/// over (it may start threads serving the listeners). Its return value is kept alive until
/// the sandbox has ended and returned with the outcome.
pub fn run_with<G>(
    spec: &Spec,
    on_start: impl FnOnce(Started) -> G,
) -> Result<(Outcome, G), Error> {
    let spec = prepare(spec)?;
    let outer_uid = sys::getuid();
    let outer_gid = sys::getgid();
    let has_proc = spec.mounts.iter().any(|m| matches!(m, Mount::Proc { .. }));
    let limits = limits::plan(&spec.limits, outer_uid, has_proc, true);
    let seccomp_filter = crate::seccomp::build_filter(spec.uid, spec.gid);
    // Observing: the main filter joined to the observe one for the program, and a copy of
    // the main filter by which the supervisor answers each stopped call (only when
    // observing: startup matters).
    let observing = spec.handoff.observe.then(|| {
        (
            crate::seccomp::build_audit_filter(&seccomp_filter),
            seccomp_filter.clone(),
        )
    });
    let staged_dsts: Vec<PathBuf> = spec
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Staging { dst, .. } => Some(dst.clone()),
            _ => None,
        })
        .collect();

    reap_ended_inits();
    let mut waited = FORWARDED.to_vec();
    waited.push(libc::SIGCHLD);
    let waited = SigSet::of(&waited);
    let (status, landlock, staged, guard, observed) =
        with_signals_blocked(&waited, |original_mask| {
            let io_err = |what: &str| {
                let what = what.to_string();
                move |e| Error::Io(what, e)
            };
            let (alive_rx, alive_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
            let (report_rx, report_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
            let (staging_rx, staging_tx) =
                sys::socketpair_cloexec().map_err(io_err("socketpair"))?;
            let (ended_rx, ended_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
            let signals = sys::SignalFd::new(&waited).map_err(io_err("signalfd"))?;
            let (observe, observe_rx) = match observing {
                Some((joined, main)) => {
                    let (rx, tx) = sys::socketpair_cloexec().map_err(io_err("socketpair"))?;
                    (Some((joined, tx)), Some((rx, main)))
                }
                None => (None, None),
            };
            // Straight into the v2 cgroup where the kernel can (5.7+, and not refused by a
            // container's seccomp profile): init then never runs, nor allocates, outside it.
            let forked = match limits.v2_cgroup() {
                Some(cgroup) => sys::clone_fork_into_cgroup(NAMESPACES, cgroup)
                    .or_else(|_| sys::clone_fork(NAMESPACES)),
                None => sys::clone_fork(NAMESPACES),
            };
            let child = match forked {
                Ok(Forked::Child) => {
                    drop(alive_tx);
                    drop(staging_rx);
                    drop(ended_rx);
                    drop(observe_rx);
                    setup::init_main(ChildPlan {
                        spec: &spec,
                        outer_uid,
                        outer_gid,
                        limits: &limits,
                        alive_rx,
                        report_tx,
                        staging_tx,
                        original_mask,
                        forwarded: waited,
                        seccomp_filter,
                        observe,
                        ended_tx,
                    })
                }
                Ok(Forked::Parent(pid)) => pid,
                Err(e) => return Err(Error::Namespaces(e)),
            };
            drop(alive_rx);
            drop(report_tx);
            drop(staging_tx);
            drop(ended_tx);
            drop(observe);
            // Serving from before the program's execve, which the observe filter stops too.
            let watcher = observe_rx.map(|(rx, main)| crate::observe::Watcher::start(rx, main));
            let started = Instant::now();

            let landlock = match read_start_report(report_rx) {
                Ok(level) => level,
                Err(e) => {
                    let _ = sys::waitpid(child, false);
                    return Err(e);
                }
            };
            // Before the program started, init sent one descriptor per staging mount, per
            // listener, then the network namespace and the connector if asked, in that order.
            let expected = staged_dsts.len()
                + spec.handoff.listen_ports.len()
                + usize::from(spec.handoff.netns)
                + usize::from(spec.handoff.loopback_connector);
            let mut received = Vec::with_capacity(expected);
            for _ in 0..expected {
                match sys::recv_fd(&staging_rx) {
                    Ok(Some(tagged)) => received.push(tagged),
                    _ => {
                        let _ = sys::kill(child, libc::SIGKILL);
                        let _ = sys::waitpid(child, false);
                        return Err(Error::Spec(
                            "lost a descriptor handed over by the sandbox".into(),
                        ));
                    }
                }
            }
            let mut staged = Vec::new();
            let mut handed = Started::default();
            let mut dsts = staged_dsts.iter();
            let mut ports = spec.handoff.listen_ports.iter();
            for (tag, fd) in received {
                match tag {
                    setup::TAG_STAGING => {
                        staged.push((dsts.next().cloned().unwrap_or_default(), fd))
                    }
                    setup::TAG_LISTENER => handed.listeners.push((
                        ports.next().copied().unwrap_or(0),
                        std::net::TcpListener::from(fd),
                    )),
                    setup::TAG_CONNECTOR => handed.connector = Some(crate::Connector::new(fd)),
                    _ => handed.netns = Some(fd),
                }
            }
            let guard = on_start(handed);

            let deadline = spec.limits.timeout.map(|t| (started, t));
            let (status, init_reaped) = supervise(child, &signals, deadline, &ended_rx);
            if !init_reaped {
                if limits.cgroups.is_empty() {
                    REAP_LATER
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(child);
                } else {
                    // The run's cgroups can only be removed once init has left them, on its exit.
                    let _ = sys::waitpid(child, false);
                }
            }
            // Held until here: the sandbox's init watches for this pipe to close.
            drop(alive_tx);
            // Every process of the sandbox has ended: no call can stop any more.
            let observed = watcher.map(|w| w.finish()).unwrap_or_default();
            Ok((status, landlock, staged, guard, observed))
        })?;
    let ended = Ended {
        status,
        isolation: Isolation::Namespaces,
        landlock,
        seccomp: crate::seccomp::describe(),
        limitations: Vec::new(),
        staged,
        observed,
    };
    Ok((outcome(ended, &limits), guard))
}

/// The inits of runs that ended before their init had exited (see [`supervise`]).
static REAP_LATER: std::sync::Mutex<Vec<libc::pid_t>> = std::sync::Mutex::new(Vec::new());

/// Collect the inits of earlier runs that have exited since, so that a process running many
/// sandboxes keeps no zombies (a short-lived one leaves them to its own parent).
fn reap_ended_inits() {
    let mut pending = REAP_LATER.lock().unwrap_or_else(|e| e.into_inner());
    pending.retain(|&pid| matches!(sys::waitpid(pid, true), Ok(None)));
}

/// Wait until the run ends: init reports the program's status on `ended` once nothing else of
/// the sandbox is left, before its own (slower) exit; or init itself exits first. Returns the
/// status and whether init has been reaped.
fn supervise(
    child: libc::pid_t,
    signals: &sys::SignalFd,
    deadline: Option<(Instant, std::time::Duration)>,
    ended: &std::os::fd::OwnedFd,
) -> (Status, bool) {
    let mut ended = Some(ended);
    loop {
        let remaining = match deadline {
            Some((start, limit)) => match limit.checked_sub(start.elapsed()) {
                Some(r) => Some(r),
                None => return (kill_for_timeout(child), true),
            },
            None => None,
        };
        let info = match signals.wait_with(ended, remaining) {
            Ok(sys::Woken::Signal(i)) => i,
            Ok(sys::Woken::Readable) => {
                match ended.map(sys::read_i32) {
                    Some(Ok(Some(code))) => return (Status::Exited(code), false),
                    // End of file: init died without a report; its SIGCHLD follows.
                    _ => ended = None,
                }
                continue;
            }
            Ok(sys::Woken::TimedOut) => continue, // handled at the top of the loop
            Err(_) => continue,                   // EINTR
        };
        if info.signo == libc::SIGCHLD {
            match sys::waitpid(child, true) {
                Ok(Some((_, status))) => return (Status::Exited(status.code()), true),
                Ok(None) => continue,
                Err(_) => return (Status::Exited(setup::EXIT_SETUP_FAILED), true),
            }
        }
        // A terminal's ^C or hang-up already reached the program's process group directly;
        // forwarding it too would deliver it twice.
        if info.code != sys::SI_KERNEL {
            let _ = sys::kill(child, info.signo);
        }
    }
}

fn kill_for_timeout(child: libc::pid_t) -> Status {
    // Killing init kills every process in the PID namespace.
    let _ = sys::kill(child, libc::SIGKILL);
    let _ = sys::waitpid(child, false);
    Status::TimedOut
}
