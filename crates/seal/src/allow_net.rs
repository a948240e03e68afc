//! Hosts a sandbox may reach by name: `seal run --allow-net HOST[:PORT]` (and `[run] allow_net`),
//! and the install's `--allow-host`, which take the same form. A run with named hosts gets the
//! install phase's host-side proxy (seal-net, [`seal_net::Purpose::Egress`]) behind a listener on
//! its own loopback, and the variables that point HTTP clients at it; nothing else leaves the
//! sandbox's network namespace.

use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Deserializer};

/// The port of the proxy on the sandbox's own loopback.
pub const PROXY_PORT: u16 = 3128;

/// One host the sandbox may reach: a DNS name, `*.NAME` (every subdomain of NAME), or an IP
/// literal, and a port (443 unless given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetTarget {
    /// Lower-case name, `*.name`, or an IP literal without brackets.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for NetTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for NetTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse(s)
    }
}

impl<'de> Deserialize<'de> for NetTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::values::from_text(d)
    }
}

/// `HOST`, `HOST:PORT`, `*.NAME[:PORT]`, `IPV4[:PORT]`, `[IPV6][:PORT]` or a bare IPv6 address.
pub fn parse(s: &str) -> Result<NetTarget, String> {
    let t = s.trim();
    let err = |why: &str| format!("{s:?}: {why}");
    if t.contains("://") {
        return Err(err(
            "expected HOST[:PORT], not a URL (e.g. api.example.com or api.example.com:8443)",
        ));
    }
    if t.contains('/') {
        return Err(err(
            "address ranges and paths are not accepted; name each host (HOST[:PORT])",
        ));
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| err("unclosed [ in an IPv6 address"))?;
        match after {
            "" => (h, None),
            _ => (
                h,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| err("expected :PORT after ]"))?,
                ),
            ),
        }
    } else if t.matches(':').count() > 1 {
        // A bare IPv6 address: no port can follow without brackets.
        (t, None)
    } else {
        match t.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (t, None),
        }
    };
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| err("the port must be a number from 1 to 65535"))?,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(err("not an address a connection can be made to"));
        }
        return Ok(NetTarget {
            host: ip.to_string(),
            port,
        });
    }
    if t.starts_with('[') {
        return Err(err("not an IPv6 address"));
    }
    let name = host.to_ascii_lowercase();
    let (wild, bare) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name.as_str()),
    };
    let labels: Vec<&str> = bare.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if bare.is_empty() || bare.len() > 253 || !labels.iter().all(label_ok) {
        return Err(err(if name.contains('*') && !wild {
            "a wildcard may only be a leading *. (e.g. *.example.com)"
        } else {
            "not a host name or IP address"
        }));
    }
    if wild && labels.len() < 2 {
        return Err(err(
            "a wildcard too wide: it would match nearly every host; name a domain of two labels or more (*.example.com)",
        ));
    }
    Ok(NetTarget { host: name, port })
}

/// The proxy a run with `--allow-net` gets. Every decision goes to `print` as it is made (the
/// caller shows refusals, and with -v the allowed ones, while the program runs).
pub fn proxy_policy(
    targets: &[NetTarget],
    print: Arc<dyn Fn(&seal_net::Decision) + Send + Sync>,
) -> Result<seal_net::ProxyPolicy> {
    Ok(seal_net::ProxyPolicy {
        allowed: targets
            .iter()
            .map(|t| seal_net::AllowedHost::new(&t.host, t.port))
            .collect(),
        purpose: seal_net::Purpose::Egress,
        watcher: Some(seal_net::DecisionWatcher(print)),
        // seal's own upstream proxy (HTTPS_PROXY in seal's environment), as for the index.
        upstream: seal_net::Upstream::from_env().map_err(|e| anyhow!("HTTPS_PROXY: {e}"))?,
        connect_timeout: Duration::from_secs(30),
        // Long polls and streamed model answers sit idle for a while.
        idle_timeout: Duration::from_secs(600),
        max_connections: 64,
    })
}

/// The variables that send HTTP clients inside to the proxy. In-sandbox loopback stays direct
/// (a program's own test server), except for a loopback name the user allowed, which then
/// means the host's (`--allow-net localhost:11434` for a model server on the host).
pub fn environment(targets: &[NetTarget]) -> Vec<(OsString, OsString)> {
    let url = format!("http://127.0.0.1:{PROXY_PORT}");
    let direct: Vec<&str> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .filter(|d| !targets.iter().any(|t| t.host == *d))
        .collect();
    let no_proxy = direct.join(",");
    let mut env = Vec::new();
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        env.push((k.into(), url.clone().into()));
    }
    for k in ["NO_PROXY", "no_proxy"] {
        env.push((k.into(), no_proxy.clone().into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16) {
        let t = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (t.host, t.port)
    }

    #[test]
    fn forms_that_name_one_host() {
        assert_eq!(ok("api.Example.com"), ("api.example.com".into(), 443));
        assert_eq!(ok("api.example.com:8443"), ("api.example.com".into(), 8443));
        assert_eq!(ok("localhost:11434"), ("localhost".into(), 11434));
        assert_eq!(ok("*.blob.example.com"), ("*.blob.example.com".into(), 443));
        assert_eq!(ok("10.1.2.3:5432"), ("10.1.2.3".into(), 5432));
        assert_eq!(ok("[::1]:8080"), ("::1".into(), 8080));
        assert_eq!(ok("[fd00::5]"), ("fd00::5".into(), 443));
        assert_eq!(ok("fd00::5"), ("fd00::5".into(), 443));
        assert_eq!(parse("[::1]:8080").unwrap().to_string(), "[::1]:8080");
    }

    #[test]
    fn forms_that_are_refused_with_a_reason() {
        for (s, why) in [
            ("", "not a host name"),
            ("*", "leading *."),
            ("*.com", "too wide"),
            ("*.*.example.com", "not a host name"),
            ("api.*.example.com", "leading *."),
            ("https://api.example.com", "not a URL"),
            ("10.0.0.0/8", "ranges"),
            ("example.com:0", "port"),
            ("example.com:http", "port"),
            ("example.com:70000", "port"),
            ("0.0.0.0", "not an address"),
            ("[::]:80", "not an address"),
            ("exa mple.com", "not a host name"),
            ("-bad.example.com", "not a host name"),
            ("[::1", "unclosed"),
        ] {
            let e = parse(s).expect_err(s);
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn loopback_names_allowed_go_through_the_proxy() {
        let env = |targets: &[&str]| {
            let t: Vec<NetTarget> = targets.iter().map(|s| parse(s).unwrap()).collect();
            environment(&t)
                .into_iter()
                .find(|(k, _)| k == "NO_PROXY")
                .unwrap()
                .1
                .into_string()
                .unwrap()
        };
        assert_eq!(env(&["api.example.com"]), "localhost,127.0.0.1,::1");
        assert_eq!(env(&["localhost:11434"]), "127.0.0.1,::1");
        assert_eq!(env(&["127.0.0.1:8000", "[::1]:9"]), "localhost");
    }
}
