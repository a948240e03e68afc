//! What every served connection goes through, for the egress proxy and published ports alike:
//! accepting, the connection cap (with its 503 answer), and one hyper HTTP/1 connection per
//! client with the idle clock.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::body::ProxyBody;
use crate::idle::{Activity, Tracked};
use crate::log::{DecisionLog, Source};

/// Per client connection: its idle clock, and its slot under the cap (kept alive by a tunnel
/// after hyper hands the socket over).
#[derive(Clone)]
pub(crate) struct ConnCtx {
    pub(crate) activity: Activity,
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Request line plus headers, per request; hyper answers 431 past it. Index requests are tiny, and
/// a browser's cookies for a published port stay well under it.
const MAX_HEAD: usize = 64 * 1024;
/// How many over-cap connections may be waiting on their 503 at once; beyond that they are just closed.
const MAX_REJECTING: usize = 32;
/// What an injected stream's client is called in the log; it has no address.
pub(crate) const UNIX_PEER: &str = "unix";

/// The connection cap: a slot per served connection, and a bounded number of 503 answers for the rest.
pub(crate) struct Cap {
    slots: Arc<Semaphore>,
    rejecting: Arc<Semaphore>,
    limit: usize,
    answer: Bytes,
}

impl Cap {
    /// `extra_headers` are whole `Name: value\r\n` lines added to the 503.
    pub(crate) fn new(limit: usize, source: Source, extra_headers: &str) -> Cap {
        let body = format!("seal: {source} refused the connection: too many connections\n");
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        );
        Cap {
            slots: Arc::new(Semaphore::new(limit)),
            rejecting: Arc::new(Semaphore::new(MAX_REJECTING)),
            limit,
            answer: Bytes::from(answer),
        }
    }

    /// A slot for a new connection, or `None` once the refusal is logged and its 503 under way.
    pub(crate) fn admit<S>(&self, stream: S, peer: &str, log: &DecisionLog) -> Option<(S, ConnCtx)>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Some((
                stream,
                ConnCtx {
                    activity: Activity::new(),
                    _permit: Arc::new(permit),
                },
            )),
            Err(_) => {
                let reason = format!("too many connections (limit {})", self.limit);
                log.record("-", peer, false, &reason);
                if let Ok(p) = self.rejecting.clone().try_acquire_owned() {
                    tokio::spawn(reject(stream, p, self.answer.clone()));
                }
                None
            }
        }
    }
}

/// The next client; `None` (no listener) never yields one.
pub(crate) async fn accept(listener: Option<&TcpListener>) -> (tokio::net::TcpStream, SocketAddr) {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    loop {
        match listener.accept().await {
            Ok((s, peer)) => {
                let _ = s.set_nodelay(true);
                return (s, peer);
            }
            // EMFILE, ECONNABORTED and the like pass; back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Serves HTTP/1 on one client connection until it closes, upgrades, or goes idle.
pub(crate) async fn serve_http<S, F, Fut>(
    stream: S,
    conn: &ConnCtx,
    idle_timeout: Duration,
    log: &DecisionLog,
    peer: &str,
    handler: F,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let io = TokioIo::new(Tracked::new(stream, conn.activity.clone()));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Bytes trickled one at a time keep the idle clock alive; this bounds a slow header block.
        .header_read_timeout(idle_timeout.min(Duration::from_secs(30)))
        .max_header_size(MAX_HEAD);
    let served = builder
        .serve_connection(io, service_fn(handler))
        .with_upgrades();
    tokio::select! {
        r = served => {
            // hyper already answered 400/431/414 for parse errors; record them. Other errors are
            // the client going away and are not decisions.
            if let Err(e) = r {
                if e.is_parse() {
                    log.record("-", peer, false, &format!("malformed request: {e}"));
                }
            }
        }
        () = conn.activity.idle(idle_timeout) => {}
    }
}

/// Answers 503 without reading the request, then drains briefly so the close does not turn into a
/// reset that would destroy the answer before the client reads it.
async fn reject<S>(mut stream: S, _slot: OwnedSemaphorePermit, answer: Bytes)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}
