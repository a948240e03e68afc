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

/// The ABI whose rights seal's rulesets ask for (both modes).
pub const FULL_ABI: u32 = 6;

/// With [`LandlockMode::Required`] ("fully enforced"), refuse up front, in words, on a kernel
/// whose Landlock is older than [`FULL_ABI`]; the library's own error names bit flags.
pub fn check_required(mode: LandlockMode) -> Result<(), String> {
    if mode != LandlockMode::Required {
        return Ok(());
    }
    match crate::sys::landlock_abi() {
        Ok(abi) if abi >= FULL_ABI => Ok(()),
        Ok(abi) => Err(format!(
            "Landlock is required in full (--require-landlock), but this kernel has Landlock ABI \
             {abi}, which cannot enforce all of seal's rules (ABI {FULL_ABI}, Linux 6.12+, adds {}); \
             run without --require-landlock to accept what it enforces (seal run -v shows the level)",
            missing_rights(abi)
        )),
        Err(e) => Err(format!(
            "Landlock is required (--require-landlock), but this kernel has none ({e})"
        )),
    }
}

/// What ABIs after `abi` add, in words.
fn missing_rights(abi: u32) -> String {
    [
        (2, "renames and links between directories"),
        (3, "truncation"),
        (4, "TCP bind/connect"),
        (5, "device ioctls"),
        (6, "signal and abstract-socket scoping"),
    ]
    .iter()
    .filter(|(v, _)| *v > abi)
    .map(|(_, what)| *what)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Restrict the calling thread (and its future children). Must run after every mount exists
/// and before seccomp, which would refuse the Landlock syscalls only if told to (it is not).
pub fn apply(mode: LandlockMode, mounts: &[Mount]) -> Result<Level, String> {
    if mode == LandlockMode::Off {
        return Ok(Level::Disabled);
    }
    check_required(mode)?;
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

#[cfg(test)]
mod required_tests {
    use super::*;

    #[test]
    fn missing_rights_name_what_newer_abis_add() {
        assert_eq!(
            missing_rights(2),
            "truncation, TCP bind/connect, device ioctls, signal and abstract-socket scoping"
        );
        assert_eq!(missing_rights(5), "signal and abstract-socket scoping");
        assert_eq!(missing_rights(FULL_ABI), "");
    }

    #[test]
    fn only_required_mode_checks_the_abi() {
        assert_eq!(check_required(LandlockMode::BestEffort), Ok(()));
        assert_eq!(check_required(LandlockMode::Off), Ok(()));
        // On this kernel: full where the ABI is new enough, a worded refusal elsewhere.
        match crate::sys::landlock_abi() {
            Ok(abi) if abi >= FULL_ABI => {
                assert_eq!(check_required(LandlockMode::Required), Ok(()))
            }
            _ => assert!(check_required(LandlockMode::Required)
                .unwrap_err()
                .contains("run without --require-landlock")),
        }
    }
}
