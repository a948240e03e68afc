//! What this host lets a sandbox use, found by trying (for `seal doctor`): the same calls the
//! engine makes, in a throwaway child where they change state.

use std::fs;
use std::path::{Path, PathBuf};

use crate::sys::{self, Forked, WaitStatus};

/// How far this user gets with user namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernsState {
    /// The namespace engine works: a user namespace with its mount, PID and network
    /// namespaces, id maps and mounts.
    Allowed,
    /// A user namespace can be created but holds no capabilities, so the id maps, the other
    /// namespaces or mounts in it are refused. Ubuntu 23.10+ does this with AppArmor's
    /// `restrict_unprivileged_userns`; an LSM or a seccomp policy can do the same.
    WithoutCapabilities,
    /// Creating a user namespace is refused.
    Blocked,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UsernsFacts {
    /// The namespace engine can run here (`state` is `Allowed`).
    pub allowed: bool,
    pub state: UsernsState,
    /// What blocks it, when it is blocked or without capabilities.
    pub blocked_by: Option<String>,
    /// The engine's step that was refused, when one was.
    pub refused_step: Option<String>,
    pub max_user_namespaces: Option<u64>,
    pub unprivileged_userns_clone: Option<u64>,
    pub apparmor_restrict_unprivileged_userns: Option<u64>,
}

/// A cgroup v2 directory under which seal makes run cgroups.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CgroupV2Base {
    pub dir: PathBuf,
    /// The caller's own cgroup, delegated to it (else root's `seal/` at the top).
    pub delegated: bool,
    /// Of pids, memory, cpu: those a run cgroup there can have.
    pub controllers: Vec<String>,
}

impl CgroupV2Base {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct HostFacts {
    pub kernel: String,
    pub uid: u32,
    pub userns: UsernsFacts,
    /// Landlock ABI version, or why there is none.
    pub landlock_abi: Result<u32, String>,
    pub seccomp_filter: bool,
    pub seccomp_user_notification: bool,
    /// cgroup v1 controllers under /sys/fs/cgroup that root can use.
    pub cgroup_v1_controllers: Vec<String>,
    /// Where a run's cgroup v2 would be made and with which controllers, or why there is none
    /// for this user.
    pub cgroup_v2: Result<CgroupV2Base, String>,
    pub per_namespace_pid_max: bool,
    pub nosymfollow: bool,
    /// Whether an unprivileged user namespace may mount overlayfs here (tried, not guessed).
    /// seal does not need it: its root is a tmpfs with read-only bind mounts.
    pub overlay_in_userns: bool,
}

fn read_u64(p: &str) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn version_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    matches!((it.next(), it.next()), (Some(a), Some(b)) if (a, b) >= want)
}

/// How [`try_userns`] failed: creating the namespace was refused, or a later step failed
/// (the id maps, or the probe itself).
#[derive(Debug)]
enum UsernsRefusal {
    Create,
    Later,
}

/// Try what the sandbox does first: a new user namespace with a one-line id map.
fn try_userns(uid: u32, gid: u32) -> Result<(), UsernsRefusal> {
    match sys::fork() {
        Ok(Forked::Child) => {
            let code = if sys::unshare(libc::CLONE_NEWUSER).is_err() {
                1
            } else if fs::write("/proc/self/setgroups", "deny").is_err()
                || fs::write("/proc/self/uid_map", format!("1000 {uid} 1")).is_err()
                || fs::write("/proc/self/gid_map", format!("1000 {gid} 1")).is_err()
            {
                2
            } else {
                0
            };
            sys::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => match sys::waitpid(pid, false) {
            Ok(Some((_, WaitStatus::Exited(0)))) => Ok(()),
            Ok(Some((_, WaitStatus::Exited(1)))) => Err(UsernsRefusal::Create),
            _ => Err(UsernsRefusal::Later),
        },
        Err(_) => Err(UsernsRefusal::Later),
    }
}

/// Whether the namespace engine can work here, found the only reliable way: by doing in a
/// throwaway child what the sandbox does first. Knobs are not enough: with AppArmor's
/// `restrict_unprivileged_userns` creating the namespace succeeds and only writing the id map
/// or mounting fails; a container's seccomp policy shows nowhere but in the call's result.
/// `Err` says which step was refused; callers choose [`crate::run_fallback`] then.
pub fn check_namespaces() -> Result<(), String> {
    const STEPS: [&str; 4] = [
        "",
        "writing the user namespace's id maps was refused",
        "making the new mount namespace private was refused",
        "mounting a tmpfs in the new mount namespace was refused",
    ];
    let uid = sys::getuid();
    let gid = sys::getgid();
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET;
    match sys::clone_fork(flags) {
        Ok(Forked::Child) => {
            let maps = fs::write("/proc/self/setgroups", "deny").is_ok()
                && fs::write("/proc/self/uid_map", format!("1000 {uid} 1")).is_ok()
                && fs::write("/proc/self/gid_map", format!("1000 {gid} 1")).is_ok();
            let root = c"/";
            let code = if !maps {
                1
            } else if sys::mount(None, root, None, libc::MS_REC | libc::MS_PRIVATE, None).is_err() {
                2
            } else if sys::mount(Some(c"tmpfs"), root, Some(c"tmpfs"), 0, Some(c"size=4k")).is_err()
            {
                3
            } else {
                0
            };
            sys::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => match sys::waitpid(pid, false) {
            Ok(Some((_, WaitStatus::Exited(0)))) => Ok(()),
            Ok(Some((_, WaitStatus::Exited(n)))) if (1..=3).contains(&n) => {
                Err(STEPS[n as usize].to_string())
            }
            _ => Err("the probe process died".into()),
        },
        Err(e) => Err(format!(
            "creating user, mount, PID and network namespaces: {e}"
        )),
    }
}

/// What a throwaway user and mount namespace may mount here, tried rather than guessed from the
/// kernel version: (a read-only overlay of two empty directories, what Linux allows
/// unprivileged since 5.11 unless a distribution or LSM forbids it; the nosymfollow mount
/// attribute, which seal sets on writable binds).
fn try_mounts_in_userns() -> (bool, bool) {
    const OVERLAY: i32 = 1;
    const NOSYMFOLLOW: i32 = 2;
    let uid = sys::getuid();
    let gid = sys::getgid();
    match sys::clone_fork(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) {
        Ok(Forked::Child) => {
            let maps = fs::write("/proc/self/setgroups", "deny").is_ok()
                && fs::write("/proc/self/uid_map", format!("0 {uid} 1")).is_ok()
                && fs::write("/proc/self/gid_map", format!("0 {gid} 1")).is_ok();
            // A private tmpfs over /tmp (in this namespace only) holds the directories.
            let scratch = maps
                && sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).is_ok()
                && sys::mount(
                    Some(c"tmpfs"),
                    c"/tmp",
                    Some(c"tmpfs"),
                    0,
                    Some(c"size=64k"),
                )
                .is_ok()
                && ["/tmp/a", "/tmp/b", "/tmp/m"]
                    .iter()
                    .all(|d| fs::create_dir(d).is_ok());
            let mut found = 0;
            if scratch && sys::mount_setattr(c"/tmp", false, sys::MOUNT_ATTR_NOSYMFOLLOW).is_ok() {
                found |= NOSYMFOLLOW;
            }
            if scratch
                && sys::mount(
                    Some(c"overlay"),
                    c"/tmp/m",
                    Some(c"overlay"),
                    libc::MS_RDONLY,
                    Some(c"lowerdir=/tmp/a:/tmp/b"),
                )
                .is_ok()
            {
                found |= OVERLAY;
            }
            sys::exit_now(found)
        }
        Ok(Forked::Parent(pid)) => match sys::waitpid(pid, false) {
            Ok(Some((_, WaitStatus::Exited(n)))) => (n & OVERLAY != 0, n & NOSYMFOLLOW != 0),
            _ => (false, false),
        },
        Err(_) => (false, false),
    }
}

/// [`check_namespaces`] as a yes/no answer.
pub fn userns_available() -> bool {
    check_namespaces().is_ok()
}

/// Where seal would make a run's v2 cgroup for this user (the first of
/// [`crate::limits::v2::survey`]'s bases, read without changing anything), or why nowhere.
fn cgroup_v2(uid: u32) -> Result<CgroupV2Base, String> {
    let bases = crate::limits::v2::survey(uid)?;
    let b = &bases[0];
    Ok(CgroupV2Base {
        dir: b.dir.clone(),
        delegated: b.kind == crate::limits::v2::BaseKind::Delegated,
        controllers: b.controllers.clone(),
    })
}

pub fn probe() -> HostFacts {
    let uid = sys::getuid();
    let gid = sys::getgid();
    let kernel = kernel_release();
    let max = read_u64("/proc/sys/user/max_user_namespaces");
    let unpriv = read_u64("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor = read_u64("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let created = try_userns(uid, gid);
    // Creating the namespace is not enough: the engine's own first steps are tried too, since
    // a namespace without capabilities (Ubuntu's AppArmor restriction) is created fine.
    let engine = match &created {
        Err(UsernsRefusal::Create) => Err("creating a user namespace was refused".to_string()),
        _ => check_namespaces(),
    };
    let state = match (&created, &engine) {
        (_, Ok(())) => UsernsState::Allowed,
        (Err(UsernsRefusal::Create), _) => UsernsState::Blocked,
        _ => UsernsState::WithoutCapabilities,
    };
    // Without user namespaces seal mounts nothing: the version is the best answer there
    // (MOUNT_ATTR_NOSYMFOLLOW, the way seal sets it, came with Linux 5.14).
    let (overlay_in_userns, nosymfollow) = if state == UsernsState::Allowed {
        try_mounts_in_userns()
    } else {
        (false, version_at_least(&kernel, (5, 14)))
    };
    let refused_step = engine.err();
    let blocked_by = refused_step.as_ref().map(|why| {
        if max == Some(0) {
            "sysctl user.max_user_namespaces=0".to_string()
        } else if unpriv == Some(0) {
            "sysctl kernel.unprivileged_userns_clone=0".to_string()
        } else if apparmor == Some(1) {
            "AppArmor (kernel.apparmor_restrict_unprivileged_userns=1)".to_string()
        } else {
            format!("{why} (a container's seccomp policy or an LSM)")
        }
    });
    let cgroup_v1_controllers = ["pids", "memory", "cpu"]
        .iter()
        .filter(|c| Path::new("/sys/fs/cgroup").join(c).join("tasks").exists())
        .map(|c| c.to_string())
        .collect();
    HostFacts {
        uid,
        userns: UsernsFacts {
            allowed: state == UsernsState::Allowed,
            state,
            blocked_by,
            refused_step,
            max_user_namespaces: max,
            unprivileged_userns_clone: unpriv,
            apparmor_restrict_unprivileged_userns: apparmor,
        },
        landlock_abi: landlock_abi(),
        seccomp_filter: sys::seccomp_action_available(crate::seccomp::RET_ALLOW),
        seccomp_user_notification: seccomp_user_notification_available(),
        cgroup_v1_controllers,
        cgroup_v2: cgroup_v2(uid),
        per_namespace_pid_max: version_at_least(&kernel, (6, 14)),
        nosymfollow,
        overlay_in_userns,
        kernel,
    }
}

/// This kernel's Landlock ABI version, or why it has none.
pub fn landlock_abi() -> Result<u32, String> {
    sys::landlock_abi().map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS) => "not built into this kernel".to_string(),
        Some(libc::EOPNOTSUPP) => "built in but not enabled at boot (lsm= list)".to_string(),
        _ => e.to_string(),
    })
}

/// Whether this kernel installs seccomp filters (what denies sockets in the fallback).
pub fn seccomp_filter_available() -> bool {
    sys::seccomp_action_available(crate::seccomp::RET_ALLOW)
}

/// Whether this kernel stops system calls for a supervisor and lets them continue, as
/// [`crate::HandoffRequest::observe`] needs (seccomp user notification is 5.0+, the flag that
/// lets a call continue 5.5+; /proc/sys/kernel/osrelease unreadable counts as too old).
pub fn seccomp_user_notification_available() -> bool {
    version_at_least(&kernel_release(), (5, 5))
        && sys::seccomp_action_available(libc::SECCOMP_RET_USER_NOTIF)
}
