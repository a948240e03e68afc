//! Outbound connections. Only two kinds of destination are ever dialed: an allowed target (after the
//! policy check, by the caller) or the configured upstream proxy.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use super::allowlist::Target;
use super::upstream::{self, Upstream};

/// Connects to `host:port`, trying each resolved address in turn. Resolution happens here, host-side,
/// so the sandbox never needs a resolver.
async fn connect_host(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                // Small request/response exchanges (the CONNECT handshake, index pages) should not wait on Nagle.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "name resolved to no address")))
}

async fn with_timeout<T>(
    t: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(t, f)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
}

/// A byte stream to `target`, either direct or through an upstream CONNECT. `early` holds bytes
/// the upstream already sent past its CONNECT answer; they go to the client first.
pub(crate) struct Tunnel {
    pub(crate) stream: TcpStream,
    pub(crate) early: Vec<u8>,
}

pub(crate) async fn tunnel(
    target: &Target,
    upstream: Option<&Upstream>,
    t: Duration,
) -> io::Result<Tunnel> {
    with_timeout(t, async {
        match upstream {
            None => Ok(Tunnel {
                stream: connect_host(&target.host, target.port).await?,
                early: Vec::new(),
            }),
            Some(up) => {
                let mut stream = connect_host(&up.host, up.port).await?;
                let early = upstream::connect_through(&mut stream, up, &target.to_string()).await?;
                Ok(Tunnel { stream, early })
            }
        }
    })
    .await
}

/// A connection for one plain HTTP request: to the origin, or to the upstream proxy that will forward
/// the absolute-form request.
pub(crate) async fn http(
    target: &Target,
    upstream: Option<&Upstream>,
    t: Duration,
) -> io::Result<TcpStream> {
    with_timeout(t, async {
        match upstream {
            None => connect_host(&target.host, target.port).await,
            Some(up) => connect_host(&up.host, up.port).await,
        }
    })
    .await
}
