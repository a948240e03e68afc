//! The optional upstream HTTP proxy (seal's own HTTPS_PROXY/HTTP_PROXY) and the CONNECT handshake with it.

use std::fmt;
use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// User and password for `Proxy-Authorization: Basic`. Debug output never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An HTTP proxy to chain through. Only `http://` proxies are supported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// Name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub credentials: Option<Credentials>,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("seal-net: upstream proxy: {msg}"),
    )
}

impl Upstream {
    /// Parses `http://host:port`, `http://user:pass@host:port` or a bare `host:port` (as curl and pip accept).
    /// User and password are percent-decoded. Error messages never repeat the URL, which may hold a password.
    pub fn from_url(url: &str) -> io::Result<Upstream> {
        let url = url.trim();
        let rest = match url.find("://") {
            Some(i) if url[..i].eq_ignore_ascii_case("http") => &url[i + 3..],
            Some(_) => return Err(invalid("only http:// proxies are supported")),
            None => url,
        };
        // Drop any path ("http://proxy:3128/"); userinfo cannot contain '/' unescaped.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let credentials = match userinfo {
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                Some(Credentials {
                    user: percent_decode(user)?,
                    password: percent_decode(password)?,
                })
            }
            None => None,
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Upstream {
            host: host.to_string(),
            port,
            credentials,
        })
    }

    /// The first set of https_proxy, HTTPS_PROXY, http_proxy, HTTP_PROXY (lower case first, as curl does).
    /// NO_PROXY is not applied: seal decides whether to chain at all.
    pub fn from_env() -> io::Result<Option<Upstream>> {
        from_vars(|name| std::env::var(name).ok())
    }

    /// `Proxy-Authorization` value, if credentials are present.
    pub(crate) fn authorization(&self) -> Option<String> {
        self.credentials.as_ref().map(|c| {
            let raw = format!("{}:{}", c.user, c.password);
            format!("Basic {}", base64(raw.as_bytes()))
        })
    }
}

pub(crate) fn from_vars(get: impl Fn(&str) -> Option<String>) -> io::Result<Option<Upstream>> {
    for name in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] {
        if let Some(v) = get(name).filter(|v| !v.trim().is_empty()) {
            return Upstream::from_url(&v).map(Some);
        }
    }
    Ok(None)
}

fn split_host_port(s: &str) -> io::Result<(&str, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| invalid("unclosed IPv6 bracket"))?;
        let port = rest[end + 1..].strip_prefix(':');
        (&rest[..end], port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        // Same default as Python's urllib for an http:// proxy URL without a port.
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| invalid("bad port"))?,
    };
    Ok((host, port))
}

fn percent_decode(s: &str) -> io::Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or_else(|| invalid("bad percent escape"))?;
            let hex = std::str::from_utf8(hex).map_err(|_| invalid("bad percent escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid("bad percent escape"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("credentials are not UTF-8"))
}

/// RFC 4648 base64 with padding; a dependency for 15 lines is not worth it.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Upstream answers larger than this before the blank line are not a proxy we want to talk to.
const MAX_UPSTREAM_HEAD: usize = 16 * 1024;

/// Asks the upstream proxy (already connected) to open a tunnel to `authority`.
/// Returns any bytes the upstream sent after its header block; they belong to the tunnel.
pub(crate) async fn connect_through(
    stream: &mut TcpStream,
    upstream: &Upstream,
    authority: &str,
) -> io::Result<Vec<u8>> {
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = upstream.authorization() {
        req.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;

    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_UPSTREAM_HEAD {
            return Err(io::Error::other(
                "upstream proxy sent an oversized response",
            ));
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::other("upstream proxy closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let status_line = buf[..end].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let status = std::str::from_utf8(status_line)
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(buf[end..].to_vec()),
        Some(code) => Err(io::Error::other(format!("upstream proxy answered {code}"))),
        None => Err(io::Error::other("upstream proxy sent a malformed response")),
    }
}

/// Index just past the "\r\n\r\n" ending a header block.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn parses_proxy_urls() {
        let u = Upstream::from_url("http://proxy.corp:3128").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.credentials),
            ("proxy.corp", 3128, None)
        );

        let u = Upstream::from_url("HTTP://al%40ice:p%3Ass@127.0.0.9:8080/").unwrap();
        assert_eq!(u.host, "127.0.0.9");
        let c = u.credentials.clone().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("al@ice", "p:ss"));
        assert_eq!(
            u.authorization().unwrap(),
            format!("Basic {}", base64(b"al@ice:p:ss"))
        );
        assert!(!format!("{u:?}").contains("p:ss"));

        let u = Upstream::from_url("[::1]:3128").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 3128));
        assert_eq!(Upstream::from_url("http://proxy").unwrap().port, 80);

        assert!(Upstream::from_url("https://proxy:3128").is_err());
        assert!(Upstream::from_url("socks5://proxy:1080").is_err());
        assert!(Upstream::from_url("http://proxy:99999").is_err());
        assert!(Upstream::from_url("http://:3128").is_err());
        let e = Upstream::from_url("http://u:secret@proxy:bad").unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }

    #[test]
    fn env_precedence() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                set.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(from_vars(vars(&[])).unwrap(), None);
        let u = from_vars(vars(&[
            ("HTTP_PROXY", "http://a:1"),
            ("https_proxy", "http://b:2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(u.host, "b");
        let u = from_vars(vars(&[("https_proxy", " "), ("HTTP_PROXY", "http://a:1")]))
            .unwrap()
            .unwrap();
        assert_eq!(u.host, "a");
    }
}
