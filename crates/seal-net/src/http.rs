//! Request dispatch and plain HTTP forwarding (absolute-form GET/HEAD only, no request bodies).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;

use crate::dial;
use crate::idle::Tracked;
use crate::log::DecisionLog;
use crate::policy::Target;
use crate::server::{ConnCtx, Ctx};
use crate::tunnel;

pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub(crate) fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
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

/// [`refuse`] for any service's log.
pub(crate) fn refusal(
    log: &DecisionLog,
    method: &str,
    target: &str,
    status: StatusCode,
    reason: &str,
) -> Response<ProxyBody> {
    let line = log.record(method, target, false, reason);
    let mut resp = text(status, &line.to_string());
    // A refused request may still have a body on the wire; do not try to reuse the connection.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A plain-text response of one line.
pub(crate) fn text(status: StatusCode, line: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(format!("{line}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) async fn handle(
    req: Request<Incoming>,
    ctx: Arc<Ctx>,
    conn: ConnCtx,
) -> Result<Response<ProxyBody>, Infallible> {
    if req.method() == Method::CONNECT {
        Ok(tunnel::connect(req, ctx, conn).await)
    } else {
        Ok(forward(req, &ctx, &conn).await)
    }
}

/// Where a plain request goes, for the log: scheme, host, port and path; never userinfo or the
/// query string (either may hold a token).
pub(crate) fn shown(uri: &Uri) -> String {
    match uri.authority() {
        Some(a) => {
            let port = a.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            let scheme = uri.scheme_str().unwrap_or("http");
            format!("{scheme}://{}{port}{}", a.host(), uri.path())
        }
        None => uri.path().to_string(),
    }
}

async fn forward(req: Request<Incoming>, ctx: &Ctx, conn: &ConnCtx) -> Response<ProxyBody> {
    let method = req.method().clone();
    let m = method.as_str();
    let uri = req.uri().clone();
    let target_str = shown(&uri);

    let Some(authority) = uri.authority().cloned() else {
        let reason =
            "origin-form request: this is a proxy, send an absolute http:// URI or CONNECT";
        return refuse(ctx, m, &target_str, StatusCode::BAD_REQUEST, reason);
    };
    if method != Method::GET && method != Method::HEAD {
        let reason = match method {
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE => {
                "upload methods are refused"
            }
            _ => "only GET, HEAD and CONNECT are proxied",
        };
        return refuse(ctx, m, &target_str, StatusCode::METHOD_NOT_ALLOWED, reason);
    }
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        let reason = "only http:// URIs are forwarded; use CONNECT for https";
        return refuse(ctx, m, &target_str, StatusCode::BAD_REQUEST, reason);
    }
    let target = Target::new(authority.host(), authority.port_u16().unwrap_or(80));
    if let Err(reason) = ctx.allow.check(&target) {
        return refuse(ctx, m, &target_str, StatusCode::FORBIDDEN, reason);
    }
    // A GET with a body is an upload in disguise.
    if !req.body().is_end_stream() {
        return refuse(
            ctx,
            m,
            &target_str,
            StatusCode::FORBIDDEN,
            "request bodies are refused",
        );
    }
    ctx.log
        .record(m, &target_str, true, "in the index allowlist");

    let out = match outbound(req, &target, ctx) {
        Ok(r) => r,
        Err(reason) => return refuse(ctx, m, &target_str, StatusCode::BAD_REQUEST, reason),
    };
    match send(out, &target, ctx, conn).await {
        Ok(resp) => resp,
        Err(e) => {
            let reason = format!("could not fetch: {e}");
            refuse(ctx, m, &target_str, StatusCode::BAD_GATEWAY, &reason)
        }
    }
}

/// The request as it goes out: origin-form to the origin, or absolute-form (without userinfo) to an
/// upstream proxy; hop-by-hop and Proxy-* headers removed; Host taken from the URI, which is what
/// the policy checked.
fn outbound(
    req: Request<Incoming>,
    target: &Target,
    ctx: &Ctx,
) -> Result<Request<Empty<Bytes>>, &'static str> {
    let (parts, _body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let host = if target.port == 80 {
        host_for_header(target)
    } else {
        format!("{}:{}", host_for_header(target), target.port)
    };
    let uri_str = match ctx.upstream {
        Some(_) => format!("http://{host}{pq}"),
        None => pq.to_string(),
    };
    let uri: Uri = uri_str
        .parse()
        .map_err(|_| "request target cannot be re-encoded")?;

    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&host).map_err(|_| "bad host")?,
    );
    // One origin connection per request keeps the proxy simple; say so.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(auth) = ctx.upstream.as_ref().and_then(|u| u.authorization()) {
        let mut v = HeaderValue::from_str(&auth).map_err(|_| "bad upstream credentials")?;
        v.set_sensitive(true);
        headers.insert(header::PROXY_AUTHORIZATION, v);
    }

    let mut out = Request::new(Empty::new());
    *out.method_mut() = parts.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    Ok(out)
}

fn host_for_header(t: &Target) -> String {
    match t.ip {
        Some(std::net::IpAddr::V6(_)) => format!("[{}]", t.host),
        _ => t.host.clone(),
    }
}

async fn send(
    out: Request<Empty<Bytes>>,
    target: &Target,
    ctx: &Ctx,
    conn: &ConnCtx,
) -> std::io::Result<Response<ProxyBody>> {
    let stream = dial::http(target, ctx.upstream.as_ref(), ctx.connect_timeout).await?;
    let io = TokioIo::new(Tracked::new(stream, conn.activity.clone()));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(std::io::Error::other)?;
    // The origin connection must be driven while the response body streams back. It ends with the
    // body; the watchdog (on the clock this connection shares with the client's) covers an origin
    // that stalls after the client has gone.
    let (activity, idle) = (conn.activity.clone(), ctx.idle_timeout);
    tokio::spawn(async move {
        tokio::select! {
            _ = connection => {}
            () = activity.idle(idle) => {}
        }
    });
    let resp = sender
        .send_request(out)
        .await
        .map_err(std::io::Error::other)?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body.boxed()))
}

/// RFC 9110 7.6.1: hop-by-hop headers, those named in Connection, and any Proxy-* header
/// (Proxy-Authorization must never leak to an origin).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(n);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for n in proxy {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_proxy_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret-Hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            "proxy-authorization",
            HeaderValue::from_static("Basic eA=="),
        );
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("proxy-whatever", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("accept", HeaderValue::from_static("text/html"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer end-to-end"),
        );
        strip_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str().to_string()).collect();
        left.sort();
        assert_eq!(left, ["accept", "authorization"]);
    }

    #[test]
    fn shown_drops_userinfo_and_query() {
        let u: Uri = "http://user:pw@127.0.0.1:8765/simple/pkg/?token=abc"
            .parse()
            .unwrap();
        assert_eq!(shown(&u), "http://127.0.0.1:8765/simple/pkg/");
    }
}
