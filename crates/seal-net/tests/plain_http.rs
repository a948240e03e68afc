//! Plain HTTP proxying: absolute-form GET/HEAD forwarded in origin-form, everything else refused.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use common::*;

#[test]
fn get_is_forwarded_in_origin_form_with_hop_by_hop_headers_stripped() {
    let origin = Origin::start();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));

    let r = request(
        addr,
        &format!(
            "GET http://127.0.0.1:{}/simple/pkg/?token=abc HTTP/1.1\r\n\
             Host: somewhere-else.invalid\r\n\
             Connection: keep-alive, X-Client-Hop\r\n\
             X-Client-Hop: 1\r\n\
             Keep-Alive: timeout=5\r\n\
             Proxy-Authorization: Basic c2FuZGJveDpzZWNyZXQ=\r\n\
             Proxy-Connection: keep-alive\r\n\
             TE: trailers\r\n\
             Upgrade: h2c\r\n\
             Accept: text/html\r\n\
             User-Agent: pip/24\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, ORIGIN_BODY);
    // Response side: the origin's hop-by-hop and Proxy-* headers do not come back.
    assert_eq!(r.header("x-origin"), Some("yes"));
    for h in ["keep-alive", "proxy-agent", "x-origin-hop"] {
        assert!(r.header(h).is_none(), "{h} passed back: {r:?}");
    }

    let heads = origin.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    let head = heads[0].to_ascii_lowercase();
    assert!(
        heads[0].starts_with("GET /simple/pkg/?token=abc HTTP/1.1\r\n"),
        "not origin-form: {}",
        heads[0]
    );
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", origin.port)),
        "{head}"
    );
    assert!(head.contains("\r\naccept: text/html\r\n"));
    assert!(head.contains("\r\nuser-agent: pip/24\r\n"));
    for h in [
        "x-client-hop",
        "keep-alive",
        "proxy-",
        "te:",
        "upgrade",
        "somewhere-else",
    ] {
        assert!(!head.contains(h), "{h} forwarded: {head}");
    }

    // Logged without the query string.
    assert_eq!(
        proxy.decision_lines(),
        [format!(
            "seal: proxy allowed GET http://127.0.0.1:{}/simple/pkg/: in the index allowlist",
            origin.port
        )]
    );
}

#[test]
fn get_and_head_by_name() {
    let origin = Origin::start();
    let (_proxy, addr) = start_proxy(policy(&[("localhost", origin.port)]));
    let r = request(
        addr,
        &format!(
            "GET http://localhost:{}/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!((r.status, r.body.as_str()), (200, ORIGIN_BODY));
    let r = request(
        addr,
        &format!(
            "HEAD http://localhost:{}/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 200);
    let heads = origin.heads.lock().unwrap().clone();
    assert!(heads[0].starts_with("GET / HTTP/1.1"));
    assert!(heads[1].starts_with("HEAD / HTTP/1.1"));
    assert!(heads[1]
        .to_ascii_lowercase()
        .contains(&format!("host: localhost:{}", origin.port)));

    // The literal was not listed.
    let r = request(
        addr,
        &format!(
            "GET http://127.0.0.1:{}/ HTTP/1.1\r\nHost: x\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn keep_alive_requests_are_each_checked() {
    let origin = Origin::start();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));
    let mut s = connect(addr);
    for _ in 0..3 {
        write!(
            s,
            "GET http://127.0.0.1:{}/a HTTP/1.1\r\nHost: x\r\n\r\n",
            origin.port
        )
        .unwrap();
        let r = read_response(&mut s, false);
        assert_eq!(r.status, 200);
    }
    write!(s, "GET http://127.0.0.1:1/a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, false).status, 403);
    let d = proxy.decisions();
    assert_eq!(d.iter().filter(|d| d.allowed).count(), 3);
    assert_eq!(d.iter().filter(|d| !d.allowed).count(), 1);
}

#[test]
fn upload_methods_are_refused_and_the_origin_sees_nothing() {
    let origin = Origin::start();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));
    let url = format!("http://127.0.0.1:{}/upload", origin.port);

    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = request(
            addr,
            &format!("{method} {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nstolen-keys"),
        );
        assert_eq!(r.status, 405, "{method}");
        assert!(r.body.contains("upload methods are refused"), "{}", r.body);
    }
    let r = request(addr, &format!("OPTIONS {url} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(r.status, 405);
    // A body on a GET is an upload too.
    let r = request(
        addr,
        &format!("GET {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nstolen-keys"),
    );
    assert_eq!(r.status, 403);
    let r = request(
        addr,
        &format!("GET {url} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nkeys\r\n0\r\n\r\n"),
    );
    assert_eq!(r.status, 403);

    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        0,
        "origin was contacted"
    );
    let d = proxy.decisions();
    assert_eq!(d.len(), 7);
    assert!(d.iter().all(|d| !d.allowed));
    assert_eq!(
        d[0].to_string(),
        format!("seal: proxy refused POST {url}: upload methods are refused")
    );
    assert!(d[6].reason.contains("request bodies are refused"));
}

#[test]
fn origin_form_request_is_refused() {
    let origin = Origin::start();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));
    let r = request(
        addr,
        &format!(
            "GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("origin-form"));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    assert!(!proxy.decisions()[0].allowed);
}

#[test]
fn https_absolute_form_and_other_hosts_are_refused() {
    let origin = Origin::start();
    let (_proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));
    let r = request(
        addr,
        &format!(
            "GET https://127.0.0.1:{}/ HTTP/1.1\r\nHost: x\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 400);
    let r = request(
        addr,
        "GET http://evil.invalid/ HTTP/1.1\r\nHost: evil.invalid\r\n\r\n",
    );
    assert_eq!(r.status, 403);
    // Default port 80 is not the allowed port.
    let r = request(addr, "GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("port not in the index allowlist"));
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn malformed_requests_get_400_and_the_proxy_keeps_serving() {
    let origin = Origin::start();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", origin.port)]));

    let garbage: [&[u8]; 4] = [
        b"\x16\x03\x01\x00\x05hello\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/9.9\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.1\r\nBad Header\r\n\r\n",
    ];
    for g in garbage {
        let mut s = connect(addr);
        s.write_all(g).unwrap();
        let r = read_response(&mut s, false);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(g));
    }
    // Headers past the limit: 431.
    let mut s = connect(addr);
    let big = format!(
        "GET http://127.0.0.1:{}/ HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        origin.port,
        "a".repeat(100_000)
    );
    let _ = s.write_all(big.as_bytes());
    let head = read_head(&mut s).expect("no answer to oversized headers");
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");

    // Still serving.
    let r = request(
        addr,
        &format!(
            "GET http://127.0.0.1:{}/ HTTP/1.1\r\nHost: x\r\n\r\n",
            origin.port
        ),
    );
    assert_eq!(r.status, 200);
    assert!(proxy
        .decision_lines()
        .iter()
        .any(|l| l.contains("malformed request")));
}
