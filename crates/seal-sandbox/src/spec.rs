//! The declarative description of a sandbox: what the program sees, what it may do.
//!
//! The engine knows nothing about Python; callers (the seal CLI) translate their policy into a
//! `Spec`. Paths in `Mount::Bind::src` are host paths; every `dst` is a path inside the sandbox.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and execute only (mount read-only, Landlock read).
    ReadOnly,
    /// Writable (nosuid, nodev; Landlock read-write).
    ReadWrite,
    /// Writable, and symbolic links on this mount are not followed (nosymfollow), where the
    /// kernel supports it.
    ReadWriteNoSymlinks,
}

#[derive(Clone, Debug)]
pub enum Mount {
    /// Bind a host file or directory (recursively) at `dst`.
    Bind {
        src: PathBuf,
        dst: PathBuf,
        access: Access,
    },
    /// Like `Bind` but silently skipped when `src` does not exist on the host (optional system
    /// files such as /etc/localtime).
    BindIfExists { src: PathBuf, dst: PathBuf },
    /// Copy a small regular host file (at most 1 MiB) to `dst`, skipped when `src` does not
    /// exist. Cheaper than a bind mount for configuration files read once at start-up.
    CopyIfExists { src: PathBuf, dst: PathBuf },
    /// A fresh tmpfs whose content is copied from a host directory or file tree before the
    /// program starts (symbolic links are copied as links, special files are skipped).
    CopyTree {
        src: PathBuf,
        dst: PathBuf,
        size_bytes: u64,
    },
    /// A writable tmpfs capped at `size_bytes` and `max_files` inodes, handed to the caller
    /// after the run (see [`crate::Outcome::staged`]).
    Staging {
        dst: PathBuf,
        size_bytes: u64,
        max_files: u64,
    },
    /// Cover an existing file with an unusable node (a read-only, nodev bind of /dev/null);
    /// skipped if `dst` does not exist by the time the root is built.
    Mask { dst: PathBuf },
    /// A fresh writable tmpfs.
    Tmpfs {
        dst: PathBuf,
        mode: u32,
        size_bytes: u64,
    },
    /// A fresh /proc of the sandbox's own PID namespace, with the host-global knobs read-only.
    Proc { dst: PathBuf },
    /// A minimal /dev: null, zero, full, random, urandom, tty, a private devpts and /dev/shm,
    /// plus `devices`: host character devices (absolute paths under /dev, e.g. /dev/nvidia0 or
    /// /dev/dri/renderD128) bound at the same place, read-write with their ioctls (Landlock's
    /// device rights cover the whole /dev). Anything but a character device is refused.
    Dev {
        dst: PathBuf,
        shm_size_bytes: u64,
        devices: Vec<PathBuf>,
    },
    /// A file with generated contents (read-only once the root is sealed).
    File {
        dst: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link.
    Symlink { target: PathBuf, dst: PathBuf },
    /// An empty directory.
    Dir { dst: PathBuf, mode: u32 },
}

/// Where a device of [`Mount::Dev`]'s `devices` goes, relative to /dev ("dri/renderD128"); an
/// error for a path that is not a plain path under /dev.
pub fn device_under_dev(path: &std::path::Path) -> Result<PathBuf, String> {
    use std::path::Component;
    let inside = path
        .strip_prefix("/dev")
        .ok()
        .filter(|p| {
            !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
        })
        .ok_or_else(|| format!("{}: a device must be a path under /dev", path.display()))?;
    Ok(inside.to_path_buf())
}

impl Mount {
    pub fn dst(&self) -> &std::path::Path {
        match self {
            Mount::Bind { dst, .. }
            | Mount::BindIfExists { dst, .. }
            | Mount::CopyIfExists { dst, .. }
            | Mount::CopyTree { dst, .. }
            | Mount::Staging { dst, .. }
            | Mount::Mask { dst }
            | Mount::Tmpfs { dst, .. }
            | Mount::Proc { dst }
            | Mount::Dev { dst, .. }
            | Mount::File { dst, .. }
            | Mount::Symlink { dst, .. }
            | Mount::Dir { dst, .. } => dst,
        }
    }
}

/// How the program reaches the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// A network namespace of its own with only a loopback interface (up).
    LoopbackOnly,
}

/// What the caller receives from inside the sandbox once the program has started (see
/// [`crate::run_with`]). Sockets keep the network namespace they were made in, so a listener
/// made inside and served outside is how host-side services (an index proxy) reach a sandbox
/// that has no network of its own.
#[derive(Clone, Debug, Default)]
pub struct HandoffRequest {
    /// TCP ports on 127.0.0.1 inside the sandbox whose listening sockets are handed over.
    pub listen_ports: Vec<u16>,
    /// Hand over the sandbox's network namespace (for connecting into it later; needs
    /// CAP_SYS_ADMIN in the caller's own namespace to join).
    pub netns: bool,
    /// Hand over a [`crate::Connector`]: connections to the sandbox's own loopback made on
    /// request by a small helper inside (how an unprivileged caller publishes a port).
    pub loopback_connector: bool,
    /// Fallback mode ([`crate::run_fallback_with`]) only: a Unix SOCK_SEQPACKET socket whose
    /// one end the program finds already open at descriptor 3 (seal sets no variable or
    /// anything else about it) and whose other end the caller receives in
    /// [`crate::Started::connection_channel`]. The program has no socket() there; the caller
    /// can answer a request on it with a connected socket passed by SCM_RIGHTS (recvmsg needs
    /// no socket()), e.g. a stream to seal's index proxy.
    pub connection_channel: bool,
    /// Namespace mode: record every connect(), addressed sendto(), execve() and execveat() of
    /// the program's processes in [`crate::Outcome::observed`] (destination or command line,
    /// and the calling process), without changing what the calls do. Seccomp user
    /// notification; see [`crate::Observed`].
    pub observe: bool,
}

/// How strictly Landlock must apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandlockMode {
    /// Use what the kernel offers and report the level reached.
    BestEffort,
    /// Fail the run unless every requested Landlock right is enforced.
    Required,
    /// Do not use Landlock.
    Off,
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Maximum number of processes and threads in the sandbox.
    pub pids: Option<u64>,
    /// Wall-clock limit; the whole sandbox is killed when it expires.
    pub timeout: Option<Duration>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// Memory in bytes: RLIMIT_DATA per process, and for the whole sandbox by a cgroup when
    /// `memory_cgroup` is set and one is available (creating it costs time on every run).
    pub memory_bytes: Option<u64>,
    pub memory_cgroup: bool,
    /// CPUs (a cgroup quota where available, else the affinity mask rounded up).
    pub cpus: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pids: Some(1024),
            timeout: None,
            open_files: Some(4096),
            memory_bytes: None,
            memory_cgroup: false,
            cpus: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Spec {
    /// argv; `argv[0]` is searched in the `PATH` of `env` inside the sandbox unless it has a `/`.
    pub argv: Vec<OsString>,
    /// The complete environment of the program (nothing is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    pub hostname: String,
    /// uid and gid of the program inside the sandbox; must not be 0.
    pub uid: u32,
    pub gid: u32,
    /// Size of the tmpfs that becomes `/` (it holds generated files and mount points only).
    pub root_size_bytes: u64,
    /// Mounts applied in order on top of an empty root.
    pub mounts: Vec<Mount>,
    pub network: Network,
    pub handoff: HandoffRequest,
    pub limits: Limits,
    pub landlock: LandlockMode,
}
