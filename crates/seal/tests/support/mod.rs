//! The one support tree of the seal integration tests. Every test file includes it with
//! `mod support;` and imports the part it is about:
//!
//! * `support::isolation` (isolation_*, fallback_*, functional, cli_errors, concurrent_runs,
//!   ubuntu_userns): [`TestHome`] plus seal run commands, the probe prelude and the probes the
//!   namespace and fallback tests share;
//! * `support::install` (install.rs): [`TestHome`] plus `seal install`, a local PEP 503 index,
//!   wheels and sdists built in the test;
//! * `support::staging` (staging.rs, limits*.rs): a per-test tree with one key canary and the
//!   staging/limit helpers;
//! * `support::cli` (doctor_demo, shell_exec, policy_file, publish, jupyter_browser): a scratch
//!   project and a copy of seal for CLI tests that need no fake HOME.
//!
//! What they all share, here:
//!
//! * [`variants`]: every test runs as the test process's uid (root in CI) and, when that is
//!   root, again as uid 65534 with a world-executable copy of the seal binary; not running as
//!   root, only the current uid runs and the skip is printed loudly ([`each_variant`]).
//! * [`work_root`]: a per-process scratch directory in /tmp that uid 65534 can traverse, removed
//!   when the process exits (and swept by later runs if it was not).
//! * [`TestHome`]: the per-test tree (a fake HOME full of canaries, a project, an output
//!   directory) that the isolation and install tests build on.
//! * [`Run`] / [`Running`] / [`Output`]: commands with a liveness deadline ([`DEADLINE`]), their
//!   output collected in the background; [`Probe`]: the `PROBE<TAB>key<TAB>value` lines probes
//!   print.
//! * [`Sink`]: listeners on host loopback recording what reaches them.
//! * [`host`]: the kernel's facts as seal decides them (Landlock ABI, v1 cgroup controllers,
//!   per-namespace pid_max) and the pids mechanism they give ([`pids_mechanism`]), for tests
//!   whose expectations depend on the kernel; [`note`] says loudly which branch ran.
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories, `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

#![allow(dead_code)]

// First: its macro is used by the environments below.
#[macro_use]
mod test_home;

pub mod cli;
pub mod install;
pub mod isolation;
pub mod staging;

mod host;
mod probe;
mod process;
mod pty;
mod sinks;
mod util;
mod variants;

// Each test crate uses its own subset of what is re-exported.
#[allow(unused_imports)]
pub use host::*;
#[allow(unused_imports)]
pub use probe::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use pty::*;
#[allow(unused_imports)]
pub use sinks::*;
#[allow(unused_imports)]
pub use test_home::*;
#[allow(unused_imports)]
pub use util::*;
#[allow(unused_imports)]
pub use variants::*;

/// The interpreter every test uses (never a pyenv shim under /root).
pub const PYTHON: &str = "/usr/bin/python3";
/// PATH of the seal process and of direct runs.
pub const HOST_PATH: &str = "/usr/bin:/bin";
pub const NOBODY: u32 = 65534;

/// Liveness bound of any single command, installs under TCG included: a guard against a hung
/// test, never a timing assertion.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);
