//! The host side of a run: create the namespaces, wait for the program to start, forward
//! signals, enforce the wall-clock limit, and report how it ended.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Instant;

use crate::landlock_rules::Level;
use crate::limits;
use crate::report::Message;
use crate::setup::{self, ChildPlan};
use crate::spec::{Mount, Spec};
use crate::sys::{self, Forked, SigSet, WaitStatus};
use crate::Error;

/// Signals sent to seal that are passed on to the program. SIGCHLD is only waited for.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The network namespace is not in this list: init creates it concurrently (setup::netns);
/// nor the cgroup namespace: init creates it once it is in the sandbox's cgroups.
const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The program ended; a program killed by signal N is reported as 128+N.
    Exited(i32),
    /// The wall-clock limit expired and the sandbox was killed.
    TimedOut,
}

/// What enforced each protection during a run, for `seal run -v`.
#[derive(Debug, Clone)]
pub struct Enforcement {
    pub namespaces: &'static str,
    pub landlock: Level,
    pub seccomp: String,
    pub pids: String,
    pub memory: String,
    pub cpus: String,
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
}

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

/// Descriptors from inside the sandbox, handed to [`run_with`]'s callback once the program
/// has started.
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
    let seccomp_filter = crate::seccomp::build_filter();
    let staged_dsts: Vec<PathBuf> = spec
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Staging { dst, .. } => Some(dst.clone()),
            _ => None,
        })
        .collect();

    let mut waited = FORWARDED.to_vec();
    waited.push(libc::SIGCHLD);
    let waited = SigSet::of(&waited);
    let original_mask = waited
        .block()
        .map_err(|e| Error::Io("blocking signals".into(), e))?;
    let result = (|| {
        let io_err = |what: &str| {
            let what = what.to_string();
            move |e| Error::Io(what, e)
        };
        let (alive_rx, alive_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
        let (report_rx, report_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
        let mut report_rx = std::fs::File::from(report_rx);
        let (staging_rx, staging_tx) = sys::socketpair_cloexec().map_err(io_err("socketpair"))?;
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
                })
            }
            Ok(Forked::Parent(pid)) => pid,
            Err(e) => return Err(Error::Namespaces(e)),
        };
        drop(alive_rx);
        drop(report_tx);
        drop(staging_tx);
        let started = Instant::now();

        let mut wire = String::new();
        let _ = report_rx.read_to_string(&mut wire);
        let mut landlock = Level::Disabled;
        for msg in Message::decode_all(&wire) {
            match msg {
                Message::Landlock(l) => landlock = l,
                Message::Error { code, text } => {
                    let _ = sys::waitpid(child, false);
                    return Err(Error::Setup { code, text });
                }
            }
        }
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
                setup::TAG_STAGING => staged.push((dsts.next().cloned().unwrap_or_default(), fd)),
                setup::TAG_LISTENER => handed.listeners.push((
                    ports.next().copied().unwrap_or(0),
                    std::net::TcpListener::from(fd),
                )),
                setup::TAG_CONNECTOR => handed.connector = Some(crate::Connector::new(fd)),
                _ => handed.netns = Some(fd),
            }
        }
        let guard = on_start(handed);

        let status = supervise(child, &waited, spec.limits.timeout.map(|t| (started, t)));
        // Held until here: the sandbox's init watches for this pipe to close.
        drop(alive_tx);
        Ok((status, landlock, staged, guard))
    })();
    let _ = original_mask.set_mask();
    let (status, landlock, staged, guard) = result?;
    let (pids_limit_hits, oom_kills) = limits.events();
    Ok((
        Outcome {
            status,
            enforcement: Enforcement {
                namespaces: "user, mount, pid, network (loopback only), ipc, uts, cgroup",
                landlock,
                seccomp: crate::seccomp::describe(),
                pids: limits.describe_pids.clone(),
                memory: limits.describe_memory.clone(),
                cpus: limits.describe_cpus.clone(),
                limitations: Vec::new(),
            },
            pids_limit_hits,
            oom_kills,
            staged,
            supervisor_peak_rss_kib: sys::peak_rss_kib(),
        },
        guard,
    ))
}

fn supervise(
    child: libc::pid_t,
    waited: &SigSet,
    deadline: Option<(Instant, std::time::Duration)>,
) -> Status {
    loop {
        let remaining = match deadline {
            Some((start, limit)) => match limit.checked_sub(start.elapsed()) {
                Some(r) => Some(r),
                None => return kill_for_timeout(child),
            },
            None => None,
        };
        let info = match waited.wait(remaining) {
            Ok(Some(i)) => i,
            Ok(None) => continue, // deadline reached: handled at the top of the loop
            Err(_) => continue,   // EINTR
        };
        if info.signo == libc::SIGCHLD {
            match sys::waitpid(child, true) {
                Ok(Some((_, WaitStatus::Exited(code)))) => return Status::Exited(code),
                Ok(Some((_, WaitStatus::Signaled(sig)))) => return Status::Exited(128 + sig),
                Ok(None) => continue,
                Err(_) => return Status::Exited(setup::EXIT_SETUP_FAILED),
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
