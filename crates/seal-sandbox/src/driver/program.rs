//! The program's last steps before `execve`, in both engines: limits, capabilities,
//! no_new_privs, Landlock, seccomp, in that order. Lowering a limit never needs a privilege,
//! dropping capabilities must come after what still needs them, no_new_privs must precede
//! Landlock and seccomp, and seccomp comes last so that it need not allow what the steps
//! before it use.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, RawFd};

use crate::landlock_rules::Level;
use crate::limits::LimitPlan;
use crate::report::Message;
use crate::setup::EXIT_SETUP_FAILED;
use crate::sys;

/// A resource limit: (resource, value, whether the value is also the hard limit). Never
/// above the current hard limit.
pub type Rlimit = (libc::__rlimit_resource_t, u64, Hard);

/// What happens to the hard limit of an [`Rlimit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hard {
    /// Lowered to the value too: a limit the program must not raise.
    Same,
    /// Kept as it is: a default the program may raise as far as the host lets it.
    Kept,
}

/// The rlimits both engines set from the spec and the limit plan; an engine may add its own.
/// The open-files limit is a default (4096 soft, as on most hosts) that programs needing more
/// may raise to the host's hard limit, as they could outside; the process and memory limits
/// are limits.
pub fn rlimits(open_files: Option<u64>, limits: &LimitPlan) -> Vec<Rlimit> {
    let mut out = Vec::new();
    if let Some(n) = open_files {
        out.push((libc::RLIMIT_NOFILE, n, Hard::Kept));
    }
    if let Some(n) = limits.nproc_rlimit {
        out.push((libc::RLIMIT_NPROC, n, Hard::Same));
    }
    if let Some(n) = limits.data_rlimit {
        out.push((libc::RLIMIT_DATA, n, Hard::Same));
    }
    out
}

fn rlimit_name(resource: libc::__rlimit_resource_t) -> &'static str {
    match resource {
        libc::RLIMIT_NOFILE => "RLIMIT_NOFILE",
        libc::RLIMIT_NPROC => "RLIMIT_NPROC",
        libc::RLIMIT_DATA => "RLIMIT_DATA",
        libc::RLIMIT_FSIZE => "RLIMIT_FSIZE",
        libc::RLIMIT_CORE => "RLIMIT_CORE",
        _ => "setrlimit",
    }
}

/// Which capability sets the program can and must empty.
#[derive(Clone, Copy)]
pub enum Capabilities {
    /// Inside a user namespace, or as root: every set, the bounding set included, so that
    /// not even executing a file as uid 0 brings a capability back.
    AllSets,
    /// An unprivileged user without a namespace has no CAP_SETPCAP to shrink the bounding
    /// set; with no_new_privs and empty other sets nothing can be gained at exec anyway.
    AllButBounding,
}

/// The program, its restrictions, and where to report, all prepared before the fork.
pub struct Tail<'a> {
    /// Write end of the report pipe, close-on-exec.
    pub report: RawFd,
    pub program: &'a CStr,
    pub argv: &'a [CString],
    pub envp: &'a [CString],
    pub rlimits: &'a [Rlimit],
    /// Whole CPUs for the affinity mask (the fallback; the namespace mode's init sets it for
    /// every process of the sandbox).
    pub affinity: Option<usize>,
    pub capabilities: Capabilities,
    pub seccomp_filter: &'a [libc::sock_filter],
    /// The observe filter joined to the main one ([`crate::seccomp::build_audit_filter`]),
    /// installed instead of it, and the socket its listener is handed over on (namespace mode,
    /// [`crate::HandoffRequest::observe`]).
    pub observe: Option<(RawFd, &'a [libc::sock_filter])>,
}

/// Report a setup failure to the caller and exit with `code`.
pub fn fail(report: RawFd, code: i32, text: String) -> ! {
    // Nothing useful can be done if the caller is gone.
    let _ = sys::write_all(report, Message::Error { code, text }.encode().as_bytes());
    sys::exit_now(code)
}

/// Restrict this process and execute the program; `landlock` applies the engine's Landlock
/// rules and says at which level. Never returns: on any failure the caller hears why.
pub fn restrict_and_exec(t: &Tail<'_>, landlock: impl FnOnce() -> Result<Level, String>) -> ! {
    if let Err(e) = restrict_process(t) {
        fail(t.report, EXIT_SETUP_FAILED, e);
    }
    let level = match landlock() {
        Ok(level) => level,
        Err(e) => fail(t.report, EXIT_SETUP_FAILED, e),
    };
    if let Some((socket, filter)) = t.observe {
        // Before the main filter, and handed over with sendmsg, which it does not stop; the
        // supervisor serves it from then on (the execve below stops too).
        let handed = sys::seccomp_install_listener(filter).and_then(|listener| {
            sys::send_fd_raw(socket, crate::setup::TAG_OBSERVER, listener.as_raw_fd())
        });
        if let Err(e) = handed {
            fail(
                t.report,
                EXIT_SETUP_FAILED,
                format!("cannot set up the observation of network calls: {e}"),
            );
        }
    }
    let _ = sys::write_all(t.report, Message::Landlock(level).encode().as_bytes());
    // Observing, the filter installed above holds the main one already.
    if t.observe.is_none() {
        if let Err(e) = sys::seccomp_install(t.seccomp_filter) {
            fail(
                t.report,
                EXIT_SETUP_FAILED,
                format!("cannot install the seccomp filter: {e}"),
            );
        }
    }
    let err = sys::execve(t.program, t.argv, t.envp);
    // The shell's meanings: 127 not found, 126 found but not executable.
    let code = match err.raw_os_error() {
        Some(libc::ENOENT) => 127,
        _ => 126,
    };
    fail(
        t.report,
        code,
        format!("cannot execute {}: {err}", t.program.to_string_lossy()),
    )
}

fn restrict_process(t: &Tail<'_>) -> Result<(), String> {
    sys::setrlimit(libc::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    for &(resource, value, keep) in t.rlimits {
        let hard = sys::getrlimit(resource).map_or(value, |(_, hard)| hard);
        let soft = value.min(hard);
        let new_hard = match keep {
            Hard::Same => soft,
            Hard::Kept => hard,
        };
        sys::setrlimit(resource, soft, new_hard)
            .map_err(|e| format!("{}: {e}", rlimit_name(resource)))?;
    }
    if let Some(n) = t.affinity {
        sys::limit_cpus(n).map_err(|e| format!("cannot set the CPU affinity: {e}"))?;
    }
    match t.capabilities {
        Capabilities::AllSets => sys::drop_bounding_and_ambient()
            .map_err(|e| format!("cannot drop capabilities: {e}"))?,
        Capabilities::AllButBounding => sys::fallback::clear_ambient_capabilities()
            .map_err(|e| format!("cannot clear ambient capabilities: {e}"))?,
    }
    sys::drop_capability_sets().map_err(|e| format!("cannot drop capabilities: {e}"))?;
    sys::set_no_new_privs().map_err(|e| format!("cannot set no_new_privs: {e}"))?;
    Ok(())
}
