//! The sandbox's egress proxy (the install's index, a run's `--allow-net` hosts): the accept
//! loop and its handle ([`start`]), the shared
//! settings of its connections, and what it may reach (`allowlist`). `http` dispatches each request
//! (plain GET/HEAD forwarded there; CONNECT to `tunnel`, which checks the first bytes with
//! `sni`), `dial` makes the outbound connection, directly or through `upstream`.

mod allowlist;
mod dial;
mod http;
mod sni;
mod tunnel;
mod upstream;

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

pub use allowlist::{AllowedHost, DecisionWatcher, ProxyPolicy, Purpose};
pub use upstream::{Credentials, Upstream};

use crate::body::{refusal, ProxyBody};
use crate::conn::{accept, serve_http, Cap, ConnCtx, UNIX_PEER};
use crate::log::{self, Decision, DecisionLog, Source};
use crate::runner;
use allowlist::Allowlist;

/// Shared, read-only after start (the log has its own lock).
pub(crate) struct Ctx {
    pub(crate) allow: Allowlist,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) log: DecisionLog,
}

/// Logs a refusal and builds the matching response; the body is the same line the user sees.
pub(crate) fn refuse(
    ctx: &Ctx,
    method: &str,
    target: &str,
    status: StatusCode,
    reason: &str,
) -> Response<ProxyBody> {
    refusal(&ctx.log, method, target, status, reason)
}

/// A running proxy. [`ProxyHandle::stop`] or dropping it stops the proxy and closes every connection.
pub struct ProxyHandle {
    runner: runner::Runner,
    log: log::DecisionLog,
    injector: StreamInjector,
}

impl ProxyHandle {
    /// Every decision so far, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        self.log.snapshot()
    }

    /// The decisions as lines for the user, e.g.
    /// `seal: proxy refused CONNECT evil.example:443: host not in the index allowlist`.
    pub fn decision_lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Serves `stream` as one more client, like an accepted TCP connection; see [`StreamInjector`].
    pub fn serve_stream(&self, stream: UnixStream) -> io::Result<()> {
        self.injector.serve_stream(stream)
    }

    /// A handle that can hand streams to this proxy from any plain (non-async) thread.
    pub fn stream_injector(&self) -> StreamInjector {
        self.injector.clone()
    }

    /// Stops accepting, closes open connections and tunnels, and waits for the proxy thread.
    /// Idempotent; the decision log stays readable afterwards.
    pub fn stop(&mut self) {
        self.runner.stop();
    }
}

/// Hands client streams (e.g. one end of a [`UnixStream::pair`] given to the sandbox) to a running
/// proxy. Cheap to clone; usable from any thread that is not running async tasks (it may block).
#[derive(Clone)]
pub struct StreamInjector {
    tx: mpsc::Sender<UnixStream>,
}

/// How many handed streams may wait for the proxy's loop: a program asking for connections
/// faster than the proxy takes them waits (its requests are answered in turn) instead of
/// growing seal's memory and descriptor count.
const INJECT_QUEUE: usize = 16;

impl StreamInjector {
    /// Queues `stream` to be served like an accepted TCP client: same policy, same connection cap,
    /// same decision log, with the client shown as `unix`. Blocks while the proxy's queue is
    /// full, so call it from a plain thread, never from an async task. Fails if the proxy has
    /// stopped.
    pub fn serve_stream(&self, stream: UnixStream) -> io::Result<()> {
        // Done here so the caller sees the error; the proxy's runtime only registers the stream.
        stream.set_nonblocking(true)?;
        self.tx.blocking_send(stream).map_err(|_| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "seal-net: the proxy has stopped",
            )
        })
    }
}

/// Serves `listener` on a dedicated thread with a current-thread tokio runtime.
/// Fails if the policy is unusable (empty host, port 0, zero connection cap) or the runtime
/// cannot be built.
pub fn start(listener: std::net::TcpListener, policy: ProxyPolicy) -> io::Result<ProxyHandle> {
    start_proxy(Some(listener), policy)
}

/// Like [`start`], for a sandbox without TCP: the proxy serves only the streams handed to it with
/// [`ProxyHandle::serve_stream`].
pub fn start_without_listener(policy: ProxyPolicy) -> io::Result<ProxyHandle> {
    start_proxy(None, policy)
}

fn start_proxy(
    listener: Option<std::net::TcpListener>,
    policy: ProxyPolicy,
) -> io::Result<ProxyHandle> {
    if policy.max_connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seal-net: max_connections is 0",
        ));
    }
    let log = log::DecisionLog::new(Source::IndexProxy).watched(policy.watcher);
    let ctx = Arc::new(Ctx {
        allow: Allowlist::new(&policy.allowed, policy.purpose)?,
        upstream: policy.upstream,
        connect_timeout: policy.connect_timeout,
        idle_timeout: policy.idle_timeout,
        max_connections: policy.max_connections,
        log: log.clone(),
    });
    let (tx, rx) = mpsc::channel(INJECT_QUEUE);
    let runner = runner::Runner::start("seal-net-proxy", listener, move |l, stop| {
        serve(l, rx, ctx, stop)
    })?;
    Ok(ProxyHandle {
        runner,
        log,
        injector: StreamInjector { tx },
    })
}

pub(crate) async fn serve(
    listener: Option<TcpListener>,
    mut injected: mpsc::Receiver<std::os::unix::net::UnixStream>,
    ctx: Arc<Ctx>,
    mut stop: oneshot::Receiver<()>,
) {
    let cap = Cap::new(ctx.max_connections, Source::IndexProxy, "");
    // The handle keeps a sender until it stops us, but a closed channel must not turn into a spin.
    let mut injecting = true;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            (stream, peer) = accept(listener.as_ref()) => {
                let peer = peer.to_string();
                if let Some((stream, conn)) = cap.admit(stream, &peer, &ctx.log) {
                    tokio::spawn(serve_conn(stream, peer, ctx.clone(), conn));
                }
            }
            r = injected.recv(), if injecting => match r {
                None => injecting = false,
                Some(s) => match tokio::net::UnixStream::from_std(s) {
                    Ok(stream) => {
                        if let Some((stream, conn)) = cap.admit(stream, UNIX_PEER, &ctx.log) {
                            tokio::spawn(serve_conn(stream, UNIX_PEER.into(), ctx.clone(), conn));
                        }
                    }
                    Err(e) => {
                        let reason = format!("could not serve the stream: {e}");
                        ctx.log.record("-", UNIX_PEER, false, &reason);
                    }
                },
            },
        }
    }
}

async fn serve_conn<S>(stream: S, peer: String, ctx: Arc<Ctx>, conn: ConnCtx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (svc_ctx, svc_conn) = (ctx.clone(), conn.clone());
    let handler = move |req| http::handle(req, svc_ctx.clone(), svc_conn.clone());
    serve_http(stream, &conn, ctx.idle_timeout, &ctx.log, &peer, handler).await;
}
