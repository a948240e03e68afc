//! Facts of the kernel the tests run on, decided the way seal decides them, so that a test
//! expects what seal does on this host (and says loudly which branch ran): the Landlock ABI,
//! the v1 cgroup controllers, the per-namespace pid_max, and from these the mechanism of each
//! resource limit.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::loud;

/// The kernel's Landlock ABI version (`landlock_create_ruleset(NULL, 0,
/// LANDLOCK_CREATE_RULESET_VERSION)`), 0 where Landlock is not built in or not enabled.
pub fn landlock_abi() -> u32 {
    static ABI: OnceLock<u32> = OnceLock::new();
    *ABI.get_or_init(|| {
        const LANDLOCK_CREATE_RULESET_VERSION: libc::c_ulong = 1;
        // SAFETY: with a NULL attribute pointer, size 0 and the VERSION flag the kernel reads
        // and writes no memory; it returns the ABI version or fails.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                LANDLOCK_CREATE_RULESET_VERSION,
            )
        };
        u32::try_from(r).unwrap_or(0)
    })
}

/// Whether this host has a mounted v1 hierarchy of `controller` ("pids", "memory", "cpu"):
/// `/sys/fs/cgroup/CONTROLLER/tasks` exists (seal's own test, `host_probe::cgroup_v1_controllers`
/// and `limits::v1::hierarchy`).
pub fn has_v1_controller(controller: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("tasks")
        .exists()
}

/// The cgroup v2 hierarchy (pure v2, or the hybrid layout's unified one), as seal finds it.
pub fn v2_mount() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

/// Whether root's runs get `controller` from a v2 cgroup: the top of the v2 hierarchy offers
/// it and root may write there (seal's `limits::v2::survey`, base `seal/`).
pub fn root_has_v2_controller(controller: &str) -> bool {
    v2_mount().is_some_and(|m| {
        let offered = std::fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default();
        offered.split_whitespace().any(|c| c == controller)
            && rustix::fs::access(
                m.join("cgroup.subtree_control"),
                rustix::fs::Access::WRITE_OK,
            )
            .is_ok()
    })
}

/// Which cgroup carries `controller`'s limit for a root run: v2 first, then v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V2,
    V1,
}

pub fn root_cgroup(controller: &str) -> Option<CgroupVersion> {
    if root_has_v2_controller(controller) {
        Some(CgroupVersion::V2)
    } else if has_v1_controller(controller) {
        Some(CgroupVersion::V1)
    } else {
        None
    }
}

/// The parent of root's run cgroups for `controller`: `seal/` at the top of v2, or the v1
/// controller's hierarchy.
pub fn root_cgroup_parent(controller: &str) -> Option<PathBuf> {
    match root_cgroup(controller)? {
        CgroupVersion::V2 => v2_mount().map(|m| m.join("seal")),
        CgroupVersion::V1 => Some(Path::new("/sys/fs/cgroup").join(controller)),
    }
}

/// The running kernel's (major, minor), from /proc/sys/kernel/osrelease.
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Whether `kernel.pid_max` is per PID namespace (Linux 6.14+; seal's `per_namespace_pid_max`).
pub fn per_namespace_pid_max() -> bool {
    kernel_version() >= (6, 14)
}

/// `NOTE: [variant] ...` on the real stderr, past the capture: which kernel-dependent branch of a
/// test ran, and why.
pub fn note(variant: &str, msg: &str) {
    loud(&format!("NOTE: [{variant}] {msg}"));
}

/// How seal enforces `--pids N` for a run ([`pids_mechanism`]), as `-v` and `--json` describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidsMechanism {
    /// Not root, namespace sandbox: RLIMIT_NPROC in the sandbox's user namespace (exact).
    UserNsRlimit,
    /// Not root, fallback: RLIMIT_NPROC over all the user's processes (their count plus N).
    PerUserRlimit,
    /// Root in the namespace mode where the top of cgroup v2 offers pids: a v2 pids cgroup
    /// (exact; the fallback does not use cgroup v2 yet).
    V2Cgroup,
    /// Root with a v1 pids controller (and no v2 one): a pids cgroup (exact).
    V1Cgroup,
    /// Root without one, namespace sandbox on Linux 6.14+: the namespace's pid_max (N to
    /// N+299 tasks).
    PidMax,
    /// Root without a v1 pids controller and without per-namespace pid_max (or in the
    /// fallback, which has no PID namespace): nothing, and seal says so.
    NotEnforced,
}

/// What seal adds to pid_max for the tasks it needs itself (`limits::PID_RESERVED`).
pub const PID_MAX_RESERVED: u64 = 300;

/// The beginning of the warning of a run given an explicit `--pids` that seal cannot enforce.
pub const PIDS_NOT_ENFORCED_WARNING: &str = "seal: warning: the --pids limit is NOT ENFORCED";

/// How seal enforces the pids limit here, decided as `limits::plan` decides it: `root` is the
/// variant, `namespaces` whether the run is the namespace sandbox (its own /proc and PID
/// namespace) rather than the Landlock + seccomp fallback.
pub fn pids_mechanism(root: bool, namespaces: bool) -> PidsMechanism {
    match (root, namespaces) {
        (false, true) => PidsMechanism::UserNsRlimit,
        (false, false) => PidsMechanism::PerUserRlimit,
        (true, true) if root_has_v2_controller("pids") => PidsMechanism::V2Cgroup,
        (true, _) if has_v1_controller("pids") => PidsMechanism::V1Cgroup,
        (true, true) if per_namespace_pid_max() => PidsMechanism::PidMax,
        (true, _) => PidsMechanism::NotEnforced,
    }
}

impl PidsMechanism {
    pub fn enforced(self) -> bool {
        self != PidsMechanism::NotEnforced
    }

    /// Why seal chose this mechanism here, for the NOTE a test prints.
    pub fn why(self) -> String {
        let (major, minor) = kernel_version();
        match self {
            PidsMechanism::UserNsRlimit => "not root: RLIMIT_NPROC in the user namespace".into(),
            PidsMechanism::PerUserRlimit => "not root, fallback: RLIMIT_NPROC per user".into(),
            PidsMechanism::V2Cgroup => {
                "root, the top of cgroup v2 offers pids: v2 pids cgroup".into()
            }
            PidsMechanism::V1Cgroup => {
                "root, /sys/fs/cgroup/pids/tasks exists: v1 pids cgroup".into()
            }
            PidsMechanism::PidMax => format!(
                "root, no pids controller in cgroup v2 or v1 (/sys/fs/cgroup/pids/tasks missing), Linux \
                 {major}.{minor} >= 6.14: the PID namespace's pid_max"
            ),
            PidsMechanism::NotEnforced => format!(
                "root, no pids controller in cgroup v2 or v1 (/sys/fs/cgroup/pids/tasks missing) and no \
                 per-namespace pid_max for this run (Linux {major}.{minor}; 6.14+ has it, the \
                 fallback has no PID namespace): seal reports the limit NOT ENFORCED"
            ),
        }
    }

    /// Panics unless `desc` (what `-v` prints after "pids limit", or `--json` limits.pids)
    /// names this mechanism for a limit of `n`.
    pub fn assert_describes(self, desc: &str, n: u64) {
        let desc = desc
            .trim_start_matches("seal: pids limit")
            .trim_start()
            .to_string();
        let count = format!("{n} processes");
        let ok = match self {
            PidsMechanism::UserNsRlimit => {
                desc.starts_with(&count) && desc.contains("RLIMIT_NPROC in the sandbox's user")
            }
            PidsMechanism::PerUserRlimit => {
                desc.starts_with(&format!("{n} more processes")) && desc.contains("RLIMIT_NPROC")
            }
            PidsMechanism::V2Cgroup => desc.starts_with(&count) && desc.contains("v2 pids cgroup"),
            PidsMechanism::V1Cgroup => desc.starts_with(&count) && desc.contains("v1 pids cgroup"),
            PidsMechanism::PidMax => {
                let m = n + PID_MAX_RESERVED;
                desc.starts_with(&format!("{n}..{} processes", m - 1))
                    && desc.contains(&format!("pid_max={m} "))
            }
            PidsMechanism::NotEnforced => {
                desc.starts_with("NOT ENFORCED: running as root")
                    && desc.contains("no v1 pids controller")
            }
        };
        assert!(
            ok,
            "expected the pids limit of {n} to be described as {self:?} ({}), seal says: {desc:?}",
            self.why()
        );
    }
}
