//! The fallback run's private HOME and TMPDIR: `$TMPDIR/seal-fallback-PID-RANDOM`, locked from
//! the moment it has that name until it has been removed after the run (see
//! [`seal_sandbox::claimed_dir`]): any seal run sweeps the scratch directories of runs that died
//! without cleaning up, and never a live one's.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context;
use seal_sandbox::claimed_dir::{self, Claimed, Family};

const SCRATCH: Family = Family {
    live: "seal-fallback-",
    new: ".seal-fallback-new-",
};

/// A locked scratch directory, removed when dropped.
pub struct Scratch {
    path: PathBuf,
    _claim: Claimed,
}

impl Scratch {
    /// Sweep this user's stale scratch directories, then make a fresh locked one (0700).
    pub fn create() -> anyhow::Result<Scratch> {
        let tmp = std::env::temp_dir();
        let hint = || {
            format!(
                "cannot create a private scratch directory in {} (set TMPDIR to a writable directory)",
                tmp.display()
            )
        };
        let parent = open_dir(&tmp).with_context(hint)?;
        sweep_stale(&parent, &tmp);
        let claim = claimed_dir::claim(&parent, &SCRATCH, 0o700).with_context(hint)?;
        Ok(Scratch {
            path: tmp.join(claim.name()),
            _claim: claim,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Removed while still locked: a concurrent sweep cannot take it half-removed.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    Ok(rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn sweep_stale(parent: &OwnedFd, tmp: &Path) {
    claimed_dir::sweep(parent, &SCRATCH, |_, name| {
        let _ = std::fs::remove_dir_all(tmp.join(name));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_scratch_survives_a_sweep_and_is_removed_after_the_run() {
        let live = Scratch::create().unwrap();
        let tmp = std::env::temp_dir();
        sweep_stale(&open_dir(&tmp).unwrap(), &tmp);
        assert!(live.path().is_dir(), "a locked scratch directory was swept");
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "the scratch directory outlived its run");
    }
}
