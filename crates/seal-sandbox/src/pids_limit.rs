//! The PIDs limit: a cgroup where the caller may create one, RLIMIT_NPROC otherwise.
//!
//! RLIMIT_NPROC counts the processes of the sandbox's uid inside its own user namespace,
//! which is exactly the sandbox, so it works unprivileged. The kernel never applies it to the
//! host's uid 0, however, so when seal runs as root the limit needs a pids cgroup (root can
//! always create one).

use std::fs;
use std::path::{Path, PathBuf};

/// How the PIDs limit is enforced for one run.
pub enum PidsLimit {
    Cgroup(PidsCgroup),
    Rlimit(u64),
    /// Neither mechanism is available (root without a pids controller).
    Unenforced(String),
    None,
}

impl PidsLimit {
    pub fn describe(&self) -> String {
        match self {
            PidsLimit::Cgroup(c) => format!("cgroup pids.max={} ({})", c.max, c.dir.display()),
            PidsLimit::Rlimit(n) => format!("RLIMIT_NPROC={n} (per-sandbox user namespace)"),
            PidsLimit::Unenforced(why) => format!("NOT ENFORCED: {why}"),
            PidsLimit::None => "none requested".into(),
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

pub fn prepare(max: Option<u64>, outer_uid: u32) -> PidsLimit {
    let Some(max) = max else {
        return PidsLimit::None;
    };
    if outer_uid != 0 {
        return PidsLimit::Rlimit(max);
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
