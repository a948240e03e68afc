//! The inside half of [`crate::Connector`]: a helper in the sandbox's network namespace that
//! makes unconnected TCP sockets on request.
//!
//! Joining another network namespace with setns(2) needs CAP_SYS_ADMIN in the caller's own
//! user namespace, which an unprivileged user does not have; a socket, though, belongs to the
//! namespace it was created in wherever it travels. So the supervisor asks this helper for a
//! socket and connects it itself. The helper only creates sockets: it never connects, reads or
//! writes one, so there is nothing in it for the program to subvert.

use std::os::fd::{AsRawFd, OwnedFd};

use super::SetupError;
use crate::sys::{self, Forked};

pub const TAG_SOCKET: u8 = b'C';

/// Fork the helper (after init has joined the network namespace) and return the supervisor's
/// end of its channel.
pub fn start(seccomp_filter: &[libc::sock_filter]) -> Result<OwnedFd, SetupError> {
    let (ours, theirs) = sys::socketpair_cloexec()
        .map_err(|e| SetupError::new("socketpair for the connector".into(), e))?;
    match sys::fork().map_err(|e| SetupError::new("cannot fork the connector".into(), e))? {
        Forked::Child => {
            drop(ours);
            serve(theirs, seccomp_filter)
        }
        Forked::Parent(_) => Ok(ours),
    }
}

fn serve(channel: OwnedFd, seccomp_filter: &[libc::sock_filter]) -> ! {
    // Nothing of init's (the report pipe above all, whose end of file the supervisor waits
    // for) may stay open here.
    let Ok(channel) = sys::keep_only_as_fd3(channel) else {
        sys::exit_now(1)
    };
    let restricted = sys::drop_bounding_and_ambient().is_ok()
        && sys::drop_capability_sets().is_ok()
        && sys::set_dumpable(false).is_ok()
        && sys::set_no_new_privs().is_ok()
        && sys::seccomp_install(seccomp_filter).is_ok();
    if !restricted {
        sys::exit_now(1);
    }
    // One request byte, one socket back; end of file when the supervisor is done.
    while let Ok(true) = sys::read_byte(&channel) {
        let sent =
            sys::tcp_socket_v4().and_then(|s| sys::send_fd(&channel, TAG_SOCKET, s.as_raw_fd()));
        if sent.is_err() {
            break;
        }
    }
    sys::exit_now(0)
}
