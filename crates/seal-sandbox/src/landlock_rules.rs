//! Landlock as a second, independent layer that matches the mount layout: if a mount were
//! ever left writable by mistake, Landlock still refuses the write.

use std::path::Path;

use landlock::{
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::spec::{Access as MountAccess, LandlockMode, Mount};

/// The newest ABI whose rights this code has been written and tested against. Newer kernels
/// still enforce these; older ones enforce the subset they know (best effort).
const TESTED_ABI: ABI = ABI::V6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Full,
    Partial,
    None,
    Disabled,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Full => "fully enforced",
            Level::Partial => "partially enforced (older kernel ABI)",
            Level::None => "not enforced (kernel has no Landlock)",
            Level::Disabled => "disabled",
        }
    }
}

/// Paths that need write access, derived from the mount list.
fn writable(mounts: &[Mount]) -> Vec<(&Path, bool)> {
    let mut v = Vec::new();
    for m in mounts {
        match m {
            Mount::Bind {
                dst,
                access: MountAccess::ReadWrite | MountAccess::ReadWriteNoSymlinks,
                ..
            }
            | Mount::Tmpfs { dst, .. }
            | Mount::Staging { dst, .. }
            | Mount::CopyTree { dst, .. } => v.push((dst.as_path(), false)),
            Mount::Dev { dst, .. } => v.push((dst.as_path(), true)),
            _ => {}
        }
    }
    v
}

/// Restrict the calling thread (and its future children). Must run after every mount exists
/// and before seccomp, which would refuse the Landlock syscalls only if told to (it is not).
pub fn apply(mode: LandlockMode, mounts: &[Mount]) -> Result<Level, String> {
    if mode == LandlockMode::Off {
        return Ok(Level::Disabled);
    }
    let compat = match mode {
        LandlockMode::Required => CompatLevel::HardRequirement,
        _ => CompatLevel::BestEffort,
    };
    let all = AccessFs::from_all(TESTED_ABI);
    let read = AccessFs::from_read(TESTED_ABI);
    let device = read | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;

    let result = (|| -> Result<RulesetStatus, String> {
        let mut created = Ruleset::default()
            .set_compatibility(compat)
            .handle_access(all)
            .and_then(|r| r.scope(Scope::from_all(TESTED_ABI)))
            .and_then(|r| r.create())
            .map_err(|e| e.to_string())?;
        let root = PathFd::new("/").map_err(|e| e.to_string())?;
        created = created
            .add_rule(PathBeneath::new(root, read))
            .map_err(|e| e.to_string())?;
        for (path, is_dev) in writable(mounts) {
            let fd = PathFd::new(path).map_err(|e| e.to_string())?;
            created = created
                .add_rule(PathBeneath::new(fd, if is_dev { device } else { all }))
                .map_err(|e| e.to_string())?;
            if is_dev {
                // /dev/pts and /dev/shm are ordinary writable places under the device tree.
                for sub in ["pts", "shm"] {
                    let fd = PathFd::new(path.join(sub)).map_err(|e| e.to_string())?;
                    created = created
                        .add_rule(PathBeneath::new(fd, all))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(created.restrict_self().map_err(|e| e.to_string())?.ruleset)
    })();
    match result {
        Ok(RulesetStatus::FullyEnforced) => Ok(Level::Full),
        Ok(RulesetStatus::PartiallyEnforced) => Ok(Level::Partial),
        Ok(RulesetStatus::NotEnforced) if mode == LandlockMode::Required => {
            Err("Landlock is required but this kernel does not enforce it".into())
        }
        Ok(RulesetStatus::NotEnforced) => Ok(Level::None),
        Err(e) => Err(format!("Landlock: {e}")),
    }
}
