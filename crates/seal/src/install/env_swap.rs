//! Building the environment beside the old one and swapping it into place atomically, so
//! that a failed or interrupted install leaves the previous environment intact.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use seal_sandbox::claimed_dir::{self, Family};

use crate::project::Project;

/// Swap the new environment into place: an existing one is exchanged atomically, then removed.
pub(super) fn swap_into_place(new_env: &Path, project: &Project) -> Result<()> {
    let target = project.env_dir();
    if target.exists() {
        rustix_exchange(new_env, &target)
            .with_context(|| format!("replacing {}", target.display()))?;
        // `new_env` now holds the previous environment.
        std::fs::remove_dir_all(new_env).ok();
    } else {
        std::fs::rename(new_env, &target)
            .with_context(|| format!("moving the environment to {}", target.display()))?;
    }
    Ok(())
}

pub(super) fn rustix_exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    Ok(renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?)
}

/// An install's temporary directory in the project's state directory (see
/// [`seal_sandbox::claimed_dir`]): `tmp-install-<pid>-<random>`, locked while the install
/// lasts; `tmp-new-install-...` while being made.
pub(super) const TEMP_STATE: Family = Family {
    live: "tmp-install-",
    new: "tmp-new-install-",
};

pub(super) struct TempState {
    pub(super) dir: PathBuf,
    /// Held until the directory has been removed: no concurrent install's sweep takes it.
    pub(super) _claim: claimed_dir::Claimed,
}

impl TempState {
    /// Sweep what dead installs left in `state`, then make a fresh locked directory there.
    pub(super) fn create(state: &Path) -> Result<TempState> {
        use rustix::fs::{Mode, OFlags};
        let parent = rustix::fs::open(
            state,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", state.display()))?;
        sweep_stale(&parent, state);
        let claim = claimed_dir::claim(&parent, &TEMP_STATE, 0o777)
            .with_context(|| format!("creating a temporary directory in {}", state.display()))?;
        Ok(TempState {
            dir: state.join(claim.name()),
            _claim: claim,
        })
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        // Removed while still locked: a concurrent sweep cannot take it half-removed.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Remove temporary install directories of installs that died: those no live install holds
/// locked. A lock, not a PID check: an install in another PID namespace sharing the project
/// is invisible in our /proc, and a dead install's PID may be reused (by this very install,
/// which would then have taken over its leftovers).
pub(super) fn sweep_stale(parent: &std::os::fd::OwnedFd, state: &Path) {
    claimed_dir::sweep(parent, &TEMP_STATE, |_, name| {
        let _ = std::fs::remove_dir_all(state.join(name));
    });
}
