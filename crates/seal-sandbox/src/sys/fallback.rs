//! System calls only the fallback engine (no namespaces) needs: process-tree bookkeeping,
//! waiting on descriptors and signals together, and placing descriptors at fixed numbers.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{cvt, cvt_long, prctl, SigSet, SignalInfo};

/// Become (`true`) or stop being the reaper of every orphaned descendant (instead of the
/// host's init), so that double-forked daemons stay findable and killable. The flag belongs
/// to the whole process, every thread alike.
pub fn set_child_subreaper(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, on as libc::c_ulong).map(drop)
}

/// Whether this process is a child subreaper.
pub fn is_child_subreaper() -> io::Result<bool> {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER stores one int at the address given, which is `flag`,
    // alive for the whole call.
    cvt(unsafe {
        libc::prctl(
            libc::PR_GET_CHILD_SUBREAPER,
            &mut flag as *mut libc::c_int as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })?;
    Ok(flag != 0)
}

/// Send `sig` to the process `pidfd` refers to: unlike kill(2), never to a process that
/// later reused its number.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: a NULL siginfo and zero flags make this the pidfd form of kill(2); the
    // descriptor is borrowed for the duration of the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    })?;
    Ok(())
}

/// Wait for the child `pidfd` refers to to end, and reap it (waitid with P_PIDFD): unlike
/// waitpid on its number, never another child that reused it.
pub fn wait_pidfd(pidfd: &OwnedFd) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain old data; zeroed is a valid initial value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a writable siginfo_t that outlives the call.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        match cvt(ret) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// `fork(2)` from a caller that may have other threads. Only the forking thread continues in
/// the child, so the child must not rely on locks other threads might have held: the fallback
/// engine's children use data prepared before the fork, system calls, and the allocator,
/// whose locks glibc's fork takes and re-initialises around the call.
pub fn fork_from_threaded() -> io::Result<super::Forked> {
    // SAFETY: see above; the child side never takes a lock of the Rust runtime (no stdio,
    // no environment access) before it execs or exits.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(super::Forked::Child),
        pid => Ok(super::Forked::Parent(pid)),
    }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getppid() -> libc::pid_t {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Clear the ambient capability set. Unlike dropping from the bounding set this needs no
/// privilege, so it also works for an ordinary user.
pub fn clear_ambient_capabilities() -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes only integer arguments.
    cvt(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })?;
    Ok(())
}

/// A descriptor that becomes readable when process `pid` (a child of ours) ends. Waiting on it
/// rather than on SIGCHLD keeps concurrent runs in one process from taking each other's
/// notifications.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags only.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A non-blocking, close-on-exec signalfd for `set` (which must already be blocked).
pub fn signalfd(set: &SigSet) -> io::Result<OwnedFd> {
    // SAFETY: set.0 is an initialised sigset_t that outlives the call.
    let fd = cvt(unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: the call returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One pending signal from a signalfd; `Ok(None)` when none is pending.
pub fn read_signal(fd: &OwnedFd) -> io::Result<Option<SignalInfo>> {
    // SAFETY: signalfd_siginfo is plain old data; zeroed is a valid initial value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: info is a writable buffer of exactly `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => return Err(e),
            }
        }
        if n as usize != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short read from a signalfd",
            ));
        }
        return Ok(Some(SignalInfo {
            signo: info.ssi_signo as libc::c_int,
            code: info.ssi_code,
        }));
    }
}

/// Wait until one of `fds` is readable or hung up, or `timeout` passes (`None`: forever).
/// Returns, per descriptor, whether it is ready; all false on timeout. EINTR is returned.
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = match timeout {
        // Rounded up, so that a deadline is never reported before it has passed.
        Some(d) => d
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
        None => -1,
    };
    // SAFETY: pfds is a valid array of pfds.len() pollfd structures.
    cvt(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) })?;
    Ok(pfds
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// Close every descriptor above 2 except `keep`. A process forked from a caller that may run
/// several sandboxes at once must not hold the other runs' pipes: their ends of file are how
/// those runs learn that a program started or that their supervisor is gone.
pub fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd > 2).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: libc::c_uint = 3;
    for fd in keep {
        let fd = fd as libc::c_uint;
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range(first, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors of this process; the caller owns the
    // decision that none of them is used any more.
    cvt_long(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) })?;
    Ok(())
}

/// Make `fd` also available as `target`, inherited across execve (no close-on-exec).
pub fn place_at(fd: RawFd, target: RawFd) -> io::Result<()> {
    if fd == target {
        // SAFETY: F_SETFD with 0 only clears the close-on-exec flag of our own descriptor.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })?;
    } else {
        // SAFETY: dup3 onto a fixed number; the caller has moved anything it still needs
        // away from `target`.
        cvt(unsafe { libc::dup3(fd, target, 0) })?;
    }
    Ok(())
}

/// A close-on-exec duplicate of `fd` numbered `min` or above.
pub fn dup_cloexec_above(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor and has no memory-safety conditions.
    cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// A connected pair of Unix sequenced-packet sockets (close-on-exec): message boundaries keep
/// a one-byte request and its descriptor reply together.
pub fn seqpacket_pair_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    super::unix_pair_cloexec(libc::SOCK_SEQPACKET)
}
