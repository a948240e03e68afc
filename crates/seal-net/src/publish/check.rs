//! Which requests may reach the server inside the sandbox.
//!
//! A page on any site can make the user's browser send requests to 127.0.0.1, and a name the
//! attacker controls can be re-pointed at 127.0.0.1 after the page has loaded (DNS rebinding), so
//! that its scripts talk to the published port as "their own" origin. Neither can forge the Host
//! header (it names the attacker's domain) or the Origin header (the browser sets both), so
//! requiring this port's own names in them keeps rebound pages out entirely, and other sites'
//! posts, CORS reads and WebSockets too. Blind cross-site GETs (a link, an image) carry no Origin
//! and still arrive, as at any web server.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};

/// The Host values the port answers to, normalised for comparison.
pub(crate) struct Hosts(Vec<String>);

impl Hosts {
    pub(crate) fn new(allowed: &[String]) -> Self {
        Hosts(allowed.iter().map(|h| normalise(h)).collect())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, authority: &str) -> bool {
        let a = normalise(authority);
        self.0.contains(&a)
    }
}

/// Lower case, with the default port made explicit: a browser leaves ":80" out of both headers.
fn normalise(authority: &str) -> String {
    let a = authority.to_ascii_lowercase();
    let after_brackets = a.rsplit_once(']').map_or(a.as_str(), |(_, rest)| rest);
    if after_brackets.contains(':') {
        a
    } else {
        format!("{a}:80")
    }
}

/// `Ok` if the request may go on to the server; otherwise why not, for the user.
pub(crate) fn request<B>(req: &Request<B>, hosts: &Hosts) -> Result<(), String> {
    let uri = req.uri();
    // Browsers send only origin-form to a server; anything else would let the request name a
    // different authority from the Host header that was checked.
    if req.method() == Method::CONNECT || uri.authority().is_some() || !uri.path().starts_with('/')
    {
        return Err("the request target must be a path".into());
    }
    let h = req.headers();
    match one(h, header::HOST) {
        One::None => return Err("no Host header".into()),
        One::Many => return Err("more than one Host header".into()),
        One::Value(v) => {
            if !v.to_str().is_ok_and(|v| hosts.contains(v)) {
                return Err(format!("Host header {} is not this port's", shown(v)));
            }
        }
    }
    match one(h, header::ORIGIN) {
        One::None => {}
        One::Many => return Err("more than one Origin header".into()),
        One::Value(v) => {
            let ok = v.to_str().ok().and_then(strip_http).is_some_and(|a| {
                // An Origin is scheme://host[:port] and nothing more.
                !a.contains('/') && hosts.contains(a)
            });
            if !ok {
                return Err(format!("Origin header {} is not this port's", shown(v)));
            }
        }
    }
    // A service worker outlives the sandbox: it would keep answering for this origin, in front of
    // whatever server the user runs on the same port later, outside seal.
    if h.contains_key(HeaderName::from_static("service-worker")) {
        return Err("service worker scripts are refused: one would outlive the sandbox".into());
    }
    Ok(())
}

fn strip_http(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case("http://").then_some(rest)
}

enum One<'a> {
    None,
    Value(&'a HeaderValue),
    Many,
}

fn one(h: &HeaderMap, name: HeaderName) -> One<'_> {
    let mut all = h.get_all(name).iter();
    match (all.next(), all.next()) {
        (None, _) => One::None,
        (Some(v), None) => One::Value(v),
        _ => One::Many,
    }
}

fn shown(v: &HeaderValue) -> String {
    match v.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => "(not text)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Hosts {
        Hosts::new(&["127.0.0.1:8888".into(), "LocalHost:8888".into()])
    }

    fn req(target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::get(target);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn host_must_be_listed() {
        let h = hosts();
        assert!(request(&req("/", &[("host", "127.0.0.1:8888")]), &h).is_ok());
        assert!(request(&req("/", &[("host", "LOCALHOST:8888")]), &h).is_ok());
        for bad in [
            "127.0.0.1:8889",
            "127.0.0.1",
            "evil.example:8888",
            "localhost.:8888",
        ] {
            let e = request(&req("/", &[("host", bad)]), &h).unwrap_err();
            assert_eq!(e, format!("Host header {bad} is not this port's"));
        }
        assert_eq!(request(&req("/", &[]), &h).unwrap_err(), "no Host header");
        let two = req(
            "/",
            &[("host", "127.0.0.1:8888"), ("host", "127.0.0.1:8888")],
        );
        assert_eq!(request(&two, &h).unwrap_err(), "more than one Host header");
    }

    #[test]
    fn default_port_may_be_left_out() {
        let h = Hosts::new(&["localhost:80".into(), "[::1]".into()]);
        assert!(request(&req("/", &[("host", "localhost")]), &h).is_ok());
        assert!(request(&req("/", &[("host", "[::1]:80")]), &h).is_ok());
        assert!(request(&req("/", &[("host", "[::1]:81")]), &h).is_err());
        let o = [("host", "localhost"), ("origin", "http://localhost")];
        assert!(request(&req("/", &o), &h).is_ok());
    }

    #[test]
    fn origin_when_present_must_be_this_port() {
        let h = hosts();
        let with = |o: &str| req("/api", &[("host", "127.0.0.1:8888"), ("origin", o)]);
        assert!(request(&with("http://127.0.0.1:8888"), &h).is_ok());
        // Another of the port's own names is the same server, reached as another origin.
        assert!(request(&with("http://localhost:8888"), &h).is_ok());
        for bad in [
            "null",
            "http://evil.example",
            "https://127.0.0.1:8888",
            "http://127.0.0.1:8889",
            "http://127.0.0.1:8888/x",
            "http://",
            "",
        ] {
            let e = request(&with(bad), &h).unwrap_err();
            assert_eq!(e, format!("Origin header {bad} is not this port's"));
        }
    }

    #[test]
    fn only_origin_form() {
        let h = hosts();
        let host = [("host", "127.0.0.1:8888")];
        assert!(request(&req("http://127.0.0.1:8888/", &host), &h).is_err());
        assert!(request(&req("*", &host), &h).is_err());
        let mut c = req("/", &host);
        *c.method_mut() = Method::CONNECT;
        assert!(request(&c, &h).is_err());
    }

    #[test]
    fn service_workers_are_refused() {
        let r = req(
            "/sw.js",
            &[("host", "127.0.0.1:8888"), ("service-worker", "script")],
        );
        assert!(request(&r, &hosts())
            .unwrap_err()
            .starts_with("service worker"));
    }
}
