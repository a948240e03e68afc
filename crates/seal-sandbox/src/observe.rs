//! Observing the program's calls from the supervisor ([`crate::HandoffRequest::observe`]).
//!
//! The program installs [`crate::seccomp::build_observe_filter`] with a user-notification
//! listener just before the main filter, and hands the listener over on a socket the
//! supervisor reads from the start (the program's own execve stops too). connect(), sendto()
//! with a destination, execve() and execveat() then stop until the supervisor's thread here
//! has read the address or command line from the caller's memory; the call continues
//! unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Nothing is decided here: the sandbox's own
//! rules apply as before, so what was read, which another thread of the caller could change
//! between the read and the kernel's own, is a record only.
//!
//! Not seen: sendmsg() (the call that also passes descriptors, including this listener's own
//! hand-over), payloads, and files opened; io_uring is refused by the main filter.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sys;

/// One call seen while the program ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// `connect`, `sendto`, `execve` (execveat too), or `refused`: a call the run's seccomp
    /// filter refuses, answered with its errno by the supervisor.
    pub call: &'static str,
    /// For connect and sendto: `IP:PORT` (IPv6 without brackets, as Python prints a tuple's
    /// host), a Unix socket's path (`@name` for the abstract namespace) or `family N`. For
    /// execve: the program's arguments joined by spaces (the path when there are none),
    /// bounded. For refused: the refused call's name and the error it got.
    pub detail: String,
    /// The calling process and its ancestors inside the sandbox, as the sandbox numbers them
    /// (its own PID namespace, or the host's in the fallback), nearest first: a caller knows
    /// which of its processes did it.
    pub pids: Vec<i32>,
}

/// More than this many records are counted, not kept: a loop of connects must not grow the
/// supervisor without bound.
const MAX_RECORDS: usize = 10_000;
/// How long one wait for a notification lasts before the stop flag is looked at.
const POLL: Duration = Duration::from_millis(100);

/// The thread serving a listener until the sandbox is gone; [`Watcher::finish`] returns what
/// it saw.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<Observed>, u64)>,
}

impl Watcher {
    /// Receives the listener on `handover` (nothing arrives if the program failed before
    /// installing it: end of file), then serves it.
    /// `main` is the run's seccomp filter, whose refusals the listener's filter turned into
    /// notifications: each is answered as `main` would have.
    pub fn start(handover: OwnedFd, main: Vec<libc::sock_filter>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || match sys::recv_fd(&handover) {
            Ok(Some((_, listener))) => serve(&listener, &flag, &main),
            _ => Default::default(),
        });
        Watcher { stop, thread }
    }

    /// Called once no process of the sandbox is left: what was seen, and how many records
    /// were dropped past the cap.
    pub fn finish(self) -> (Vec<Observed>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn serve(
    listener: &OwnedFd,
    stop: &AtomicBool,
    main: &[libc::sock_filter],
) -> (Vec<Observed>, u64) {
    let mut seen = Vec::new();
    let mut dropped = 0u64;
    loop {
        let (ready, hung_up) = match sys::poll_in_hup(listener, POLL) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if !ready {
            // Hung up: no process uses the filter any more.
            if hung_up || stop.load(Ordering::Relaxed) {
                break;
            }
            continue;
        }
        let n = match sys::notif_recv(listener) {
            Ok(n) => n,
            // ENOENT: the caller died (or was interrupted) before we took the call.
            Err(_) => continue,
        };
        // Read and checked while the caller waits: once answered, the notification id is gone.
        let action = crate::seccomp::evaluate(main, n.arch, n.nr as u32, n.args);
        let errno = crate::seccomp::errno_of(action);
        let what = if action == crate::seccomp::RET_ALLOW {
            allowed_call(&n)
        } else {
            errno.and_then(|e| refusal(&n, e))
        };
        let record = what.and_then(|(call, detail)| record(listener, &n, call, detail));
        // Always answered, recorded or not. Only a call the main filter allows continues;
        // anything else fails as the main filter would fail it.
        let _ = if action == crate::seccomp::RET_ALLOW {
            sys::notif_continue(listener, n.id)
        } else {
            sys::notif_fail(listener, n.id, errno.unwrap_or(libc::EPERM))
        };
        match record {
            Some(r) if seen.len() < MAX_RECORDS => seen.push(r),
            Some(_) => dropped += 1,
            None => {}
        }
    }
    (seen, dropped)
}

/// What an allowed call stopped for: its kind and its address or command line, read from
/// the caller's memory.
fn allowed_call(n: &sys::Notification) -> Option<(&'static str, String)> {
    let pid = n.pid as libc::pid_t;
    let nr = i64::from(n.nr);
    if nr == libc::SYS_connect || nr == libc::SYS_sendto {
        let (call, addr, len) = if nr == libc::SYS_connect {
            ("connect", n.args[1], n.args[2])
        } else {
            ("sendto", n.args[4], n.args[5])
        };
        // sockaddr_storage is 128 bytes; a longer length is the caller's mistake.
        let bytes = sys::read_process_memory(pid, addr, (len as usize).min(128)).ok();
        let detail = bytes.map_or_else(|| "(unreadable address)".into(), |b| sockaddr(&b));
        Some((call, detail))
    } else if nr == libc::SYS_execve || nr == libc::SYS_execveat {
        let (path, argv) = if nr == libc::SYS_execve {
            (n.args[0], n.args[1])
        } else {
            (n.args[1], n.args[2])
        };
        Some(("execve", command_line(pid, path, argv)))
    } else {
        None
    }
}

/// What a refused call stopped for: the call's name and the error it got. ENOSYS answers are
/// compatibility, not refusals (clone3, so that glibc uses clone; x32 calls), and are not
/// recorded.
fn refusal(n: &sys::Notification, errno: i32) -> Option<(&'static str, String)> {
    if errno == libc::ENOSYS || n.arch != crate::seccomp::NATIVE_ARCH {
        return None;
    }
    let name = crate::seccomp::refused_name(n.nr as u32)
        .map_or_else(|| format!("system call {}", n.nr), str::to_string);
    Some(("refused", format!("{name} ({})", errno_name(errno))))
}

/// The record of one stopped call with its caller's ancestry, if the caller is still the one
/// that made it.
fn record(
    listener: &OwnedFd,
    n: &sys::Notification,
    call: &'static str,
    detail: String,
) -> Option<Observed> {
    let pids = ancestry(n.pid as libc::pid_t);
    // Read, then checked: a pid reused meanwhile would make the rest someone else's.
    if !sys::notif_id_valid(listener, n.id) {
        return None;
    }
    Some(Observed { call, detail, pids })
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::EAFNOSUPPORT => "EAFNOSUPPORT".into(),
        n => format!("errno {n}"),
    }
}

/// At most this many arguments and bytes of a command line are kept.
const MAX_ARGS: usize = 64;
const MAX_COMMAND: usize = 1000;

/// A NUL-terminated string at `addr` in process `pid`, read up to each page's end (a string
/// may end just before an unmapped page), at most `max` bytes.
fn c_string(pid: libc::pid_t, addr: u64, max: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let to_page_end = 4096 - (at % 4096) as usize;
        let chunk = sys::read_process_memory(pid, at, to_page_end.min(max - out.len())).ok()?;
        if chunk.is_empty() {
            break;
        }
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Some(out);
        }
        at += chunk.len() as u64;
        out.extend_from_slice(&chunk);
    }
    Some(out)
}

/// `argv` joined by spaces (the path when argv is empty or unreadable), as Python's audit
/// hooks print a command, bounded.
fn command_line(pid: libc::pid_t, path: u64, argv: u64) -> String {
    let mut words = Vec::new();
    if argv != 0 {
        if let Ok(raw) = sys::read_process_memory(pid, argv, MAX_ARGS * 8) {
            for p in raw.chunks_exact(8) {
                let ptr = u64::from_ne_bytes(p.try_into().unwrap_or([0; 8]));
                if ptr == 0 {
                    break;
                }
                match c_string(pid, ptr, MAX_COMMAND + 1) {
                    Some(w) => words.push(String::from_utf8_lossy(&w).into_owned()),
                    None => break,
                }
            }
        }
    }
    let mut text = if words.is_empty() {
        c_string(pid, path, MAX_COMMAND + 1)
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_else(|| "(unreadable command)".into())
    } else {
        words.join(" ")
    };
    if text.len() > MAX_COMMAND {
        let mut cut = MAX_COMMAND;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// `pid` (a host pid) and its ancestors, each as the innermost PID namespace numbers it,
/// while they stay in the PID namespace `pid` is in.
fn ancestry(pid: libc::pid_t) -> Vec<i32> {
    let mut out = Vec::new();
    let mut depth = None;
    let mut current = pid;
    while current > 0 && out.len() < 32 {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{current}/status")) else {
            break;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let nspids = field("NSpid:");
        if *depth.get_or_insert(nspids.len()) != nspids.len() || nspids.is_empty() {
            break; // left the sandbox's PID namespace (its init's parent is the supervisor)
        }
        match nspids.last().and_then(|p| p.parse().ok()) {
            Some(inner) => out.push(inner),
            None => break,
        }
        current = match field("PPid:").first().and_then(|p| p.parse().ok()) {
            Some(p) => p,
            None => break,
        };
    }
    out
}

/// A sockaddr as text.
fn sockaddr(b: &[u8]) -> String {
    if b.len() < 2 {
        return "(short address)".into();
    }
    let family = u16::from_ne_bytes([b[0], b[1]]);
    let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match i32::from(family) {
        libc::AF_INET if b.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            format!("{ip}:{}", port().unwrap_or(0))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            format!("{}:{}", std::net::Ipv6Addr::from(a), port().unwrap_or(0))
        }
        libc::AF_UNIX => {
            let path = &b[2..];
            match path.first() {
                None => "(unnamed Unix socket)".into(),
                Some(0) => format!("@{}", String::from_utf8_lossy(&path[1..])),
                Some(_) => {
                    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                    String::from_utf8_lossy(&path[..end]).into_owned()
                }
            }
        }
        f => format!("family {f}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_python_prints_them() {
        let mut v4 = vec![0u8; 16];
        v4[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&9u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(sockaddr(&v4), "127.0.0.1:9");

        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&443u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(sockaddr(&v6), "::1:443");

        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend_from_slice(b"/run/x.sock\0junk");
        assert_eq!(sockaddr(&unix), "/run/x.sock");
        let mut abs = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0name");
        assert_eq!(sockaddr(&abs), "@name");
        assert_eq!(sockaddr(&[1]), "(short address)");
        assert_eq!(sockaddr(&16u16.to_ne_bytes()), "family 16");
    }

    #[test]
    fn command_lines_are_read_from_the_callers_memory() {
        // This process stands in for the caller: the same reads, of its own memory.
        let me = std::process::id() as libc::pid_t;
        let words: Vec<std::ffi::CString> = ["sh", "-c", "true"]
            .iter()
            .map(|w| std::ffi::CString::new(*w).unwrap())
            .collect();
        let mut argv: Vec<*const libc::c_char> = words.iter().map(|w| w.as_ptr()).collect();
        argv.push(std::ptr::null());
        let path = std::ffi::CString::new("/bin/sh").unwrap();
        let line = command_line(me, path.as_ptr() as u64, argv.as_ptr() as u64);
        assert_eq!(line, "sh -c true");
        assert_eq!(command_line(me, path.as_ptr() as u64, 0), "/bin/sh");
        let long = std::ffi::CString::new("x".repeat(5000)).unwrap();
        let cut = command_line(me, long.as_ptr() as u64, 0);
        assert_eq!(cut.len(), MAX_COMMAND + 3);
    }

    #[test]
    fn the_ancestry_of_this_process_starts_with_it() {
        let me = std::process::id() as i32;
        let chain = ancestry(me);
        assert_eq!(chain.first(), Some(&me));
    }
}
