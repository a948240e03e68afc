//! Chaining through an upstream HTTP proxy (a fake one on loopback).

mod common;

use std::sync::atomic::Ordering;

use common::*;

const USER: &str = "alice";
const PASSWORD: &str = "s3cr3t-pw";
/// base64("alice:s3cr3t-pw")
const BASIC: &str = "YWxpY2U6czNjcjN0LXB3";

fn chained(allowed: &[(&str, u16)], up: &Upstream) -> seal_net::ProxyPolicy {
    let mut p = policy(allowed);
    p.upstream = Some(
        seal_net::Upstream::from_url(&format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", up.port))
            .unwrap(),
    );
    p
}

fn assert_no_credentials(lines: &[String]) {
    for l in lines {
        assert!(
            !l.contains(PASSWORD) && !l.contains(BASIC) && !l.contains(USER),
            "credential in log: {l}"
        );
    }
}

#[test]
fn connect_goes_through_the_upstream_with_credentials() {
    let echo = Echo::start();
    let up = Upstream::start(None);
    let (proxy, addr) = start_proxy(chained(&[("localhost", echo.port)], &up));

    let (mut s, r) = connect_via(addr, &format!("localhost:{}", echo.port));
    assert_eq!(r.status, 200);
    roundtrip(&mut s, &client_hello(Some("localhost")));
    roundtrip(&mut s, b"through two proxies");

    let heads = up.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with(&format!("CONNECT localhost:{} HTTP/1.1\r\n", echo.port)),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains(&format!("\r\nProxy-Authorization: Basic {BASIC}\r\n")),
        "{}",
        heads[0]
    );
    assert_eq!(echo.connections.load(Ordering::SeqCst), 1);
    assert_no_credentials(&proxy.decision_lines());
}

#[test]
fn refused_targets_never_reach_the_upstream() {
    let up = Upstream::start(None);
    let (proxy, addr) = start_proxy(chained(&[("localhost", 9)], &up));
    let (_s, r) = connect_via(addr, "evil.invalid:443");
    assert_eq!(r.status, 403);
    let r = request(
        addr,
        "POST http://localhost:9/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(r.status, 405);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(up.heads.lock().unwrap().is_empty());
    assert_no_credentials(&proxy.decision_lines());
}

#[test]
fn plain_get_goes_to_the_upstream_in_absolute_form() {
    let up = Upstream::start(None);
    let (proxy, addr) = start_proxy(chained(&[("127.0.0.1", 8765)], &up));

    let r = request(
        addr,
        "GET http://127.0.0.1:8765/simple/?q=1 HTTP/1.1\r\nHost: x\r\n\
         Proxy-Authorization: Basic c2FuZGJveDpzYW5kYm94\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!((r.status, r.body.as_str()), (200, "via upstream"));

    let heads = up.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    let head = &heads[0];
    assert!(
        head.starts_with("GET http://127.0.0.1:8765/simple/?q=1 HTTP/1.1\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nhost: 127.0.0.1:8765\r\n"), "{head}");
    // Our credentials, not the sandbox's.
    assert!(head.contains(&format!("Basic {BASIC}")), "{head}");
    assert!(!head.contains("c2FuZGJveDpzYW5kYm94"), "{head}");
    assert_eq!(lower.matches("proxy-authorization").count(), 1);
    assert_no_credentials(&proxy.decision_lines());
}

#[test]
fn upstream_refusal_becomes_502_without_leaking_credentials() {
    let up = Upstream::start(Some(407));
    let (proxy, addr) = start_proxy(chained(&[("localhost", 9)], &up));
    let (_s, r) = connect_via(addr, "localhost:9");
    assert_eq!(r.status, 502);
    assert!(r.body.contains("407"), "{}", r.body);
    assert_no_credentials(std::slice::from_ref(&r.body));
    let lines = proxy.decision_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("upstream proxy answered 407")),
        "{lines:?}"
    );
    assert_no_credentials(&lines);
}
