//! seal-sandbox: a declarative Linux sandbox engine.
//!
//! A [`Spec`] says what the program sees (mounts), what it may reach (network), its
//! environment and its limits; [`run`] creates fresh user, mount, PID, network, IPC, UTS and
//! cgroup namespaces, builds a new root with pivot_root, applies rlimits, drops every
//! capability, sets no_new_privs, applies Landlock and finally seccomp, then executes the
//! program and supervises it. The engine knows nothing about Python.
//!
//! Where user namespaces are blocked, [`run_fallback`] runs the same `Spec` without any
//! namespace: Landlock (required) on host paths, a stricter seccomp filter with no socket(),
//! rlimits, and a subreaper that kills every descendant when the program ends.

// The system calls are the only place for unsafe code, one thin wrapper each.
#![deny(unsafe_code)]

pub mod claimed_dir;
mod connector;
mod driver;
pub mod export;
mod fallback;
pub mod host_probe;
mod landlock_rules;
pub(crate) mod limits;
mod observe;
mod outcome;
mod program_args;
mod report;
pub mod seccomp;
mod setup;
mod supervisor;
#[allow(unsafe_code)]
mod sys;

use std::io;

pub use connector::Connector;
pub use fallback::{
    run_fallback, run_fallback_with, run_fallback_with_options, send_stream,
    serve_connection_channel, FallbackOptions, ModeChanges,
};
pub use landlock_rules::Level as LandlockLevel;
pub use observe::Observed;
pub use outcome::{Enforcement, Isolation, LimitStatus, Outcome, Started, Status};
pub use setup::EXIT_SETUP_FAILED;
pub use spec::{
    device_under_dev, Access, HandoffRequest, LandlockMode, Limits, Mount, Network, Spec,
};
pub use supervisor::{run, run_with};

pub mod spec;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Spec(String),
    #[error("cannot create the sandbox's namespaces: {0} ({hint})", hint = userns_hint())]
    Namespaces(io::Error),
    #[error("sandbox setup failed: {text}")]
    Setup { code: i32, text: String },
    #[error("{0}: {1}")]
    Io(String, io::Error),
}

/// Physical memory of this machine in bytes (0 if unknown), for choosing default limits.
pub fn host_memory_bytes() -> u64 {
    sys::physical_memory()
}

impl Error {
    /// The exit code seal should use for this failure (126/127 follow the shell's meaning).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Setup { code, .. } => *code,
            _ => EXIT_SETUP_FAILED,
        }
    }
}

/// Why user namespaces may be unavailable here, from the knobs that commonly disable them.
fn userns_hint() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return "user namespaces are disabled: sysctl user.max_user_namespaces=0".into();
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "unprivileged user namespaces are disabled: sysctl kernel.unprivileged_userns_clone=0".into();
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "AppArmor restricts unprivileged user namespaces \
                (sysctl kernel.apparmor_restrict_unprivileged_userns=1)"
            .into();
    }
    "user namespaces may be blocked by a container's seccomp policy; seal never runs a program \
     without isolation"
        .into()
}
