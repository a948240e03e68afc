//! Request dispatch and plain HTTP forwarding: absolute-form requests to an allowed host; for an
//! index only GET/HEAD without a body, for a run's named hosts any method with its body.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;

use super::allowlist::{Purpose, Target};
use super::dial;
use super::tunnel;
use super::{refuse, Ctx};
use crate::body::{shown, strip_hop_by_hop, ProxyBody};
use crate::conn::ConnCtx;
use crate::idle::Tracked;

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
    let downloads_only = ctx.allow.purpose() == Purpose::Index;
    if downloads_only && method != Method::GET && method != Method::HEAD {
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
        return refuse(ctx, m, &target_str, StatusCode::FORBIDDEN, &reason);
    }
    // A GET with a body is an upload in disguise.
    if downloads_only && !req.body().is_end_stream() {
        return refuse(
            ctx,
            m,
            &target_str,
            StatusCode::FORBIDDEN,
            "request bodies are refused",
        );
    }
    ctx.log
        .record(m, &target_str, true, &ctx.allow.allowed_reason());

    let out = match outbound(req, &target, ctx, !downloads_only) {
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
    with_body: bool,
) -> Result<Request<OutBody>, &'static str> {
    let (parts, body) = req.into_parts();
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

    let body = if with_body {
        body.map_err(Into::into).boxed_unsync()
    } else {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    };
    let mut out = Request::new(body);
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

/// A forwarded request's body: the client's, streamed, or none.
type OutBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

async fn send(
    out: Request<OutBody>,
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
