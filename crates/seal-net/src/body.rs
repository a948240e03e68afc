//! Response bodies and header handling shared by the egress proxy and published ports.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

use crate::log::DecisionLog;

pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

pub(crate) fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Logs a refusal in `log` and builds the matching response; the body is the same line the
/// user sees.
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
