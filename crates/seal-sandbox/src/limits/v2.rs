//! cgroup v2: where a run's cgroup can be made, and making it.
//!
//! A run's cgroup gets its controllers only if its parent has them in
//! `cgroup.subtree_control`, and the kernel lets a cgroup other than the root enable them only
//! while it holds no process ("no internal processes"). So a run's cgroup needs a parent that
//! holds none, and there are two such bases:
//! - for root, `seal/` at the top of the hierarchy: the top is exempt from that rule, so this
//!   works whatever cgroup root's shell is in (a login scope always holds the shell itself);
//! - for a user with a delegated cgroup (systemd's `Delegate=yes`, or any cgroup whose
//!   `cgroup.procs` and `cgroup.subtree_control` this user may write), that cgroup itself:
//!   seal first moves itself into the leaf `seal.supervisors`, the way systemd-run and podman
//!   make room, then enables the controllers. That needs seal to be the cgroup's only
//!   occupant, which `systemd-run --user --scope -p Delegate=yes seal ...` guarantees.
//!
//! Neither base is removed after a run (runs of any number share it, like a systemd slice);
//! the run cgroups in it are, and a run whose supervisor was killed is swept by the next one.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::Access;

/// The leaf a delegated cgroup's seal processes move into. Not of the run cgroups' family
/// (`seal-<pid>-<random>`), so no sweep ever takes it for a dead run's.
pub const SUPERVISORS_LEAF: &str = "seal.supervisors";
/// Root's base at the top of the hierarchy.
const TOP_BASE: &str = "seal";
/// How a user gets a delegated cgroup on a systemd host.
const DELEGATE_HINT: &str =
    "for cgroup limits run seal under systemd-run --user --scope -p Delegate=yes";
/// The controllers seal uses, in the order it enables them.
const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BaseKind {
    /// Root: `seal/` at the top of the hierarchy.
    Top,
    /// The caller's own cgroup, delegated to it.
    Delegated,
}

/// A cgroup under which run cgroups can be made, and the controllers they can get there.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Base {
    pub dir: PathBuf,
    pub kind: BaseKind,
    pub controllers: Vec<String>,
}

impl Base {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The cgroup v2 hierarchy: pure v2 at /sys/fs/cgroup, or the hybrid layout's unified one.
pub fn mount() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Of seal's controllers, those listed in a `cgroup.controllers` file.
fn usable(controllers_file: &Path) -> Vec<String> {
    let have = words(controllers_file);
    CONTROLLERS
        .iter()
        .filter(|c| have.iter().any(|h| h == *c))
        .map(|c| c.to_string())
        .collect()
}

fn writable(path: &Path) -> bool {
    rustix::fs::access(path, Access::WRITE_OK).is_ok()
}

/// The cgroup this process was started in (its `seal.supervisors` leaf counts as the cgroup
/// above it: an earlier run of this process moved it there).
fn own_cgroup(mount: &Path) -> Result<PathBuf, String> {
    let text = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("/proc/self/cgroup names no cgroup v2 (the unified hierarchy is not in use)")?;
    let mut dir = mount.join(rel.trim_start_matches('/'));
    if dir.file_name().is_some_and(|n| n == SUPERVISORS_LEAF) {
        dir.pop();
    }
    if !dir.join("cgroup.procs").exists() {
        return Err(format!(
            "this process's cgroup {rel} is not visible under {}",
            mount.display()
        ));
    }
    Ok(dir)
}

/// Where run cgroups could be made for `uid`, best first, without changing anything; or why
/// nowhere.
pub fn survey(uid: u32) -> Result<Vec<Base>, String> {
    let mount = mount().ok_or("no cgroup v2 hierarchy is mounted")?;
    let mut bases = Vec::new();
    let mut why = Vec::new();
    if uid == 0 {
        let controllers = usable(&mount.join("cgroup.controllers"));
        if !writable(&mount.join("cgroup.subtree_control")) {
            why.push(format!("{} is read-only", mount.display()));
        } else if controllers.is_empty() {
            let on_v1 = if super::v1::hierarchy("pids").is_some() {
                " (this host has them on v1)"
            } else {
                ""
            };
            why.push(format!(
                "{} has none of the pids, memory, cpu controllers{on_v1}",
                mount.display()
            ));
        } else {
            bases.push(Base {
                dir: mount.join(TOP_BASE),
                kind: BaseKind::Top,
                controllers,
            });
        }
    }
    match own_cgroup(&mount) {
        Err(e) => why.push(e),
        // Root's base at the top covers the top itself.
        Ok(own) if own == mount => {
            if uid != 0 {
                why.push(format!(
                    "this user's cgroup is the hierarchy's root ({DELEGATE_HINT})"
                ))
            }
        }
        Ok(own) => {
            let controllers = usable(&own.join("cgroup.controllers"));
            if !writable(&own.join("cgroup.procs"))
                || !writable(&own.join("cgroup.subtree_control"))
            {
                why.push(format!(
                    "{} is not delegated to this user (its cgroup.procs and cgroup.subtree_control \
                     are not writable; {DELEGATE_HINT})",
                    own.display()
                ));
            } else if controllers.is_empty() {
                why.push(format!(
                    "{} has none of the pids, memory, cpu controllers",
                    own.display()
                ));
            } else {
                bases.push(Base {
                    dir: own,
                    kind: BaseKind::Delegated,
                    controllers,
                });
            }
        }
    }
    if bases.is_empty() {
        Err(why.join("; "))
    } else {
        Ok(bases)
    }
}

fn mkdir_shared(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Add `wanted` to `dir`'s `cgroup.subtree_control` (those it lacks).
fn enable(dir: &Path, wanted: &[&str]) -> io::Result<()> {
    let have = words(&dir.join("cgroup.subtree_control"));
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !have.iter().any(|h| h == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::write(dir.join("cgroup.subtree_control"), missing.join(" "))
}

/// Make `base` ready for run cgroups with `wanted` (a subset of its controllers), and open it.
pub fn prepare(base: &Base, wanted: &[&str]) -> Result<OwnedFd, String> {
    let at = |what: &str, p: &Path, e: io::Error| format!("{what} {}: {e}", p.display());
    match base.kind {
        BaseKind::Top => {
            let top = base.dir.parent().unwrap_or(Path::new("/"));
            enable(top, wanted).map_err(|e| at("cannot enable controllers in", top, e))?;
            mkdir_shared(&base.dir).map_err(|e| at("cannot create", &base.dir, e))?;
            enable(&base.dir, wanted)
                .map_err(|e| at("cannot enable controllers in", &base.dir, e))?;
        }
        BaseKind::Delegated => {
            let leaf = base.dir.join(SUPERVISORS_LEAF);
            mkdir_shared(&leaf).map_err(|e| at("cannot create", &leaf, e))?;
            fs::write(leaf.join("cgroup.procs"), "0")
                .map_err(|e| at("cannot move seal into", &leaf, e))?;
            // Other seal processes started in the same cgroup leave it for the leaf too, a
            // moment later: wait a little for them, not for anything else living there.
            let deadline = Instant::now() + Duration::from_millis(500);
            loop {
                match enable(&base.dir, wanted) {
                    Ok(()) => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        return Err(format!(
                            "{} holds processes other than seal: {DELEGATE_HINT}",
                            base.dir.display()
                        ))
                    }
                    Err(e) => return Err(at("cannot enable controllers in", &base.dir, e)),
                }
            }
        }
    }
    super::open_dir(&base.dir)
}

/// The settings of a run cgroup for the limits it carries.
pub fn settings(
    pids: Option<u64>,
    memory: Option<u64>,
    cpu_quota: Option<u64>,
) -> Vec<(&'static str, String)> {
    let mut s = Vec::new();
    if let Some(n) = pids {
        s.push(("pids.max", n.to_string()));
    }
    if let Some(bytes) = memory {
        s.push(("memory.max", bytes.to_string()));
        // Swapped-out pages are not in memory.max: none at all.
        s.push(("memory.swap.max", "0".into()));
        // One process over the limit ends the whole sandbox, not a random member of it.
        s.push(("memory.oom.group", "1".into()));
    }
    if let Some(q) = cpu_quota {
        s.push(("cpu.max", format!("{q} 100000")));
    }
    s
}
