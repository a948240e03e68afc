//! Connections from the host into the sandbox's own loopback, for an unprivileged caller.
//!
//! See `setup/connector.rs` for the helper inside that makes the sockets. Everything that
//! arrives from it is checked before use: the helper shares the sandbox with untrusted code,
//! so the supervisor only ever connects a plain TCP socket to 127.0.0.1.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use crate::sys;

/// Makes TCP connections to 127.0.0.1:PORT inside one sandbox. Usable from any thread.
pub struct Connector {
    channel: Mutex<OwnedFd>,
}

/// How long connecting may take; a full accept queue inside must not hang the caller.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Connector {
    pub(crate) fn new(channel: OwnedFd) -> Self {
        // A helper that stops answering (stopped by a signal on kernels without Landlock's
        // signal scoping) must not pin the caller's threads forever; best effort.
        let _ = sys::set_recv_timeout(&channel, CONNECT_TIMEOUT);
        Connector {
            channel: Mutex::new(channel),
        }
    }

    /// A blocking connection to `port` on the sandbox's loopback.
    pub fn connect(&self, port: u16) -> io::Result<TcpStream> {
        let socket = self.socket()?;
        let stream = TcpStream::from(socket);
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        sys::connect_loopback_v4(&OwnedFd::from(stream.try_clone()?), port)?;
        stream.set_write_timeout(None)?;
        Ok(stream)
    }

    fn socket(&self) -> io::Result<OwnedFd> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the sandbox has ended");
        let (tag, fd) = {
            let channel = self.channel.lock().map_err(|_| gone())?;
            sys::write_all(channel.as_raw_fd(), b"s").map_err(|_| gone())?;
            sys::recv_fd(&channel)?.ok_or_else(gone)?
        };
        let kind = sys::socket_family_and_type(&fd)?;
        if tag != crate::setup::TAG_SOCKET || kind != (libc::AF_INET, libc::SOCK_STREAM) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the sandbox's connector sent something other than a TCP socket",
            ));
        }
        Ok(fd)
    }
}
