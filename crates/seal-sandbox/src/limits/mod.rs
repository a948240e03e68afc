//! Resource limits, each by the cheapest mechanism that holds for the caller on this host.
//!
//! A cgroup holds the whole sandbox, so where one can be made it carries every limit: cgroup
//! v2 first (root: `seal/` at the top of the hierarchy; other users: their own cgroup when it
//! is delegated to them, see [`v2`]), else, for root, v1 controllers. Without one:
//! - PIDs: RLIMIT_NPROC counts the processes of the sandbox's uid inside its own user
//!   namespace, which is exactly the sandbox (exact, free, unprivileged) but the kernel never
//!   applies it to the host's uid 0; for root, since Linux 6.14, `kernel.pid_max` of the
//!   sandbox's own PID namespace (the kernel keeps PIDs below 300 out of reuse after the first
//!   wrap, so N+300 numbers give N to N+299 tasks).
//! - Memory: RLIMIT_DATA on every process (always set, also under a cgroup).
//! - CPUs: the CPU affinity mask (whole CPUs; always set, also under a cgroup).
//!
//! Joining: the supervisor creates the sandbox's init directly in a v2 cgroup
//! (clone3 with CLONE_INTO_CGROUP), and opens each cgroup's join file (v2 `cgroup.procs`, v1
//! `tasks`), to which init writes `0` before it forks anything, so that every process of the
//! sandbox starts inside (for a v2 cgroup init is already in, a no-op; it is what places init
//! where clone3 is refused). A single-threaded process writing `0` to a v1 `tasks` file moves
//! only itself and skips the RCU grace period a `cgroup.procs` write waits for (5-20 ms).

pub mod v1;
pub mod v2;

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

use crate::claimed_dir::{self, Claimed, Family};
use crate::export::human;
use crate::outcome::LimitStatus;
use crate::spec::Limits;

/// PIDs the kernel does not reuse after the first wrap-around (RESERVED_PIDS).
const PID_RESERVED: u64 = 300;

/// The names of seal's run cgroups (see [`claimed_dir`]): `seal-<pid>-<random>`, locked for
/// the run's life; `.seal-new-...` while being made (v1 only: v2 cannot rename).
const CGROUPS: Family = Family {
    live: "seal-",
    new: ".seal-new-",
};

/// Settings a kernel may lack: `memory.swap.max` exists only with swap accounting (and without
/// it nothing of the cgroup can be swapped out anyway).
const OPTIONAL_SETTINGS: [&str; 1] = ["memory.swap.max"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupKind {
    /// A v1 cgroup of one controller.
    V1(&'static str),
    /// A v2 cgroup, with every controller the run needs.
    V2,
}

/// One cgroup made for this run, removed when dropped.
pub struct RunCgroup {
    pub kind: CgroupKind,
    pub dir: PathBuf,
    /// Held until the cgroup is removed: no other run's sweep removes a locked cgroup, even
    /// in the moments it is empty (before init joins it, after the sandbox ended).
    claim: Claimed,
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        // By the time the supervisor has reaped init, the kernel has killed and reaped every
        // process of the PID namespace; the cgroup may still count them as populated for a
        // moment (EBUSY) while their exit completes.
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Err(e) = fs::remove_dir(&self.dir) {
            if e.raw_os_error() != Some(libc::EBUSY) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl RunCgroup {
    fn counter(&self, file: &str, key: &str) -> u64 {
        fs::read_to_string(self.dir.join(file))
            .ok()
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
    pub cgroups: Vec<RunCgroup>,
    /// The join files of `cgroups` (v2 `cgroup.procs`, v1 `tasks`), opened by the supervisor,
    /// written by init.
    pub join_fds: Vec<OwnedFd>,
    /// What enforces each limit, for the run's [`crate::Enforcement`].
    pub pids_status: LimitStatus,
    pub memory_status: LimitStatus,
    pub cpus_status: LimitStatus,
}

impl LimitPlan {
    /// Events seen by the cgroups after the run: (forks refused, OOM kills).
    pub fn events(&self) -> (u64, u64) {
        let mut forks = 0;
        let mut ooms = 0;
        for c in &self.cgroups {
            match c.kind {
                CgroupKind::V1("pids") => forks += c.counter("pids.events", "max "),
                CgroupKind::V1("memory") => ooms += c.counter("memory.oom_control", "oom_kill "),
                CgroupKind::V1(_) => {}
                CgroupKind::V2 => {
                    forks += c.counter("pids.events", "max ");
                    ooms += c.counter("memory.events", "oom_kill ");
                }
            }
        }
        (forks, ooms)
    }

    /// The v2 cgroup the sandbox's init is to be created in, if the run has one.
    pub fn v2_cgroup(&self) -> Option<BorrowedFd<'_>> {
        self.cgroups
            .iter()
            .find(|c| c.kind == CgroupKind::V2)
            .map(|c| c.claim.fd().as_fd())
    }

    /// Whether a cgroup (of either version) counts the sandbox's processes.
    pub fn pids_cgroup(&self) -> bool {
        self.cgroups.iter().any(|c| match c.kind {
            CgroupKind::V1(ctl) => ctl == "pids",
            CgroupKind::V2 => c.dir.join("pids.max").exists(),
        })
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

/// Remove cgroups left behind by runs whose supervisor was killed before cleaning up: those no
/// live run holds locked (rmdir refuses any that still has processes).
fn sweep_stale(parent: &OwnedFd) {
    claimed_dir::sweep(parent, &CGROUPS, |parent, name| {
        let _ = rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::REMOVEDIR);
    });
}

fn open_dir(dir: &Path) -> Result<OwnedFd, String> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot open {}: {e}", dir.display()))
}

/// Create `seal-<pid>-<random>` in `parent`, write its settings, open its join file.
fn make(
    kind: CgroupKind,
    parent: &Path,
    parent_fd: &OwnedFd,
    settings: &[(&str, String)],
) -> Result<(RunCgroup, OwnedFd), String> {
    sweep_stale(parent_fd);
    let claim = match kind {
        CgroupKind::V1(_) => claimed_dir::claim(parent_fd, &CGROUPS, 0o755),
        CgroupKind::V2 => claimed_dir::claim_in_place(parent_fd, &CGROUPS, 0o755),
    }
    .map_err(|e| format!("cannot create a cgroup in {}: {e}", parent.display()))?;
    let cg = RunCgroup {
        kind,
        dir: parent.join(claim.name()),
        claim,
    };
    for (file, value) in settings {
        if OPTIONAL_SETTINGS.contains(file) && !cg.dir.join(file).exists() {
            continue;
        }
        fs::write(cg.dir.join(file), value).map_err(|e| format!("cannot set {file}: {e}"))?;
    }
    let join = match kind {
        CgroupKind::V1(_) => "tasks",
        CgroupKind::V2 => "cgroup.procs",
    };
    let fd = fs::OpenOptions::new()
        .write(true)
        .open(cg.dir.join(join))
        .map_err(|e| format!("cannot open {}/{join}: {e}", cg.dir.display()))?;
    Ok((cg, OwnedFd::from(fd)))
}

fn make_v1(
    controller: &'static str,
    settings: &[(&str, String)],
) -> Result<(RunCgroup, OwnedFd), String> {
    let parent =
        v1::hierarchy(controller).ok_or_else(|| format!("no v1 {controller} controller"))?;
    let fd = open_dir(&parent)?;
    make(CgroupKind::V1(controller), &parent, &fd, settings)
}

/// What the limits want from a cgroup.
struct Wanted {
    pids: Option<u64>,
    memory: Option<u64>,
    cpu_quota: Option<u64>,
}

impl Wanted {
    fn controllers(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.pids.is_some() {
            c.push("pids");
        }
        if self.memory.is_some() {
            c.push("memory");
        }
        if self.cpu_quota.is_some() {
            c.push("cpu");
        }
        c
    }
}

/// A v2 run cgroup with as many of the wanted controllers as the best usable base has, and
/// which ones; or why there is none.
fn make_v2(uid: u32, wanted: &Wanted) -> Result<(RunCgroup, OwnedFd, Vec<&'static str>), String> {
    let mut why = Vec::new();
    for base in v2::survey(uid)? {
        let controllers: Vec<&'static str> = wanted
            .controllers()
            .into_iter()
            .filter(|c| base.has(c))
            .collect();
        if controllers.is_empty() {
            continue;
        }
        let made = v2::prepare(&base, &controllers).and_then(|fd| {
            let has = |c| controllers.contains(&c);
            let settings = v2::settings(
                wanted.pids.filter(|_| has("pids")),
                wanted.memory.filter(|_| has("memory")),
                wanted.cpu_quota.filter(|_| has("cpu")),
            );
            make(CgroupKind::V2, &base.dir, &fd, &settings)
        });
        match made {
            Ok((cg, fd)) => return Ok((cg, fd, controllers)),
            Err(e) => why.push(e),
        }
    }
    Err(if why.is_empty() {
        "no usable cgroup v2 base has the controllers".into()
    } else {
        why.join("; ")
    })
}

/// Decide how each limit is enforced. `has_proc`: the sandbox mounts its own /proc, through
/// which init sets `kernel.pid_max`. `v2`: cgroup v2 may be used (not yet by the fallback:
/// with a v2 run cgroup its keeper's kill-on-caller-death test fails on Linux 6.12, cause not
/// yet found, so the fallback keeps the mechanisms it was verified with).
pub fn plan(limits: &Limits, outer_uid: u32, has_proc: bool, v2: bool) -> LimitPlan {
    let root = outer_uid == 0;
    let mut p = LimitPlan {
        nproc_rlimit: None,
        pid_max: None,
        data_rlimit: limits.memory_bytes,
        affinity: None,
        cgroups: Vec::new(),
        join_fds: Vec::new(),
        pids_status: LimitStatus::NotRequested,
        memory_status: LimitStatus::NotRequested,
        cpus_status: LimitStatus::NotRequested,
    };
    let wanted = Wanted {
        pids: limits.pids,
        // The default memory limit stays per process: a cgroup costs time on every run.
        memory: limits.memory_bytes.filter(|_| limits.memory_cgroup),
        cpu_quota: limits
            .cpus
            .map(|c| ((c * 100_000.0).round() as u64).max(1000)),
    };
    let mut v2_has: Vec<&'static str> = Vec::new();
    let mut v2_why = String::new();
    if v2 && !wanted.controllers().is_empty() {
        match make_v2(outer_uid, &wanted) {
            Ok((cg, fd, controllers)) => {
                p.cgroups.push(cg);
                p.join_fds.push(fd);
                v2_has = controllers;
            }
            Err(e) => v2_why = e,
        }
    }
    let v2 = |c: &str| v2_has.contains(&c);
    let add =
        |res: Result<(RunCgroup, OwnedFd), String>, p: &mut LimitPlan| -> Result<(), String> {
            let (cg, fd) = res?;
            p.cgroups.push(cg);
            p.join_fds.push(fd);
            Ok(())
        };
    // Why a limit has no cgroup, for -v and --json: the v2 reason, and v1's for root.
    let no_cgroup = |v1: Option<String>| match (v1, v2_why.is_empty()) {
        (Some(v1), false) => format!("{v1}; cgroup v2: {v2_why}"),
        (Some(v1), true) => v1,
        (None, false) => format!("cgroup v2: {v2_why}"),
        (None, true) => "no cgroup".into(),
    };

    if let Some(n) = limits.pids {
        let pid_max =
            (has_proc && pid_max_is_per_namespace()).then(|| n.saturating_add(PID_RESERVED));
        if v2("pids") {
            // No RLIMIT_NPROC beside it: both are exact, and the rlimit would refuse the same
            // fork first, leaving pids.events without the count that tells the user which
            // limit stopped the run.
            p.pids_status = LimitStatus::Enforced(format!("{n} processes (v2 pids cgroup)"));
        } else if !root {
            p.nproc_rlimit = Some(n);
            p.pid_max = pid_max;
            p.pids_status = LimitStatus::Enforced(format!(
                "{n} processes (RLIMIT_NPROC in the sandbox's user namespace)"
            ));
        } else {
            // Root: the kernel exempts uid 0 from RLIMIT_NPROC. A pids cgroup is exact; the
            // namespace's pid_max (N to N+299 tasks) is the fallback.
            match add(make_v1("pids", &v1::pids_settings(n)), &mut p) {
                Ok(()) => {
                    p.pids_status = LimitStatus::Enforced(format!("{n} processes (v1 pids cgroup)"))
                }
                Err(e) => match pid_max {
                    Some(m) => {
                        p.pid_max = Some(m);
                        p.pids_status = LimitStatus::Enforced(format!(
                            "{}..{} processes (pid_max={m} of the sandbox's PID namespace; no pids cgroup: {})",
                            m - PID_RESERVED,
                            m - 1,
                            no_cgroup(Some(e))
                        ));
                    }
                    None => {
                        p.pids_status = LimitStatus::NotEnforced(format!(
                            "running as root, {}",
                            no_cgroup(Some(e))
                        ))
                    }
                },
            }
        }
    }

    if let Some(bytes) = limits.memory_bytes {
        p.memory_status = LimitStatus::Enforced(if !limits.memory_cgroup {
            format!(
                "{} per process (RLIMIT_DATA; default, pass --memory for a whole-sandbox limit)",
                human(bytes)
            )
        } else if v2("memory") {
            format!(
                "{} for the whole sandbox (v2 memory cgroup: no swap, an out-of-memory kill ends the whole sandbox) and per process (RLIMIT_DATA)",
                human(bytes)
            )
        } else {
            let v1 = if root {
                add(make_v1("memory", &v1::memory_settings(bytes)), &mut p).err()
            } else {
                None
            };
            match (root, v1) {
                (true, None) => format!(
                    "{} for the whole sandbox (v1 memory cgroup) and per process (RLIMIT_DATA)",
                    human(bytes)
                ),
                (_, v1) => format!(
                    "{} per process (RLIMIT_DATA; no memory cgroup available to this user: {})",
                    human(bytes),
                    no_cgroup(v1)
                ),
            }
        });
    }

    if let (Some(cpus), Some(quota)) = (limits.cpus, wanted.cpu_quota) {
        let whole = cpus.ceil().max(1.0) as usize;
        p.affinity = Some(whole);
        let v1 = if root && !v2("cpu") {
            Some(add(make_v1("cpu", &v1::cpu_settings(quota)), &mut p))
        } else {
            None
        };
        p.cpus_status = LimitStatus::Enforced(match v1 {
            _ if v2("cpu") => format!(
                "{cpus} CPUs of time (v2 cpu cgroup quota), on at most {whole} CPUs (affinity)"
            ),
            Some(Ok(())) => format!(
                "{cpus} CPUs of time (v1 cpu cgroup quota), on at most {whole} CPUs (affinity)"
            ),
            v1 if cpus.fract() > 0.0 => format!(
                "at most {whole} CPUs (affinity); the fraction needs a cpu cgroup, which this user has not got ({})",
                no_cgroup(v1.and_then(Result::err))
            ),
            _ => format!("at most {whole} CPUs (affinity)"),
        });
    }
    p
}
