//! Resource limits, each by the cheapest mechanism that holds for the caller on this host.
//!
//! - PIDs: RLIMIT_NPROC counts the processes of the sandbox's uid inside its own user
//!   namespace, which is exactly the sandbox (exact, free, unprivileged) but the kernel never
//!   applies it to the host's uid 0. For root, a v1 pids cgroup (exact); without one, since
//!   Linux 6.14, `kernel.pid_max` of the sandbox's own PID namespace (the kernel keeps PIDs
//!   below 300 out of reuse after the first wrap, so N+300 numbers give N to N+299 tasks).
//! - Memory: a v1 memory cgroup for root (the whole sandbox), plus RLIMIT_DATA on every
//!   process (the only mechanism without a cgroup: per process).
//! - CPUs: a v1 cpu cgroup quota for root (fractions allowed), else the CPU affinity mask
//!   (whole CPUs).
//!
//! Joining a v1 cgroup through `cgroup.procs` waits for an RCU grace period (5-20 ms measured
//! here); a single-threaded process writing `0` to `tasks` moves only itself and skips that
//! global lock (0.2 ms). The supervisor opens each `tasks` file; init writes `0` to it before
//! it forks anything, so every process of the sandbox starts inside.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::claimed_dir::{self, Claimed, Family};
use crate::export::human;
use crate::spec::Limits;

/// PIDs the kernel does not reuse after the first wrap-around (RESERVED_PIDS).
const PID_RESERVED: u64 = 300;
const V1_ROOT: &str = "/sys/fs/cgroup";

/// The names of seal's v1 cgroups (see [`claimed_dir`]): `seal-<pid>-<random>`, locked for
/// the run's life; `.seal-new-...` while being made.
const CGROUPS: Family = Family {
    live: "seal-",
    new: ".seal-new-",
};

/// One v1 cgroup made for this run, removed when dropped.
pub struct V1Cgroup {
    pub controller: &'static str,
    pub dir: PathBuf,
    /// Held until the cgroup is removed: no other run's sweep removes a locked cgroup, even
    /// in the moments it is empty (before init joins it, after the sandbox ended).
    _claim: Claimed,
}

impl Drop for V1Cgroup {
    fn drop(&mut self) {
        // By the time the supervisor has reaped init, the kernel has killed and reaped every
        // process of the PID namespace, so the cgroup is empty.
        let _ = fs::remove_dir(&self.dir);
    }
}

impl V1Cgroup {
    fn read(&self, file: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(file)).ok()
    }

    fn counter(&self, file: &str, key: &str) -> u64 {
        self.read(file)
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|n| n.trim().parse().ok()))
            })
            .unwrap_or(0)
    }
}

/// The limits of one run and what enforces each.
pub struct LimitPlan {
    pub nproc_rlimit: Option<u64>,
    /// Written by init to its PID namespace's `kernel.pid_max`.
    pub pid_max: Option<u64>,
    pub data_rlimit: Option<u64>,
    /// Whole CPUs for the affinity mask.
    pub affinity: Option<usize>,
    pub cgroups: Vec<V1Cgroup>,
    /// `tasks` files of `cgroups`, opened by the supervisor, written by init.
    pub tasks_fds: Vec<OwnedFd>,
    pub describe_pids: String,
    pub describe_memory: String,
    pub describe_cpus: String,
}

impl LimitPlan {
    /// Events seen by the cgroups after the run: (forks refused, OOM kills).
    pub fn events(&self) -> (u64, u64) {
        let mut forks = 0;
        let mut ooms = 0;
        for c in &self.cgroups {
            match c.controller {
                "pids" => forks += c.counter("pids.events", "max "),
                "memory" => ooms += c.counter("memory.oom_control", "oom_kill "),
                _ => {}
            }
        }
        (forks, ooms)
    }
}

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

fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    let p = Path::new(V1_ROOT).join(controller);
    p.join("tasks").exists().then_some(p)
}

/// Remove cgroups left behind by runs whose supervisor was killed before cleaning up: those no
/// live run holds locked (rmdir refuses any that still has processes).
fn sweep_stale(parent: &OwnedFd) {
    claimed_dir::sweep(parent, &CGROUPS, |parent, name| {
        let _ = rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::REMOVEDIR);
    });
}

/// Create `seal-<pid>-<random>` in a v1 hierarchy, write its settings, open its `tasks` file.
fn make_v1(
    controller: &'static str,
    settings: &[(&str, String)],
) -> Result<(V1Cgroup, OwnedFd), String> {
    let parent =
        v1_hierarchy(controller).ok_or_else(|| format!("no v1 {controller} controller"))?;
    let parent_fd = rustix::fs::open(
        &parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot open {}: {e}", parent.display()))?;
    sweep_stale(&parent_fd);
    let claim = claimed_dir::claim(&parent_fd, &CGROUPS, 0o755)
        .map_err(|e| format!("cannot create a cgroup in {}: {e}", parent.display()))?;
    let cg = V1Cgroup {
        controller,
        dir: parent.join(claim.name()),
        _claim: claim,
    };
    for (file, value) in settings {
        fs::write(cg.dir.join(file), value).map_err(|e| format!("cannot set {file}: {e}"))?;
    }
    let tasks = fs::OpenOptions::new()
        .write(true)
        .open(cg.dir.join("tasks"))
        .map_err(|e| format!("cannot open {}/tasks: {e}", cg.dir.display()))?;
    Ok((cg, OwnedFd::from(tasks)))
}

/// Decide how each limit is enforced. `has_proc`: the sandbox mounts its own /proc, through
/// which init sets `kernel.pid_max`.
pub fn plan(limits: &Limits, outer_uid: u32, has_proc: bool) -> LimitPlan {
    let root = outer_uid == 0;
    let mut p = LimitPlan {
        nproc_rlimit: None,
        pid_max: None,
        data_rlimit: limits.memory_bytes,
        affinity: None,
        cgroups: Vec::new(),
        tasks_fds: Vec::new(),
        describe_pids: "none requested".into(),
        describe_memory: "none requested".into(),
        describe_cpus: "none requested".into(),
    };
    let add = |res: Result<(V1Cgroup, OwnedFd), String>, p: &mut LimitPlan| -> Result<(), String> {
        let (cg, fd) = res?;
        p.cgroups.push(cg);
        p.tasks_fds.push(fd);
        Ok(())
    };

    if let Some(n) = limits.pids {
        let pid_max =
            (has_proc && pid_max_is_per_namespace()).then(|| n.saturating_add(PID_RESERVED));
        if !root {
            p.nproc_rlimit = Some(n);
            p.pid_max = pid_max;
            p.describe_pids =
                format!("{n} processes (RLIMIT_NPROC in the sandbox's user namespace)");
        } else {
            // Root: the kernel exempts uid 0 from RLIMIT_NPROC. A pids cgroup is exact; the
            // namespace's pid_max (N to N+299 tasks) is the fallback.
            match add(make_v1("pids", &[("pids.max", n.to_string())]), &mut p) {
                Ok(()) => p.describe_pids = format!("{n} processes (v1 pids cgroup)"),
                Err(e) => match pid_max {
                    Some(m) => {
                        p.pid_max = Some(m);
                        p.describe_pids = format!(
                            "{}..{} processes (pid_max={m} of the sandbox's PID namespace; no pids cgroup: {e})",
                            m - PID_RESERVED,
                            m - 1
                        );
                    }
                    None => p.describe_pids = format!("NOT ENFORCED: running as root, {e}"),
                },
            }
        }
    }

    if let Some(bytes) = limits.memory_bytes {
        let cg = if root && limits.memory_cgroup {
            add(
                make_v1("memory", &[("memory.limit_in_bytes", bytes.to_string())]),
                &mut p,
            )
            .ok()
        } else {
            None
        };
        p.describe_memory = match cg {
            Some(()) => format!(
                "{} for the whole sandbox (v1 memory cgroup) and per process (RLIMIT_DATA)",
                human(bytes)
            ),
            None if limits.memory_cgroup => {
                format!(
                    "{} per process (RLIMIT_DATA; no memory cgroup available to this user)",
                    human(bytes)
                )
            }
            None => format!(
                "{} per process (RLIMIT_DATA; default, pass --memory for a whole-sandbox limit)",
                human(bytes)
            ),
        };
    }

    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        let cg = if root {
            add(
                make_v1(
                    "cpu",
                    &[
                        ("cpu.cfs_period_us", "100000".into()),
                        ("cpu.cfs_quota_us", quota.max(1000).to_string()),
                    ],
                ),
                &mut p,
            )
            .ok()
        } else {
            None
        };
        let whole = cpus.ceil().max(1.0) as usize;
        p.affinity = Some(whole);
        p.describe_cpus = match cg {
            Some(()) => format!("{cpus} CPUs of time (v1 cpu cgroup quota), on at most {whole} CPUs (affinity)"),
            None if cpus.fract() > 0.0 => format!(
                "at most {whole} CPUs (affinity); the fraction needs a cpu cgroup, which this user has not got"
            ),
            None => format!("at most {whole} CPUs (affinity)"),
        };
    }
    p
}
