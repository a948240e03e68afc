//! `seal run --allow-net HOST[:PORT]`: the named host is reachable through seal's proxy on the
//! host, and nothing else is: another name, an IP literal not named exactly, a tunnel whose TLS
//! names another host, a port not named, raw TCP. Every listener is on host loopback (the
//! "named host" is `localhost`, which seal's proxy resolves on the host); the refused name is
//! in `.invalid`, which the proxy never resolves since it is refused first.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::isolation::probes::Mode;
use support::isolation::*;

const REQUESTS: &str = include_str!("probes/allow_net/requests.py");

/// An HTTP/1 origin on 127.0.0.1 answering `origin-ok` and recording each request (head and
/// Content-Length body) as text.
struct Origin {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    fn start() -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let r = requests.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let r = r.clone();
                thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut got = Vec::new();
                    let mut b = [0u8; 1];
                    while !got.ends_with(b"\r\n\r\n") {
                        match s.read(&mut b) {
                            Ok(1) => got.push(b[0]),
                            _ => break,
                        }
                    }
                    if got.is_empty() {
                        return;
                    }
                    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
                    let n: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; n];
                    let _ = s.read_exact(&mut body);
                    got.extend_from_slice(&body);
                    r.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&got).into_owned());
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\norigin-ok",
                    );
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        Origin { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

#[test]
fn only_the_named_host_is_reachable_through_the_proxy() {
    each_variant(|v| {
        let env = TestEnv::new(v, "allow-net");
        let origin = Origin::start();
        let sink = Sink::tcp();
        let probe = env.probe("requests", REQUESTS);
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[
            ("origin", origin.port.to_string()),
            ("sink", sink.port.to_string()),
            ("marker", jstr(&marker)),
        ]);
        let allow = format!("localhost:{}", origin.port);

        let out = Mode::Namespaces.run_ok(&env, &probe, &args, &["--allow-net", &allow]);
        let p = out.probe();
        p.expect_eq("https_proxy", "http://127.0.0.1:3128");
        // The allowed loopback name goes through the proxy; the literals stay in the sandbox.
        p.expect_eq("no_proxy", "127.0.0.1,::1");
        p.expect_eq("named_get", "origin-ok");
        p.expect_eq("named_post", "origin-ok");
        p.expect_eq("other_name", "HTTP403");
        p.expect_eq("literal_direct", "ECONNREFUSED");
        p.expect_eq("literal_via_proxy", "HTTP403");
        p.expect_eq("sni_mismatch", "CLOSED");
        p.expect_eq("connect_other_port", "CONNECT403");
        p.expect_eq("connect_literal", "CONNECT403");
        p.expect_eq("raw_tcp", "ECONNREFUSED");

        // The origin saw exactly the two allowed requests, the POST with its body; the tunnel
        // with the wrong SNI was closed before any of its bytes reached it.
        let seen = origin.requests();
        assert_eq!(seen.len(), 2, "{seen:#?}");
        assert!(
            seen[0].starts_with(&format!("GET /get-{marker} HTTP/1.1")),
            "{seen:#?}"
        );
        assert!(seen[1].starts_with("POST /post HTTP/1.1"), "{seen:#?}");
        assert!(seen[1].ends_with(&format!("body-{marker}")), "{seen:#?}");
        sink.assert_untouched("a port and an IP literal not named by --allow-net");

        // Refusals are printed, each naming what was refused and why.
        for line in [
            format!("seal: proxy refused GET http://not-allowed.invalid:{}/: host not in --allow-net", origin.port),
            format!("seal: proxy refused GET http://127.0.0.1:{}/: host not in --allow-net", sink.port),
            format!("seal: proxy refused CONNECT localhost:{}: port not in --allow-net for this host", sink.port),
            format!("seal: proxy refused CONNECT localhost:{}: TLS SNI does not match the CONNECT host (SNI evil.invalid)", origin.port),
        ] {
            assert!(out.stderr.contains(&line), "missing {line:?}\n{}", out.describe());
        }
    });
}

#[test]
fn without_allow_net_the_same_requests_reach_nothing() {
    each_variant(|v| {
        let env = TestEnv::new(v, "no-allow-net");
        let origin = Origin::start();
        let sink = Sink::tcp();
        let probe = env.probe("requests", REQUESTS);
        let args = jobj(&[
            ("origin", origin.port.to_string()),
            ("sink", sink.port.to_string()),
            ("marker", jstr("m")),
        ]);
        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        p.expect_eq("https_proxy", "");
        p.expect_eq("named_get", "ECONNREFUSED");
        p.expect_eq("raw_tcp", "ECONNREFUSED");
        assert!(origin.requests().is_empty());
        sink.assert_untouched("a run without --allow-net");
    });
}

#[test]
fn the_policy_key_allows_the_same_and_the_command_line_replaces_it() {
    each_variant(|v| {
        let env = TestEnv::new(v, "allow-net-policy");
        let origin = Origin::start();
        let sink = Sink::tcp();
        let probe = env.probe("requests", REQUESTS);
        let args = jobj(&[
            ("origin", origin.port.to_string()),
            ("sink", sink.port.to_string()),
            ("marker", jstr("m")),
        ]);
        env.write_owned(
            &env.project.join("seal.toml"),
            &format!("[run]\nallow_net = [\"localhost:{}\"]\n", origin.port),
            0o644,
        );
        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        p.expect_eq("named_get", "origin-ok");

        // Nothing listens on port 1, and the probe never asks for it.
        let p = Mode::Namespaces
            .run_ok(&env, &probe, &args, &["--allow-net", "localhost:1"])
            .probe();
        p.expect_eq("named_get", "HTTP403");
        // The first run's GET and POST only.
        assert_eq!(origin.requests().len(), 2, "{:#?}", origin.requests());
        sink.assert_untouched("ports not named by --allow-net");
    });
}

#[test]
fn allow_net_without_user_namespaces_is_refused_not_widened() {
    each_variant(|v| {
        let env = TestEnv::new(v, "allow-net-fallback");
        let out = env
            .seal_no_userns()
            .args(&["--allow-net", "localhost:9", "--", "true"])
            .output();
        out.expect_failure();
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("seal:"))
            .collect();
        assert!(
            errors
                .iter()
                .any(|l| l.contains("--allow-net needs a network namespace of its own")),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn bad_targets_are_refused_with_the_reason() {
    each_variant(|v| {
        let env = TestEnv::new(v, "allow-net-bad");
        for (target, why) in [
            ("*", "a wildcard may only be a leading *."),
            ("*.com", "too wide"),
            ("https://api.example.com", "not a URL"),
            ("10.0.0.0/8", "name each host"),
            ("example.com:0", "port"),
        ] {
            let out = env.seal_run(&["--allow-net", target], &["true"]);
            out.expect_failure();
            assert!(
                out.stderr.contains(why) && out.stderr.lines().count() == 1,
                "{target}: {}",
                out.describe()
            );
        }
    });
}
