//! The syscall layer: the only place in the engine with `unsafe`.
//!
//! Every wrapper here is a thin, safe-to-call shim over one Linux system call. Callers above this
//! module never touch raw pointers. Wrappers return `io::Result` carrying the errno so that the
//! setup code can report *which* step failed and why.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub mod fallback;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Result of a fork-like clone: the child gets `None`.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone(2)` with fork semantics (no new stack, SIGCHLD on exit) plus namespace flags.
///
/// The caller must be single-threaded: the child continues on a copy of this thread only.
pub fn clone_fork(ns_flags: libc::c_int) -> io::Result<Forked> {
    let flags = (ns_flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: with a NULL stack, clone behaves like fork(2): the child resumes on a private copy
    // of the caller's stack. The caller guarantees it is single-threaded, so no lock held by
    // another thread is copied into the child in a locked state.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            0usize,
        )
    };
    match cvt_long(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// clone3(2)'s arguments up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`clone_fork`] with the child created in the cgroup v2 directory `cgroup`. Fails (ENOSYS,
/// E2BIG, EINVAL) where the kernel or a seccomp profile has no clone3 or no CLONE_INTO_CGROUP.
pub fn clone_fork_into_cgroup(ns_flags: libc::c_int, cgroup: BorrowedFd<'_>) -> io::Result<Forked> {
    let args = CloneArgs {
        flags: u64::from(ns_flags as u32) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed, alive across the call; with no
    // stack, clone3 behaves like fork(2) (the child resumes on a private copy of the caller's
    // stack). The caller guarantees it is single-threaded, as for clone_fork.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match cvt_long(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Plain `fork(2)`.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the engine forks only from single-threaded processes (the supervisor before it
    // starts any thread, or the sandbox's init), so the child inherits no held locks.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Terminate the calling process immediately, without running destructors or atexit handlers
/// (those belong to the parent's copy of the state).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

pub fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |o: Option<&CStr>| o.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are either NULL or valid NUL-terminated strings that outlive the call.
    cvt(unsafe {
        libc::mount(
            p(src),
            target.as_ptr(),
            p(fstype),
            flags,
            p(data).cast::<libc::c_void>(),
        )
    })?;
    Ok(())
}

pub fn umount_detach(target: &CStr) -> io::Result<()> {
    // SAFETY: target is a valid NUL-terminated path.
    cvt(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })?;
    Ok(())
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both arguments are valid NUL-terminated paths.
    cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })?;
    Ok(())
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
const AT_RECURSIVE: libc::c_uint = 0x8000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)`: add mount attributes, optionally to a whole subtree. Unlike the old
/// `MS_REMOUNT|MS_BIND` it only touches the bits asked for, so flags locked by the parent
/// namespace (nosuid, nodev, noexec on the host mount) are kept without reading them first.
pub fn mount_setattr(path: &CStr, recursive: bool, attr_set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: path is a valid C string, attr is a properly laid out struct mount_attr (v0,
    // 32 bytes) that lives across the call and whose size we pass.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe the bytes of `name`.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })?;
    Ok(())
}

pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe the bytes of `name`.
    cvt(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) })?;
    Ok(())
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the options used by this module take integer arguments only.
    cvt(unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
}

pub fn set_parent_death_signal(sig: libc::c_int) -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong).map(drop)
}

pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

pub fn set_dumpable(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong).map(drop)
}

/// Drop every capability from the bounding set and clear the ambient set, so that no
/// later `execve` can regain one.
pub fn drop_bounding_and_ambient() -> io::Result<()> {
    let mut cap: libc::c_ulong = 0;
    loop {
        match prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(_) => cap += 1,
            // EINVAL: past the last capability this kernel knows.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && cap > 0 => break,
            Err(e) => return Err(e),
        }
    }
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

/// Empty the effective, permitted and inheritable capability sets of the calling thread.
pub fn drop_capability_sets() -> io::Result<()> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and the two-element data array match the v3 capset ABI and outlive the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    })?;
    Ok(())
}

pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit struct.
    cvt(unsafe { libc::setrlimit(resource, &lim) })?;
    Ok(())
}

pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit struct.
    cvt(unsafe { libc::getrlimit(resource, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// A set of signals, as used by sigprocmask and sigtimedwait.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    pub fn of(signals: &[libc::c_int]) -> Self {
        // SAFETY: sigemptyset/sigaddset initialise and modify a local sigset_t.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            SigSet(set)
        }
    }

    /// Block these signals; returns the previous mask.
    pub fn block(&self) -> io::Result<SigSet> {
        // SAFETY: both sigset pointers are valid for the duration of the call.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, &mut old);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(SigSet(old))
        }
    }

    /// Replace the mask with this set.
    pub fn set_mask(&self) -> io::Result<()> {
        // SAFETY: the sigset pointer is valid; the old-mask pointer may be NULL.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }

    /// Wait for one of these (blocked) signals. `None` timeout waits forever; returns `Ok(None)`
    /// when the timeout expired.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<SignalInfo>> {
        // SAFETY: info is a writable siginfo_t; ts, if used, is a valid timespec.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = match timeout {
                None => libc::sigwaitinfo(&self.0, &mut info),
                Some(d) => {
                    let ts = libc::timespec {
                        tv_sec: d.as_secs() as libc::time_t,
                        tv_nsec: d.subsec_nanos() as libc::c_long,
                    };
                    libc::sigtimedwait(&self.0, &mut info, &ts)
                }
            };
            if rc == -1 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(None),
                    _ => Err(e),
                };
            }
            Ok(Some(SignalInfo {
                signo: info.si_signo,
                code: info.si_code,
            }))
        }
    }
}

/// A signalfd for a set of blocked signals, waited on together with one other descriptor.
pub struct SignalFd(OwnedFd);

/// What ended a [`SignalFd::wait_with`].
pub enum Woken {
    Signal(SignalInfo),
    /// The other descriptor is readable (or at end of file).
    Readable,
    TimedOut,
}

impl SignalFd {
    /// The signals must stay blocked (as [`SigSet::block`] does) for the descriptor to see them.
    pub fn new(set: &SigSet) -> io::Result<Self> {
        // SAFETY: the sigset pointer is valid for the call; -1 asks for a new descriptor.
        let fd =
            cvt(unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        Ok(SignalFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Wait for a signal of the set or for `other` (if any) to become readable, whichever
    /// comes first (a pending signal wins); a `timeout` of `None` waits without a limit.
    pub fn wait_with(
        &self,
        other: Option<&OwnedFd>,
        timeout: Option<Duration>,
    ) -> io::Result<Woken> {
        let mut fds = [
            libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // poll skips negative descriptors.
                fd: other.map_or(-1, AsRawFd::as_raw_fd),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.map_or(-1, |d| {
            d.as_millis().clamp(1, i32::MAX as u128) as libc::c_int
        });
        // SAFETY: fds is an array of two valid pollfds.
        let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) })?;
        if n == 0 {
            return Ok(Woken::TimedOut);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: signalfd_siginfo is plain data; zeroed is a valid value.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: info is `size` writable bytes.
            let got = unsafe {
                libc::read(
                    self.0.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if got == size as isize {
                return Ok(Woken::Signal(SignalInfo {
                    signo: info.ssi_signo as libc::c_int,
                    code: info.ssi_code,
                }));
            }
        }
        if fds[1].revents != 0 {
            return Ok(Woken::Readable);
        }
        // The signal went to a sigwait elsewhere first: nothing happened here.
        Err(io::Error::from_raw_os_error(libc::EINTR))
    }
}

pub struct SignalInfo {
    pub signo: libc::c_int,
    pub code: libc::c_int,
}

/// `si_code` of signals the kernel generates itself, such as SIGINT from a terminal's ^C.
pub const SI_KERNEL: libc::c_int = 0x80;

/// Restore the default disposition of a signal (a fresh exec starts clean, but the sandbox's
/// init inherits whatever the supervisor had).
pub fn default_signal(sig: libc::c_int) {
    // SAFETY: SIG_DFL is always a valid disposition.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
}

impl WaitStatus {
    /// The status as shells report it: the exit code, or 128+N for death by signal N.
    pub fn code(&self) -> i32 {
        match *self {
            WaitStatus::Exited(code) => code,
            WaitStatus::Signaled(sig) => 128 + sig,
        }
    }
}

/// `waitpid`; `Ok(None)` when `nohang` and nothing has changed.
pub fn waitpid(pid: libc::pid_t, nohang: bool) -> io::Result<Option<(libc::pid_t, WaitStatus)>> {
    let mut status: libc::c_int = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: status is a valid writable int.
    let ret = cvt(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    if ret == 0 {
        return Ok(None);
    }
    let ws = if libc::WIFEXITED(status) {
        WaitStatus::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        WaitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        // Stopped/continued are not requested (no WUNTRACED), so this is unreachable in practice.
        WaitStatus::Exited(255)
    };
    Ok(Some((ret, ws)))
}

pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a two-element array as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    unsafe { Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))) }
}

/// Read a little-endian i32 from a descriptor that poll found readable; `Ok(None)` at end of
/// file.
pub fn read_i32(fd: &OwnedFd) -> io::Result<Option<i32>> {
    let mut buf = [0u8; 4];
    loop {
        // SAFETY: buf is 4 writable bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                _ => Err(e),
            };
        }
        // The writer sends the 4 bytes in one write (atomic on a pipe), so a short read only
        // happens at end of file.
        return Ok((n == 4).then(|| i32::from_le_bytes(buf)));
    }
}

/// True if the write end of the pipe read by `fd` has been closed by everyone holding it.
pub fn pipe_peer_gone(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0 && (pfd.revents & libc::POLLHUP) != 0
}

/// Mark every descriptor from `first` upwards close-on-exec, so nothing the caller inherited
/// leaks into the program (runc CVE-2024-21626 class).
pub fn cloexec_from(first: libc::c_uint) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags in this process.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    })?;
    Ok(())
}

pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut av: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    av.push(std::ptr::null());
    let mut ev: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    ev.push(std::ptr::null());
    // SAFETY: path, argv and envp are NULL-terminated arrays of valid C strings that outlive the
    // call; execve only returns on failure.
    unsafe { libc::execve(path.as_ptr(), av.as_ptr(), ev.as_ptr()) };
    io::Error::last_os_error()
}

/// Bring the loopback interface of the current network namespace up (it starts down).
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket has no pointer arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned here only.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zeroed is a valid initial value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq naming "lo"; SIOCGIFFLAGS fills ifru_flags.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: reading/writing the flags member of the ifreq union that SIOCGIFFLAGS filled.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: req is a valid ifreq with the new flags.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}

/// Install a classic BPF seccomp filter on the calling thread (requires no_new_privs).
pub fn seccomp_install(filter: &[libc::sock_filter]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `filter`, which outlives the call; the kernel copies the program.
    cvt(unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })?;
    Ok(())
}

/// Install `filter` with a user-notification listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) and
/// return the listener, close-on-exec. Needs no_new_privs (or CAP_SYS_ADMIN) like any filter.
pub fn seccomp_install_listener(filter: &[libc::sock_filter]) -> io::Result<OwnedFd> {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `filter`, which outlives the call; the kernel copies the program
    // and returns a new descriptor, which we own.
    let fd = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// One system call stopped by a seccomp user-notification filter.
#[derive(Clone, Copy, Debug)]
pub struct Notification {
    pub id: u64,
    /// In the PID namespace of the process that received it.
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// The kernel's struct seccomp_notif may be larger than libc's (newer kernels append
/// fields): receive into a buffer of the size the kernel reports.
fn notif_size() -> usize {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one seccomp_notif_sizes to the address given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    };
    let ours = std::mem::size_of::<libc::seccomp_notif>();
    if rc < 0 {
        ours
    } else {
        ours.max(usize::from(sizes.seccomp_notif))
    }
}

/// Wait for the next notification on `listener` (blocking).
pub fn notif_recv(listener: &OwnedFd) -> io::Result<Notification> {
    // u64 elements: aligned for the struct, zeroed as the kernel requires.
    let mut buf = vec![0u64; notif_size().div_ceil(8)];
    // SAFETY: buf is zeroed, 8-byte aligned and at least as large as the kernel's struct
    // seccomp_notif, which the ioctl fills.
    cvt(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV as _,
            buf.as_mut_ptr(),
        )
    })?;
    // SAFETY: the buffer holds a seccomp_notif at its start (checked size above).
    let n: libc::seccomp_notif = unsafe { std::ptr::read(buf.as_ptr().cast()) };
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    })
}

/// Whether notification `id` still stands for a live, waiting system call: checked after
/// reading the caller's memory, so that what was read belongs to that very call.
pub fn notif_id_valid(listener: &OwnedFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID reads one u64 at the address given.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
            &mut id as *mut u64,
        ) == 0
    }
}

/// Let the stopped system call `id` proceed as if no filter had stopped it.
pub fn notif_continue(listener: &OwnedFd, id: u64) -> io::Result<()> {
    notif_send(
        listener,
        libc::seccomp_notif_resp {
            id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        },
    )
}

/// Fail the stopped system call `id` with `errno`.
pub fn notif_fail(listener: &OwnedFd, id: u64, errno: i32) -> io::Result<()> {
    notif_send(
        listener,
        libc::seccomp_notif_resp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        },
    )
}

fn notif_send(listener: &OwnedFd, mut resp: libc::seccomp_notif_resp) -> io::Result<()> {
    // SAFETY: SECCOMP_IOCTL_NOTIF_SEND reads one seccomp_notif_resp at the address given.
    cvt(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    })?;
    Ok(())
}

/// Up to `len` bytes at `addr` in process `pid`'s memory (process_vm_readv: the same access
/// check as ptrace).
pub fn read_process_memory(pid: libc::pid_t, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: local points at `len` writable bytes we own; the remote address is only read by
    // the kernel, in the other process, and a bad one gives EFAULT.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Wait up to `timeout` for `fd`: (readable, hung up).
pub fn poll_in_hup(fd: &OwnedFd, timeout: Duration) -> io::Result<(bool, bool)> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
    // SAFETY: p is one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, ms) })?;
    Ok((
        p.revents & libc::POLLIN != 0,
        p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    ))
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

pub fn getgid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}

/// Peak resident set size of this process in KiB (VmHWM), for the supervisor's own report.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn set_umask(mask: u32) {
    // SAFETY: umask cannot fail and has no pointer arguments.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

/// Flags of the mount holding `path`, as `MS_*` bits, for the pre-5.12 remount fallback that
/// must repeat the flags the parent namespace locked.
pub fn mount_flags_of(path: &CStr) -> io::Result<libc::c_ulong> {
    // SAFETY: statvfs is plain old data; zeroed is a valid initial value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is a writable statvfs; path is a valid C string.
    cvt(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
    let mut flags = 0;
    for (st_bit, ms_bit) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_bit != 0 {
            flags |= ms_bit;
        }
    }
    Ok(flags)
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only an integer argument.
    cvt(unsafe { libc::unshare(flags) })?;
    Ok(())
}

pub fn setns(fd: &OwnedFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is an open namespace descriptor owned by the caller.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) })?;
    Ok(())
}

/// Read one byte; `Ok(false)` on end of file.
pub fn read_byte(fd: &OwnedFd) -> io::Result<bool> {
    let mut b = 0u8;
    loop {
        // SAFETY: b is one writable byte.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n == 1);
    }
}

/// Close a raw descriptor this process holds a duplicate of after `fork` (the owning value
/// lives in the parent's copy of the data and must not be dropped twice here).
pub fn close_raw(fd: RawFd) {
    // SAFETY: closing a descriptor number has no memory-safety implications; callers pass
    // descriptors they no longer use in this process.
    unsafe {
        libc::close(fd);
    }
}

/// A connected pair of Unix stream sockets (close-on-exec), for passing descriptors.
pub fn socketpair_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    unix_pair_cloexec(libc::SOCK_STREAM)
}

/// A connected pair of Unix sockets of `kind` (stream or seqpacket), close-on-exec.
pub fn unix_pair_cloexec(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a two-element array as socketpair requires.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
    unsafe { Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))) }
}

/// A message header over one payload byte with room for one descriptor (SCM_RIGHTS).
/// `byte` and `control` must outlive every use of the header.
fn fd_msghdr(byte: &mut [u8; 1], iov: &mut libc::iovec, control: &mut Vec<u8>) -> libc::msghdr {
    *iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    control.resize(space, 0);
    // SAFETY: msghdr is plain old data; zeroed is a valid initial value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    msg
}

/// Send one descriptor with a one-byte tag over a Unix socket.
pub fn send_fd(sock: &OwnedFd, tag: u8, fd: RawFd) -> io::Result<()> {
    send_fd_raw(sock.as_raw_fd(), tag, fd)
}

/// [`send_fd`] on a socket known by number (a forked child's inherited descriptor).
pub fn send_fd_raw(sock: RawFd, tag: u8, fd: RawFd) -> io::Result<()> {
    let mut byte = [tag];
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut control = Vec::new();
    let msg = fd_msghdr(&mut byte, &mut iov, &mut control);
    // SAFETY: msg_control points at a buffer of CMSG_SPACE(sizeof fd) bytes, so the first
    // header exists and its data area holds one descriptor.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: msg and everything it points to are valid for the call.
    let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one descriptor and its tag sent by [`send_fd`]; `Ok(None)` at end of stream.
pub fn recv_fd(sock: &OwnedFd) -> io::Result<Option<(u8, OwnedFd)>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut control = Vec::new();
    let mut msg = fd_msghdr(&mut byte, &mut iov, &mut control);
    // SAFETY: msg points at valid buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR/CMSG_DATA walk it within
    // msg_controllen, and an SCM_RIGHTS header carries a descriptor we now own.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no descriptor received",
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(Some((byte[0], OwnedFd::from_raw_fd(fd))))
    }
}

/// Restrict the calling thread (and its future children) to the first `n` CPUs it may use now.
pub fn limit_cpus(n: usize) -> io::Result<usize> {
    // SAFETY: cpu_set_t is plain old data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a writable cpu_set_t of the size we pass.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    // SAFETY: as above.
    let mut new: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let mut kept = 0;
    for cpu in 0..libc::CPU_SETSIZE as usize {
        // SAFETY: cpu is below CPU_SETSIZE, the bound of both sets.
        if kept < n && unsafe { libc::CPU_ISSET(cpu, &set) } {
            // SAFETY: as above.
            unsafe { libc::CPU_SET(cpu, &mut new) };
            kept += 1;
        }
    }
    // SAFETY: new is a valid cpu_set_t of the size we pass.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &new) })?;
    Ok(kept)
}

/// Physical memory of the machine in bytes.
pub fn physical_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if pages > 0 && page > 0 {
        pages as u64 * page as u64
    } else {
        0
    }
}

/// The Landlock ABI version the kernel offers, or the errno why there is none
/// (ENOSYS: not built in; EOPNOTSUPP: built in but disabled at boot).
pub fn landlock_abi() -> Result<u32, io::Error> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attribute pointer, size 0 and the VERSION flag the call only returns
    // a number.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    cvt_long(r).map(|v| v as u32)
}

/// Whether the kernel's seccomp supports filter return action `action`.
pub fn seccomp_action_available(action: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer we pass.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    r == 0
}

/// An unconnected IPv4 TCP socket (close-on-exec) of the calling process's network namespace.
/// A socket keeps the namespace it was made in, wherever it is used later.
pub fn tcp_socket_v4() -> io::Result<OwnedFd> {
    // SAFETY: socket has no pointer arguments.
    let fd =
        cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The family and type of a socket, to check a descriptor received from elsewhere.
pub fn socket_family_and_type(fd: &OwnedFd) -> io::Result<(libc::c_int, libc::c_int)> {
    let get = |opt: libc::c_int| -> io::Result<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid for writes of one int and its length.
        cvt(unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        Ok(v)
    };
    Ok((get(libc::SO_DOMAIN)?, get(libc::SO_TYPE)?))
}

/// connect(2) a TCP socket to 127.0.0.1:`port` (blocking; bounded by the socket's
/// SO_SNDTIMEO, which Linux applies to connect).
pub fn connect_loopback_v4(fd: &OwnedFd, port: u16) -> io::Result<()> {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    loop {
        // SAFETY: addr is a valid sockaddr_in and its exact size is passed.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Move `fd` to descriptor 3 and close every other descriptor above 2: for a helper process
/// that must hold nothing of its parent's but its own channel.
pub fn keep_only_as_fd3(fd: OwnedFd) -> io::Result<OwnedFd> {
    const TARGET: RawFd = 3;
    // From here on the number is managed by hand: close_range below closes the original.
    let raw = fd.into_raw_fd();
    if raw != TARGET {
        // SAFETY: dup3 onto a fixed number; whatever was at 3 is closed by it, and nothing in
        // this single-purpose child uses descriptors other than the one handed back.
        cvt(unsafe { libc::dup3(raw, TARGET, libc::O_CLOEXEC) })?;
    }
    // SAFETY: close_range only closes descriptors of this process above 3.
    cvt_long(unsafe { libc::syscall(libc::SYS_close_range, 4u32, libc::c_uint::MAX, 0u32) })?;
    // SAFETY: descriptor 3 now refers to the channel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(TARGET) })
}

/// Bound how long a receive on `fd` may block (SO_RCVTIMEO).
pub fn set_recv_timeout(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: tv is a valid timeval and its exact size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(())
}
