//! What the proxy may reach: an exact (host, port) allowlist, plus timeouts and the connection cap.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::upstream::Upstream;

/// One destination the sandbox may reach: a DNS name or an IP literal, and a port.
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

/// Everything the proxy needs to decide and to dial.
#[derive(Clone, Debug)]
pub struct ProxyPolicy {
    pub allowed: Vec<AllowedHost>,
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

/// The allowlist in the form the proxy matches against.
#[derive(Clone, Debug)]
pub(crate) struct Allowlist {
    entries: Vec<Target>,
}

impl Allowlist {
    pub(crate) fn new(allowed: &[AllowedHost]) -> std::io::Result<Self> {
        let mut entries = Vec::with_capacity(allowed.len());
        for a in allowed {
            if a.host.is_empty() || a.port == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "seal-net: allowlist entry {:?}:{} is not a host and port",
                        a.host, a.port
                    ),
                ));
            }
            entries.push(Target::new(&a.host, a.port));
        }
        Ok(Allowlist { entries })
    }

    /// Exact match only. A name never matches an IP literal and vice versa, so listing "localhost"
    /// does not open "127.0.0.1" (or anything else that name might resolve to) as a literal.
    pub(crate) fn check(&self, t: &Target) -> Result<(), &'static str> {
        let same_kind = |e: &&Target| match (e.ip, t.ip) {
            (Some(a), Some(b)) => a == b,
            (None, None) => e.host == t.host,
            _ => false,
        };
        let mut hosts = self.entries.iter().filter(same_kind).peekable();
        if hosts.peek().is_none() {
            return Err("host not in the index allowlist");
        }
        if hosts.any(|e| e.port == t.port) {
            Ok(())
        } else {
            Err("port not in the index allowlist for this host")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Allowlist {
        Allowlist::new(&[
            AllowedHost::new("PyPI.org", 443),
            AllowedHost::new("127.0.0.1", 8765),
            AllowedHost::new("[::1]", 9000),
        ])
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
            Err("port not in the index allowlist for this host")
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
        assert!(Allowlist::new(&[AllowedHost::new("", 443)]).is_err());
        assert!(Allowlist::new(&[AllowedHost::new("pypi.org", 0)]).is_err());
    }
}
