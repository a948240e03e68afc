//! The PIDs limit, by the cheapest mechanism that holds for the caller.
//!
//! - RLIMIT_NPROC counts the processes of the sandbox's uid inside its own user namespace,
//!   which is exactly the sandbox: exact and free, but the kernel never applies it to the
//!   host's uid 0.
//! - Since Linux 6.14 `kernel.pid_max` is per PID namespace: the sandbox's init caps the PID
//!   numbers its namespace may hand out. Free, works for root too; the kernel keeps PIDs
//!   below 300 out of reuse after the first wrap, so N+300 numbers give N to N+299 tasks.
//! - Otherwise, for root, a pids cgroup. Moving a process into a v1 cgroup waits for an RCU
//!   grace period (5-20 ms measured here), so it is the last resort.

use std::fs;
use std::path::{Path, PathBuf};

/// How the PIDs limit is enforced for one run.
pub enum PidsLimit {
    Cgroup(PidsCgroup),
    Rlimit {
        n: u64,
        pid_max: Option<u64>,
    },
    PidMax(u64),
    /// Neither mechanism is available (root without a pids controller).
    Unenforced(String),
    None,
}

impl PidsLimit {
    pub fn describe(&self) -> String {
        match self {
            PidsLimit::Cgroup(c) => format!("cgroup pids.max={} ({})", c.max, c.dir.display()),
            PidsLimit::Rlimit {
                n,
                pid_max: Some(m),
            } => {
                format!("RLIMIT_NPROC={n} (per-sandbox user namespace), pid namespace pid_max={m}")
            }
            PidsLimit::Rlimit { n, pid_max: None } => {
                format!("RLIMIT_NPROC={n} (per-sandbox user namespace)")
            }
            PidsLimit::PidMax(m) => format!(
                "pid namespace pid_max={m} (at most {} tasks, {} once PIDs wrap)",
                m - 1,
                m - PID_RESERVED
            ),
            PidsLimit::Unenforced(why) => format!("NOT ENFORCED: {why}"),
            PidsLimit::None => "none requested".into(),
        }
    }
}

/// PIDs the kernel does not reuse after the first wrap-around (RESERVED_PIDS).
const PID_RESERVED: u64 = 300;

/// The kernel release as (major, minor).
fn kernel_version() -> Option<(u32, u32)> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether `kernel.pid_max` belongs to each PID namespace (Linux 6.14+). On older kernels it
/// is host-global and must never be written from the sandbox.
fn pid_max_is_per_namespace() -> bool {
    kernel_version().is_some_and(|v| v >= (6, 14))
}

impl PidsLimit {
    /// The value init writes to its namespace's `kernel.pid_max`, if any.
    pub fn pid_max(&self) -> Option<u64> {
        match self {
            PidsLimit::PidMax(m) => Some(*m),
            PidsLimit::Rlimit { pid_max, .. } => *pid_max,
            _ => None,
        }
    }

    pub fn nproc_rlimit(&self) -> Option<u64> {
        match self {
            PidsLimit::Rlimit { n, .. } => Some(*n),
            _ => None,
        }
    }
}

pub struct PidsCgroup {
    pub dir: PathBuf,
    pub max: u64,
}

impl PidsCgroup {
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How many times a fork was refused because the limit was reached.
    pub fn times_hit(&self) -> u64 {
        fs::read_to_string(self.dir.join("pids.events"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("max ").and_then(|n| n.trim().parse().ok()))
            })
            .unwrap_or(0)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // By the time the supervisor has reaped init, the kernel has killed and reaped every
        // process of the PID namespace, so the cgroup is empty.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// A directory where a child pids cgroup can be created: the v1 pids hierarchy, or the v2
/// root when it delegates the pids controller.
fn pids_parent() -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    if v1.join("cgroup.procs").exists() {
        return Some(v1.to_path_buf());
    }
    let v2 = Path::new("/sys/fs/cgroup");
    let ctl = fs::read_to_string(v2.join("cgroup.subtree_control")).ok()?;
    ctl.split_whitespace()
        .any(|c| c == "pids")
        .then(|| v2.to_path_buf())
}

/// Remove cgroups left behind by runs whose supervisor was killed before cleaning up.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("seal-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir(e.path());
        }
    }
}

/// `has_proc`: the sandbox mounts its own /proc, through which init sets `kernel.pid_max`.
pub fn prepare(max: Option<u64>, outer_uid: u32, has_proc: bool) -> PidsLimit {
    let Some(max) = max else {
        return PidsLimit::None;
    };
    let pid_max =
        (has_proc && pid_max_is_per_namespace()).then(|| max.saturating_add(PID_RESERVED));
    if outer_uid != 0 {
        return PidsLimit::Rlimit { n: max, pid_max };
    }
    if let Some(m) = pid_max {
        return PidsLimit::PidMax(m);
    }
    let Some(parent) = pids_parent() else {
        return PidsLimit::Unenforced(
            "running as root and no pids cgroup controller is available".into(),
        );
    };
    sweep_stale(&parent);
    let dir = parent.join(format!("seal-{}", std::process::id()));
    let made = fs::create_dir(&dir).and_then(|_| fs::write(dir.join("pids.max"), max.to_string()));
    match made {
        Ok(()) => PidsLimit::Cgroup(PidsCgroup { dir, max }),
        Err(e) => {
            let _ = fs::remove_dir(&dir);
            PidsLimit::Unenforced(format!(
                "cannot create a pids cgroup in {}: {e}",
                parent.display()
            ))
        }
    }
}
