//! The fallback's Landlock ruleset: the only file system boundary in this mode, so unlike the
//! namespace mode's second layer it grants nothing by default (not even reading `/`), handles
//! TCP with no port allowed, and scopes signals and abstract Unix sockets to the sandbox.

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::translate::{Grant, Right};
use crate::landlock_rules::Level;
use crate::spec::LandlockMode;

/// The newest ABI whose rights this code has been written and tested against: files with
/// truncate and device ioctls, TCP bind/connect, and scoping of signals and abstract sockets.
/// Newer kernels enforce these; older ones the subset they know (reported as partial).
const FALLBACK_ABI: ABI = ABI::V6;

fn rights(g: &Grant) -> BitFlags<AccessFs> {
    let all = AccessFs::from_all(FALLBACK_ABI);
    let wanted = match g.right {
        Right::Read => AccessFs::from_read(FALLBACK_ABI),
        // Device nodes are never needed in a writable directory, and only root could make
        // one; refusing it costs nothing.
        Right::ReadWrite => all & !(AccessFs::MakeChar | AccessFs::MakeBlock),
        Right::Device { write: false } => AccessFs::ReadFile.into(),
        Right::Device { write: true } => {
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev
        }
    };
    if g.is_dir {
        wanted
    } else {
        wanted & AccessFs::from_file(FALLBACK_ABI)
    }
}

/// Restrict the calling thread (and what it later executes) to `grants`. Runs in the
/// program's process just before seccomp; also sets no_new_privs.
pub fn restrict(grants: &[Grant], mode: LandlockMode) -> Result<Level, String> {
    crate::landlock_rules::check_required(mode)?;
    let compat = match mode {
        LandlockMode::Required => CompatLevel::HardRequirement,
        _ => CompatLevel::BestEffort,
    };
    let status = (|| -> Result<RulesetStatus, String> {
        let mut created = Ruleset::default()
            .set_compatibility(compat)
            .handle_access(AccessFs::from_all(FALLBACK_ABI))
            .and_then(|r| r.handle_access(AccessNet::from_all(FALLBACK_ABI)))
            .and_then(|r| r.scope(Scope::from_all(FALLBACK_ABI)))
            .and_then(|r| r.create())
            .map_err(|e| e.to_string())?;
        for g in grants {
            let fd = PathFd::new(&g.path).map_err(|e| format!("{}: {e}", g.path.display()))?;
            created = created
                .add_rule(PathBeneath::new(fd, rights(g)))
                .map_err(|e| e.to_string())?;
        }
        Ok(created.restrict_self().map_err(|e| e.to_string())?.ruleset)
    })();
    match status {
        Ok(RulesetStatus::FullyEnforced) => Ok(Level::Full),
        Ok(RulesetStatus::PartiallyEnforced) => Ok(Level::Partial),
        Ok(RulesetStatus::NotEnforced) => Err(
            "fallback mode needs Landlock, and this kernel does not enforce it (it is the only \
             file system boundary without namespaces)"
                .into(),
        ),
        Err(e) => Err(format!("Landlock: {e}")),
    }
}

/// What the kernel's Landlock ABI leaves undone in this mode, for `Enforcement::limitations`.
pub fn missing_features(kernel_abi: u32) -> Vec<String> {
    let mut v = Vec::new();
    if kernel_abi < 2 {
        v.push("Landlock ABI 1: files cannot be renamed or linked between directories".into());
    }
    if kernel_abi < 3 {
        v.push(
            "Landlock ABI < 3 cannot refuse truncation; seccomp refuses truncate() by path \
             instead"
                .into(),
        );
    }
    if kernel_abi < 5 {
        v.push("Landlock ABI < 5: ioctl on granted device nodes is not restricted".into());
    }
    if kernel_abi < 6 {
        v.push(
            "Landlock ABI < 6: signals are not scoped, so the program can signal (and kill) \
             this user's other processes, seal's included: a program that stops or kills \
             seal and its keeper together can outlive the run"
                .into(),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn g(right: Right, is_dir: bool) -> Grant {
        Grant {
            path: PathBuf::from("/x"),
            right,
            is_dir,
        }
    }

    #[test]
    fn rights_per_grant() {
        let rw = rights(&g(Right::ReadWrite, true));
        assert!(rw.contains(AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::RemoveFile));
        assert!(!rw.intersects(AccessFs::MakeChar | AccessFs::MakeBlock));
        let ro = rights(&g(Right::Read, true));
        assert!(ro.contains(AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute));
        assert!(!ro.intersects(AccessFs::WriteFile | AccessFs::Truncate));
        let ro_file = rights(&g(Right::Read, false));
        assert!(!ro_file.contains(AccessFs::ReadDir));
        let dev = rights(&g(Right::Device { write: false }, false));
        assert_eq!(dev, BitFlags::from(AccessFs::ReadFile));
    }

    #[test]
    fn missing_features_name_the_gaps() {
        assert!(missing_features(7).is_empty());
        assert!(missing_features(5)[0].contains("signals"));
        assert_eq!(missing_features(1).len(), 4);
    }
}
