//! Forwarding an accepted request to the server inside the sandbox, over the one upstream
//! connection that belongs to the client's connection; protocol upgrades become a byte splice.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::Ctx;
use crate::body::{strip_hop_by_hop, text, ProxyBody};
use crate::conn::ConnCtx;
use crate::idle::Tracked;
use crate::log::sanitize;

/// The upstream connection of one client connection; opened on the first request, re-opened
/// when the server has closed it.
#[derive(Default)]
pub(crate) struct Upstream(Mutex<Option<SendRequest<Incoming>>>);

impl Upstream {
    fn take(&self) -> Option<SendRequest<Incoming>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, s: SendRequest<Incoming>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
}

enum Failure {
    /// The connector's error; it is worded for the user.
    Connect(io::Error),
    Lost(hyper::Error),
}

pub(crate) async fn forward(
    mut req: Request<Incoming>,
    ctx: &Ctx,
    conn: &ConnCtx,
    upstream: &Upstream,
) -> Response<ProxyBody> {
    let upgrade = upgrade_wanted(&req);
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    let mut out = Request::new(body);
    *out.method_mut() = parts.method;
    *out.uri_mut() = parts.uri;
    *out.headers_mut() = headers;

    let (mut resp, sender) = match send(out, ctx, conn, upstream).await {
        Ok(x) => x,
        Err(Failure::Connect(e)) => {
            return text(
                StatusCode::BAD_GATEWAY,
                &format!("seal: {}", sanitize(&e.to_string())),
            )
        }
        Err(Failure::Lost(e)) => {
            let line = format!("seal: lost the connection to the server inside the sandbox: {e}");
            return text(StatusCode::BAD_GATEWAY, &sanitize(&line));
        }
    };

    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        upstream.put(sender);
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        return Response::from_parts(parts, body.boxed());
    }
    // The upstream connection now belongs to the splice; the next request opens a new one.
    drop(sender);
    let Some(client) = client_upgrade else {
        let line = "seal: the server inside the sandbox switched protocols unasked";
        return text(StatusCode::BAD_GATEWAY, line);
    };
    let server = hyper::upgrade::on(&mut resp);
    tokio::spawn(splice(client, server, conn.clone(), ctx.idle_timeout));
    let (mut parts, _body) = resp.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(p) = protocol {
        parts.headers.insert(header::UPGRADE, p);
    }
    Response::from_parts(parts, crate::body::empty())
}

/// The protocol an HTTP/1.1 request asks to switch to (RFC 9110 7.8), if it asks.
fn upgrade_wanted<B>(req: &Request<B>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 || !has_token(req.headers(), "upgrade") {
        return None;
    }
    req.headers().get(header::UPGRADE).cloned()
}

fn has_token(h: &HeaderMap, token: &str) -> bool {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Sends `req` upstream, re-using the client connection's upstream connection when it is still
/// open. A request the server closed on before any of it was written is retried once on a fresh
/// connection: servers close idle keep-alive connections whenever they like.
async fn send(
    mut req: Request<Incoming>,
    ctx: &Ctx,
    conn: &ConnCtx,
    upstream: &Upstream,
) -> Result<(Response<Incoming>, SendRequest<Incoming>), Failure> {
    let mut kept = upstream.take();
    let mut retried = false;
    loop {
        let reusable = match kept.take() {
            Some(s) => ready(s).await,
            None => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            None => open(ctx, conn).await.map_err(Failure::Connect)?,
        };
        match sender.try_send_request(req).await {
            Ok(resp) => return Ok((resp, sender)),
            Err(mut e) => match e.take_message() {
                Some(r) if !retried => {
                    retried = true;
                    req = r;
                }
                _ => return Err(Failure::Lost(e.into_error())),
            },
        }
    }
}

/// Whether a kept connection can take the next request. HTTP/1 readiness follows the end of the
/// previous response; a connection that does not get there soon is replaced rather than waited on.
async fn ready(mut s: SendRequest<Incoming>) -> Option<SendRequest<Incoming>> {
    match tokio::time::timeout(Duration::from_secs(2), s.ready()).await {
        Ok(Ok(())) => Some(s),
        _ => None,
    }
}

async fn open(ctx: &Ctx, conn: &ConnCtx) -> io::Result<SendRequest<Incoming>> {
    let connect = ctx.connect.clone();
    let stream = tokio::task::spawn_blocking(move || connect())
        .await
        .map_err(|_| io::Error::other("the connector to the sandbox failed"))??;
    stream.set_nonblocking(true)?;
    let _ = stream.set_nodelay(true);
    let stream = tokio::net::TcpStream::from_std(stream)?;
    let io = TokioIo::new(Tracked::new(stream, conn.activity.clone()));
    let (sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    // Driven while responses stream back; ends when the sender is dropped with the client
    // connection, or hands its socket to a splice. The watchdog covers a server that stalls.
    let (activity, idle) = (conn.activity.clone(), ctx.idle_timeout);
    tokio::spawn(async move {
        tokio::select! {
            _ = connection.with_upgrades() => {}
            () = activity.idle(idle) => {}
        }
    });
    Ok(sender)
}

/// Copies bytes both ways between the browser and the server once both sides have switched
/// protocols. `conn` keeps the client's slot under the cap until the splice ends.
async fn splice(client: OnUpgrade, server: OnUpgrade, conn: ConnCtx, idle: Duration) {
    let activity = conn.activity.clone();
    let copy = async move {
        let (Ok(client), Ok(server)) = tokio::join!(client, server) else {
            return;
        };
        let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        drop(conn);
    };
    tokio::select! {
        () = copy => {}
        () = activity.idle(idle) => {}
    }
}
