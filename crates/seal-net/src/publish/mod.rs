//! A published port: host 127.0.0.1:HOSTPORT forwarded, as HTTP/1.1, to a server on the
//! sandbox's own loopback. The server is untrusted and the client is the user's browser, so the
//! bridge guards the browser side: only requests addressed to this port by name (Host and Origin)
//! reach the server, and every response carries a Content-Security-Policy that keeps the pages'
//! scripts from talking to any other origin.
//!
//! The server's own policy and reporting headers never reach the browser (see [`guard`]): report
//! requests are not governed by CSP, so a `report-uri`, `report-to` or reporting endpoint named
//! by the server would be a way out. Seal's policy names no report endpoint.

mod check;
mod csp;
mod forward;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use csp::default_csp;

use crate::body::{refusal, shown, ProxyBody};
use crate::conn::{self, Cap, ConnCtx};
use crate::log::{Decision, DecisionLog, Source};
use crate::runner::Runner;

/// Opens a connection to the server inside the sandbox. It may block; it runs on tokio's blocking
/// pool. Its error text is shown to the user after `seal: `, e.g.
/// `nothing is listening on port 8888 inside the sandbox`.
pub type DialServer = Arc<dyn Fn() -> io::Result<std::net::TcpStream> + Send + Sync>;

/// What a published port lets through.
#[derive(Clone, Debug)]
pub struct PublishPolicy {
    /// Host header values accepted, e.g. `["127.0.0.1:8888", "localhost:8888"]`, compared without
    /// regard to case; a value without a port stands for port 80. Origin, when sent, must be
    /// `http://` and one of these.
    pub allowed_hosts: Vec<String>,
    /// Content-Security-Policy set on every response, in place of any the server sends (the
    /// server's are always removed, see [`guard`]). It must not name a report endpoint
    /// (`report-uri`, `report-to`): reports go wherever it says, whatever the policy allows.
    /// `None` sets none, and the responses then carry no policy at all.
    pub csp: Option<String>,
    /// Browser connections served at once; upgraded ones (WebSockets) count until they close.
    pub max_connections: usize,
    /// A connection with no bytes moving in either direction for this long is closed.
    pub idle_timeout: Duration,
}

impl PublishPolicy {
    /// For a page the user opens as `http://127.0.0.1:PORT` or `http://localhost:PORT`, with
    /// [`default_csp`]. Jupyter's server pings its WebSockets every 30 s by default, well inside the
    /// idle timeout; the cap leaves room for many notebook tabs, each holding a WebSocket.
    pub fn new(host_port: u16) -> Self {
        let allowed_hosts = vec![
            format!("127.0.0.1:{host_port}"),
            format!("localhost:{host_port}"),
        ];
        let origins: Vec<String> = allowed_hosts
            .iter()
            .map(|h| format!("http://{h}"))
            .collect();
        PublishPolicy {
            allowed_hosts,
            csp: Some(default_csp(&origins)),
            max_connections: 256,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// A running published port. [`PublishHandle::stop`] or dropping it stops the bridge and closes
/// every connection, WebSockets included.
pub struct PublishHandle {
    runner: Runner,
    log: DecisionLog,
}

impl PublishHandle {
    /// Every refusal so far, oldest first. Requests let through are not recorded: a notebook
    /// makes thousands.
    pub fn decisions(&self) -> Vec<Decision> {
        self.log.snapshot()
    }

    /// The refusals as lines for the user, e.g. `seal: publish refused GET / from
    /// 127.0.0.1:5555: Host header evil.example:8888 is not this port's`.
    pub fn decision_lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Stops accepting, closes open connections, and waits for the bridge's thread. Idempotent;
    /// the decisions stay readable afterwards.
    pub fn stop(&mut self) {
        self.runner.stop();
    }
}

pub(crate) struct Ctx {
    connect: DialServer,
    hosts: check::Hosts,
    csp: Option<HeaderValue>,
    idle_timeout: Duration,
    log: DecisionLog,
}

/// Serves `listener` (the host side, e.g. 127.0.0.1:8888) on a dedicated thread with a
/// current-thread tokio runtime, forwarding each browser connection over its own connection from
/// `connect`. Fails if the policy is unusable (no allowed host, a CSP that is not a header value
/// or names a report endpoint, zero connection cap) or the runtime cannot be built.
pub fn publish(
    listener: std::net::TcpListener,
    connect: DialServer,
    policy: PublishPolicy,
) -> io::Result<PublishHandle> {
    let invalid =
        |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("seal-net: {why}"));
    if policy.max_connections == 0 {
        return Err(invalid("max_connections is 0"));
    }
    let hosts = check::Hosts::new(&policy.allowed_hosts);
    if hosts.is_empty() {
        return Err(invalid("a published port needs at least one allowed Host"));
    }
    let csp = match &policy.csp {
        Some(c) if csp::names_report_endpoint(c) => return Err(invalid(
            "the Content-Security-Policy must not name a report endpoint (report-uri, report-to)",
        )),
        Some(c) => Some(
            HeaderValue::from_str(c)
                .map_err(|_| invalid("the Content-Security-Policy is not a valid header value"))?,
        ),
        None => None,
    };
    let log = DecisionLog::new(Source::Publish);
    let ctx = Arc::new(Ctx {
        connect,
        hosts,
        csp,
        idle_timeout: policy.idle_timeout,
        log: log.clone(),
    });
    let max = policy.max_connections;
    let runner = Runner::start("seal-net-publish", Some(listener), move |l, stop| {
        serve(l, ctx, max, stop)
    })?;
    Ok(PublishHandle { runner, log })
}

async fn serve(
    listener: Option<TcpListener>,
    ctx: Arc<Ctx>,
    max: usize,
    mut stop: oneshot::Receiver<()>,
) {
    let mut extra = String::from("Cache-Control: no-store\r\n");
    if let Some(csp) = ctx.csp.as_ref().and_then(|v| v.to_str().ok()) {
        extra.push_str(&format!("Content-Security-Policy: {csp}\r\n"));
    }
    let cap = Cap::new(max, Source::Publish, &extra);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            (stream, peer) = conn::accept(listener.as_ref()) => {
                let peer = peer.to_string();
                if let Some((stream, conn)) = cap.admit(stream, &peer, &ctx.log) {
                    tokio::spawn(serve_conn(stream, peer, ctx.clone(), conn));
                }
            }
        }
    }
}

async fn serve_conn(stream: tokio::net::TcpStream, peer: String, ctx: Arc<Ctx>, conn: ConnCtx) {
    let upstream = Arc::new(forward::Upstream::default());
    let (svc_ctx, svc_conn, svc_peer) = (ctx.clone(), conn.clone(), Arc::<str>::from(&*peer));
    let handler = move |req| {
        handle(
            req,
            svc_ctx.clone(),
            svc_conn.clone(),
            upstream.clone(),
            svc_peer.clone(),
        )
    };
    conn::serve_http(stream, &conn, ctx.idle_timeout, &ctx.log, &peer, handler).await;
}

async fn handle(
    req: Request<Incoming>,
    ctx: Arc<Ctx>,
    conn: ConnCtx,
    upstream: Arc<forward::Upstream>,
    peer: Arc<str>,
) -> Result<Response<ProxyBody>, Infallible> {
    let mut resp = match check::request(&req, &ctx.hosts) {
        Ok(()) => forward::forward(req, &ctx, &conn, &upstream).await,
        Err(reason) => {
            let target = format!("{} from {peer}", shown(req.uri()));
            let m = req.method().as_str();
            refusal(&ctx.log, m, &target, StatusCode::FORBIDDEN, &reason)
        }
    };
    guard(resp.headers_mut(), ctx.csp.as_ref());
    Ok(resp)
}

/// Response headers of the server's that are removed, whatever their value. Each can make the
/// browser send a report, on its own, to a URL the header names; reports are not governed by CSP
/// (neither `connect-src` nor `default-src` applies to them), so any of them would let a page put
/// data (in its URL, say, via `history.replaceState`) into a request to another origin.
///
/// - `Content-Security-Policy` (and the prefixed `X-Content-Security-Policy`, `X-WebKit-CSP` of
///   older browsers): a `report-uri` or `report-to` directive makes every violation, which the
///   page can cause at will, a POST carrying the document's URL. Seal's own policy is the
///   guarantee (its `frame-ancestors 'self'` included); a server's could only narrow it, so it
///   is dropped whole rather than edited.
/// - `Content-Security-Policy-Report-Only`: the same reports, without blocking anything.
/// - `Reporting-Endpoints`, `Report-To`: name the endpoints that `report-to` directives and
///   `Cross-Origin-Opener-Policy`, `Cross-Origin-Embedder-Policy`, `Permissions-Policy` and
///   `Document-Policy` report to, and the `default` one for deprecation, intervention and crash
///   reports. Without them those headers pass unchanged but have nowhere to send a report.
/// - `NEL`: Network Error Logging, whose reports go to a `Report-To` group and whose policy the
///   browser keeps for the origin after the run.
/// - `X-XSS-Protection`: `report=URL` made older Chrome report its XSS filter's findings there.
///
/// A `<meta http-equiv="Content-Security-Policy">` in a page needs no removing: browsers ignore
/// `report-uri`, `report-to` (and `frame-ancestors`, `sandbox`) in a policy delivered that way,
/// per CSP Level 3, and no reporting header can be given by `<meta>` at all.
const SERVER_HEADERS_REMOVED: [&str; 8] = [
    "content-security-policy",
    "content-security-policy-report-only",
    "x-content-security-policy",
    "x-webkit-csp",
    "report-to",
    "reporting-endpoints",
    "nel",
    "x-xss-protection",
];

/// What every response gets, whoever wrote it.
///
/// The headers in [`SERVER_HEADERS_REMOVED`] are removed, every copy of each, so the only
/// Content-Security-Policy the browser receives is seal's, once.
///
/// `Cache-Control: no-store` replaces the server's caching: a script cached from this origin would
/// be run again by the next server on the same port, outside the sandbox (a later unsandboxed
/// Jupyter would run the sandboxed one's code with the user's rights). Reloads cost a re-fetch
/// from loopback.
///
/// `X-Content-Type-Options: nosniff` is not added: it protects a site from content it serves but
/// did not write, and here the server writes all of it and picks every Content-Type already;
/// it could only break servers that label their scripts loosely.
fn guard(h: &mut HeaderMap, csp: Option<&HeaderValue>) {
    for name in SERVER_HEADERS_REMOVED {
        h.remove(name);
    }
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
