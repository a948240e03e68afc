//! Building the sandbox's root file system inside its own mount namespace.
//!
//! Order matters and each step is here for a reason:
//! 1. make every inherited mount private, so nothing we do propagates back to the host;
//! 2. mount an empty tmpfs and pivot into it, keeping the host tree at /oldroot as the source
//!    of bind mounts (pivot_root detaches the new root from where it was mounted, so even
//!    host paths under that mount point stay reachable);
//! 3. apply the spec's mounts in order;
//! 4. mount /proc before the host tree is detached: the kernel only allows a new procfs while
//!    a fully visible one exists in the namespace;
//! 5. detach /oldroot and make the root itself read-only.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::SetupError;
use crate::spec::{Access, Mount};
use crate::sys;

const OLD_ROOT: &str = "/oldroot";
/// Any directory that exists on every host serves as the mount point of the new root.
const STAGING: &str = "/tmp";

/// Attributes of a read-only host bind: nothing writable, no set-id, no device nodes.
const READ_ONLY: u64 = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
/// The same, and nothing executable (/proc, covered files).
const SEALED: u64 = READ_ONLY | sys::MOUNT_ATTR_NOEXEC;
const MAX_COPY: u64 = 1 << 20;
const BIND_INSTEAD_OF_COPY: u64 = 8 << 10;
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths never contain NUL")
}

fn step<T>(what: impl FnOnce() -> String, r: io::Result<T>) -> Result<T, SetupError> {
    r.map_err(|err| SetupError::new(what(), err))
}

/// Where a host path is reachable after the pivot.
fn host(src: &Path) -> PathBuf {
    let mut p = PathBuf::from(OLD_ROOT);
    p.push(src.strip_prefix("/").unwrap_or(src));
    p
}

fn mkdirs(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(p)
}

fn mount_point_for(src_is_dir: bool, dst: &Path) -> io::Result<()> {
    if src_is_dir {
        mkdirs(dst)
    } else {
        if let Some(parent) = dst.parent() {
            mkdirs(parent)?;
        }
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dst)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Add attributes to a mount (and, if `recursive`, every mount below it).
fn restrict(dst: &Path, recursive: bool, attrs: u64) -> io::Result<()> {
    let path = c(dst);
    match sys::mount_setattr(&path, recursive, attrs) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // Kernels before 5.12: remount the top mount only, repeating the locked flags.
            let mut flags = sys::mount_flags_of(&path)? | libc::MS_REMOUNT | libc::MS_BIND;
            for (attr, ms) in [
                (sys::MOUNT_ATTR_RDONLY, libc::MS_RDONLY),
                (sys::MOUNT_ATTR_NOSUID, libc::MS_NOSUID),
                (sys::MOUNT_ATTR_NODEV, libc::MS_NODEV),
                (sys::MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC),
                (sys::MOUNT_ATTR_NOSYMFOLLOW, libc::MS_NOSYMFOLLOW),
            ] {
                if attrs & attr != 0 {
                    flags |= ms;
                }
            }
            sys::mount(None, &path, None, flags, None)
        }
        other => other,
    }
}

/// Bind `src` (a host path) at `dst`, then add `attrs` to it and everything below it; `None`
/// leaves the attributes to a later recursive pass over a parent.
fn bind(src: &Path, dst: &Path, attrs: Option<u64>) -> Result<(), SetupError> {
    let from = host(src);
    let meta = step(
        || format!("cannot see {}", src.display()),
        fs::metadata(&from),
    )?;
    step(
        || format!("cannot create mount point {}", dst.display()),
        mount_point_for(meta.is_dir(), dst),
    )?;
    step(
        || format!("cannot bind {} at {}", src.display(), dst.display()),
        sys::mount(
            Some(&c(&from)),
            &c(dst),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        ),
    )?;
    match attrs {
        Some(a) => step(
            || format!("cannot restrict the mount at {}", dst.display()),
            restrict(dst, true, a),
        ),
        None => Ok(()),
    }
}

fn tmpfs(dst: &Path, mode: u32, size: u64, flags: libc::c_ulong) -> Result<(), SetupError> {
    step(|| format!("cannot create {}", dst.display()), mkdirs(dst))?;
    let data = CString::new(format!("mode={mode:o},size={size}")).expect("no NUL");
    step(
        || format!("cannot mount a tmpfs at {}", dst.display()),
        sys::mount(Some(c"tmpfs"), &c(dst), Some(c"tmpfs"), flags, Some(&data)),
    )
}

fn proc(dst: &Path, pid_max: Option<u64>) -> Result<(), SetupError> {
    step(|| format!("cannot create {}", dst.display()), mkdirs(dst))?;
    step(
        || "cannot mount /proc (is the host's /proc masked, as in some containers?)".into(),
        sys::mount(
            Some(c"proc"),
            &c(dst),
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
    )?;
    // Nested user namespaces expose more kernel surface; the sandbox's own sysctl is the one
    // place where a limit of 0 can be set without touching the host (seccomp also refuses
    // unshare/clone with namespace flags; this covers what a filter cannot see).
    step(
        || "cannot set user.max_user_namespaces in the sandbox".into(),
        fs::write(dst.join("sys/user/max_user_namespaces"), b"0"),
    )?;
    if let Some(n) = pid_max {
        // Only ever called on kernels where this sysctl belongs to the PID namespace.
        step(
            || "cannot set kernel.pid_max of the sandbox's PID namespace".into(),
            fs::write(dst.join("sys/kernel/pid_max"), n.to_string()),
        )?;
    }
    // init is a copy of seal: its command line holds host paths and --env values. Cover it
    // (its environment is already out of reach: init is not dumpable).
    let cmdline = dst.join("1/cmdline");
    step(
        || "cannot cover /proc/1/cmdline".into(),
        sys::mount(
            Some(&c(&host(Path::new("/dev/null")))),
            &c(&cmdline),
            None,
            libc::MS_BIND,
            None,
        ),
    )?;
    // The whole of /proc read-only, after the two writes above: host-global knobs (sysctls,
    // sysrq-trigger, irq affinity) that a process mapped to the host's uid 0 could otherwise
    // write stay out of reach, and one attribute change costs less than binding each.
    step(
        || "cannot make /proc read-only".into(),
        restrict(dst, false, SEALED),
    )?;
    Ok(())
}

fn dev(dst: &Path, shm_size: u64, devices: &[PathBuf]) -> Result<(), SetupError> {
    tmpfs(dst, 0o755, 1 << 20, libc::MS_NOSUID | libc::MS_NOEXEC)?;
    for node in DEV_NODES {
        let from = Path::new("/dev").join(node);
        if fs::metadata(host(&from)).is_err() {
            continue;
        }
        bind(&from, &dst.join(node), None)?;
    }
    for from in devices {
        let invalid =
            |why: String| SetupError::new(why, io::Error::from_raw_os_error(libc::EINVAL));
        let inside = crate::spec::device_under_dev(from).map_err(invalid)?;
        let is_char = fs::metadata(host(from)).is_ok_and(|m| m.file_type().is_char_device());
        if !is_char {
            return Err(invalid(format!(
                "{} is not a character device",
                from.display()
            )));
        }
        bind(from, &dst.join(inside), None)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        step(
            || format!("cannot create /dev/{name}"),
            symlink(target, dst.join(name)),
        )?;
    }
    let pts = dst.join("pts");
    let shm = dst.join("shm");
    step(|| "cannot create /dev/pts".into(), mkdirs(&pts))?;
    step(|| "cannot create /dev/shm".into(), mkdirs(&shm))?;
    // One pass for /dev and the device binds: read-only (it stops chmod/chown of the host's
    // nodes; writes to a character device are still allowed), nosuid, noexec, but not nodev.
    step(
        || "cannot make /dev read-only".into(),
        restrict(
            dst,
            true,
            sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
        ),
    )?;
    step(
        || "cannot mount a private devpts at /dev/pts".into(),
        sys::mount(
            Some(c"devpts"),
            &c(&pts),
            Some(c"devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=620"),
        ),
    )?;
    tmpfs(&shm, 0o1777, shm_size, libc::MS_NOSUID | libc::MS_NODEV)
}

fn copy_small_file(from: &Path, dst: &Path) -> io::Result<()> {
    use std::io::Read;
    let file = match fs::File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut data = Vec::new();
    file.take(MAX_COPY + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_COPY {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    }
    if let Some(parent) = dst.parent() {
        mkdirs(parent)?;
    }
    fs::write(dst, &data)
}

/// Copy one entry without following links: files (permission bits without setuid/setgid),
/// links as links; devices, FIFOs and sockets are skipped.
fn copy_entry(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        symlink(fs::read_link(from)?, to)
    } else if ft.is_file() {
        fs::copy(from, to)?;
        fs::set_permissions(
            to,
            fs::Permissions::from_mode(meta.permissions().mode() & 0o1777),
        )
    } else if ft.is_dir() {
        fs::DirBuilder::new().mode(0o755).create(to)?;
        copy_tree(from, to, 0)
    } else {
        Ok(())
    }
}

const MAX_COPY_DEPTH: usize = 256;

fn copy_tree(from: &Path, to: &Path, depth: usize) -> io::Result<()> {
    if depth > MAX_COPY_DEPTH {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    for e in fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            fs::DirBuilder::new().mode(0o755).create(&dst)?;
            copy_tree(&src, &dst, depth + 1)?;
        } else {
            copy_entry(&src, &dst)?;
        }
    }
    Ok(())
}

fn apply(m: &Mount, pid_max: Option<u64>) -> Result<(), SetupError> {
    match m {
        Mount::Bind { src, dst, access } => {
            let base = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
            match access {
                Access::ReadOnly => bind(src, dst, Some(base | sys::MOUNT_ATTR_RDONLY)),
                Access::ReadWrite => bind(src, dst, Some(base)),
                Access::ReadWriteNoSymlinks => {
                    bind(src, dst, None)?;
                    // nosymfollow: MS_NOSYMFOLLOW since Linux 5.10 (the remount path above),
                    // MOUNT_ATTR_NOSYMFOLLOW since 5.14; where neither is known (EINVAL) the
                    // other flags still hold.
                    match restrict(dst, true, base | sys::MOUNT_ATTR_NOSYMFOLLOW) {
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => step(
                            || format!("cannot restrict {}", dst.display()),
                            restrict(dst, true, base),
                        ),
                        r => step(|| format!("cannot restrict {}", dst.display()), r),
                    }
                }
            }
        }
        Mount::Staging {
            dst,
            size_bytes,
            max_files,
        } => {
            step(|| format!("cannot create {}", dst.display()), mkdirs(dst))?;
            let data = CString::new(format!("mode=0755,size={size_bytes},nr_inodes={max_files}"))
                .expect("no NUL");
            step(
                || format!("cannot mount the staging area at {}", dst.display()),
                sys::mount(
                    Some(c"tmpfs"),
                    &c(dst),
                    Some(c"tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(&data),
                ),
            )
        }
        Mount::CopyTree {
            src,
            dst,
            size_bytes,
        } => {
            tmpfs(dst, 0o755, *size_bytes, libc::MS_NOSUID | libc::MS_NODEV)?;
            let from = host(src);
            let r = if fs::symlink_metadata(&from)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                copy_tree(&from, dst, 0)
            } else {
                copy_entry(&from, &dst.join(src.file_name().unwrap_or_default()))
            };
            step(
                || {
                    format!(
                        "cannot copy {} into the sandbox (--disk too small?)",
                        src.display()
                    )
                },
                r,
            )
        }
        Mount::BindIfExists { src, dst } => {
            if fs::symlink_metadata(host(src)).is_err() {
                return Ok(());
            }
            bind(src, dst, Some(READ_ONLY))
        }
        Mount::Mask { dst } => {
            if fs::symlink_metadata(dst).is_err() {
                return Ok(());
            }
            let null = c(&host(Path::new("/dev/null")));
            step(
                || format!("cannot cover {}", dst.display()),
                sys::mount(Some(&null), &c(dst), None, libc::MS_BIND, None),
            )?;
            step(
                || format!("cannot cover {}", dst.display()),
                restrict(dst, false, SEALED),
            )
        }
        Mount::CopyIfExists { src, dst } => {
            // Copying costs about 2 us per KiB into a fresh tmpfs, a read-only bind about 25 us
            // whatever the size: bind what is larger than a few KiB.
            match fs::metadata(host(src)) {
                Ok(m) if m.len() > BIND_INSTEAD_OF_COPY => return bind(src, dst, Some(READ_ONLY)),
                _ => {}
            }
            let r = copy_small_file(&host(src), dst);
            step(
                || format!("cannot copy {} into the sandbox", src.display()),
                r,
            )
        }
        Mount::Tmpfs {
            dst,
            mode,
            size_bytes,
        } => tmpfs(dst, *mode, *size_bytes, libc::MS_NOSUID | libc::MS_NODEV),
        Mount::Proc { dst } => proc(dst, pid_max),
        Mount::Dev {
            dst,
            shm_size_bytes,
            devices,
        } => dev(dst, *shm_size_bytes, devices),
        Mount::File {
            dst,
            contents,
            mode,
        } => {
            let r = (|| {
                if let Some(parent) = dst.parent() {
                    mkdirs(parent)?;
                }
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(*mode)
                    .open(dst)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, contents))
            })();
            step(|| format!("cannot write {}", dst.display()), r)
        }
        Mount::Symlink { target, dst } => {
            let r = (|| {
                if let Some(parent) = dst.parent() {
                    mkdirs(parent)?;
                }
                symlink(target, dst)
            })();
            step(|| format!("cannot create the link {}", dst.display()), r)
        }
        Mount::Dir { dst, mode } => {
            let r = fs::DirBuilder::new()
                .recursive(true)
                .mode(*mode)
                .create(dst);
            step(|| format!("cannot create {}", dst.display()), r)
        }
    }
}

/// Build the root described by `mounts` and switch into it. Runs as the sandbox's init,
/// inside fresh user and mount namespaces.
/// Returns an open directory descriptor of each `Mount::Staging`, in mount order.
/// `before_detach` runs once every mount is in place, just before the host tree is detached.
pub fn build(
    mounts: &[Mount],
    root_size: u64,
    pid_max: Option<u64>,
    before_detach: impl FnOnce() -> Result<(), SetupError>,
) -> Result<Vec<OwnedFd>, SetupError> {
    step(
        || "cannot make the mount tree private".into(),
        sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
    )?;
    let staging = Path::new(STAGING);
    tmpfs(staging, 0o755, root_size, libc::MS_NOSUID | libc::MS_NODEV)?;
    step(
        || "cannot enter the new root".into(),
        std::env::set_current_dir(staging),
    )?;
    step(
        || "cannot create /oldroot".into(),
        fs::create_dir("oldroot"),
    )?;
    step(
        || "pivot_root failed".into(),
        sys::pivot_root(c".", c"oldroot"),
    )?;
    step(
        || "cannot enter the new root".into(),
        std::env::set_current_dir("/"),
    )?;

    let mut staged = Vec::new();
    for m in mounts {
        apply(m, pid_max)?;
        if let Mount::Staging { dst, .. } = m {
            let dir = step(
                || format!("cannot open the staging area {}", dst.display()),
                fs::File::open(dst),
            )?;
            staged.push(OwnedFd::from(dir));
        }
    }

    before_detach()?;
    step(
        || "cannot detach the host's file system".into(),
        sys::umount_detach(&c(Path::new(OLD_ROOT))),
    )?;
    step(|| "cannot remove /oldroot".into(), fs::remove_dir(OLD_ROOT))?;
    step(
        || "cannot make the root read-only".into(),
        restrict(Path::new("/"), false, READ_ONLY),
    )?;
    Ok(staged)
}
