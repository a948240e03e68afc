//! `--publish [HOSTPORT:]PORT`: one host port forwarded to a server on the sandbox's own
//! loopback, through seal's HTTP bridge (seal-net) and the engine's connector.
//!
//! The host socket is bound before the sandbox starts, so a port in use is a one-line error
//! and not a half-started run. The bridge checks Host and Origin (DNS rebinding) and adds a
//! Content-Security-Policy to every response, because the server inside is untrusted code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// One `--publish` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub host_port: u16,
    pub port: u16,
}

impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host_port, self.port)
    }
}

impl std::str::FromStr for Publish {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for Publish {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::values::from_text(d)
    }
}

/// "8000" (the same port on both sides) or "9000:8000" (host 9000 to port 8000 inside).
pub fn parse(s: &str) -> Result<Publish, String> {
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{s:?}: expected PORT or HOSTPORT:PORT with ports 1-65535, e.g. 8000 or 9000:8000"
            )),
        }
    };
    match s.split_once(':') {
        Some((h, p)) => Ok(Publish {
            host_port: port(h)?,
            port: port(p)?,
        }),
        None => {
            let p = port(s)?;
            Ok(Publish {
                host_port: p,
                port: p,
            })
        }
    }
}

/// The host address ports are published on: loopback unless the user names another one.
/// The unspecified address is refused: the Host check needs to know the one name the browser
/// will use, and every interface is never what a sandbox user means.
pub fn address(addr: Option<IpAddr>) -> Result<IpAddr> {
    match addr {
        None => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Some(a) if a.is_unspecified() => bail!(
            "--publish-addr {a}: refusing every interface; give the one address the browser will use"
        ),
        Some(a) => {
            if !a.is_loopback() {
                eprintln!(
                    "seal: warning: --publish-addr {a}: published ports are reachable from other machines on that network"
                );
            }
            Ok(a)
        }
    }
}

/// Bind every host socket now. Each published host port must be distinct.
pub fn bind(addr: IpAddr, publishes: &[Publish]) -> Result<Vec<(Publish, TcpListener)>> {
    let mut out: Vec<(Publish, TcpListener)> = Vec::new();
    for p in publishes {
        if out.iter().any(|(q, _)| q.host_port == p.host_port) {
            bail!("--publish: host port {} is given twice", p.host_port);
        }
        let l = TcpListener::bind((addr, p.host_port)).map_err(|e| {
            anyhow::anyhow!(
                "--publish {p}: cannot listen on {}: {e}; choose another host port with --publish HOSTPORT:{}",
                host_and_port(addr, p.host_port),
                p.port
            )
        })?;
        out.push((*p, l));
    }
    Ok(out)
}

pub fn host_and_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V6(a) => format!("[{a}]:{port}"),
        IpAddr::V4(a) => format!("{a}:{port}"),
    }
}

/// The Host header values a browser sends for this port: the address itself, and `localhost`
/// for the addresses that name resolves to.
pub fn allowed_hosts(addr: IpAddr, host_port: u16) -> Vec<String> {
    let mut v = vec![host_and_port(addr, host_port)];
    if addr == IpAddr::V4(Ipv4Addr::LOCALHOST) || addr == IpAddr::V6(Ipv6Addr::LOCALHOST) {
        v.push(format!("localhost:{host_port}"));
    }
    v
}

/// A loopback address of this run's own, 127.A.B.C outside 127.0.0.0/16 (where 127.0.0.1, the
/// 127.0.1.1 hostname entry and systemd-resolved's 127.0.0.53 live), from 24 random bits.
/// A browser keeps cookies per host, not per port: on an address no other service uses, the
/// sandboxed page neither receives nor sets cookies of the user's other local web services,
/// and starts with no storage left by earlier servers.
pub fn private_loopback(random: [u8; 3]) -> Ipv4Addr {
    let [a, b, c] = random;
    Ipv4Addr::new(127, a.clamp(1, 254), b, c.clamp(1, 254))
}

/// Windows reaches a WSL 2 machine's servers through `localhost` forwarding only.
pub fn only_localhost_reaches_this_host() -> bool {
    std::path::Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists()
        || std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .is_ok_and(|r| r.to_ascii_lowercase().contains("microsoft"))
}

/// The running bridges; dropping them closes the host ports. Refusals are printed as they
/// happen (a browser tab of another site probing the port is worth knowing about at once).
pub struct Bridges {
    // The printer thread owns the bridges: they close when it ends.
    stop: Arc<AtomicBool>,
    printer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Bridges {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.printer.take() {
            let _ = t.join();
        }
    }
}

/// Print refusals not printed yet; `printed` counts them per bridge.
fn print_new(handles: &[seal_net::PublishHandle], printed: &mut [usize]) {
    for (h, done) in handles.iter().zip(printed.iter_mut()) {
        let lines = h.decision_lines();
        for line in lines.iter().skip(*done) {
            eprintln!("{line}");
        }
        *done = lines.len();
    }
}

/// Serve each bound host socket with a bridge to its port inside.
pub fn start(
    addr: IpAddr,
    bound: Vec<(Publish, TcpListener)>,
    connector: Arc<seal_sandbox::Connector>,
) -> Result<Bridges> {
    let mut handles = Vec::new();
    for (p, listener) in bound {
        let hosts = allowed_hosts(addr, p.host_port);
        let origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        let policy = seal_net::PublishPolicy {
            csp: Some(seal_net::default_csp(&origins)),
            allowed_hosts: hosts,
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
        };
        let c = connector.clone();
        let inner = p.port;
        let connect: seal_net::DialServer = Arc::new(move || c.connect(inner));
        handles.push(seal_net::publish(listener, connect, policy)?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut printed = vec![0; handles.len()];
            while !stop.load(Ordering::SeqCst) {
                print_new(&handles, &mut printed);
                std::thread::sleep(Duration::from_millis(200));
            }
            print_new(&handles, &mut printed);
        })
    };
    Ok(Bridges {
        stop,
        printer: Some(printer),
    })
}

/// Wait until something listens on `port` inside (the server has started), or `limit` passes.
pub fn wait_ready(connector: &seal_sandbox::Connector, port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if connector.connect(port).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse("8000").unwrap(),
            Publish {
                host_port: 8000,
                port: 8000
            }
        );
        assert_eq!(
            parse("9000:8000").unwrap(),
            Publish {
                host_port: 9000,
                port: 8000
            }
        );
        for bad in ["", "0", "70000", "a:80", "80:", ":80", "1:2:3", "-1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert!(address(Some("0.0.0.0".parse().unwrap())).is_err());
        assert!(address(Some("::".parse().unwrap())).is_err());
        assert_eq!(address(None).unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            allowed_hosts("::1".parse().unwrap(), 80),
            vec!["[::1]:80".to_string(), "localhost:80".to_string()]
        );
        // localhost resolves to 127.0.0.1, never to a run's own address.
        assert_eq!(
            allowed_hosts("127.9.8.7".parse().unwrap(), 80),
            vec!["127.9.8.7:80".to_string()]
        );
    }

    #[test]
    fn private_loopback_addresses_stay_clear_of_the_shared_ones() {
        for r in [[0, 0, 0], [0, 0, 1], [255, 255, 255], [1, 0, 0], [7, 8, 9]] {
            let a = private_loopback(r);
            let [_, second, _, last] = a.octets();
            assert!(a.is_loopback(), "{a}");
            assert!(
                second != 0 && second != 255,
                "{a}: in 127.0.0.0/16 or 127.255/16"
            );
            assert!(
                last != 0 && last != 255,
                "{a}: a network or broadcast-looking address"
            );
        }
        assert_eq!(private_loopback([7, 8, 9]), Ipv4Addr::new(127, 7, 8, 9));
    }
}
