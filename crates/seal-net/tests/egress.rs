//! The proxy for a run's named hosts (`Purpose::Egress`): plain HTTP of any method with its body,
//! the same CONNECT and SNI rules as the index, refusals seen by the watcher as they happen.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use seal_net::{DecisionWatcher, ProxyPolicy, Purpose};

fn egress(allowed: &[(&str, u16)]) -> (ProxyPolicy, Arc<Mutex<Vec<String>>>) {
    let mut p = policy(allowed);
    p.purpose = Purpose::Egress;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    p.watcher = Some(DecisionWatcher(Arc::new(move |d| {
        s.lock().unwrap().push(d.to_string());
    })));
    (p, seen)
}

/// An origin that reads one request with a Content-Length body and answers with the method
/// and the body it received.
fn body_echo() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            thread::spawn(move || {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let Some(head) = read_head(&mut s) else {
                    return;
                };
                let n: usize = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.trim().parse().unwrap())
                    .unwrap_or(0);
                let mut body = vec![0u8; n];
                s.read_exact(&mut body).unwrap();
                let method = head.split_whitespace().next().unwrap().to_string();
                let answer = format!("{method} {}", String::from_utf8_lossy(&body));
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    port
}

#[test]
fn a_post_with_its_body_reaches_a_named_host() {
    let port = body_echo();
    let (p, seen) = egress(&[("localhost", port)]);
    let (_proxy, addr) = start_proxy(p);
    let body = r#"{"prompt":"hello"}"#;
    let r = request(
        addr,
        &format!(
            "POST http://localhost:{port}/v1/chat HTTP/1.1\r\nHost: localhost:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, format!("POST {body}"));
    assert_eq!(
        seen.lock().unwrap().clone(),
        [format!(
            "seal: proxy allowed POST http://localhost:{port}/v1/chat: in --allow-net"
        )]
    );
}

#[test]
fn other_hosts_and_literals_are_refused_and_seen_at_once() {
    let port = body_echo();
    let (p, seen) = egress(&[("localhost", port)]);
    let (_proxy, addr) = start_proxy(p);
    let r = request(
        addr,
        &format!("PUT http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"),
    );
    assert_eq!(r.status, 403);
    let (_s, r) = connect_via(addr, "other.invalid:443");
    assert_eq!(r.status, 403);
    assert_eq!(
        seen.lock().unwrap().clone(),
        [
            format!("seal: proxy refused PUT http://127.0.0.1:{port}/x: host not in --allow-net"),
            "seal: proxy refused CONNECT other.invalid:443: host not in --allow-net".to_string(),
        ]
    );
}

#[test]
fn a_tunnel_to_a_named_host_still_needs_tls_with_that_name() {
    let echo = Echo::start();
    let (p, seen) = egress(&[("localhost", echo.port)]);
    let (_proxy, addr) = start_proxy(p);
    let target = format!("localhost:{}", echo.port);

    let (mut s, r) = connect_via(addr, &target);
    assert_eq!(r.status, 200);
    roundtrip(&mut s, &client_hello(Some("localhost")));

    let (mut s, r) = connect_via(addr, &target);
    assert_eq!(r.status, 200);
    s.write_all(&client_hello(Some("evil.invalid"))).unwrap();
    assert!(closes_within(&mut s, IO_TIMEOUT));

    let (mut s, r) = connect_via(addr, &target);
    assert_eq!(r.status, 200);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(closes_within(&mut s, IO_TIMEOUT));

    // The proxy dials each origin before answering 200; the echo server's own thread accepts
    // (and counts) those connections when it gets to them.
    assert!(
        eventually(|| echo.connections.load(std::sync::atomic::Ordering::SeqCst) == 3),
        "the origin saw {} connections, not 3",
        echo.connections.load(std::sync::atomic::Ordering::SeqCst)
    );
    // Only the first tunnel's bytes reached the origin.
    assert_eq!(
        echo.bytes.load(std::sync::atomic::Ordering::SeqCst),
        client_hello(Some("localhost")).len()
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.ends_with("TLS SNI does not match the CONNECT host (SNI evil.invalid)")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.ends_with("not TLS: only TLS is tunnelled to named hosts")),
        "{seen:?}"
    );
}
