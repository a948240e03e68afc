//! What the namespace engine ([`crate::supervisor`], [`crate::setup`]) and the fallback
//! engine ([`crate::fallback`]) share, written once so that a fix to how a run is driven or
//! how the program restricts itself lands in both: the host side (signals, the start report,
//! the outcome) and the program's last steps before `execve`.
//!
//! The two engines differ in how they isolate and in how they wait (the namespace mode
//! waits for its init with SIGCHLD, the fallback for its keeper with a pidfd, since the
//! fallback may run beside other runs in one process), not in this.

pub mod host;
pub mod program;
