//! `--publish`: a host loopback port into the sandbox through seal's HTTP bridge, as the
//! calling user and (when that is root) as uid 65534. Every connection in these tests is to
//! 127.0.0.1.

mod support;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::cli::*;

/// Serves the project directory on 127.0.0.1:8000 inside, after trying the host's loopback
/// sink (which must be unreachable: the sandbox's loopback is its own).
const SERVER: &str = include_str!("probes/publish/server.py");

/// The project of every test: the server and the page it serves.
const FILES: &[(&str, &str)] = &[
    ("serve.py", SERVER),
    ("index.html", "<p>hello from the sandbox</p>\n"),
];

fn seal_cmd(s: &Scratch, uid: Option<u32>, args: &[&str]) -> Command {
    let mut c = s.command(uid, args);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A host loopback listener counting the connections it accepts.
fn sink() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            if c.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, hits)
}

/// One HTTP/1.1 request with the given extra headers; the whole response as text.
fn get(port: u16, host: &str, extra: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "GET /index.html HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until the server inside answers through the bridge.
fn wait_served(port: u16, host: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(r) = get(port, host, "") {
            if status_line(&r).contains(" 200 ") {
                return r;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the published server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

#[test]
fn published_server_is_reachable_guarded_and_cannot_reach_the_host() {
    for uid in users() {
        let s = scratch(uid, FILES);
        let (sink_port, hits) = sink();
        let host_port = free_port();
        let mut child = seal_cmd(
            &s,
            uid,
            &[
                "run",
                "--python",
                "/usr/bin/python3",
                "--publish",
                &format!("{host_port}:8000"),
                "--",
                "python3",
                "serve.py",
                &sink_port.to_string(),
            ],
        )
        .spawn()
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let running0 = Running { child };
        let err_lines = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let mut out = BufReader::new(stdout);
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(
            first.starts_with("HOST-LOOPBACK REFUSED"),
            "uid {uid:?}: the sandbox reached the host's loopback: {first}"
        );
        let host = format!("127.0.0.1:{host_port}");
        let ok = wait_served(host_port, &host);
        assert!(ok.contains("hello from the sandbox"), "{ok}");
        let csp = header(&ok, "content-security-policy").expect("a CSP header");
        assert!(
            csp.contains("connect-src") && csp.contains("default-src 'self'"),
            "{csp}"
        );
        let by_name = get(host_port, &format!("localhost:{host_port}"), "").unwrap();
        assert!(status_line(&by_name).contains(" 200 "), "{by_name}");
        let same_origin = get(
            host_port,
            &host,
            &format!("Origin: http://127.0.0.1:{host_port}\r\n"),
        )
        .unwrap();
        assert!(status_line(&same_origin).contains(" 200 "), "{same_origin}");

        // DNS rebinding: a page of another site whose name now resolves to 127.0.0.1.
        let rebound = get(host_port, &format!("evil.example:{host_port}"), "").unwrap();
        assert!(status_line(&rebound).contains(" 403 "), "{rebound}");
        // A page of another site posting to the port.
        let foreign = get(host_port, &host, "Origin: http://evil.example\r\n").unwrap();
        assert!(status_line(&foreign).contains(" 403 "), "{foreign}");
        let null_origin = get(host_port, &host, "Origin: null\r\n").unwrap();
        assert!(status_line(&null_origin).contains(" 403 "), "{null_origin}");

        // Asked to stop like a user's kill: seal forwards it, and reports at exit.
        Command::new("kill")
            .args(["-TERM", &running0.child.id().to_string()])
            .status()
            .unwrap();
        let mut running = running0;
        let start = Instant::now();
        while running.child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "seal ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(running);
        let err = err_lines.join().unwrap().join("\n");
        assert!(err.contains("publishing http://127.0.0.1:"), "{err}");
        assert!(err.contains("refused"), "refusals are reported: {err}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "uid {uid:?}: the host sink was reached"
        );
    }
}

#[test]
fn publish_errors_are_one_line() {
    for uid in users() {
        let s = scratch(uid, FILES);
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port().to_string();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--publish", &port], "cannot listen on 127.0.0.1:"),
            (vec!["--publish", "0"], "expected PORT or HOSTPORT:PORT"),
            (vec!["--publish", "80:"], "expected PORT or HOSTPORT:PORT"),
            (
                vec!["--publish", "8000", "--publish-addr", "0.0.0.0"],
                "refusing every interface",
            ),
        ];
        for (flags, want) in cases {
            let mut args = vec!["run", "--python", "/usr/bin/python3"];
            args.extend(flags.iter().copied());
            args.extend(["--", "true"]);
            let o = seal_cmd(&s, uid, &args).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(125), "{args:?}: {}", text(&o));
            assert!(err.contains(want), "{args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
        drop(busy);
    }
}
