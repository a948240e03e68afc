//! What every harness of the seal integration tests shares: `tests/common` (the isolation,
//! fallback, functional, CLI-error and limit tests), `tests/install_support` (install.rs) and
//! `tests/staging_support` (staging.rs) each include this module with
//! `#[path = "../harness/mod.rs"] mod harness;` and re-export it, adding only what is theirs
//! (their per-test environment, probe prelude, canaries, servers).
//!
//! * [`variants`]: every test runs as the test process's uid (root in CI) and, when that is
//!   root, again as uid 65534 with a world-executable copy of the seal binary; not running as
//!   root, only the current uid runs and the skip is printed loudly ([`each_variant`]).
//! * [`work_root`]: a per-process scratch directory in /tmp that uid 65534 can traverse, removed
//!   when the process exits (and swept by later runs if it was not).
//! * [`Run`] / [`Running`] / [`Output`]: commands with a liveness deadline, their output
//!   collected in the background; [`Probe`]: the `PROBE<TAB>key<TAB>value` lines probes print.
//! * [`Sink`]: listeners on host loopback recording what reaches them.
//! * [`host`]: the kernel's facts as seal decides them (Landlock ABI, v1 cgroup controllers,
//!   per-namespace pid_max) and the pids mechanism they give ([`pids_mechanism`]), for tests
//!   whose expectations depend on the kernel; [`note`] says loudly which branch ran.
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories, `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

#![allow(dead_code)]

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
pub use util::*;
#[allow(unused_imports)]
pub use variants::*;

/// The interpreter every test uses (never a pyenv shim under /root).
pub const PYTHON: &str = "/usr/bin/python3";
/// PATH of the seal process and of direct runs.
pub const HOST_PATH: &str = "/usr/bin:/bin";
pub const NOBODY: u32 = 65534;
