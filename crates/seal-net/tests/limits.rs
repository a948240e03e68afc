//! Connection cap, idle timeout, stop.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn connections_over_the_cap_get_503_and_are_logged() {
    let echo = Echo::start();
    let mut p = policy(&[("localhost", echo.port)]);
    p.max_connections = 2;
    let (proxy, addr) = start_proxy(p);

    // Two tunnels hold both slots.
    let (mut a, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 200);
    roundtrip(&mut a, &client_hello(Some("localhost")));
    let (mut b, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 200);
    roundtrip(&mut b, &client_hello(Some("localhost")));

    let mut c = connect(addr);
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 503);
    assert!(proxy
        .decision_lines()
        .iter()
        .any(|l| l.contains("refused a connection from 127.0.0.1:")
            && l.contains("too many connections (limit 2)")));

    // The tunnels still work, and closing one frees its slot.
    roundtrip(&mut a, b"still here");
    drop(b);
    assert!(eventually(|| {
        let (_s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
        r.status == 200
    }));
}

#[test]
fn idle_tunnel_is_closed_and_busy_one_is_not() {
    let echo = Echo::start();
    let mut p = policy(&[("localhost", echo.port)]);
    p.idle_timeout = Duration::from_millis(600);
    let (_proxy, addr) = start_proxy(p);

    // Busy: traffic every 100 ms for 1.8 s, three idle timeouts' worth.
    let (mut busy, _) = connect_via(addr, &format!("localhost:{}", echo.port));
    roundtrip(&mut busy, &client_hello(Some("localhost")));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1800) {
        roundtrip(&mut busy, b"ping");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Idle: closed after about the timeout.
    let (mut idle, _) = connect_via(addr, &format!("localhost:{}", echo.port));
    roundtrip(&mut idle, &client_hello(Some("localhost")));
    let t = Instant::now();
    assert!(
        closes_within(&mut idle, Duration::from_secs(3)),
        "idle tunnel stayed open"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "closed too early: {:?}",
        t.elapsed()
    );
}

#[test]
fn idle_connection_before_any_request_is_closed() {
    let mut p = policy(&[("localhost", 1)]);
    p.idle_timeout = Duration::from_millis(300);
    let (_proxy, addr) = start_proxy(p);
    let mut s = connect(addr);
    assert!(closes_within(&mut s, Duration::from_secs(3)));
}

#[test]
fn stop_closes_tunnels_and_the_listener() {
    let echo = Echo::start();
    let (mut proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));
    let (mut s, _) = connect_via(addr, &format!("localhost:{}", echo.port));
    roundtrip(&mut s, &client_hello(Some("localhost")));

    let t = Instant::now();
    proxy.stop();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(closes_within(&mut s, Duration::from_secs(2)));
    // The listening socket is gone: a connection is refused, or accepted by nothing and closed.
    if let Ok(mut s) = std::net::TcpStream::connect(addr) {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(b"GET http://localhost:1/ HTTP/1.1\r\n\r\n");
        let mut buf = [0u8; 16];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    proxy.stop(); // idempotent
    assert_eq!(proxy.decisions().len(), 1);
}

#[test]
fn bad_policies_are_rejected_at_start() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut p = policy(&[("localhost", 1)]);
    p.max_connections = 0;
    assert!(seal_net::start(l, p).is_err());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(seal_net::start(l, policy(&[("", 443)])).is_err());
}

/// seal's CLI may itself be async: starting, using and dropping the proxy there must not panic.
#[tokio::test(flavor = "current_thread")]
async fn usable_from_inside_an_async_context() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));
    let port = echo.port;
    tokio::task::spawn_blocking(move || {
        let (mut s, r) = connect_via(addr, &format!("localhost:{port}"));
        assert_eq!(r.status, 200);
        roundtrip(&mut s, &client_hello(Some("localhost")));
    })
    .await
    .unwrap();
    assert_eq!(proxy.decisions().len(), 1);
    drop(proxy);
}
