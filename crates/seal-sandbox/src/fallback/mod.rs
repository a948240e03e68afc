//! The fallback engine, for hosts where user namespaces are blocked (Ubuntu 23.10+ with
//! AppArmor's `restrict_unprivileged_userns`, containers whose seccomp policy refuses them,
//! `user.max_user_namespaces=0`): the strongest isolation that needs no namespace at all.
//!
//! - Files: Landlock is the boundary, and it is required. Paths are host paths: nothing can be
//!   mounted, moved, generated or hidden, so the spec's mounts become grants on the same paths
//!   (see [`translate`]) and what cannot be expressed is refused or reported. There is no
//!   /proc at all: that, with Landlock's ptrace restriction, is what keeps the program from
//!   reading the environment and command lines of the user's other processes.
//! - Network: none. socket() is refused for every family, since the host's network and its
//!   pathname Unix sockets (session bus, docker.sock) are the program's; Landlock also handles
//!   TCP with no port allowed. A caller that must give network access offers a connection
//!   channel instead ([`crate::HandoffRequest::connection_channel`]).
//! - Other processes: Landlock's signal and abstract-socket scopes (ABI 6), its ptrace
//!   restriction, and seccomp (ptrace, process_vm_*, prlimit on others).
//! - Lifetime: a keeper process, child subreaper of every descendant, kills and reaps all of
//!   them when the program ends, when the time limit expires and when the caller dies. Should
//!   the keeper itself be killed (by the program, where Landlock cannot scope signals), the
//!   caller, a child subreaper during runs, adopts what it leaves and kills it ([`adopt`]);
//!   one the program stopped is killed a few seconds after the time limit. Only a program
//!   that also stops or kills seal itself (ABI < 6) can leave processes behind.
//! - Identity: the program runs as the caller's uid; the spec's uid, gid, hostname and root
//!   size do not apply. Capabilities are dropped and no_new_privs is set.
//! - Modes and owners: Landlock does not govern chmod and chown, so they would reach every file
//!   the user owns, granted or not (`chmod 644 ~/.ssh/id_rsa`; for root, `/etc/shadow`).
//!   seccomp turns them into no-ops that answer success ([`ModeChanges::Ignored`]): copying
//!   tools that copy modes keep working, and no mode or owner changes, inside the writable
//!   grants too (a program cannot make a file it wrote executable). A trusted caller that
//!   needs modes inside its grants (an installer) asks for [`ModeChanges::Restricted`].
//! - Inode flags: Landlock does not govern ioctls on regular files either, and the kernel lets
//!   a file's owner change its flags through a descriptor opened only for reading. seccomp
//!   refuses FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, FS_IOC_ENABLE_VERITY and file_setattr with
//!   EPERM, so that no file of the user's becomes append-only, no-dump or no-atime, or
//!   permanently read-only (fs-verity), in the granted paths or out. Reading flags stays
//!   allowed.

mod adopt;
mod child;
mod reap;
mod rules;
mod translate;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::driver;
use crate::driver::host::{outcome, read_start_report, with_signals_blocked, Ended, FORWARDED};
use crate::limits;
use crate::outcome::{Isolation, LimitStatus, Outcome, Started, Status};
use crate::program_args;
pub use crate::seccomp::ModeChanges;
use crate::setup::EXIT_SETUP_FAILED;
use crate::spec::{LandlockMode, Spec};
use crate::sys::{self, fallback as fsys, SigSet, WaitStatus};
use crate::Error;

/// Run `spec` to completion without namespaces (see the module documentation).
pub fn run_fallback(spec: &Spec) -> Result<Outcome, Error> {
    run_fallback_with(spec, |_| ()).map(|(outcome, ())| outcome)
}

/// Choices that exist only in the fallback mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackOptions {
    /// What chmod and chown do (by default nothing, answering success).
    pub mode_changes: ModeChanges,
}

/// Like [`crate::run_with`], without namespaces. `on_start` receives only
/// [`Started::connection_channel`] (when asked for); listeners, network namespaces and
/// connectors need a network namespace and are refused as spec errors.
pub fn run_fallback_with<G>(
    spec: &Spec,
    on_start: impl FnOnce(Started) -> G,
) -> Result<(Outcome, G), Error> {
    run_fallback_with_options(spec, FallbackOptions::default(), on_start)
}

/// [`run_fallback_with`] with the fallback's own [`FallbackOptions`].
pub fn run_fallback_with_options<G>(
    spec: &Spec,
    options: FallbackOptions,
    on_start: impl FnOnce(Started) -> G,
) -> Result<(Outcome, G), Error> {
    check(spec)?;
    let abi = sys::landlock_abi().map_err(|e| Error::Setup {
        code: EXIT_SETUP_FAILED,
        text: format!(
            "without user namespaces seal needs Landlock, and this kernel has none ({})",
            match e.raw_os_error() {
                Some(libc::ENOSYS) => "not built in".to_string(),
                Some(libc::EOPNOTSUPP) => "not enabled at boot: add landlock to lsm=".to_string(),
                _ => e.to_string(),
            }
        ),
    })?;
    let plan = translate::translate(&spec.mounts)?;
    let mut staged = Vec::with_capacity(plan.staged.len());
    for (dst, dir) in &plan.staged {
        staged.push((dst.clone(), open_dir(dir)?));
    }
    let uid = sys::getuid();
    let mut limits = limits::plan(&spec.limits, uid, false, false);
    if uid != 0 {
        per_user_nproc(&mut limits, spec.limits.pids);
    }
    let mut rlimits = driver::program::rlimits(spec.limits.open_files, &limits);
    if let Some(n) = plan.file_size_cap {
        rlimits.push((libc::RLIMIT_FSIZE, n, driver::program::Hard::Same));
    }
    let filter = crate::seccomp::build_fallback_filter(abi, options.mode_changes);
    // Resolved here: without a new root, the host's PATH is the program's.
    let program =
        program_args::resolve(spec).map_err(|(code, text)| Error::Setup { code, text })?;
    let argv = program_args::argv(spec);
    let envp = program_args::envp(spec);

    let forwarded = SigSet::of(FORWARDED);
    let (status, landlock, guard) = with_signals_blocked(&forwarded, |original_mask| {
        let io_err = |what: &str| {
            let what = what.to_string();
            move |e| Error::Io(what, e)
        };
        let (alive_rx, alive_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
        let (report_rx, report_tx) = sys::pipe_cloexec().map_err(io_err("pipe"))?;
        let channel = if spec.handoff.connection_channel {
            Some(fsys::seqpacket_pair_cloexec().map_err(io_err("socketpair"))?)
        } else {
            None
        };
        let launch = child::Launch {
            program: program_args::cstring(program.as_os_str()),
            argv,
            envp,
            cwd: &spec.cwd,
            grants: &plan.grants,
            landlock: spec.landlock,
            seccomp_filter: &filter,
            rlimits,
            affinity: limits.affinity,
            join_fds: limits.join_fds.iter().map(|fd| fd.as_raw_fd()).collect(),
            original_mask,
            forwarded: FORWARDED,
            alive_rx: alive_rx.as_raw_fd(),
            report_tx: report_tx.as_raw_fd(),
            channel: channel.as_ref().map(|(_, theirs)| theirs.as_raw_fd()),
        };
        // Before the fork, so that no orphan of the keeper's can go to init.
        let _adoption = adopt::Adoption::begin().map_err(io_err("PR_SET_CHILD_SUBREAPER"))?;
        let keeper = match fsys::fork_from_threaded() {
            Ok(sys::Forked::Child) => child::keeper_main(&launch),
            Ok(sys::Forked::Parent(pid)) => pid,
            Err(e) => return Err(Error::Io("cannot fork the sandbox's keeper".into(), e)),
        };
        drop(alive_rx);
        drop(report_tx);
        let ours = channel.map(|(ours, _theirs)| ours);
        let started = Instant::now();
        // Waiting on the keeper's pidfd rather than SIGCHLD: several runs in one process must
        // not consume each other's notifications.
        let pidfd = match fsys::pidfd_open(keeper) {
            Ok(fd) => fd,
            Err(e) => {
                drop(alive_tx);
                end_keeper(keeper);
                return Err(Error::Io("pidfd_open".into(), e));
            }
        };
        let signals = match fsys::signalfd(&forwarded) {
            Ok(fd) => fd,
            Err(e) => {
                drop(alive_tx);
                end_keeper(keeper);
                return Err(Error::Io("signalfd".into(), e));
            }
        };

        let landlock = match read_start_report(report_rx) {
            Ok(level) => level,
            Err(e) => {
                drop(alive_tx);
                end_keeper(keeper);
                return Err(e);
            }
        };
        let guard = on_start(Started {
            connection_channel: ours,
            ..Default::default()
        });
        let deadline = spec.limits.timeout.map(|t| started + t);
        let status = supervise(keeper, &pidfd, &signals, alive_tx, deadline);
        Ok((status, landlock, guard))
    })?;
    let mut limitations = plan.limitations;
    limitations.extend(rules::missing_features(abi));
    limitations.extend(general_limitations(options.mode_changes));
    let ended = Ended {
        status,
        isolation: Isolation::Fallback,
        landlock,
        seccomp: crate::seccomp::describe_fallback(abi, options.mode_changes),
        limitations,
        staged,
        observed: Default::default(),
    };
    Ok((outcome(ended, &limits), guard))
}

/// Answer a request on the program's connection channel ([`Started::connection_channel`]):
/// pass `stream` (connected to whatever the caller chose) to the program with SCM_RIGHTS and
/// one tag byte. The program receives it with recvmsg, which needs no socket(); this side's
/// copy is closed on return.
pub fn send_stream(channel: &OwnedFd, stream: UnixStream) -> std::io::Result<()> {
    sys::send_fd(channel, b'c', stream.as_raw_fd())
}

/// Answer every request on a connection channel until no process of the run holds the
/// program's end any more (end of file): for each request (one message, its content ignored),
/// `connect` makes a stream and [`send_stream`] hands it over. When `connect` fails the
/// program gets a message without a descriptor, so that it fails its connection instead of
/// waiting. Errors are the channel's own (the program is gone).
pub fn serve_connection_channel(
    channel: &OwnedFd,
    mut connect: impl FnMut() -> std::io::Result<UnixStream>,
) -> std::io::Result<()> {
    while sys::read_byte(channel)? {
        match connect() {
            Ok(stream) => send_stream(channel, stream)?,
            Err(_) => sys::write_all(channel.as_raw_fd(), b"e")?,
        }
    }
    Ok(())
}

/// What the fallback cannot do at all, whatever the spec.
fn general_limitations(modes: ModeChanges) -> Vec<String> {
    let files = match modes {
        ModeChanges::Ignored => {
            "files: Landlock does not govern stat, readlink or inotify, so the program can learn \
             which paths exist anywhere, with their sizes and times; nor utime: it can change the \
             times of files you own, even outside the granted paths. chmod and chown are no-ops \
             answering success (Landlock does not govern them either), so no mode changes, in the \
             writable paths too: a file the program writes cannot be made executable"
        }
        ModeChanges::Restricted => {
            "files: Landlock does not govern stat, readlink or inotify, so the program can learn \
             which paths exist anywhere, with their sizes and times; nor chmod, chown and utime: \
             it can change the modes (never world-writable or set-id), group and times of files \
             you own, even outside the granted paths"
        }
    };
    vec![
        "network: none; socket() is refused for every family, loopback included".into(),
        "identity: the program runs as your own uid with the host's hostname; the spec's uid, \
         gid and hostname do not apply"
            .into(),
        files.into(),
        "processes: your other processes are out of reach of signals, ptrace, /proc and prlimit, \
         but their scheduling priority and CPU affinity can still be lowered"
            .into(),
        "lifetime: every descendant is killed when the program ends, the time limit expires, \
         seal dies or seal's keeper process is killed; not when both seal and its keeper are \
         stopped or killed together (which the program can do where Landlock does not scope \
         signals)"
            .into(),
    ]
}

fn check(spec: &Spec) -> Result<(), Error> {
    if spec.argv.is_empty() {
        return Err(Error::Spec("no program to run".into()));
    }
    let h = &spec.handoff;
    if !h.listen_ports.is_empty() || h.netns || h.loopback_connector {
        return Err(Error::Spec(
            "fallback mode has no network namespace to hand over listeners, namespaces or \
             connectors from (use a connection channel)"
                .into(),
        ));
    }
    if spec.landlock == LandlockMode::Off {
        return Err(Error::Spec(
            "fallback mode cannot run with Landlock off: it is the only file system boundary \
             without namespaces"
                .into(),
        ));
    }
    Ok(())
}

fn open_dir(dir: &Path) -> Result<OwnedFd, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|e| {
            Error::Io(
                format!("cannot open the staging directory {}", dir.display()),
                e,
            )
        })
}

/// Without a user namespace RLIMIT_NPROC counts every process and thread of the uid on the
/// host, so the limit becomes what the user already runs plus the sandbox's allowance.
fn per_user_nproc(limits: &mut limits::LimitPlan, pids: Option<u64>) {
    let Some(n) = pids else { return };
    if limits.pids_cgroup() {
        // The cgroup counts exactly the sandbox; the rlimit would count all of the user's.
        limits.nproc_rlimit = None;
        return;
    }
    match tasks_of_uid(sys::getuid()) {
        Some(existing) => {
            limits.nproc_rlimit = Some(existing + n);
            limits.pids_status = LimitStatus::Enforced(format!(
                "{n} more processes and threads than this user ran at the start ({existing}) \
                 (RLIMIT_NPROC: without a user namespace it counts all of the user's processes)"
            ));
        }
        None => {
            limits.nproc_rlimit = None;
            limits.pids_status = LimitStatus::NotEnforced(
                "cannot count this user's processes in /proc (RLIMIT_NPROC counts all of them \
                 without a user namespace)"
                    .into(),
            );
        }
    }
}

/// Threads of every process whose real uid is `uid`, from /proc.
fn tasks_of_uid(uid: u32) -> Option<u64> {
    let mut total = 0;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        if !e.file_name().as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue; // ended meanwhile
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if field("Uid:") == Some(u64::from(uid)) {
            total += field("Threads:").unwrap_or(1);
        }
    }
    Some(total)
}

/// How long the keeper has, once the time limit has expired, to end the program's processes
/// before it is killed itself.
const KEEPER_GRACE: Duration = Duration::from_secs(5);

/// Pass on signals, enforce the deadline, and wait for the keeper to end. On the deadline the
/// alive pipe is closed: the keeper then kills every descendant and exits. A keeper that has
/// not ended [`KEEPER_GRACE`] later (stopped by the program, where Landlock does not scope
/// signals) is killed: its descendants then come to the caller, which kills them.
fn supervise(
    keeper: libc::pid_t,
    pidfd: &OwnedFd,
    signals: &OwnedFd,
    alive_tx: OwnedFd,
    deadline: Option<Instant>,
) -> Status {
    let mut alive_tx = Some(alive_tx);
    let mut kill_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if alive_tx.is_some() && deadline.is_some_and(|d| now >= d) {
            alive_tx = None;
            kill_at = Some(now + KEEPER_GRACE);
        }
        if kill_at.is_some_and(|k| now >= k) {
            // Still our unreaped child, so the number is still the keeper's.
            let _ = sys::kill(keeper, libc::SIGKILL);
            kill_at = None;
        }
        let next = if alive_tx.is_some() {
            deadline
        } else {
            kill_at
        };
        let remaining = next.map(|t| t.saturating_duration_since(now));
        let ready = match fsys::poll_readable(&[pidfd.as_raw_fd(), signals.as_raw_fd()], remaining)
        {
            Ok(r) => r,
            Err(_) => continue, // EINTR
        };
        if ready[0] {
            break;
        }
        if ready[1] {
            while let Ok(Some(info)) = fsys::read_signal(signals) {
                // A terminal's ^C or hang-up already reached the program's process group.
                if info.code != sys::SI_KERNEL {
                    let _ = sys::kill(keeper, info.signo);
                }
            }
        }
    }
    let timed_out = alive_tx.is_none();
    let status = match end_keeper(keeper) {
        Some(status) => Status::Exited(status.code()),
        None => Status::Exited(EXIT_SETUP_FAILED),
    };
    if timed_out {
        Status::TimedOut
    } else {
        status
    }
}

/// Reap the keeper. A keeper that did not exit by itself (killed by the program where
/// Landlock does not scope signals, by someone else, or by [`supervise`]) may have left
/// processes of the run behind; they came to the caller, a child subreaper meanwhile, and are
/// killed here.
fn end_keeper(keeper: libc::pid_t) -> Option<WaitStatus> {
    let status = loop {
        match sys::waitpid(keeper, false) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.ok().flatten().map(|(_, status)| status),
        }
    };
    if !matches!(status, Some(WaitStatus::Exited(_))) {
        adopt::kill_adopted();
    }
    status
}
