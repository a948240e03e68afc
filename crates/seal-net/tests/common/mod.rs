//! Loopback-only fixtures: origins, a fake upstream proxy, a raw client, a hand-built ClientHello.
//! Every socket here binds or connects to 127.0.0.1; no name other than "localhost" is ever resolved.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use seal_net::{AllowedHost, ProxyHandle, ProxyPolicy};

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub fn policy(allowed: &[(&str, u16)]) -> ProxyPolicy {
    let mut p = ProxyPolicy::new(
        allowed
            .iter()
            .map(|(h, p)| AllowedHost::new(*h, *p))
            .collect(),
    );
    p.connect_timeout = Duration::from_secs(2);
    p.idle_timeout = Duration::from_secs(10);
    p.max_connections = 16;
    p
}

pub fn start_proxy(policy: ProxyPolicy) -> (ProxyHandle, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (seal_net::start(l, policy).unwrap(), addr)
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// A parsed response head plus its body (read by Content-Length, or to EOF when `Connection: close`).
#[derive(Debug)]
pub struct Resp {
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads up to and including the blank line, one byte at a time, so tunnel bytes stay unread.
pub fn read_head(s: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
        assert!(head.len() < 64 * 1024, "response head too large");
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

pub fn parse_head(head: &str) -> Resp {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Resp {
        status_line,
        status,
        headers,
        body: String::new(),
    }
}

/// Reads one response without a tunnel after it: head, then the body.
pub fn read_response(s: &mut impl Read, head_request: bool) -> Resp {
    let head = read_head(s).expect("no response head");
    let mut r = parse_head(&head);
    if head_request || r.status == 204 || r.status == 304 {
        return r;
    }
    let mut body = Vec::new();
    if let Some(n) = r.header("content-length") {
        body.resize(n.parse().unwrap(), 0);
        s.read_exact(&mut body).unwrap();
    } else if r
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        body = read_chunked(s);
    } else {
        s.read_to_end(&mut body).unwrap();
    }
    r.body = String::from_utf8_lossy(&body).into_owned();
    r
}

fn read_chunked(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            s.read_exact(&mut b).unwrap();
            line.push(b[0]);
        }
        let n = usize::from_str_radix(std::str::from_utf8(&line).unwrap().trim(), 16).unwrap();
        let mut chunk = vec![0u8; n + 2];
        s.read_exact(&mut chunk).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a raw request on a fresh connection and reads one response.
pub fn request(proxy: SocketAddr, raw: &str) -> Resp {
    let mut s = connect(proxy);
    s.write_all(raw.as_bytes()).unwrap();
    read_response(&mut s, raw.starts_with("HEAD "))
}

/// CONNECT and return the stream plus the parsed answer.
pub fn connect_via(proxy: SocketAddr, target: &str) -> (TcpStream, Resp) {
    let mut s = connect(proxy);
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let head = read_head(&mut s).expect("no CONNECT answer");
    let mut r = parse_head(&head);
    if r.status != 200 {
        if let Some(n) = r.header("content-length") {
            let mut body = vec![0u8; n.parse().unwrap()];
            s.read_exact(&mut body).unwrap();
            r.body = String::from_utf8_lossy(&body).into_owned();
        }
    }
    (s, r)
}

/// True once the peer has closed (EOF or reset) within `within`, reading and discarding anything else.
pub fn closes_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Polls `f` for up to 5 s.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A TCP echo server standing in for a TLS origin; counts connections and bytes received.
pub struct Echo {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub bytes: Arc<AtomicUsize>,
}

impl Echo {
    pub fn start() -> Echo {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let (c, b) = (connections.clone(), bytes.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let b = b.clone();
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                b.fetch_add(n, Ordering::SeqCst);
                                if s.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Echo {
            port,
            connections,
            bytes,
        }
    }
}

/// An HTTP/1.1 origin answering every request with 200 and a fixed body, plus hop-by-hop headers
/// that the proxy must not pass back. Records each request head and counts connections.
pub struct Origin {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub heads: Arc<Mutex<Vec<String>>>,
}

pub const ORIGIN_BODY: &str = "<html>simple index</html>";

impl Origin {
    pub fn start() -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (c, h) = (connections.clone(), heads.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let h = h.clone();
                thread::spawn(move || {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    let Some(head) = read_head(&mut s) else {
                        return;
                    };
                    h.lock().unwrap().push(head);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                         Keep-Alive: timeout=5\r\nProxy-Agent: origin\r\nX-Origin: yes\r\n\
                         Connection: close, X-Origin-Hop\r\nX-Origin-Hop: 1\r\n\r\n{ORIGIN_BODY}",
                        ORIGIN_BODY.len()
                    );
                    let _ = s.write_all(resp.as_bytes());
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        Origin {
            port,
            connections,
            heads,
        }
    }
}

/// A minimal upstream HTTP proxy for chaining tests. Records every request head. CONNECT: answers
/// 200 and relays, but only to "localhost" or 127.0.0.1 (anything else panics the relay thread, so a
/// test can never be steered off loopback). Plain requests: answers 200 "via upstream" itself.
/// With `refuse_with`, answers that status to everything.
pub struct Upstream {
    pub port: u16,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    pub fn start(refuse_with: Option<u16>) -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = heads.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let h = h.clone();
                thread::spawn(move || {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    let Some(head) = read_head(&mut s) else {
                        return;
                    };
                    h.lock().unwrap().push(head.clone());
                    if let Some(code) = refuse_with {
                        let _ = write!(s, "HTTP/1.1 {code} Refused\r\nContent-Length: 0\r\n\r\n");
                        return;
                    }
                    let line = head.lines().next().unwrap().to_string();
                    if let Some(rest) = line.strip_prefix("CONNECT ") {
                        let target = rest.split_whitespace().next().unwrap();
                        let (host, port) = target.rsplit_once(':').unwrap();
                        assert!(
                            host == "localhost" || host == "127.0.0.1",
                            "fake upstream refuses {host}"
                        );
                        let port: u16 = port.parse().unwrap();
                        let Ok(origin) = TcpStream::connect(("127.0.0.1", port)) else {
                            return;
                        };
                        s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .unwrap();
                        relay(s, origin);
                    } else {
                        let body = "via upstream";
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                });
            }
        });
        Upstream { port, heads }
    }
}

fn relay(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let (mut a, mut b) = (a, b);
    a.set_read_timeout(None).unwrap();
    let t = thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut b, &mut a2);
    let _ = a2.shutdown(Shutdown::Write);
    let _ = t.join();
}

/// A TLS 1.3-shaped ClientHello record, built by hand: enough for the proxy's SNI check.
pub fn client_hello(sni: Option<&str>) -> Vec<u8> {
    fn u16be(n: usize) -> [u8; 2] {
        (n as u16).to_be_bytes()
    }
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut list = vec![0u8]; // host_name
        list.extend_from_slice(&u16be(name.len()));
        list.extend_from_slice(name);
        exts.extend_from_slice(&[0, 0]); // server_name
        exts.extend_from_slice(&u16be(list.len() + 2));
        exts.extend_from_slice(&u16be(list.len()));
        exts.extend_from_slice(&list);
    }
    exts.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]); // supported_versions: TLS 1.3
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&u16be(exts.len()));
    body.extend_from_slice(&exts);
    let mut hs = vec![1u8]; // ClientHello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22u8, 0x03, 0x01]; // handshake record
    rec.extend_from_slice(&u16be(hs.len()));
    rec.extend_from_slice(&hs);
    rec
}

/// Writes `out` and expects exactly it back (the echo origin).
pub fn roundtrip(s: &mut (impl Read + Write), out: &[u8]) {
    s.write_all(out).unwrap();
    let mut back = vec![0u8; out.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, out);
}
