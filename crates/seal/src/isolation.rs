//! Which isolation a run gets: the namespace sandbox, or, where the kernel refuses user
//! namespaces, the Landlock + seccomp fallback. Never silently nothing.
//!
//! `auto` tries the namespace sandbox first and probes only after it failed, so the usual
//! case costs nothing extra; the fallback is announced on every run, and refused when the
//! user required a guarantee it cannot give.

use anyhow::{bail, Result};

/// `--isolation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Requested {
    // Namespaces, else the fallback with a warning.
    #[default]
    Auto,
    // Never the fallback.
    Namespaces,
    // The fallback, asked for.
    Landlock,
}

/// One `--require` value: a guarantee without which seal refuses to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Guarantee {
    NetworkIsolation,
    Landlock,
}

/// Guarantees the user asked for with `--require`.
#[derive(Clone, Debug, Default)]
pub struct Required {
    pub network_isolation: bool,
    pub landlock: bool,
}

impl Required {
    pub fn from_flags(values: &[Guarantee]) -> Required {
        Required {
            network_isolation: values.contains(&Guarantee::NetworkIsolation),
            landlock: values.contains(&Guarantee::Landlock),
        }
    }
}

/// Why a run gets the fallback, for the warning it must print before it starts.
pub struct Degraded {
    reason: String,
    explicit: bool,
}

impl Degraded {
    /// The user asked for the fallback (`--isolation landlock`).
    pub fn requested() -> Degraded {
        Degraded {
            reason: "requested".into(),
            explicit: true,
        }
    }

    /// Print the degraded-isolation warning (see [`warn_degraded`]).
    pub fn warn(&self, quiet: bool) {
        warn_degraded(&self.reason, self.explicit, quiet);
    }
}

/// The one choice between the engines, for `seal run` and `seal install`'s steps:
/// `landlock` goes straight to `fallback`; otherwise `namespaces` is tried, and only `auto`
/// falls back, and only when the failure was the kernel refusing user namespaces (found by
/// probing after the failure, so that the usual case costs nothing). Every other failure is
/// returned as it is. `fallback` gets the reason, to warn just before it runs.
pub fn run_auto<T>(
    requested: Requested,
    namespaces: impl FnOnce() -> Result<T>,
    fallback: impl FnOnce(Degraded) -> Result<T>,
) -> Result<T> {
    let degraded = match requested {
        Requested::Landlock => Degraded::requested(),
        Requested::Auto | Requested::Namespaces => {
            let err = match namespaces() {
                Ok(ran) => return Ok(ran),
                Err(e) => e,
            };
            let reason = match (requested, err.downcast_ref()) {
                (Requested::Auto, Some(sandbox_err)) => failure_is_namespaces(sandbox_err),
                _ => None,
            };
            match reason {
                Some(reason) => Degraded {
                    reason,
                    explicit: false,
                },
                None => return Err(err),
            }
        }
    };
    fallback(degraded)
}

/// Why the namespace sandbox cannot be used here, if it cannot: decided by trying.
pub fn namespaces_blocked() -> Option<String> {
    seal_sandbox::host_probe::check_namespaces().err()
}

/// Whether a failed namespace run failed because namespaces are unavailable (and not, say,
/// because a path was missing), answered by probing.
pub fn failure_is_namespaces(err: &seal_sandbox::Error) -> Option<String> {
    match err {
        seal_sandbox::Error::Namespaces(_) | seal_sandbox::Error::Setup { .. } => {
            namespaces_blocked()
        }
        _ => None,
    }
}

/// Check that the fallback can give what was required, before running anything.
pub fn check_fallback(required: &Required) -> Result<()> {
    if required.network_isolation && !seal_sandbox::host_probe::seccomp_filter_available() {
        bail!(
            "--require network-isolation cannot be met: user namespaces are unavailable and this \
             kernel has no seccomp filtering to deny sockets; run `seal doctor` for the fix"
        );
    }
    Ok(())
}

/// The one-line warning of every degraded run; silenced by -q only when the user asked for
/// the fallback explicitly.
fn warn_degraded(reason: &str, explicit: bool, quiet: bool) {
    if explicit && quiet {
        return;
    }
    let why = if explicit {
        "requested with --isolation landlock".to_string()
    } else {
        format!("user namespaces are unavailable: {reason}")
    };
    eprintln!(
        "seal: warning: degraded isolation ({why}): Landlock + seccomp fallback without \
         namespaces (no sockets but seal's, no private /proc, /tmp or PID namespace); see `seal doctor`"
    );
}
