//! What the proxy may reach: a (host, port) allowlist (exact names and IP literals, or every
//! subdomain of a name), what it serves (an index or a run's named hosts), timeouts and the
//! connection cap.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::upstream::Upstream;
use crate::log::Decision;

/// One destination the sandbox may reach: a DNS name, `*.NAME` (every subdomain of NAME, at
/// any depth, but not NAME itself), or an IP literal, and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    pub host: String,
    pub port: u16,
}

impl AllowedHost {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        AllowedHost {
            host: host.into(),
            port,
        }
    }
}

/// What the proxy is for; it decides what plain HTTP may carry and how refusals read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The install sandbox's package index: downloads only (plain GET/HEAD without a body).
    Index,
    /// A run's named hosts (`seal run --allow-net`): any method, request bodies included, since
    /// the user named the host for the program to talk to.
    Egress,
}

impl Purpose {
    /// The list a refusal names: "host not in the index allowlist".
    fn list(self) -> &'static str {
        match self {
            Purpose::Index => "the index allowlist",
            Purpose::Egress => "--allow-net",
        }
    }
}

/// Called with every decision as it is made (e.g. to print refusals while the program runs).
#[derive(Clone)]
pub struct DecisionWatcher(pub Arc<dyn Fn(&Decision) + Send + Sync>);

impl fmt::Debug for DecisionWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecisionWatcher")
    }
}

/// Everything the proxy needs to decide and to dial.
#[derive(Clone, Debug)]
pub struct ProxyPolicy {
    pub allowed: Vec<AllowedHost>,
    pub purpose: Purpose,
    /// Sees every decision as it is recorded.
    pub watcher: Option<DecisionWatcher>,
    /// Chain every outbound connection through this HTTP proxy (CONNECT for tunnels, absolute-form for GET).
    pub upstream: Option<Upstream>,
    /// Covers name resolution plus the TCP connect (and the upstream's CONNECT answer, when chained).
    pub connect_timeout: Duration,
    /// A connection with no bytes moving in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Client connections served at once; tunnels count until they close.
    pub max_connections: usize,
}

impl ProxyPolicy {
    /// A policy with the given allowlist and defaults sized for pip: large wheels can stall briefly, so
    /// the idle timeout is generous; 64 connections is well above pip's or uv's parallelism.
    pub fn new(allowed: Vec<AllowedHost>) -> Self {
        ProxyPolicy {
            allowed,
            purpose: Purpose::Index,
            watcher: None,
            upstream: None,
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(120),
            max_connections: 64,
        }
    }
}

/// A destination taken from a request, already split and normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Lower-case name, or an IP literal without brackets.
    pub host: String,
    pub port: u16,
    pub ip: Option<IpAddr>,
}

impl Target {
    /// `host` may carry IPv6 brackets, as in a URI authority; they are not part of the address.
    pub fn new(host: &str, port: u16) -> Self {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip = bare.parse::<IpAddr>().ok();
        let host = match ip {
            Some(ip) => ip.to_string(),
            None => bare.to_ascii_lowercase(),
        };
        Target { host, port, ip }
    }

    /// Test indexes on loopback speak plain HTTP inside CONNECT; nothing else may.
    pub fn is_loopback_ip(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(_)) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// One allowlist entry in matching form.
#[derive(Clone, Debug)]
enum Entry {
    /// A name or an IP literal, matched exactly.
    Exact(Target),
    /// `*.NAME`: names ending in `.NAME` (kept with its leading dot, lower-case).
    Subdomains { suffix: String, port: u16 },
}

impl Entry {
    fn parse(a: &AllowedHost) -> std::io::Result<Entry> {
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("seal-net: allowlist entry {:?}:{} {why}", a.host, a.port),
            )
        };
        if a.host.is_empty() || a.port == 0 {
            return Err(bad("is not a host and port"));
        }
        let Some(rest) = a.host.strip_prefix("*.") else {
            if a.host.contains('*') {
                return Err(bad("has a wildcard that is not a leading `*.`"));
            }
            return Ok(Entry::Exact(Target::new(&a.host, a.port)));
        };
        // `*` alone, `*.com` or `*.*.x` would open (nearly) everything.
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.contains('*')) {
            return Err(bad(
                "is a wildcard too wide: `*.` must be followed by a name of two labels or more",
            ));
        }
        if rest.parse::<IpAddr>().is_ok() {
            return Err(bad("puts a wildcard before an IP address"));
        }
        Ok(Entry::Subdomains {
            suffix: format!(".{}", rest.to_ascii_lowercase()),
            port: a.port,
        })
    }

    /// Whether this entry names `t`'s host (whatever the port).
    fn names(&self, t: &Target) -> bool {
        match self {
            Entry::Exact(e) => match (e.ip, t.ip) {
                (Some(a), Some(b)) => a == b,
                (None, None) => e.host == t.host,
                _ => false,
            },
            Entry::Subdomains { suffix, .. } => {
                t.ip.is_none() && t.host.len() > suffix.len() && t.host.ends_with(suffix.as_str())
            }
        }
    }

    fn port(&self) -> u16 {
        match self {
            Entry::Exact(e) => e.port,
            Entry::Subdomains { port, .. } => *port,
        }
    }
}

/// The allowlist in the form the proxy matches against.
#[derive(Clone, Debug)]
pub(crate) struct Allowlist {
    entries: Vec<Entry>,
    purpose: Purpose,
}

impl Allowlist {
    pub(crate) fn new(allowed: &[AllowedHost], purpose: Purpose) -> std::io::Result<Self> {
        let entries = allowed.iter().map(Entry::parse).collect::<Result<_, _>>()?;
        Ok(Allowlist { entries, purpose })
    }

    pub(crate) fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The reason an allowed request is logged with: "in the index allowlist".
    pub(crate) fn allowed_reason(&self) -> String {
        format!("in {}", self.purpose.list())
    }

    /// A name never matches an IP literal and vice versa, so listing "localhost" does not open
    /// "127.0.0.1" (or anything else that name might resolve to) as a literal.
    pub(crate) fn check(&self, t: &Target) -> Result<(), String> {
        let mut hosts = self.entries.iter().filter(|e| e.names(t)).peekable();
        let list = self.purpose.list();
        if hosts.peek().is_none() {
            return Err(format!("host not in {list}"));
        }
        if hosts.any(|e| e.port() == t.port) {
            Ok(())
        } else {
            Err(format!("port not in {list} for this host"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Allowlist {
        Allowlist::new(
            &[
                AllowedHost::new("PyPI.org", 443),
                AllowedHost::new("127.0.0.1", 8765),
                AllowedHost::new("[::1]", 9000),
            ],
            Purpose::Index,
        )
        .unwrap()
    }

    #[test]
    fn names_match_case_insensitively_and_exactly() {
        let l = list();
        assert!(l.check(&Target::new("pypi.org", 443)).is_ok());
        assert!(l.check(&Target::new("PYPI.ORG", 443)).is_ok());
        assert!(l.check(&Target::new("files.pypi.org", 443)).is_err());
        assert!(l.check(&Target::new("pypi.org.", 443)).is_err());
        assert!(l.check(&Target::new("pypi.org.evil", 443)).is_err());
        assert_eq!(
            l.check(&Target::new("pypi.org", 80)),
            Err("port not in the index allowlist for this host".to_string())
        );
    }

    #[test]
    fn ip_literals_match_only_as_literals() {
        let l = list();
        assert!(l.check(&Target::new("127.0.0.1", 8765)).is_ok());
        assert!(l.check(&Target::new("[::1]", 9000)).is_ok());
        assert!(l.check(&Target::new("::1", 9000)).is_ok());
        assert!(l.check(&Target::new("127.0.0.2", 8765)).is_err());
        assert!(l.check(&Target::new("localhost", 8765)).is_err());
        // Not an IP literal to Rust's parser, so it is a name, and not listed.
        assert!(l.check(&Target::new("127.1", 8765)).is_err());
    }

    #[test]
    fn bad_entries_are_rejected() {
        for (h, p) in [
            ("", 443),
            ("pypi.org", 0),
            ("*", 443),
            ("*.com", 443),
            ("*.", 443),
            ("*.*.example.com", 443),
            ("api.*.example.com", 443),
            ("*example.com", 443),
            ("*.10.0.0.1", 443),
        ] {
            let e = Allowlist::new(&[AllowedHost::new(h, p)], Purpose::Egress);
            assert!(e.is_err(), "{h}:{p} accepted");
        }
    }

    #[test]
    fn a_wildcard_matches_subdomains_only_by_name_and_port() {
        let l = Allowlist::new(
            &[AllowedHost::new("*.Blob.Example.com", 443)],
            Purpose::Egress,
        )
        .unwrap();
        assert!(l.check(&Target::new("acct.blob.example.com", 443)).is_ok());
        assert!(l.check(&Target::new("a.b.BLOB.example.com", 443)).is_ok());
        assert!(l.check(&Target::new("blob.example.com", 443)).is_err());
        assert!(l.check(&Target::new("evilblob.example.com", 443)).is_err());
        assert!(l.check(&Target::new("blob.example.com.evil", 443)).is_err());
        assert_eq!(
            l.check(&Target::new("acct.blob.example.com", 80)),
            Err("port not in --allow-net for this host".to_string())
        );
        assert_eq!(
            l.check(&Target::new("other.example", 443)),
            Err("host not in --allow-net".to_string())
        );
    }
}
