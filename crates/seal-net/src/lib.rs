//! seal's host-side network services: the install sandbox's egress proxy, and published ports.
//!
//! **The egress proxy.** The install sandbox has only loopback. seal binds a listener inside the
//! sandbox's network namespace and hands it to [`start`]; the proxy runs in seal's (host)
//! namespace, so every outbound connection it makes is made here, after a policy check:
//!
//! * `CONNECT host:port` only to an exact (host, port) in the allowlist, and only TLS whose SNI is
//!   that host (no domain fronting, no other protocols), except plain bytes to a loopback IP literal
//!   (local test indexes);
//! * plain HTTP only as absolute-form requests to an allowed host, hop-by-hop and Proxy-* headers
//!   stripped; for an index ([`Purpose::Index`]) only GET/HEAD without a body, every upload
//!   method refused; for a run's named hosts ([`Purpose::Egress`], `seal run --allow-net`) any
//!   method with its body;
//! * an allowlist entry `*.NAME` (two labels or more) matches every subdomain of NAME;
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

// Shared by both services: response bodies, the served connection (cap, HTTP/1, idle clock),
// the decision log and the runtime thread.
mod body;
mod conn;
mod idle;
mod log;
mod runner;

mod proxy;
mod publish;

pub use log::{Decision, Source};
pub use proxy::{
    start, start_without_listener, AllowedHost, Credentials, DecisionWatcher, ProxyHandle,
    ProxyPolicy, Purpose, StreamInjector, Upstream,
};
pub use publish::{default_csp, publish, DialServer, PublishHandle, PublishPolicy};
