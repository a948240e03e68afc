//! Directories a run makes in a parent it shares with other runs (any number at once, of any
//! user, in any PID namespace) and that later runs sweep when their run died without removing
//! them: cgroups, copy-back staging areas, install state.
//!
//! A live run holds an exclusive flock on its directory from the moment the directory has its
//! swept name until it has been removed; a sweep removes only what it could lock itself. A lock
//! rather than a PID check: a run in another PID namespace sharing the parent is invisible in
//! our /proc, and a dead run's PID may belong to someone else by now (or to us).
//!
//! So that a directory under the swept name never exists unlocked, not even for an instant, it
//! is made under a "new" name, locked, then renamed (the lock belongs to the open directory and
//! survives the rename). A sweep removes an unlocked new directory too (it is empty: a run
//! killed between mkdir and rename leaves nothing behind); the run that was making it, if it
//! was alive, sees its next step fail with ENOENT and starts over under another name. Both
//! names carry the PID and 64 random bits: no two runs ever pick the same one.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags};

/// The two name prefixes of one kind of directory. Neither may be a prefix of the other.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The name of a live (locked) or dead (unlocked) run's directory: swept when unlocked.
    pub live: &'static str,
    /// A directory being made (empty): swept when unlocked, by rmdir.
    pub new: &'static str,
}

/// A directory made by [`claim`], locked for as long as this value lives. Dropping it does not
/// remove the directory: remove it first, while it is still locked, so that a concurrent sweep
/// never sees it half-removed and unlocked.
#[derive(Debug)]
pub struct Claimed {
    name: OsString,
    dir: OwnedFd,
}

impl Claimed {
    /// Its name in the parent.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The directory itself (the locked descriptor, close-on-exec).
    pub fn fd(&self) -> &OwnedFd {
        &self.dir
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    let from_urandom = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !from_urandom {
        // Unique enough with the PID in the name: no two calls of one process share a time.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (nanos as u64).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn open_dir(parent: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Lock `dir` exclusively without waiting: `Ok(false)` if another run holds it.
fn try_lock(dir: &OwnedFd) -> io::Result<bool> {
    match rfs::flock(dir, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Make a fresh directory of `family` in `parent` (mode `mode`, less the umask), locked.
///
/// A concurrent sweep may remove the new directory in the instant between its mkdir and its
/// lock (sweeps remove unlocked new directories at once, so that a run killed in that instant
/// leaves nothing behind); every later step then fails with ENOENT, and the claim starts over
/// under another name. Nothing is lost: the directory was still empty.
pub fn claim(parent: &OwnedFd, family: &Family, mode: u32) -> io::Result<Claimed> {
    const TRIES: usize = 16;
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for _ in 0..TRIES {
        match claim_once(parent, family, mode) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => last = e,
            other => return other,
        }
    }
    Err(last)
}

fn claim_once(parent: &OwnedFd, family: &Family, mode: u32) -> io::Result<Claimed> {
    let unique = format!("{}-{}", std::process::id(), random_hex());
    let new = OsString::from(format!("{}{unique}", family.new));
    let name = OsString::from(format!("{}{unique}", family.live));
    rfs::mkdirat(parent, new.as_os_str(), Mode::from_raw_mode(mode))?;
    let undo = |e: io::Error| {
        let _ = rfs::unlinkat(parent, new.as_os_str(), AtFlags::REMOVEDIR);
        e
    };
    let dir = open_dir(parent, &new).map_err(undo)?;
    match try_lock(&dir) {
        Ok(true) => {}
        // A sweep holds it for the instant before it removes it: start over.
        Ok(false) => return Err(io::Error::from(io::ErrorKind::NotFound)),
        // A file system without flock (some network ones): no sweep can lock it either, so
        // it is left alone all the same; go on unlocked.
        Err(_) => {}
    }
    // Locked, but a sweep may have removed it just before: then the rename fails (ENOENT).
    rfs::renameat(parent, new.as_os_str(), parent, name.as_os_str()).map_err(|e| undo(e.into()))?;
    Ok(Claimed { name, dir })
}

/// [`claim`] for file systems that cannot rename a directory (cgroup v2): the directory is
/// made under its live name and locked just after. A sweep may lock and remove it in between
/// (it is empty and unlocked for that instant); the claim sees that the name no longer leads to
/// the directory it locked and starts over under another name.
pub fn claim_in_place(parent: &OwnedFd, family: &Family, mode: u32) -> io::Result<Claimed> {
    const TRIES: usize = 16;
    for _ in 0..TRIES {
        let name = OsString::from(format!(
            "{}{}-{}",
            family.live,
            std::process::id(),
            random_hex()
        ));
        rfs::mkdirat(parent, name.as_os_str(), Mode::from_raw_mode(mode))?;
        let Ok(dir) = open_dir(parent, &name) else {
            continue; // swept before it was opened
        };
        if !try_lock(&dir).unwrap_or(true) {
            continue; // a sweep holds it and is removing it
        }
        let ours_still = match (
            rfs::fstat(&dir),
            rfs::statat(parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW),
        ) {
            (Ok(a), Ok(b)) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
            _ => false,
        };
        if ours_still {
            return Ok(Claimed { name, dir });
        }
    }
    Err(io::Error::other(format!(
        "{TRIES} directories in a row were removed as soon as they were made"
    )))
}

/// Whether `name` is `<prefix><pid>-<16 hex digits>` as [`claim`] makes it, or
/// `<prefix><pid>` as seal made it before the lock; nothing else that merely shares the prefix.
fn ours(name: &[u8], prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix.as_bytes()) else {
        return false;
    };
    let (pid, random) = match rest.iter().position(|&c| c == b'-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && random.map_or(true, |r| {
            r.len() == 16 && r.iter().all(u8::is_ascii_hexdigit)
        })
}

/// Remove, with `remove(parent, name)`, every directory of `family` in `parent` owned by this
/// process's effective uid that no live run holds: each under the live name that this call can
/// lock, and each under the new name that it can lock (by rmdir). The lock is held while
/// `remove` runs.
pub fn sweep(parent: &OwnedFd, family: &Family, mut remove: impl FnMut(&OwnedFd, &OsStr)) {
    let Ok(entries) = rfs::Dir::read_from(parent) else {
        return;
    };
    let names: Vec<OsString> = entries
        .flatten()
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| ours(n.as_bytes(), family.live) || ours(n.as_bytes(), family.new))
        .collect();
    let me = rustix::process::geteuid().as_raw();
    for name in names {
        let Ok(st) = rfs::statat(parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) else {
            continue; // removed meanwhile
        };
        let is_dir = rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory;
        if !is_dir || st.st_uid != me {
            continue;
        }
        let Ok(dir) = open_dir(parent, &name) else {
            continue;
        };
        if !try_lock(&dir).unwrap_or(false) {
            continue;
        }
        if name.as_bytes().starts_with(family.new.as_bytes()) {
            // Still empty by construction (it is renamed before anything goes in): rmdir,
            // which also leaves alone anything that is not.
            let _ = rfs::unlinkat(parent, name.as_os_str(), AtFlags::REMOVEDIR);
        } else {
            remove(parent, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: Family = Family {
        live: "claimed-unit-",
        new: ".claimed-unit-new-",
    };

    fn parent() -> (tempfile_like::Dir, OwnedFd) {
        let d = tempfile_like::Dir::new();
        let fd = rfs::open(
            &d.0,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (d, fd)
    }

    /// A private directory for one test (no dev-dependency for it).
    mod tempfile_like {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!(
                    "seal-claimed-unit-{}-{}",
                    std::process::id(),
                    super::random_hex()
                ));
                std::fs::create_dir(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn rmdir(parent: &OwnedFd, name: &OsStr) {
        let _ = rfs::unlinkat(parent, name, AtFlags::REMOVEDIR);
    }

    #[test]
    fn a_live_directory_survives_a_sweep_and_a_dead_one_does_not() {
        let (d, fd) = parent();
        let live = claim(&fd, &FAMILY, 0o700).unwrap();
        assert!(live.name().as_bytes().starts_with(FAMILY.live.as_bytes()));
        sweep(&fd, &FAMILY, rmdir);
        assert!(
            d.0.join(live.name()).is_dir(),
            "a locked directory was swept"
        );
        let dead = d.0.join(format!("{}123-0123456789abcdef", FAMILY.live));
        let legacy = d.0.join(format!("{}4567", FAMILY.live));
        let unrelated = d.0.join(format!("{}notes", FAMILY.live));
        std::fs::create_dir(&legacy).unwrap();
        std::fs::create_dir(&unrelated).unwrap();
        std::fs::create_dir(&dead).unwrap();
        sweep(&fd, &FAMILY, rmdir);
        assert!(!dead.exists(), "an unlocked directory was kept");
        assert!(
            !legacy.exists(),
            "an unlocked directory of an older seal was kept"
        );
        assert!(
            unrelated.exists(),
            "a directory seal did not make was swept"
        );
        let name = live.name().to_os_string();
        drop(live);
        sweep(&fd, &FAMILY, rmdir);
        assert!(
            !d.0.join(name).exists(),
            "the directory of an ended run was kept"
        );
    }

    #[test]
    fn an_unlocked_new_directory_is_swept_a_locked_one_is_not_and_names_never_repeat() {
        let (d, fd) = parent();
        // Left by a run killed between mkdir and rename.
        let dead = d.0.join(format!("{}1-0123456789abcdef", FAMILY.new));
        std::fs::create_dir(&dead).unwrap();
        // Being made right now: locked.
        let live = d.0.join(format!("{}2-0123456789abcdef", FAMILY.new));
        std::fs::create_dir(&live).unwrap();
        let held = open_dir(&fd, OsStr::new(live.file_name().unwrap())).unwrap();
        assert!(try_lock(&held).unwrap());
        sweep(&fd, &FAMILY, rmdir);
        assert!(!dead.exists(), "a dead run's new directory was kept");
        assert!(live.exists(), "a directory being made was swept");
        let a = claim(&fd, &FAMILY, 0o700).unwrap();
        let b = claim(&fd, &FAMILY, 0o700).unwrap();
        assert_ne!(a.name(), b.name());
    }
}
