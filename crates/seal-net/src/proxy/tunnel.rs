//! CONNECT: policy check, dial, `200 Connection established`, then a TLS gate on the client's first
//! bytes before any of them reach the origin, then a byte copy with the idle timeout.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::allowlist::Target;
use super::dial;
use super::refuse;
use super::sni::{self, FirstBytes};
use super::Ctx;
use crate::body::ProxyBody;
use crate::conn::ConnCtx;
use crate::idle::Tracked;

pub(crate) async fn connect(
    req: Request<Incoming>,
    ctx: Arc<Ctx>,
    conn: ConnCtx,
) -> Response<ProxyBody> {
    let uri = req.uri();
    // Authority-form only ("host:port"); userinfo in a CONNECT target is never legitimate.
    let authority = match uri.authority() {
        Some(a) if uri.scheme().is_none() && !a.as_str().contains('@') => a.clone(),
        _ => {
            let shown = uri
                .authority()
                .map(|a| a.host().to_string())
                .unwrap_or_default();
            return refuse(
                &ctx,
                "CONNECT",
                &shown,
                StatusCode::BAD_REQUEST,
                "CONNECT target must be host:port",
            );
        }
    };
    let Some(port) = authority.port_u16() else {
        return refuse(
            &ctx,
            "CONNECT",
            authority.host(),
            StatusCode::BAD_REQUEST,
            "CONNECT target must be host:port",
        );
    };
    let target = Target::new(authority.host(), port);
    let shown = target.to_string();
    if let Err(reason) = ctx.allow.check(&target) {
        return refuse(&ctx, "CONNECT", &shown, StatusCode::FORBIDDEN, &reason);
    }
    ctx.log
        .record("CONNECT", &shown, true, &ctx.allow.allowed_reason());

    // Dial before answering, so the client sees 502 rather than a tunnel that dies at once.
    let outbound = match dial::tunnel(&target, ctx.upstream.as_ref(), ctx.connect_timeout).await {
        Ok(t) => t,
        Err(e) => {
            let reason = format!("could not connect: {e}");
            return refuse(&ctx, "CONNECT", &shown, StatusCode::BAD_GATEWAY, &reason);
        }
    };

    tokio::spawn(async move {
        let Ok(client) = hyper::upgrade::on(req).await else {
            return;
        };
        let idle = ctx.idle_timeout;
        let activity = conn.activity.clone();
        tokio::select! {
            () = run(TokioIo::new(client), outbound, target, ctx, conn) => {}
            () = activity.idle(idle) => {}
        }
    });

    let mut resp = Response::new(crate::body::empty());
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(
            b"Connection established",
        ));
    resp
}

async fn run(
    mut client: TokioIo<Upgraded>,
    outbound: dial::Tunnel,
    target: Target,
    ctx: Arc<Ctx>,
    conn: ConnCtx,
) {
    // `conn` holds the connection-cap permit; it is released when the tunnel ends.
    let first = match gate(&mut client, &target).await {
        Ok(Some(first)) => first,
        Ok(None) => return,
        Err(reason) => {
            ctx.log
                .record("CONNECT", &target.to_string(), false, &reason);
            return;
        }
    };
    let mut origin = Tracked::new(outbound.stream, conn.activity.clone());
    if origin.write_all(&first).await.is_err() {
        return;
    }
    if !outbound.early.is_empty() && client.write_all(&outbound.early).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut origin).await;
}

/// Reads the client's first bytes and decides whether they may go to the origin.
/// `Ok(None)`: the client closed before sending anything.
async fn gate(client: &mut TokioIo<Upgraded>, target: &Target) -> Result<Option<Vec<u8>>, String> {
    let mut buf = Vec::with_capacity(2048);
    loop {
        match sni::inspect(&buf) {
            FirstBytes::Incomplete => {
                if buf.len() >= sni::MAX_CLIENT_HELLO {
                    return Err("TLS ClientHello too large".into());
                }
                let mut chunk = [0u8; 4096];
                match client.read(&mut chunk).await {
                    Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
                    Ok(0) | Err(_) => return Err("client closed inside the TLS ClientHello".into()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            // Test indexes on a loopback IP literal are plain HTTP; everything else must be TLS.
            FirstBytes::NotTls if target.is_loopback_ip() => return Ok(Some(buf)),
            FirstBytes::NotTls => {
                return Err("not TLS: only TLS is tunnelled to named hosts".into())
            }
            FirstBytes::Malformed(why) => return Err(format!("malformed TLS ClientHello: {why}")),
            FirstBytes::ClientHello { sni: Some(name) } => {
                return if name.eq_ignore_ascii_case(&target.host) {
                    Ok(Some(buf))
                } else {
                    Err(format!(
                        "TLS SNI does not match the CONNECT host (SNI {name})"
                    ))
                };
            }
            // Clients send no SNI for IP literals (RFC 6066 forbids it); for a name it hides the real destination.
            FirstBytes::ClientHello { sni: None } if target.ip.is_some() => return Ok(Some(buf)),
            FirstBytes::ClientHello { sni: None } => {
                return Err("TLS ClientHello without SNI to a named host".into());
            }
        }
    }
}
