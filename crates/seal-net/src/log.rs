//! The decision log: every allow and refuse, for seal to show the user.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::proxy::DecisionWatcher;

/// Which of seal-net's services decided; it names the service in the user's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The install sandbox's egress proxy ([`crate::start`]).
    IndexProxy,
    /// A published port ([`crate::publish()`]).
    Publish,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::IndexProxy => "proxy",
            Source::Publish => "publish",
        })
    }
}

/// One allow or refuse. `target` never carries credentials or a query string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub source: Source,
    /// Request method, or "-" for a decision about a whole connection (over the cap, malformed).
    pub method: String,
    /// `host:port` for CONNECT, `http://host:port/path` for plain HTTP, `/path from client` for a
    /// published port, the client address for "-".
    pub target: String,
    pub allowed: bool,
    pub reason: String,
}

impl fmt::Display for Decision {
    /// One line for the user, e.g. "seal: proxy refused CONNECT evil.example:443: host not in the index allowlist".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "refused" };
        let who = self.source;
        if self.method == "-" && self.target.is_empty() {
            write!(f, "seal: {who}")?;
        } else if self.method == "-" {
            write!(f, "seal: {who} {verdict} a connection from {}", self.target)?;
        } else {
            write!(f, "seal: {who} {verdict} {} {}", self.method, self.target)?;
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// A sandboxed package can make requests in a loop; past this many entries only a marker is kept,
/// so the log cannot grow without bound.
const MAX_DECISIONS: usize = 10_000;

#[derive(Clone)]
pub(crate) struct DecisionLog {
    source: Source,
    inner: Arc<Mutex<Vec<Decision>>>,
    watcher: Option<DecisionWatcher>,
}

impl DecisionLog {
    pub(crate) fn new(source: Source) -> Self {
        DecisionLog {
            source,
            inner: Arc::default(),
            watcher: None,
        }
    }

    /// The same log, also handing every decision to `watcher` as it is made.
    pub(crate) fn watched(mut self, watcher: Option<DecisionWatcher>) -> Self {
        self.watcher = watcher;
        self
    }

    /// Records one decision and returns it, cleaned for display, so a refusal's response body can
    /// be the same line the user sees (even once the log is full).
    pub(crate) fn record(
        &self,
        method: &str,
        target: &str,
        allowed: bool,
        reason: &str,
    ) -> Decision {
        let d = Decision {
            source: self.source,
            method: sanitize(method),
            target: sanitize(target),
            allowed,
            reason: sanitize(reason),
        };
        if let Some(w) = &self.watcher {
            (w.0)(&d);
        }
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match v.len() {
            n if n < MAX_DECISIONS => v.push(d.clone()),
            MAX_DECISIONS => v.push(Decision {
                source: self.source,
                method: "-".into(),
                target: String::new(),
                allowed: false,
                reason: format!(
                    "decision log full after {MAX_DECISIONS} entries; later decisions not recorded"
                ),
            }),
            _ => {}
        }
        d
    }

    pub(crate) fn snapshot(&self) -> Vec<Decision> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The decisions as the lines shown to the user.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.snapshot().iter().map(ToString::to_string).collect()
    }
}

/// Request text comes from the sandbox; escape control characters so a line printed to the user's
/// terminal cannot carry escape sequences, and bound the length.
pub(crate) fn sanitize(s: &str) -> String {
    const MAX: usize = 512;
    let mut out = String::with_capacity(s.len().min(MAX));
    for c in s.chars() {
        if out.len() >= MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_escaping() {
        let log = DecisionLog::new(Source::IndexProxy);
        log.record(
            "CONNECT",
            "evil.example:443",
            false,
            "host not in the index allowlist",
        );
        log.record("GET", "http://x/\u{1b}[2J", true, "");
        let d = log.snapshot();
        assert_eq!(
            d[0].to_string(),
            "seal: proxy refused CONNECT evil.example:443: host not in the index allowlist"
        );
        assert_eq!(
            d[1].to_string(),
            "seal: proxy allowed GET http://x/\\u{1b}[2J"
        );
    }

    #[test]
    fn bounded() {
        let log = DecisionLog::new(Source::IndexProxy);
        for _ in 0..MAX_DECISIONS + 5 {
            log.record("GET", "t", false, "r");
        }
        let d = log.snapshot();
        assert_eq!(d.len(), MAX_DECISIONS + 1);
        assert!(d
            .last()
            .unwrap()
            .to_string()
            .starts_with("seal: proxy: decision log full"));
        let conn = Decision {
            source: Source::IndexProxy,
            method: "-".into(),
            target: "127.0.0.1:4000".into(),
            allowed: false,
            reason: "too many connections (limit 2)".into(),
        };
        assert_eq!(
            conn.to_string(),
            "seal: proxy refused a connection from 127.0.0.1:4000: too many connections (limit 2)"
        );
    }
}
