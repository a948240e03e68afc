//! Everything that runs inside the new namespaces: the sandbox's init (PID 1) and the last
//! steps of the program before `execve`.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::driver;
use crate::landlock_rules;
use crate::limits::LimitPlan;
use crate::program_args;
use crate::spec::Spec;
use crate::sys::{self, Forked, SigSet};

pub mod connector;
mod netns;
mod rootfs;

/// A failed setup step: what we were doing and the errno that stopped it.
#[derive(Debug)]
pub struct SetupError {
    pub step: String,
    pub err: io::Error,
}

impl SetupError {
    pub fn new(step: String, err: io::Error) -> Self {
        SetupError { step, err }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.err)
    }
}

/// What the child side needs, prepared by the supervisor before `clone`.
pub struct ChildPlan<'a> {
    pub spec: &'a Spec,
    pub outer_uid: u32,
    pub outer_gid: u32,
    /// How each limit is enforced; init joins its cgroups before forking anything.
    pub limits: &'a LimitPlan,
    /// Read end of a pipe whose write end only the supervisor holds: EOF means it died.
    pub alive_rx: OwnedFd,
    /// Write end of the report pipe (close-on-exec, so `execve` closes it: EOF == started).
    pub report_tx: OwnedFd,
    /// The supervisor's signal mask before it blocked the signals it forwards.
    pub original_mask: SigSet,
    /// The signals the supervisor blocked (init waits for them).
    pub forwarded: SigSet,
    /// init sends the directory descriptor of each staging mount here.
    pub staging_tx: OwnedFd,
    /// Built before `clone` so the child only installs it.
    pub seccomp_filter: Vec<libc::sock_filter>,
    /// When the spec asks to observe calls: the observe filter, and the socket on which the
    /// program hands its listener to the supervisor (a pair of its own, read from the start:
    /// the listener must be served before the program's own execve can complete).
    pub observe: Option<(Vec<libc::sock_filter>, OwnedFd)>,
    /// Write end of the pipe on which init reports the program's exit status once nothing
    /// else of the sandbox is left (see [`reap_until`]).
    pub ended_tx: OwnedFd,
}

fn fail(plan: &ChildPlan<'_>, code: i32, msg: String) -> ! {
    driver::program::fail(plan.report_tx.as_raw_fd(), code, msg)
}

pub const TAG_STAGING: u8 = b'S';
pub const TAG_LISTENER: u8 = b'L';
pub const TAG_NETNS: u8 = b'N';
pub const TAG_CONNECTOR: u8 = b'K';
/// The observe listener, on its own socket.
pub const TAG_OBSERVER: u8 = b'O';
pub use connector::TAG_SOCKET;

fn handoff(plan: &ChildPlan<'_>, tag: u8, fd: &OwnedFd, what: &str) -> Result<(), SetupError> {
    sys::send_fd(&plan.staging_tx, tag, fd.as_raw_fd())
        .map_err(|e| SetupError::new(format!("cannot hand {what} to the supervisor"), e))
}

/// Exit code seal uses for its own failures (distinct from the program's 126/127).
pub const EXIT_SETUP_FAILED: i32 = 125;

/// Entry point of the sandbox's PID 1. Never returns.
pub fn init_main(plan: ChildPlan<'_>) -> ! {
    if let Err(e) = init_setup(&plan) {
        fail(&plan, EXIT_SETUP_FAILED, e.to_string());
    }
    let program = match sys::fork() {
        Ok(Forked::Child) => program_main(&plan),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => fail(
            &plan,
            EXIT_SETUP_FAILED,
            format!("cannot fork the program: {e}"),
        ),
    };
    // Only the program may hold the report pipe, so that its exec is what closes it.
    let ChildPlan {
        report_tx,
        staging_tx,
        forwarded,
        ended_tx,
        observe,
        ..
    } = plan;
    drop(report_tx);
    drop(staging_tx);
    drop(observe);
    // init needs no privilege to reap and forward signals; keep none, and keep its memory
    // and /proc entries out of reach of the program.
    let _ = sys::drop_capability_sets();
    let _ = sys::set_dumpable(false);
    reap_until(program, &forwarded, &ended_tx)
}

fn init_setup(plan: &ChildPlan<'_>) -> Result<(), SetupError> {
    let spec = plan.spec;
    // If the supervisor dies (even by SIGKILL), init dies, and with it the whole PID namespace.
    sys::set_parent_death_signal(libc::SIGKILL)
        .map_err(|e| SetupError::new("PR_SET_PDEATHSIG".into(), e))?;
    if sys::pipe_peer_gone(&plan.alive_rx) {
        // The supervisor died before the death signal was armed.
        sys::exit_now(EXIT_SETUP_FAILED);
    }
    write_id_maps(plan)?;
    // Before anything is forked, so that every process of the sandbox starts inside.
    for fd in &plan.limits.join_fds {
        sys::write_all(fd.as_raw_fd(), b"0")
            .map_err(|e| SetupError::new("cannot join the sandbox's cgroup".into(), e))?;
    }
    if let Some(n) = plan.limits.affinity {
        sys::limit_cpus(n).map_err(|e| SetupError::new("cannot set the CPU affinity".into(), e))?;
    }
    // The network namespace is created by a helper while init mounts, when the sandbox has a
    // /proc through which init can join it; otherwise right here. Started as early as the
    // cgroups and CPUs allow: it takes about as long as all the mounts.
    let has_proc = spec
        .mounts
        .iter()
        .any(|m| matches!(m, crate::spec::Mount::Proc { .. }));
    let pending_net = if has_proc {
        Some(netns::start(&[
            plan.report_tx.as_raw_fd(),
            plan.ended_tx.as_raw_fd(),
        ])?)
    } else {
        sys::unshare(libc::CLONE_NEWNET)
            .map_err(|e| SetupError::new("cannot create the network namespace".into(), e))?;
        sys::loopback_up()
            .map_err(|e| SetupError::new("cannot bring the loopback interface up".into(), e))?;
        None
    };
    // After joining, so that the sandbox's view of its cgroups starts at its own (and the
    // joins above are judged in the host's cgroup namespace, on every kernel).
    sys::unshare(libc::CLONE_NEWCGROUP)
        .map_err(|e| SetupError::new("cannot create the cgroup namespace".into(), e))?;
    sys::set_umask(0o022);
    sys::sethostname(&spec.hostname).map_err(|e| SetupError::new("sethostname".into(), e))?;
    sys::setdomainname("(none)").map_err(|e| SetupError::new("setdomainname".into(), e))?;
    // Joined before the host tree is detached: detaching waits for an RCU grace period,
    // which the other CPU, still busy creating the network namespace, holds up until it is
    // done (measured: the umount took 0.7 ms when the two overlapped, 0.1 ms after).
    let staged = rootfs::build(
        &spec.mounts,
        spec.root_size_bytes,
        plan.limits.pid_max,
        || pending_net.map_or(Ok(()), netns::PendingNetns::join),
    )?;
    for dir in staged {
        handoff(plan, TAG_STAGING, &dir, "a staging area")?;
    }
    for &port in &spec.handoff.listen_ports {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
            .map_err(|e| SetupError::new(format!("cannot listen on 127.0.0.1:{port} inside"), e))?;
        handoff(plan, TAG_LISTENER, &OwnedFd::from(listener), "a listener")?;
    }
    if spec.handoff.netns {
        let ns = std::fs::File::open("/proc/self/ns/net")
            .map_err(|e| SetupError::new("cannot open the network namespace".into(), e))?;
        handoff(plan, TAG_NETNS, &OwnedFd::from(ns), "the network namespace")?;
    }
    if spec.handoff.loopback_connector {
        let channel = connector::start(&plan.seccomp_filter)?;
        handoff(plan, TAG_CONNECTOR, &channel, "the connector")?;
    }
    Ok(())
}

/// Map the program's uid and gid inside to the caller's outside. One line each: the only
/// mapping an unprivileged process may write for itself. setgroups must be denied before the
/// gid map is accepted.
fn write_id_maps(plan: &ChildPlan<'_>) -> Result<(), SetupError> {
    let spec = plan.spec;
    let w = |path: &str, data: String| {
        std::fs::write(path, data.as_bytes()).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (user namespaces may be restricted, e.g. by AppArmor's \
                 restrict_unprivileged_userns)"
            } else {
                ""
            };
            SetupError::new(format!("cannot write {path}{hint}"), e)
        })
    };
    w("/proc/self/setgroups", "deny".into())?;
    w(
        "/proc/self/uid_map",
        format!("{} {} 1\n", spec.uid, plan.outer_uid),
    )?;
    w(
        "/proc/self/gid_map",
        format!("{} {} 1\n", spec.gid, plan.outer_gid),
    )?;
    Ok(())
}

/// PID 1's loop: reap every orphan, forward signals that were sent to seal (not the ones the
/// terminal already delivered to the program's process group), and end as soon as the
/// program itself ends.
fn reap_until(program: libc::pid_t, signals: &SigSet, ended_tx: &OwnedFd) -> ! {
    loop {
        let info = match signals.wait(None) {
            Ok(Some(i)) => i,
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => sys::exit_now(EXIT_SETUP_FAILED),
        };
        if info.signo != libc::SIGCHLD {
            if info.code != sys::SI_KERNEL {
                let _ = sys::kill(program, info.signo);
            }
            continue;
        }
        loop {
            match sys::waitpid(-1, true) {
                Ok(Some((pid, status))) if pid == program => end(status.code(), ended_tx),
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => break,
            }
        }
    }
}

/// Kill and reap whatever the program left behind (a daemon, a double-forked child), then
/// report `code` and exit. The supervisor returns on the report: the kernel tears the
/// namespaces down as init exits, which takes an RCU grace period or two that nobody needs
/// to wait for once no process of the sandbox is left (nor can one start: init forks nothing
/// more). Exiting would kill the rest too, but only in the same slow exit.
fn end(code: i32, ended_tx: &OwnedFd) -> ! {
    // Every process of this PID namespace but init itself; all run as init's own uid.
    let _ = sys::kill(-1, libc::SIGKILL);
    loop {
        match sys::waitpid(-1, false) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break, // ECHILD: nothing is left
        }
    }
    let _ = sys::write_all(ended_tx.as_raw_fd(), &code.to_le_bytes());
    sys::exit_now(code)
}

/// The program's side of the fork: what only the namespace mode does, then the tail both
/// engines share ([`driver::program`]).
fn program_main(plan: &ChildPlan<'_>) -> ! {
    let spec = plan.spec;
    // The Rust runtime ignores SIGPIPE; the program must start with the default.
    sys::default_signal(libc::SIGPIPE);
    if let Err(e) = plan.original_mask.set_mask() {
        fail(
            plan,
            EXIT_SETUP_FAILED,
            format!("cannot restore the signal mask: {e}"),
        );
    }
    if let Err(e) = sys::cloexec_from(3) {
        fail(
            plan,
            EXIT_SETUP_FAILED,
            format!("cannot close inherited descriptors: {e}"),
        );
    }
    if let Err(e) = std::env::set_current_dir(&spec.cwd) {
        fail(
            plan,
            EXIT_SETUP_FAILED,
            format!(
                "working directory {} is not visible in the sandbox: {e}",
                spec.cwd.display()
            ),
        );
    }
    // Resolved here, inside the new root, where the program's PATH means what it says.
    let program = match program_args::resolve(spec) {
        Ok(p) => program_args::cstring(p.as_os_str()),
        Err((code, msg)) => fail(plan, code, msg),
    };
    let argv = program_args::argv(spec);
    let envp = program_args::envp(spec);
    let rlimits = driver::program::rlimits(spec.limits.open_files, plan.limits);
    let tail = driver::program::Tail {
        report: plan.report_tx.as_raw_fd(),
        program: &program,
        argv: &argv,
        envp: &envp,
        rlimits: &rlimits,
        // init set it for every process of the sandbox.
        affinity: None,
        // The sandbox's user namespace gives CAP_SETPCAP over its own bounding set.
        capabilities: driver::program::Capabilities::AllSets,
        seccomp_filter: &plan.seccomp_filter,
        observe: plan
            .observe
            .as_ref()
            .map(|(f, tx)| (tx.as_raw_fd(), f.as_slice())),
    };
    driver::program::restrict_and_exec(&tail, || landlock_rules::apply(spec.landlock, &spec.mounts))
}
