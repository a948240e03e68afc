//! seal's egress proxy for the install sandbox.
//!
//! The sandbox has only loopback. seal binds a listener inside the sandbox's network namespace and
//! hands it to [`start`]; the proxy runs in seal's (host) namespace, so every outbound connection
//! it makes is made here, after a policy check:
//!
//! * `CONNECT host:port` only to an exact (host, port) in the allowlist, and only TLS whose SNI is
//!   that host (no domain fronting, no other protocols), except plain bytes to a loopback IP literal
//!   (local test indexes);
//! * plain HTTP only as absolute-form GET/HEAD without a body, to an allowed host, hop-by-hop and
//!   Proxy-* headers stripped; every upload method refused;
//! * optionally chained through seal's own upstream HTTP proxy, with Basic credentials that never
//!   appear in the log.
//!
//! Every allow and refuse is recorded as a [`Decision`] whose `Display` is the line shown to the user.
//!
//! Name resolution and outbound sockets belong to the network namespace of the thread that calls
//! [`start`] (the proxy's threads inherit it): call it from a thread in the host namespace.

#![forbid(unsafe_code)]

mod dial;
mod http;
mod idle;
mod log;
mod policy;
mod server;
mod sni;
mod tunnel;
mod upstream;

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use log::Decision;
pub use policy::{AllowedHost, Policy};
pub use upstream::{Credentials, Upstream};

/// A running proxy. [`ProxyHandle::stop`] or dropping it stops the proxy and closes every connection.
pub struct ProxyHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    log: log::DecisionLog,
}

impl ProxyHandle {
    /// Every decision so far, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        self.log.snapshot()
    }

    /// The decisions as lines for the user, e.g.
    /// `seal: proxy refused CONNECT evil.example:443: host not in the index allowlist`.
    pub fn decision_lines(&self) -> Vec<String> {
        self.log
            .snapshot()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Stops accepting, closes open connections and tunnels, and waits for the proxy thread.
    /// Idempotent; the decision log stays readable afterwards.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `listener` on a dedicated thread with a current-thread tokio runtime.
/// Fails if the policy is unusable (empty host, port 0, zero connection cap) or the runtime
/// cannot be built.
pub fn start(listener: std::net::TcpListener, policy: Policy) -> io::Result<ProxyHandle> {
    if policy.max_connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seal-net: max_connections is 0",
        ));
    }
    let log = log::DecisionLog::default();
    let ctx = Arc::new(server::Ctx {
        allow: policy::Allowlist::new(&policy.allowed)?,
        upstream: policy.upstream,
        connect_timeout: policy.connect_timeout,
        idle_timeout: policy.idle_timeout,
        max_connections: policy.max_connections,
        log: log.clone(),
    });
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registering with the reactor needs the runtime's context; doing it here reports errors to the caller.
    let registered = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener)
    };
    let listener = match registered {
        Ok(l) => l,
        Err(e) => {
            // A plain drop would panic if the caller is itself inside an async context.
            rt.shutdown_background();
            return Err(e);
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("seal-net-proxy".into())
        .spawn(move || {
            rt.block_on(server::serve(listener, ctx, rx));
            // Dropping the runtime cancels every connection task. A name lookup stuck in the blocking
            // pool must not hold up stop(), so do not wait for it long.
            rt.shutdown_timeout(Duration::from_millis(500));
        })?;
    Ok(ProxyHandle {
        stop: Some(tx),
        thread: Some(thread),
        log,
    })
}
