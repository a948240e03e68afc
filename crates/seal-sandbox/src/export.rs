//! Copying a sandbox's staged output back to the host without letting it hurt the host.
//!
//! The staged tree is untrusted: it was written by the sandboxed program. Everything here
//! works relative to directory descriptors with `O_NOFOLLOW`, so no symlink is ever followed,
//! on either side. What reaches the host: directories, regular files (content only, never
//! hard links, never setuid/setgid/sticky bits, exec bits only when asked), and symbolic links
//! only when the policy allows links that stay inside the output directory. Everything else
//! is refused and reported.
//!
//! Order: scan and judge the whole tree; check the quota; copy what is accepted into a fresh
//! directory inside the destination; only then move entries into place with
//! `renameat2(RENAME_NOREPLACE)`. A failure before the last step leaves the destination as it
//! was.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags};

use crate::claimed_dir::{self, Family};

/// What to do with symbolic links found in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPolicy {
    /// Never copy a link.
    Refuse,
    /// Copy links whose target stays inside the output directory; refuse the others.
    Internal,
}

#[derive(Clone, Debug)]
pub struct ExportPolicy {
    pub links: LinkPolicy,
    /// Keep the executable bits of files (setuid/setgid/sticky are always dropped).
    pub keep_exec: bool,
    /// Replace files that already exist on the host.
    pub overwrite: bool,
    /// Total apparent size of the accepted files.
    pub max_bytes: u64,
    pub max_files: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// Path relative to the output directory.
    pub path: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExportReport {
    pub destination: PathBuf,
    pub files: u64,
    pub bytes: u64,
    pub links: u64,
    pub refused: Vec<Refusal>,
    /// Set when nothing was copied because of this reason (quota, I/O error).
    pub aborted: Option<String>,
}

/// Deeper trees are refused: a program could otherwise make the copy exhaust descriptors.
const MAX_DEPTH: usize = 128;

enum Entry {
    Dir(PathBuf),
    File { rel: PathBuf, size: u64, mode: u32 },
    Link { rel: PathBuf, target: OsString },
}

/// Paths and link targets come from untrusted names: escape control characters so a report
/// printed on a terminal cannot inject escape sequences or fake lines.
fn display(rel: &Path) -> String {
    rel.to_string_lossy().escape_debug().to_string()
}

/// A size for people: "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Names a terminal or a shell script could be tricked by (control characters, invalid
/// UTF-8) are refused; `/`, `.` and `..` cannot come out of readdir as entry names.
fn name_problem(name: &OsStr) -> Option<&'static str> {
    let Some(s) = name.to_str() else {
        return Some("name is not valid UTF-8");
    };
    if s.chars().any(|c| c.is_control()) {
        return Some("name contains control characters");
    }
    None
}

/// Whether a link at `rel` (relative to the output root) pointing to `target` stays inside
/// the output root, judged lexically: the copy never resolves it.
fn link_stays_inside(rel: &Path, target: &Path, root_on_host: &Path) -> bool {
    let mut stack: Vec<&OsStr> = Vec::new();
    let relative_target: PathBuf;
    let target = if target.is_absolute() {
        match target.strip_prefix(root_on_host) {
            Ok(t) => t,
            Err(_) => return false,
        }
    } else {
        relative_target = rel.parent().unwrap_or(Path::new("")).join(target);
        &relative_target
    };
    for c in target.components() {
        match c {
            Component::Normal(n) => stack.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if stack.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

struct Scan<'a> {
    policy: &'a ExportPolicy,
    root_on_host: &'a Path,
    entries: Vec<Entry>,
    refused: Vec<Refusal>,
}

impl Scan<'_> {
    fn refuse(&mut self, rel: &Path, reason: impl Into<String>) {
        self.refused.push(Refusal {
            path: display(rel),
            reason: reason.into(),
        });
    }

    fn walk(&mut self, dir: &OwnedFd, rel: &Path, depth: usize) -> io::Result<()> {
        let mut names: Vec<OsString> = Vec::new();
        for entry in rfs::Dir::read_from(dir)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            names.push(name.to_os_string());
        }
        names.sort();
        for name in names {
            let path = rel.join(&name);
            if let Some(problem) = name_problem(&name) {
                self.refuse(&path, problem);
                continue;
            }
            let st = rfs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    if depth >= MAX_DEPTH {
                        self.refuse(&path, format!("nested deeper than {MAX_DEPTH} directories"));
                        continue;
                    }
                    owner_access(dir, &name, st.st_mode, 0o700);
                    let sub = match open_dir_at(dir, Path::new(&name)) {
                        Ok(sub) => sub,
                        Err(e) => {
                            self.refuse(&path, format!("cannot read the directory: {e}"));
                            continue;
                        }
                    };
                    self.entries.push(Entry::Dir(path.clone()));
                    if let Err(e) = self.walk(&sub, &path, depth + 1) {
                        self.refuse(&path, format!("cannot read the directory: {e}"));
                    }
                }
                FileType::RegularFile => {
                    owner_access(dir, &name, st.st_mode, 0o400);
                    self.entries.push(Entry::File {
                        rel: path,
                        size: st.st_size as u64,
                        mode: st.st_mode,
                    })
                }
                FileType::Symlink => {
                    let target = rfs::readlinkat(dir, name.as_os_str(), Vec::new())?;
                    let target = OsStr::from_bytes(target.to_bytes()).to_os_string();
                    match self.policy.links {
                        LinkPolicy::Refuse => self.refuse(
                            &path,
                            format!(
                                "symbolic link (to {}) not copied",
                                display(Path::new(&target))
                            ),
                        ),
                        LinkPolicy::Internal => {
                            if link_stays_inside(&path, Path::new(&target), self.root_on_host) {
                                self.entries.push(Entry::Link { rel: path, target });
                            } else {
                                self.refuse(
                                    &path,
                                    format!(
                                        "symbolic link points outside the output directory (to {})",
                                        display(Path::new(&target))
                                    ),
                                );
                            }
                        }
                    }
                }
                FileType::Fifo => self.refuse(&path, "FIFO (named pipe) not copied"),
                FileType::Socket => self.refuse(&path, "socket not copied"),
                FileType::CharacterDevice | FileType::BlockDevice => {
                    self.refuse(&path, "device node not copied")
                }
                FileType::Unknown => self.refuse(&path, "unknown file type not copied"),
            }
        }
        Ok(())
    }
}

/// The staged files belong to the caller (they were written by the sandbox's uid, which maps
/// to the caller's): give the owner the access the copy needs when the program took it away
/// (a mode-000 file must not cost the user the rest of the results). Failure is left to the
/// open that follows, which refuses that entry alone.
fn owner_access(dir: &OwnedFd, name: &OsStr, mode: u32, need: u32) {
    if mode & need != need {
        let _ = rfs::chmodat(
            dir,
            name,
            Mode::from_raw_mode((mode | need) & 0o7777),
            AtFlags::empty(),
        );
    }
}

fn open_dir_at(dir: impl AsFd, name: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open `rel` below `root` one component at a time, never following a link.
fn open_dir_path(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let mut cur = open_dir_at(root, Path::new("."))?;
    for c in rel.components() {
        if let Component::Normal(n) = c {
            cur = open_dir_at(&cur, Path::new(n))?;
        }
    }
    Ok(cur)
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or_default(),
    )
}

fn exists_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn copy_file(src_root: &OwnedFd, dst_root: &OwnedFd, rel: &Path, mode: u32) -> io::Result<u64> {
    let (parent, name) = split(rel);
    let sdir = open_dir_path(src_root, parent)?;
    let ddir = open_dir_path(dst_root, parent)?;
    let src = rfs::openat(
        &sdir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The staged file must still be what was judged: a regular file.
    if FileType::from_raw_mode(rfs::fstat(&src)?.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "changed type while copying",
        ));
    }
    let dst = rfs::openat(
        &ddir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    let mut from = std::fs::File::from(src);
    let mut to = std::fs::File::from(dst);
    let n = io::copy(&mut from, &mut to)?;
    // The creation mode was filtered by the umask; set exactly what the policy decided.
    rfs::fchmod(&to, Mode::from_raw_mode(mode))?;
    Ok(n)
}

#[derive(Default)]
struct Counts {
    files: u64,
    links: u64,
    bytes: u64,
}

/// Files, links and bytes below (and including) `name` in `dir`.
fn count_tree(dir: &OwnedFd, name: &OsStr, c: &mut Counts) -> io::Result<()> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            c.files += 1;
            c.bytes += st.st_size as u64;
        }
        FileType::Symlink => c.links += 1,
        FileType::Directory => {
            let sub = open_dir_at(dir, Path::new(name))?;
            for entry in rfs::Dir::read_from(&sub)? {
                let entry = entry?;
                let n = OsStr::from_bytes(entry.file_name().to_bytes());
                if n != "." && n != ".." {
                    count_tree(&sub, n, c)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Move everything from `incoming` into `dest`, merging directories that already exist;
/// counts what reached `dest`.
fn move_into_place(
    incoming: &OwnedFd,
    dest: &OwnedFd,
    rel: &Path,
    overwrite: bool,
    refused: &mut Vec<Refusal>,
    moved: &mut Counts,
) -> io::Result<()> {
    let mut names: Vec<OsString> = Vec::new();
    for entry in rfs::Dir::read_from(incoming)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_os_string());
        }
    }
    names.sort();
    for name in names {
        let path = rel.join(&name);
        let ours = FileType::from_raw_mode(
            rfs::statat(incoming, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
        );
        let theirs = exists_at(dest, &name)?;
        let move_counted = |moved: &mut Counts, flags: RenameFlags| -> io::Result<()> {
            let mut c = Counts::default();
            count_tree(incoming, &name, &mut c)?;
            rfs::renameat_with(incoming, name.as_os_str(), dest, name.as_os_str(), flags)?;
            moved.files += c.files;
            moved.links += c.links;
            moved.bytes += c.bytes;
            Ok(())
        };
        match (ours, theirs) {
            (_, None) => move_counted(moved, RenameFlags::NOREPLACE)?,
            (FileType::Directory, Some(FileType::Directory)) => {
                let sub_in = open_dir_at(incoming, Path::new(&name))?;
                let sub_dest = open_dir_at(dest, Path::new(&name))?;
                move_into_place(&sub_in, &sub_dest, &path, overwrite, refused, moved)?;
            }
            (
                FileType::RegularFile | FileType::Symlink,
                Some(FileType::RegularFile | FileType::Symlink),
            ) if overwrite => move_counted(moved, RenameFlags::empty())?,
            (_, Some(FileType::Directory)) | (FileType::Directory, Some(_)) => {
                refused.push(Refusal {
                    path: display(&path),
                    reason: "a different kind of file already exists there on the host".into(),
                })
            }
            _ => refused.push(Refusal {
                path: display(&path),
                reason: "already exists on the host (pass --overwrite to replace it)".into(),
            }),
        }
    }
    Ok(())
}

fn remove_tree(dir: &OwnedFd, name: &OsStr) {
    if let Ok(sub) = open_dir_at(dir, Path::new(name)) {
        if let Ok(entries) = rfs::Dir::read_from(&sub) {
            let names: Vec<OsString> = entries
                .flatten()
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
                .filter(|n| n != "." && n != "..")
                .collect();
            for n in names {
                if rfs::unlinkat(&sub, n.as_os_str(), AtFlags::empty()).is_err() {
                    remove_tree(&sub, &n);
                }
            }
        }
    }
    let _ = rfs::unlinkat(dir, name, AtFlags::REMOVEDIR);
}

/// The copy-back's staging directory in the destination (see [`crate::claimed_dir`]):
/// `.seal-incoming-<pid>-<random>`, locked while the copy lasts; `.seal-new-incoming-...`
/// while being made.
const INCOMING: Family = Family {
    live: ".seal-incoming-",
    new: ".seal-new-incoming-",
};

/// Remove incoming directories left by runs that died during a copy: those no live copy holds
/// locked.
fn sweep_stale_incoming(dest: &OwnedFd) {
    claimed_dir::sweep(dest, &INCOMING, remove_tree);
}

/// Copy the staged tree below `staged` into the host directory `dest`.
pub fn copy_back(staged: &OwnedFd, dest: &Path, policy: &ExportPolicy) -> ExportReport {
    let mut report = ExportReport {
        destination: dest.to_path_buf(),
        ..Default::default()
    };
    let mut scan = Scan {
        policy,
        root_on_host: dest,
        entries: Vec::new(),
        refused: Vec::new(),
    };
    if let Err(e) = scan.walk(staged, Path::new(""), 0) {
        report.aborted = Some(format!("cannot read the staged output: {e}"));
        report.refused = scan.refused;
        return report;
    }

    // Judge sizes: a single file over the quota is refused on its own; if what remains still
    // exceeds the quota, nothing is copied.
    let mut accepted: Vec<Entry> = Vec::with_capacity(scan.entries.len());
    let (mut bytes, mut files) = (0u64, 0u64);
    for e in scan.entries {
        match e {
            Entry::File { ref rel, size, .. } if size > policy.max_bytes => {
                scan.refused.push(Refusal {
                    path: display(rel),
                    reason: format!(
                        "{} is larger than the output quota of {}",
                        human(size),
                        human(policy.max_bytes)
                    ),
                })
            }
            Entry::File { size, .. } => {
                bytes += size;
                files += 1;
                accepted.push(e);
            }
            Entry::Link { .. } => {
                files += 1;
                accepted.push(e);
            }
            Entry::Dir(_) => accepted.push(e),
        }
    }
    report.refused = scan.refused;
    if bytes > policy.max_bytes || files > policy.max_files {
        report.aborted = Some(format!(
            "output quota exceeded: {} in {files} files (limit {} in {} files); nothing was copied",
            human(bytes),
            human(policy.max_bytes),
            policy.max_files
        ));
        return report;
    }

    let result = (|| -> io::Result<()> {
        let dest_fd = rfs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        sweep_stale_incoming(&dest_fd);
        // Locked until it has been removed below, so that no concurrent run's sweep takes it.
        let claim = claimed_dir::claim(&dest_fd, &INCOMING, 0o700)?;
        let incoming_name = claim.name().to_os_string();
        let copied = (|| -> io::Result<()> {
            let incoming = open_dir_at(&dest_fd, Path::new(&incoming_name))?;
            for e in &accepted {
                // One entry that cannot be copied (unreadable, vanished) is refused alone.
                let (rel, r) = match e {
                    Entry::Dir(rel) => {
                        let (parent, name) = split(rel);
                        let r = open_dir_path(&incoming, parent)
                            .and_then(|p| Ok(rfs::mkdirat(p, name, Mode::from_raw_mode(0o755))?));
                        (rel, r)
                    }
                    Entry::File { rel, mode, .. } => {
                        let exec = if policy.keep_exec { 0o111 } else { 0 };
                        let m = (mode & 0o666) | (mode & exec) | 0o600;
                        (rel, copy_file(staged, &incoming, rel, m).map(drop))
                    }
                    Entry::Link { rel, target } => {
                        let (parent, name) = split(rel);
                        let r = open_dir_path(&incoming, parent)
                            .and_then(|p| Ok(rfs::symlinkat(target.as_os_str(), p, name)?));
                        (rel, r)
                    }
                };
                if let Err(e) = r {
                    report.refused.push(Refusal {
                        path: display(rel),
                        reason: format!("cannot copy: {e}"),
                    });
                }
            }
            let mut moved = Counts::default();
            move_into_place(
                &incoming,
                &dest_fd,
                Path::new(""),
                policy.overwrite,
                &mut report.refused,
                &mut moved,
            )?;
            report.files = moved.files;
            report.links = moved.links;
            report.bytes = moved.bytes;
            Ok(())
        })();
        remove_tree(&dest_fd, &incoming_name);
        drop(claim);
        copied
    })();
    if let Err(e) = result {
        report.aborted = Some(format!("copy-back failed: {e}"));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_judged_lexically() {
        let root = Path::new("/out");
        assert!(link_stays_inside(
            Path::new("a/link"),
            Path::new("../b"),
            root
        ));
        assert!(link_stays_inside(
            Path::new("link"),
            Path::new("sub/file"),
            root
        ));
        assert!(link_stays_inside(
            Path::new("link"),
            Path::new("/out/x"),
            root
        ));
        assert!(!link_stays_inside(
            Path::new("link"),
            Path::new("../escape"),
            root
        ));
        assert!(!link_stays_inside(
            Path::new("a/link"),
            Path::new("../../x"),
            root
        ));
        assert!(!link_stays_inside(
            Path::new("link"),
            Path::new("/etc/passwd"),
            root
        ));
        assert!(!link_stays_inside(
            Path::new("link"),
            Path::new("/outside"),
            root
        ));
    }

    #[test]
    fn control_characters_and_bad_utf8_are_refused() {
        assert!(name_problem(OsStr::new("ok name.txt")).is_none());
        assert!(name_problem(OsStr::new("bad\nname")).is_some());
        assert!(name_problem(OsStr::new("esc\x1b[31m")).is_some());
        assert!(name_problem(OsStr::from_bytes(b"\xff\xfe")).is_some());
    }
}
