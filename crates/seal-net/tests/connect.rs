//! CONNECT tunnels: allowlist, SNI gate, plain bytes only to loopback literals.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use common::*;

#[test]
fn allowed_connect_tunnels_bytes_both_ways() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));

    let (mut s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status_line, "HTTP/1.1 200 Connection established");
    roundtrip(&mut s, &client_hello(Some("localhost")));
    for i in 0..20 {
        roundtrip(&mut s, format!("application data {i}").as_bytes());
    }
    let big = vec![0x5a; 256 * 1024];
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&big).unwrap());
    let mut back = vec![0u8; 256 * 1024];
    std::io::Read::read_exact(&mut s, &mut back).unwrap();
    writer.join().unwrap();
    assert!(back.iter().all(|&b| b == 0x5a));

    let d = proxy.decisions();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].allowed);
    assert_eq!(
        (d[0].method.as_str(), d[0].target.as_str()),
        ("CONNECT", &*format!("localhost:{}", echo.port))
    );
}

#[test]
fn sni_is_compared_case_insensitively() {
    let echo = Echo::start();
    let (_proxy, addr) = start_proxy(policy(&[("LocalHost", echo.port)]));
    let (mut s, r) = connect_via(addr, &format!("LOCALHOST:{}", echo.port));
    assert_eq!(r.status, 200);
    roundtrip(&mut s, &client_hello(Some("localHOST")));
}

#[test]
fn plain_bytes_allowed_only_to_loopback_ip_literal() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[
        ("127.0.0.1", echo.port),
        ("localhost", echo.port),
    ]));

    // Loopback IP literal: a plain-HTTP test index is reachable through CONNECT.
    let (mut s, r) = connect_via(addr, &format!("127.0.0.1:{}", echo.port));
    assert_eq!(r.status, 200);
    roundtrip(&mut s, b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n");

    // A name must speak TLS.
    let before = echo.bytes.load(Ordering::SeqCst);
    let (mut s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 200);
    s.write_all(b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closes_within(&mut s, Duration::from_secs(3)));
    assert_eq!(
        echo.bytes.load(Ordering::SeqCst),
        before,
        "non-TLS bytes reached the origin"
    );
    let lines = proxy.decision_lines();
    assert!(lines.iter().any(|l| l.contains("not TLS")), "{lines:#?}");
}

#[test]
fn client_hello_without_sni_only_to_ip_literal() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[
        ("127.0.0.1", echo.port),
        ("localhost", echo.port),
    ]));

    let (mut s, _) = connect_via(addr, &format!("127.0.0.1:{}", echo.port));
    roundtrip(&mut s, &client_hello(None));

    let before = echo.bytes.load(Ordering::SeqCst);
    let (mut s, _) = connect_via(addr, &format!("localhost:{}", echo.port));
    s.write_all(&client_hello(None)).unwrap();
    assert!(closes_within(&mut s, Duration::from_secs(3)));
    assert_eq!(echo.bytes.load(Ordering::SeqCst), before);
    assert!(proxy
        .decision_lines()
        .iter()
        .any(|l| l.contains("without SNI")));
}

#[test]
fn sni_mismatch_is_closed_and_logged() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));

    let (mut s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 200);
    s.write_all(&client_hello(Some("evil.invalid"))).unwrap();
    assert!(
        closes_within(&mut s, Duration::from_secs(3)),
        "tunnel stayed open"
    );
    assert_eq!(
        echo.bytes.load(Ordering::SeqCst),
        0,
        "the fronted ClientHello reached the origin"
    );

    let d = proxy.decisions();
    let refused: Vec<_> = d.iter().filter(|d| !d.allowed).collect();
    assert_eq!(refused.len(), 1, "{d:?}");
    assert!(refused[0].reason.contains("SNI does not match"), "{d:?}");
    assert!(refused[0].reason.contains("evil.invalid"));
}

#[test]
fn disallowed_host_refused_with_403_and_logged() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));

    // ".invalid" never resolves, and the proxy refuses before any lookup anyway.
    let (_s, r) = connect_via(addr, "evil.invalid:443");
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("host not in the index allowlist"),
        "{}",
        r.body
    );
    assert_eq!(
        proxy.decision_lines(),
        ["seal: proxy refused CONNECT evil.invalid:443: host not in the index allowlist"]
    );
}

#[test]
fn disallowed_port_refused_with_403_and_logged() {
    let echo = Echo::start();
    let other = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));

    let (_s, r) = connect_via(addr, &format!("localhost:{}", other.port));
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("port not in the index allowlist"),
        "{}",
        r.body
    );
    thread::sleep(Duration::from_millis(100));
    assert_eq!(other.connections.load(Ordering::SeqCst), 0);
    let d = proxy.decisions();
    assert_eq!(d.len(), 1);
    assert!(!d[0].allowed && d[0].reason.contains("port"));
}

#[test]
fn name_and_ip_literal_are_distinct_rules() {
    let echo = Echo::start();

    // Only the name is listed: the literal it resolves to is still refused.
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));
    let (_s, r) = connect_via(addr, &format!("127.0.0.1:{}", echo.port));
    assert_eq!(r.status, 403);
    let (_s, r) = connect_via(addr, &format!("[::1]:{}", echo.port));
    assert_eq!(r.status, 403);
    assert_eq!(proxy.decisions().iter().filter(|d| !d.allowed).count(), 2);

    // Only the literal is listed: the name is refused.
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", echo.port)]));
    let (_s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 403);
    assert!(proxy.decision_lines()[0].contains("host not in the index allowlist"));

    thread::sleep(Duration::from_millis(100));
    assert_eq!(echo.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn bad_connect_targets_get_400() {
    let (proxy, addr) = start_proxy(policy(&[("localhost", 1)]));
    let (_s, r) = connect_via(addr, "localhost");
    assert!(r.status == 400, "{r:?}");
    let (_s, r) = connect_via(addr, "user:pw@localhost:1");
    assert!(r.status == 400, "{r:?}");
    // The userinfo must not reach the log.
    assert!(proxy.decision_lines().iter().all(|l| !l.contains("pw")));
}

#[test]
fn unreachable_allowed_target_gets_502() {
    // Bind then drop to get a loopback port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (proxy, addr) = start_proxy(policy(&[("127.0.0.1", port)]));
    let (_s, r) = connect_via(addr, &format!("127.0.0.1:{port}"));
    assert_eq!(r.status, 502);
    assert!(proxy
        .decision_lines()
        .iter()
        .any(|l| l.contains("could not connect")));
}

#[test]
fn http_1_0_connect_works() {
    // Older Python http.client tunnels with "CONNECT host:port HTTP/1.0".
    let echo = Echo::start();
    let (_proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));
    let mut s = connect(addr);
    write!(s, "CONNECT localhost:{} HTTP/1.0\r\n\r\n", echo.port).unwrap();
    let head = read_head(&mut s).expect("no answer");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    roundtrip(&mut s, &client_hello(Some("localhost")));
}
