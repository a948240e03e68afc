//! Accept loop, connection cap, and one hyper HTTP/1 connection per client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::idle::{Activity, Tracked};
use crate::log::DecisionLog;
use crate::policy::Allowlist;
use crate::upstream::Upstream;

/// Shared, read-only after start (the log has its own lock).
pub(crate) struct Ctx {
    pub(crate) allow: Allowlist,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) log: DecisionLog,
}

/// Per client connection: its idle clock, and its slot under the cap (kept alive by a tunnel
/// after hyper hands the socket over).
#[derive(Clone)]
pub(crate) struct ConnCtx {
    pub(crate) activity: Activity,
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Request line plus headers, per request; hyper answers 431 past it. Index requests are tiny.
const MAX_HEAD: usize = 64 * 1024;
/// How many over-cap connections may be waiting on their 503 at once; beyond that they are just closed.
const MAX_REJECTING: usize = 32;

pub(crate) async fn serve(listener: TcpListener, ctx: Arc<Ctx>, mut stop: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(ctx.max_connections));
    let rejecting = Arc::new(Semaphore::new(MAX_REJECTING));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = &mut stop => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // EMFILE, ECONNABORTED and the like pass; back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(serve_conn(stream, peer, ctx.clone(), permit));
            }
            Err(_) => {
                let reason = format!("too many connections (limit {})", ctx.max_connections);
                ctx.log.record("-", &peer.to_string(), false, &reason);
                if let Ok(p) = rejecting.clone().try_acquire_owned() {
                    tokio::spawn(reject(stream, p));
                }
            }
        }
    }
}

async fn serve_conn(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let conn = ConnCtx {
        activity: activity.clone(),
        _permit: Arc::new(permit),
    };
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let svc_ctx = ctx.clone();
    let svc = service_fn(move |req| crate::http::handle(req, svc_ctx.clone(), conn.clone()));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Bytes trickled one at a time keep the idle clock alive; this bounds a slow header block.
        .header_read_timeout(ctx.idle_timeout.min(Duration::from_secs(30)))
        .max_header_size(MAX_HEAD);
    let served = builder.serve_connection(io, svc).with_upgrades();
    tokio::select! {
        r = served => {
            // hyper already answered 400/431/414 for parse errors; record them. Other errors are
            // the client going away and are not decisions.
            if let Err(e) = r {
                if e.is_parse() {
                    ctx.log.record("-", &peer.to_string(), false, &format!("malformed request: {e}"));
                }
            }
        }
        () = activity.idle(ctx.idle_timeout) => {}
    }
}

/// Answers 503 without reading the request, then drains briefly so the close does not turn into a
/// reset that would destroy the answer before the client reads it.
async fn reject(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    const BODY: &str = "seal: proxy refused the connection: too many connections\n";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(resp.as_bytes()).await?;
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
