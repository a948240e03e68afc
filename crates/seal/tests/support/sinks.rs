//! Sinks: listeners on host loopback only (127.0.0.1, an abstract Unix socket, a path Unix
//! socket) recording whatever reaches them. No test sends anything anywhere else.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::{random_hex, set_mode, wait_until};

/// What a sink saw.
#[derive(Default)]
struct SinkLog {
    connections: AtomicUsize,
    data: Mutex<Vec<u8>>,
}

/// An accepted connection of a sink.
trait Conn: Read + Send + 'static {
    fn read_timeout(&self, d: Duration);
}

impl Conn for TcpStream {
    fn read_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
}

impl Conn for UnixStream {
    fn read_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
}

/// Record what `conn` sends until it closes or is silent for `timeout`.
fn drain(mut conn: impl Conn, timeout: Duration, log: &SinkLog) {
    conn.read_timeout(timeout);
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        log.data.lock().unwrap().extend_from_slice(&buf[..n]);
    }
}

/// A listener on host loopback (TCP 127.0.0.1, UDP 127.0.0.1, abstract or path Unix socket)
/// recording every connection or datagram it receives. The UDP sink answers each datagram.
pub struct Sink {
    /// TCP/UDP port, or 0.
    pub port: u16,
    /// Abstract socket name (without the leading NUL) or socket path, for Unix sinks.
    pub name: String,
    log: Arc<SinkLog>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// Accept connections until dropped, reading each until it closes or is silent for
    /// `timeout`: one after the other, or each on a thread of its own (`concurrent`).
    fn accept_loop<S: Conn>(
        mut accept: impl FnMut() -> io::Result<S> + Send + 'static,
        timeout: Duration,
        concurrent: bool,
    ) -> (Arc<SinkLog>, Arc<AtomicBool>) {
        let log = Arc::new(SinkLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match accept() {
                    Ok(conn) => {
                        l.connections.fetch_add(1, Ordering::SeqCst);
                        if concurrent {
                            let l = l.clone();
                            thread::spawn(move || drain(conn, timeout, &l));
                        } else {
                            drain(conn, timeout, &l);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        (log, stop)
    }

    fn tcp_reading(timeout: Duration, concurrent: bool) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (log, stop) = Self::accept_loop(
            move || {
                let (c, _) = listener.accept()?;
                c.set_nonblocking(false)?;
                Ok(c)
            },
            timeout,
            concurrent,
        );
        Sink {
            port,
            name: String::new(),
            log,
            stop,
        }
    }

    /// A TCP listener on 127.0.0.1:0 reading one connection at a time (each until it is
    /// silent for 2 s).
    pub fn tcp() -> Sink {
        Self::tcp_reading(Duration::from_secs(2), false)
    }

    /// A TCP listener on 127.0.0.1:0 reading every connection at once, each on its own thread
    /// (until it is silent for 3 s): for clients that keep several connections open.
    pub fn tcp_concurrent() -> Sink {
        Self::tcp_reading(Duration::from_secs(3), true)
    }

    /// A listener on the host's abstract Unix socket `\0seal-test-<random>`.
    pub fn abstract_unix() -> Sink {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("seal-test-{}", random_hex(8));
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        let listener = UnixListener::bind_addr(&addr).expect("bind abstract socket");
        listener.set_nonblocking(true).unwrap();
        Self::unix(listener, name)
    }

    /// A listener on a path Unix socket (mode 0777 so any uid may connect).
    pub fn path_unix(path: &Path) -> Sink {
        let listener = UnixListener::bind(path).expect("bind unix socket");
        set_mode(path, 0o777);
        listener.set_nonblocking(true).unwrap();
        Self::unix(listener, path.to_str().unwrap().to_string())
    }

    fn unix(listener: UnixListener, name: String) -> Sink {
        let (log, stop) = Self::accept_loop(
            move || {
                let (c, _) = listener.accept()?;
                c.set_nonblocking(false)?;
                Ok(c)
            },
            Duration::from_secs(2),
            false,
        );
        Sink {
            port: 0,
            name,
            log,
            stop,
        }
    }

    /// A UDP "DNS stub" on 127.0.0.1:0: records every datagram and answers it.
    pub fn udp_dns() -> Sink {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let log = Arc::new(SinkLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    l.connections.fetch_add(1, Ordering::SeqCst);
                    l.data.lock().unwrap().extend_from_slice(&buf[..n]);
                    // Answer: the query with the QR bit set (enough for the probe to see a reply).
                    let mut reply = buf[..n].to_vec();
                    if reply.len() > 2 {
                        reply[2] |= 0x80;
                    }
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Sink {
            port,
            name: String::new(),
            log,
            stop,
        }
    }

    /// Connections accepted (TCP/Unix) or datagrams received (UDP).
    pub fn hits(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.log.data.lock().unwrap()).into_owned()
    }

    /// Wait a little, then assert nothing at all reached the sink.
    pub fn assert_untouched(&self, what: &str) {
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            self.hits(),
            0,
            "{what}: the host sink was reached; it received {:?}",
            self.received()
        );
        assert!(self.received().is_empty());
    }

    /// Positive control: wait until the sink received `needle`.
    pub fn assert_received(&self, needle: &str, what: &str) {
        let ok = wait_until(Duration::from_secs(10), || self.received().contains(needle));
        assert!(
            ok,
            "{what}: positive control: the sink did not receive {needle:?} (hits {}, got {:?})",
            self.hits(),
            self.received()
        );
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
