//! seal's host-side network services: the install sandbox's egress proxy, and published ports.
//!
//! **The egress proxy.** The install sandbox has only loopback. seal binds a listener inside the
//! sandbox's network namespace and hands it to [`start`]; the proxy runs in seal's (host)
//! namespace, so every outbound connection it makes is made here, after a policy check:
//!
//! * `CONNECT host:port` only to an exact (host, port) in the allowlist, and only TLS whose SNI is
//!   that host (no domain fronting, no other protocols), except plain bytes to a loopback IP literal
//!   (local test indexes);
//! * plain HTTP only as absolute-form GET/HEAD without a body, to an allowed host, hop-by-hop and
//!   Proxy-* headers stripped; every upload method refused;
//! * optionally chained through seal's own upstream HTTP proxy, with Basic credentials that never
//!   appear in the log.
//!
//! Where the sandbox has no network namespace (and so no TCP at all), seal starts the proxy with
//! [`start_without_listener`] and hands it one end of a Unix stream pair per client through
//! [`ProxyHandle::serve_stream`] or a [`StreamInjector`]; each is served exactly like an accepted
//! TCP client, under the same policy and connection cap.
//!
//! **Published ports.** [`publish()`] forwards host 127.0.0.1:HOSTPORT to an untrusted server on
//! the sandbox's own loopback (`seal run --publish`, `seal jupyter`), through a connector seal
//! provides. Only requests whose Host (and Origin, when sent) name this port reach the server: that
//! defeats DNS rebinding and keeps other sites from posting to the server or opening its
//! WebSockets. Every response gets a Content-Security-Policy ([`default_csp`]) that keeps the
//! pages' scripts from sending data to any other origin, and is never cached. WebSockets pass
//! through.
//!
//! Every refusal (and, for the proxy, every allow) is recorded as a [`Decision`] whose `Display` is
//! the line shown to the user.
//!
//! Name resolution and outbound sockets belong to the network namespace of the thread that calls
//! [`start`] (the proxy's threads inherit it): call it from a thread in the host namespace.

#![forbid(unsafe_code)]

mod dial;
mod http;
mod idle;
mod log;
mod policy;
mod publish;
mod runner;
mod server;
mod sni;
mod tunnel;
mod upstream;

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use log::{Decision, Source};
pub use policy::{AllowedHost, Policy};
pub use publish::{default_csp, publish, Connector, PublishHandle, PublishPolicy};
pub use upstream::{Credentials, Upstream};

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
pub fn start(listener: std::net::TcpListener, policy: Policy) -> io::Result<ProxyHandle> {
    start_proxy(Some(listener), policy)
}

/// Like [`start`], for a sandbox without TCP: the proxy serves only the streams handed to it with
/// [`ProxyHandle::serve_stream`].
pub fn start_without_listener(policy: Policy) -> io::Result<ProxyHandle> {
    start_proxy(None, policy)
}

fn start_proxy(listener: Option<std::net::TcpListener>, policy: Policy) -> io::Result<ProxyHandle> {
    if policy.max_connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seal-net: max_connections is 0",
        ));
    }
    let log = log::DecisionLog::new(Source::IndexProxy);
    let ctx = Arc::new(server::Ctx {
        allow: policy::Allowlist::new(&policy.allowed)?,
        upstream: policy.upstream,
        connect_timeout: policy.connect_timeout,
        idle_timeout: policy.idle_timeout,
        max_connections: policy.max_connections,
        log: log.clone(),
    });
    let (tx, rx) = mpsc::channel(INJECT_QUEUE);
    let runner = runner::Runner::start("seal-net-proxy", listener, move |l, stop| {
        server::serve(l, rx, ctx, stop)
    })?;
    Ok(ProxyHandle {
        runner,
        log,
        injector: StreamInjector { tx },
    })
}
