//! The fallback run's private HOME and TMPDIR: `$TMPDIR/seal-fallback-PID-XXXX`, locked (flock)
//! from the moment it has that name until the run is over, and removed afterwards.
//!
//! Any seal run sweeps the scratch directories of runs that died without cleaning up (SIGKILL),
//! so a directory under the swept name must never exist unlocked, not even for an instant:
//! it is made under a name the sweep leaves alone for a while, locked, then renamed (a lock
//! belongs to the inode and survives the rename).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{flock, FlockOperation};

/// The swept name of a live or dead run's scratch directory.
const PREFIX: &str = "seal-fallback-";
/// A directory being made; swept only once it is older than [`NEW_GRACE`].
const NEW_PREFIX: &str = ".seal-fallback-new-";
/// Far longer than the mkdir-lock-rename of a live run, however loaded the machine.
const NEW_GRACE: Duration = Duration::from_secs(600);

/// A locked scratch directory, removed when dropped.
pub struct Scratch {
    path: PathBuf,
    _lock: File,
}

impl Scratch {
    /// Sweep stale scratch directories of this user, then make a fresh locked one.
    pub fn create() -> anyhow::Result<Scratch> {
        let tmp = std::env::temp_dir();
        sweep_stale(&tmp);
        let err = |e: std::io::Error| {
            anyhow::anyhow!(
                "cannot create a private scratch directory in {}: {e} (set TMPDIR to a writable directory)",
                tmp.display()
            )
        };
        let pid = std::process::id();
        let new = tempfile::Builder::new()
            .prefix(&format!("{NEW_PREFIX}{pid}-"))
            .tempdir_in(&tmp)
            .map_err(err)?
            .keep();
        let lock = match lock(&new) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir(&new);
                return Err(err(e));
            }
        };
        let suffix = new
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(NEW_PREFIX))
            .unwrap_or_default()
            .to_string();
        let path = tmp.join(format!("{PREFIX}{suffix}"));
        // The target's name carries this pid and the new directory's random part, so no
        // other run's directory can be under it.
        if let Err(e) = std::fs::rename(&new, &path) {
            let _ = std::fs::remove_dir(&new);
            return Err(err(e));
        }
        Ok(Scratch { path, _lock: lock })
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

/// An exclusive lock held for the life of the returned descriptor.
fn lock(dir: &Path) -> std::io::Result<File> {
    let f = File::open(dir)?;
    flock(&f, FlockOperation::NonBlockingLockExclusive)?;
    Ok(f)
}

/// Remove scratch directories of this user's fallback runs whose seal died without cleaning
/// up: those no live run holds locked. A lock, not a PID check: a run in another PID
/// namespace sharing this /tmp is invisible in our /proc.
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = current_uid();
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let stale = if name.starts_with(PREFIX) {
            true
        } else if name.starts_with(NEW_PREFIX) {
            // A live run renames its new directory within moments; one left this long
            // belongs to a run killed between mkdir and rename.
            meta.modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > NEW_GRACE)
        } else {
            false
        };
        if stale {
            if let Ok(_held) = lock(&e.path()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The effective uid, read from /proc (this crate has no unsafe code).
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_scratch_survives_a_sweep_and_a_dead_one_does_not() {
        let live = Scratch::create().unwrap();
        sweep_stale(&std::env::temp_dir());
        assert!(live.path().is_dir(), "a locked scratch directory was swept");
        // A dead run: its directory exists under the swept name, unlocked.
        let dead = std::env::temp_dir().join(format!("{PREFIX}unit-{}", std::process::id()));
        std::fs::create_dir_all(dead.join("home")).unwrap();
        sweep_stale(&std::env::temp_dir());
        assert!(!dead.exists(), "an unlocked scratch directory was kept");
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "the scratch directory outlived its run");
    }

    #[test]
    fn a_directory_being_made_is_left_alone() {
        let new = std::env::temp_dir().join(format!("{NEW_PREFIX}unit-{}", std::process::id()));
        std::fs::create_dir_all(&new).unwrap();
        sweep_stale(&std::env::temp_dir());
        assert!(new.exists(), "a fresh directory being made was swept");
        std::fs::remove_dir_all(&new).unwrap();
    }
}
