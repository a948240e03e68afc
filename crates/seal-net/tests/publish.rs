//! Published ports: a loopback server stands in for the one inside the sandbox, reached through a
//! connector as seal would reach it.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{closes_within, connect, eventually, parse_head, read_head, read_response, Resp};
use seal_net::{DialServer, PublishHandle, PublishPolicy};

const PAGE: &str = "<p>inside</p>";
const SERVER_CSP: &str = "sandbox allow-scripts; report-uri http://127.0.0.1:9999/csp-report";

/// Headers with which a server could make the browser send reports (carrying the page's URL, which
/// its scripts can fill with data) to another origin, where CSP does not reach. The bridge removes
/// every one of them.
const REPORTING: [(&str, &str); 9] = [
    (
        "Content-Security-Policy",
        "img-src 'none'; report-uri http://127.0.0.1:9999/csp-report",
    ),
    ("content-security-policy", "default-src *; report-to leak"),
    (
        "Content-Security-Policy-Report-Only",
        "default-src 'none'; report-uri http://127.0.0.1:9999/csp-report",
    ),
    (
        "X-Content-Security-Policy",
        "img-src 'none'; report-uri http://127.0.0.1:9999/csp-report",
    ),
    (
        "X-WebKit-CSP",
        "img-src 'none'; report-uri http://127.0.0.1:9999/csp-report",
    ),
    (
        "Report-To",
        r#"{"group":"leak","max_age":86400,"endpoints":[{"url":"http://127.0.0.1:9999/r"}]}"#,
    ),
    (
        "Reporting-Endpoints",
        r#"default="http://127.0.0.1:9999/r", leak="http://127.0.0.1:9999/r""#,
    ),
    ("NEL", r#"{"report_to":"leak","max_age":86400}"#),
    ("X-XSS-Protection", "1; report=http://127.0.0.1:9999/xss"),
];

/// A header naming a report group; kept, since without the endpoint headers it has nowhere to
/// report to.
const COOP: (&str, &str) = (
    "Cross-Origin-Opener-Policy",
    "same-origin; report-to=\"leak\"",
);

/// The sandboxed server. Keeps connections alive; records request heads; counts request body
/// bytes as they arrive. Paths: `/upload` answers how many body bytes it got, `/stream` sends one
/// chunk and the rest only once `release` is set, `/close` closes after answering, `/upgrade`
/// switches protocols (with a reporting CSP) and then echoes raw bytes, `/reporting` is a page with
/// every header of [`REPORTING`] (and [`COOP`]), `/reporting?N` one with two copies of the Nth;
/// anything else is a page with its own CSP and caching and hop-by-hop headers.
struct Inside {
    port: u16,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    body_bytes: Arc<AtomicUsize>,
    release: Arc<AtomicBool>,
}

impl Inside {
    fn start() -> Inside {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let inside = Inside {
            port: l.local_addr().unwrap().port(),
            connections: Arc::default(),
            heads: Arc::default(),
            body_bytes: Arc::default(),
            release: Arc::default(),
        };
        let (c, h, b, r) = (
            inside.connections.clone(),
            inside.heads.clone(),
            inside.body_bytes.clone(),
            inside.release.clone(),
        );
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let (h, b, r) = (h.clone(), b.clone(), r.clone());
                thread::spawn(move || serve_inside(s, h, b, r));
            }
        });
        inside
    }

    fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

fn serve_inside(
    mut s: TcpStream,
    heads: Arc<Mutex<Vec<String>>>,
    body_bytes: Arc<AtomicUsize>,
    release: Arc<AtomicBool>,
) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while let Some(head) = read_head(&mut s) {
        heads.lock().unwrap().push(head.clone());
        let path = head.split_whitespace().nth(1).unwrap().to_string();
        let mut got = 0;
        if let Some(n) = header(&head, "content-length") {
            let mut body = vec![0u8; n.parse().unwrap()];
            s.read_exact(&mut body).unwrap();
            got = body.len();
            body_bytes.fetch_add(got, Ordering::SeqCst);
        } else if header(&head, "transfer-encoding").is_some() {
            loop {
                let n = usize::from_str_radix(read_line(&mut s).trim(), 16).unwrap();
                let mut chunk = vec![0u8; n + 2];
                s.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                got += n;
                body_bytes.fetch_add(n, Ordering::SeqCst);
            }
        }
        match path.as_str() {
            "/upgrade" => {
                s.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Content-Security-Policy: img-src 'none'; report-uri http://127.0.0.1:9999/r\r\n\
                      Reporting-Endpoints: default=\"http://127.0.0.1:9999/r\"\r\n\r\n",
                )
                .unwrap();
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            "/upload" => {
                let body = format!("got {got} bytes");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            "/stream" => {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                );
                let deadline = Instant::now() + Duration::from_secs(10);
                while !release.load(Ordering::SeqCst) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                let _ = s.write_all(b"6\r\nsecond\r\n0\r\n\r\n");
            }
            p if p == "/reporting" || p.starts_with("/reporting?") => {
                let chosen: Vec<(&str, &str)> = match p.strip_prefix("/reporting?") {
                    Some(n) => vec![REPORTING[n.parse::<usize>().unwrap()]; 2],
                    None => REPORTING.iter().copied().chain([COOP]).collect(),
                };
                let headers: String = chosen
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .collect();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{headers}\r\n{PAGE}",
                    PAGE.len()
                );
            }
            "/close" => {
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nclosing",
                );
                let _ = s.shutdown(Shutdown::Write);
                return;
            }
            _ => {
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Content-Security-Policy: {SERVER_CSP}\r\nCache-Control: max-age=31536000\r\n\
                     Keep-Alive: timeout=5\r\nConnection: keep-alive, X-Inside-Hop\r\nX-Inside-Hop: 1\r\n\
                     X-Inside: yes\r\n\r\n{PAGE}",
                    PAGE.len()
                );
            }
        }
    }
}

/// A connector to `port` on loopback, counting its calls.
fn connector(port: u16, calls: Arc<AtomicUsize>) -> DialServer {
    Arc::new(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        TcpStream::connect(("127.0.0.1", port))
    })
}

struct Published {
    handle: PublishHandle,
    addr: SocketAddr,
    inside: Inside,
    calls: Arc<AtomicUsize>,
}

impl Published {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }
}

fn publish_with(edit: impl FnOnce(&mut PublishPolicy)) -> Published {
    let inside = Inside::start();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut p = PublishPolicy::new(addr.port());
    p.idle_timeout = Duration::from_secs(10);
    edit(&mut p);
    let calls = Arc::new(AtomicUsize::new(0));
    let handle = seal_net::publish(l, connector(inside.port, calls.clone()), p).unwrap();
    Published {
        handle,
        addr,
        inside,
        calls,
    }
}

fn send(s: &mut TcpStream, raw: &str) -> Resp {
    s.write_all(raw.as_bytes()).unwrap();
    read_response(s, raw.starts_with("HEAD "))
}

fn get(p: &Published, path: &str, extra: &str) -> Resp {
    let mut s = connect(p.addr);
    send(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}\r\n", p.host()),
    )
}

fn values<'a>(r: &'a Resp, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Whether the response's one Content-Security-Policy is seal's.
fn has_our_csp(r: &Resp) -> bool {
    match values(r, "content-security-policy")[..] {
        [v] => {
            v.starts_with("default-src 'self'; connect-src 'self' ws://127.0.0.1:")
                && !v.contains("report")
        }
        _ => false,
    }
}

#[test]
fn get_passes_with_our_csp_in_place_of_the_servers() {
    let p = publish_with(|_| {});
    let r = get(
        &p,
        "/lab?x=1",
        "Connection: keep-alive, X-Client-Hop\r\nX-Client-Hop: 1\r\nProxy-Authorization: Basic eA==\r\nCookie: a=b\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, PAGE);
    assert!(has_our_csp(&r), "{:#?}", r.headers);
    assert!(!values(&r, "content-security-policy").contains(&SERVER_CSP));
    assert_eq!(values(&r, "cache-control"), ["no-store"]);
    assert_eq!(r.header("x-inside"), Some("yes"));
    assert_eq!(r.header("x-inside-hop"), None);
    assert_eq!(r.header("keep-alive"), None);

    let heads = p.inside.heads.lock().unwrap();
    let head = &heads[0];
    assert!(head.starts_with("GET /lab?x=1 HTTP/1.1\r\n"), "{head}");
    assert_eq!(header(head, "host"), Some(&*p.host()));
    assert_eq!(header(head, "cookie"), Some("a=b"));
    assert_eq!(header(head, "x-client-hop"), None);
    assert_eq!(header(head, "proxy-authorization"), None);
    assert!(p.handle.decisions().is_empty());
}

#[test]
fn servers_reporting_headers_are_removed() {
    let p = publish_with(|_| {});
    // Each alone, sent twice: every copy goes.
    for (i, (name, _)) in REPORTING.iter().enumerate() {
        let r = get(&p, &format!("/reporting?{i}"), "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, PAGE);
        assert!(
            values(&r, name)
                .iter()
                .all(|v| v.starts_with("default-src 'self';")),
            "{name} kept: {:#?}",
            r.headers
        );
        assert!(has_our_csp(&r), "{name}: {:#?}", r.headers);
    }
    // All at once, on one kept-alive connection, twice.
    let mut s = connect(p.addr);
    let req = format!("GET /reporting HTTP/1.1\r\nHost: {}\r\n\r\n", p.host());
    for _ in 0..2 {
        let r = send(&mut s, &req);
        assert_eq!(r.status, 200);
        for (name, _) in REPORTING {
            if !name.eq_ignore_ascii_case("content-security-policy") {
                assert_eq!(r.header(name), None, "{name} kept: {:#?}", r.headers);
            }
        }
        assert!(has_our_csp(&r), "{:#?}", r.headers);
        assert_eq!(values(&r, "content-security-policy").len(), 1);
        assert!(
            !r.headers.iter().any(|(_, v)| v.contains("127.0.0.1:9999")),
            "{:#?}",
            r.headers
        );
        // Left alone: with no endpoint headers its report group names nothing.
        assert_eq!(r.header(COOP.0), Some(COOP.1));
    }
}

#[test]
fn one_upstream_connection_per_client_connection_reopened_when_closed() {
    let p = publish_with(|_| {});
    let mut s = connect(p.addr);
    let req = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", p.host());
    assert_eq!(send(&mut s, &req).body, PAGE);
    assert_eq!(send(&mut s, &req).body, PAGE);
    assert_eq!(p.inside.connections.load(Ordering::SeqCst), 1);

    let close = format!("GET /close HTTP/1.1\r\nHost: {}\r\n\r\n", p.host());
    assert_eq!(send(&mut s, &close).body, "closing");
    assert_eq!(send(&mut s, &req).body, PAGE);
    assert_eq!(p.inside.connections.load(Ordering::SeqCst), 2);
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn request_body_streams_through() {
    let p = publish_with(|_| {});
    let mut s = connect(p.addr);
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: {}\r\nOrigin: http://{}\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n",
        p.host(),
        p.host()
    )
    .unwrap();
    // The first chunk reaches the server while the upload is still going.
    assert!(
        eventually(|| p.inside.body_bytes.load(Ordering::SeqCst) >= 6),
        "request body was held back"
    );
    let big = vec![b'x'; 1 << 20];
    write!(s, "{:x}\r\n", big.len()).unwrap();
    s.write_all(&big).unwrap();
    s.write_all(b"\r\n0\r\n\r\n").unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, format!("got {} bytes", 6 + big.len()));
    assert!(has_our_csp(&r));
}

#[test]
fn response_body_streams_through() {
    let p = publish_with(|_| {});
    let mut s = connect(p.addr);
    write!(s, "GET /stream HTTP/1.1\r\nHost: {}\r\n\r\n", p.host()).unwrap();
    let head = parse_head(&read_head(&mut s).expect("no response head"));
    assert_eq!(head.status, 200);
    // The server sends the rest only after the client has seen the first part.
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = s.read(&mut buf).expect("first chunk never arrived");
        assert!(n > 0, "closed before the first chunk");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&seen).contains("second"));
    p.inside.release.store(true, Ordering::SeqCst);
    while !seen.ends_with(b"0\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("second"));
}

#[test]
fn wrong_host_is_refused_before_the_server() {
    let p = publish_with(|_| {});
    let mut s = connect(p.addr);
    let local = s.local_addr().unwrap();
    let port = p.addr.port();
    let r = send(
        &mut s,
        &format!("GET /?token=secret HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n"),
    );
    assert_eq!(r.status, 403);
    let line = format!(
        "seal: publish refused GET / from {local}: Host header evil.example:{port} is not this port's"
    );
    assert_eq!(r.body, format!("{line}\n"));
    assert!(has_our_csp(&r));
    assert_eq!(p.handle.decision_lines(), [line]);

    // Another port's name on the same address is another origin, and refused too.
    let r = get(&p, "/", "");
    assert_eq!(r.status, 200);
    let mut s = connect(p.addr);
    let r = send(
        &mut s,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", port + 1),
    );
    assert_eq!(r.status, 403);
    assert_eq!(p.inside.requests(), 1);
}

#[test]
fn missing_host_is_refused_for_http_1_1_and_1_0() {
    let p = publish_with(|_| {});
    for version in ["1.1", "1.0"] {
        let mut s = connect(p.addr);
        let r = send(
            &mut s,
            &format!("GET / HTTP/{version}\r\nAccept: */*\r\n\r\n"),
        );
        assert_eq!(r.status, 403, "HTTP/{version}");
        assert!(r.body.ends_with(": no Host header\n"), "{}", r.body);
    }
    assert_eq!(p.calls.load(Ordering::SeqCst), 0);
    assert_eq!(p.inside.requests(), 0);
    assert_eq!(p.handle.decisions().len(), 2);
}

#[test]
fn origin_must_be_this_port_when_sent() {
    let p = publish_with(|_| {});
    let port = p.addr.port();
    for bad in [
        "http://evil.example".to_string(),
        "null".to_string(),
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port + 1),
    ] {
        let r = get(&p, "/api/kernels", &format!("Origin: {bad}\r\n"));
        assert_eq!(r.status, 403, "Origin {bad}");
        assert!(r
            .body
            .ends_with(&format!("Origin header {bad} is not this port's\n")));
    }
    // A cross-site WebSocket is refused the same way.
    let r = get(
        &p,
        "/upgrade",
        "Connection: Upgrade\r\nUpgrade: websocket\r\nOrigin: http://evil.example\r\n",
    );
    assert_eq!(r.status, 403);
    assert_eq!(p.inside.requests(), 0);

    let ok = get(
        &p,
        "/api/kernels",
        &format!("Origin: http://127.0.0.1:{port}\r\n"),
    );
    assert_eq!(ok.status, 200);
    let ok = get(
        &p,
        "/api/kernels",
        &format!("Origin: http://localhost:{port}\r\n"),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(p.inside.requests(), 2);
}

/// Opens a WebSocket-style upgrade and returns the raw stream after the 101.
fn upgrade(p: &Published) -> (TcpStream, Resp) {
    let mut s = connect(p.addr);
    write!(
        s,
        "GET /upgrade HTTP/1.1\r\nHost: {}\r\nOrigin: http://{}\r\nConnection: keep-alive, Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        p.host(),
        p.host()
    )
    .unwrap();
    let r = parse_head(&read_head(&mut s).expect("no answer to the upgrade"));
    (s, r)
}

#[test]
fn websocket_upgrade_splices_bytes_both_ways() {
    let p = publish_with(|_| {});
    let (mut s, r) = upgrade(&p);
    assert_eq!(r.status, 101, "{r:#?}");
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert!(r
        .header("connection")
        .unwrap()
        .eq_ignore_ascii_case("upgrade"));
    assert!(has_our_csp(&r), "{:#?}", r.headers);
    assert_eq!(r.header("reporting-endpoints"), None);
    {
        let heads = p.inside.heads.lock().unwrap();
        assert_eq!(header(&heads[0], "upgrade"), Some("websocket"));
        assert_eq!(header(&heads[0], "connection"), Some("upgrade"));
        assert!(header(&heads[0], "sec-websocket-key").is_some());
    }
    for i in 0..10 {
        common::roundtrip(&mut s, format!("frame {i}").as_bytes());
    }
    let big = vec![0x42; 256 * 1024];
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&big).unwrap());
    let mut back = vec![0u8; 256 * 1024];
    s.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back.iter().all(|&b| b == 0x42));

    // The client connection that upgraded is gone; others still get fresh upstream connections.
    assert_eq!(get(&p, "/", "").body, PAGE);
}

#[test]
fn connector_failure_is_a_502_with_its_text() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let failing: DialServer = Arc::new(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "nothing is listening on port 8888 inside the sandbox",
        ))
    });
    let _h = seal_net::publish(l, failing, PublishPolicy::new(addr.port())).unwrap();
    let mut s = connect(addr);
    let r = send(
        &mut s,
        &format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", addr.port()),
    );
    assert_eq!(r.status, 502);
    assert_eq!(
        r.body,
        "seal: nothing is listening on port 8888 inside the sandbox\n"
    );
    assert!(has_our_csp(&r));

    // A real refusal from a closed loopback port reads the same way.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let _h = seal_net::publish(
        l,
        connector(closed_port, calls),
        PublishPolicy::new(addr.port()),
    )
    .unwrap();
    let mut s = connect(addr);
    let r = send(
        &mut s,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", addr.port()),
    );
    assert_eq!(r.status, 502);
    assert!(r.body.starts_with("seal: "), "{}", r.body);
    assert_eq!(r.body.lines().count(), 1);
}

#[test]
fn connections_over_the_cap_get_503() {
    let p = publish_with(|pol| pol.max_connections = 2);
    let req = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", p.host());
    let mut a = connect(p.addr);
    assert_eq!(send(&mut a, &req).status, 200);
    let (mut ws, r) = upgrade(&p);
    assert_eq!(r.status, 101);
    common::roundtrip(&mut ws, b"held");

    let mut c = connect(p.addr);
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 503);
    assert!(has_our_csp(&r), "{:#?}", r.headers);
    assert_eq!(
        r.body,
        "seal: publish refused the connection: too many connections\n"
    );
    let local = c.local_addr().unwrap();
    assert!(p.handle.decision_lines().contains(&format!(
        "seal: publish refused a connection from {local}: too many connections (limit 2)"
    )));

    // The upgraded connection holds its slot until it closes.
    drop(a);
    assert!(eventually(|| get(&p, "/", "").status == 200));
    drop(ws);
    assert!(eventually(|| upgrade(&p).1.status == 101));
}

#[test]
fn idle_connections_close_and_busy_websockets_stay() {
    let p = publish_with(|pol| pol.idle_timeout = Duration::from_millis(500));
    let mut s = connect(p.addr);
    let req = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", p.host());
    assert_eq!(send(&mut s, &req).status, 200);
    let t = Instant::now();
    assert!(
        closes_within(&mut s, Duration::from_secs(3)),
        "idle keep-alive connection stayed open"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "closed too early: {:?}",
        t.elapsed()
    );

    let (mut busy, r) = upgrade(&p);
    assert_eq!(r.status, 101);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        common::roundtrip(&mut busy, b"ping");
        thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    assert!(
        closes_within(&mut busy, Duration::from_secs(3)),
        "idle WebSocket stayed open"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "closed too early: {:?}",
        t.elapsed()
    );
}

#[test]
fn stop_closes_websockets() {
    let mut p = publish_with(|_| {});
    let (mut ws, r) = upgrade(&p);
    assert_eq!(r.status, 101);
    common::roundtrip(&mut ws, b"x");
    let t = Instant::now();
    p.handle.stop();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(closes_within(&mut ws, Duration::from_secs(2)));
    p.handle.stop();
}

#[test]
fn unusable_policies_are_rejected() {
    let calls = Arc::new(AtomicUsize::new(0));
    let try_with = |edit: &dyn Fn(&mut PublishPolicy)| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut p = PublishPolicy::new(l.local_addr().unwrap().port());
        edit(&mut p);
        seal_net::publish(l, connector(1, calls.clone()), p).map(drop)
    };
    assert!(try_with(&|_| {}).is_ok());
    assert!(try_with(&|p| p.max_connections = 0).is_err());
    assert!(try_with(&|p| p.allowed_hosts.clear()).is_err());
    assert!(try_with(&|p| p.csp = Some("default-src 'self'\r\nX-Evil: 1".into())).is_err());
    // Reports go wherever the policy says, whatever else it allows.
    assert!(try_with(
        &|p| p.csp = Some("default-src 'self'; report-uri http://127.0.0.1:9/r".into())
    )
    .is_err());
    assert!(try_with(&|p| p.csp = Some("default-src 'self'; Report-To leak".into())).is_err());
    assert!(try_with(&|p| p.csp = Some("default-src 'self'".into())).is_ok());
}

#[test]
fn default_policy_names_both_loopback_spellings() {
    let p = PublishPolicy::new(8888);
    assert_eq!(p.allowed_hosts, ["127.0.0.1:8888", "localhost:8888"]);
    assert!(p
        .csp
        .unwrap()
        .contains("connect-src 'self' ws://127.0.0.1:8888 ws://localhost:8888;"));
}
