//! Streams handed to the proxy instead of accepted from a listener (sandboxes without TCP).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;

/// One end goes to the proxy; the test talks on the other, as the sandbox would.
fn injected(proxy: &seal_net::ProxyHandle) -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    ours.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    proxy.serve_stream(theirs).unwrap();
    ours
}

fn connect_on(s: &mut UnixStream, target: &str) -> Resp {
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut r = parse_head(&read_head(s).expect("no CONNECT answer"));
    if let Some(n) = r.header("content-length") {
        let mut body = vec![0u8; n.parse().unwrap()];
        s.read_exact(&mut body).unwrap();
        r.body = String::from_utf8_lossy(&body).into_owned();
    }
    r
}

#[test]
fn injected_stream_is_served_under_the_same_policy() {
    let echo = Echo::start();
    let proxy = seal_net::start_without_listener(policy(&[("127.0.0.1", echo.port)])).unwrap();

    let mut s = injected(&proxy);
    let r = connect_on(&mut s, &format!("127.0.0.1:{}", echo.port));
    assert_eq!(r.status_line, "HTTP/1.1 200 Connection established");
    roundtrip(&mut s, b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n");

    let mut s = injected(&proxy);
    let r = connect_on(&mut s, &format!("127.0.0.2:{}", echo.port));
    assert_eq!(r.status, 403);
    assert!(r.body.starts_with("seal: proxy refused CONNECT 127.0.0.2:"));

    let lines = proxy.decision_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "seal: proxy allowed CONNECT 127.0.0.1:{}: in the index allowlist",
            echo.port
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "seal: proxy refused CONNECT 127.0.0.2:{}: host not in the index allowlist",
            echo.port
        )
    );
}

#[test]
fn injector_works_from_another_thread_next_to_a_listener() {
    let echo = Echo::start();
    let (proxy, addr) = start_proxy(policy(&[("localhost", echo.port)]));
    let injector = proxy.stream_injector();
    let port = echo.port;
    let t = std::thread::spawn(move || {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        injector.serve_stream(theirs).unwrap();
        let r = connect_on(&mut ours, &format!("localhost:{port}"));
        assert_eq!(r.status, 200);
        roundtrip(&mut ours, &client_hello(Some("localhost")));
    });
    // The listener still serves TCP clients meanwhile.
    let (mut s, r) = connect_via(addr, &format!("localhost:{port}"));
    assert_eq!(r.status, 200);
    roundtrip(&mut s, &client_hello(Some("localhost")));
    t.join().unwrap();
}

#[test]
fn injected_streams_count_under_the_cap() {
    let echo = Echo::start();
    let mut p = policy(&[("localhost", echo.port)]);
    p.max_connections = 1;
    let proxy = seal_net::start_without_listener(p).unwrap();

    let mut tunnel = injected(&proxy);
    assert_eq!(
        connect_on(&mut tunnel, &format!("localhost:{}", echo.port)).status,
        200
    );
    roundtrip(&mut tunnel, &client_hello(Some("localhost")));

    let mut over = injected(&proxy);
    let r = read_response(&mut over, false);
    assert_eq!(r.status, 503);
    assert!(
        proxy
            .decision_lines()
            .iter()
            .any(|l| l
                == "seal: proxy refused a connection from unix: too many connections (limit 1)")
    );
    roundtrip(&mut tunnel, b"still here");
}

#[test]
fn serve_stream_fails_once_stopped_and_stop_closes_injected_streams() {
    let echo = Echo::start();
    let mut proxy = seal_net::start_without_listener(policy(&[("localhost", echo.port)])).unwrap();
    let mut s = injected(&proxy);
    assert_eq!(
        connect_on(&mut s, &format!("localhost:{}", echo.port)).status,
        200
    );
    let injector = proxy.stream_injector();
    proxy.stop();

    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("injected stream still open after stop: {other:?}"),
    }
    let (_a, b) = UnixStream::pair().unwrap();
    let e = injector.serve_stream(b).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
}
