//! From a [`Spec`]'s mount list to what the fallback can actually do: Landlock grants on host
//! paths. Without a mount namespace nothing can be moved, generated or hidden, so every mount
//! either becomes a grant on the same host path, is accepted because the host already looks
//! the way it asks, or is refused with a one-line reason. Nothing is silently weakened:
//! what cannot be enforced is either an error or listed in `limitations`.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::export::human;
use crate::spec::{Access, Mount};
use crate::Error;

/// What a grant allows beneath its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    /// Read files, list directories, execute.
    Read,
    /// Everything Landlock governs except creating device nodes.
    ReadWrite,
    /// One device node: read, and write too when `write`.
    Device { write: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Canonical host path.
    pub path: PathBuf,
    pub right: Right,
    /// Directories take directory rights; a file only the rights that apply to files.
    pub is_dir: bool,
}

#[derive(Debug, Default)]
pub struct Translation {
    pub grants: Vec<Grant>,
    /// Each `Mount::Staging`: its path as the spec gave it, and the directory to hand back.
    pub staged: Vec<(PathBuf, PathBuf)>,
    /// RLIMIT_FSIZE standing in for the size caps of tmpfs-like mounts.
    pub file_size_cap: Option<u64>,
    pub limitations: Vec<String>,
}

fn spec_err(msg: String) -> Error {
    Error::Spec(msg)
}

fn canonical(p: &Path) -> Result<PathBuf, Error> {
    p.canonicalize()
        .map_err(|e| spec_err(format!("{}: {e}", p.display())))
}

/// The host path a bind may grant: only `src` itself, shown where it already is.
fn bind_target(src: &Path, dst: &Path) -> Result<PathBuf, Error> {
    let real = canonical(src)?;
    let same = src == dst || dst.canonicalize().is_ok_and(|d| d == real);
    if !same {
        return Err(spec_err(format!(
            "fallback mode cannot show {} at {}: without user namespaces there are no mounts, \
             so the program sees every path where it is on the host",
            src.display(),
            dst.display()
        )));
    }
    Ok(real)
}

/// A directory the caller prepared in place of a tmpfs-like mount.
fn prepared_dir(dst: &Path, what: &str) -> Result<PathBuf, Error> {
    let is_dir = fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return Err(spec_err(format!(
            "fallback mode needs {} to be an existing directory prepared by the caller ({what}: \
             it cannot mount one)",
            dst.display()
        )));
    }
    canonical(dst)
}

fn grant(path: PathBuf, right: Right) -> Grant {
    let is_dir = path.is_dir();
    Grant {
        path,
        right,
        is_dir,
    }
}

/// Device nodes a `Mount::Dev` stands for: the harmless ones of the host's own /dev, and the
/// devices it names.
fn devices(dst: &Path, named: &[PathBuf], out: &mut Translation) -> Result<(), Error> {
    if dst != Path::new("/dev") {
        return Err(spec_err(format!(
            "fallback mode can only grant devices of the host's /dev, not a /dev at {}",
            dst.display()
        )));
    }
    for (name, write) in [
        ("null", true),
        ("zero", true),
        ("full", true),
        ("random", false),
        ("urandom", false),
        ("tty", true),
    ] {
        let p = dst.join(name);
        let is_char = fs::metadata(&p).is_ok_and(|m| m.file_type().is_char_device());
        if is_char {
            out.grants.push(Grant {
                path: p,
                right: Right::Device { write },
                is_dir: false,
            });
        }
    }
    for p in named {
        crate::spec::device_under_dev(p).map_err(spec_err)?;
        let is_char = fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device());
        if !is_char {
            return Err(spec_err(format!(
                "{} is not a character device",
                p.display()
            )));
        }
        out.grants.push(Grant {
            path: p.clone(),
            right: Right::Device { write: true },
            is_dir: false,
        });
    }
    out.limitations.push(
        "/dev: only null, zero, full, random, urandom and tty; no /dev/shm (it is the host's, \
         shared with the user's other programs, so POSIX semaphores and multiprocessing locks \
         fail) and no /dev/pts or /dev/ptmx (the user's other terminals)"
            .into(),
    );
    Ok(())
}

/// Translate the mounts. Staging directories must also be empty, so that what is copied
/// back afterwards is only what the program wrote.
pub fn translate(mounts: &[Mount]) -> Result<Translation, Error> {
    let mut out = Translation::default();
    let mut masks = Vec::new();
    let mut capped = Vec::new();
    for m in mounts {
        match m {
            Mount::Bind { src, dst, access } => {
                let path = bind_target(src, dst)?;
                let right = match access {
                    Access::ReadOnly => Right::Read,
                    Access::ReadWrite => Right::ReadWrite,
                    Access::ReadWriteNoSymlinks => {
                        out.limitations.push(format!(
                            "{}: symbolic links in it are followed (nosymfollow needs a mount; \
                             Landlock still checks what they lead to)",
                            path.display()
                        ));
                        Right::ReadWrite
                    }
                };
                out.grants.push(grant(path, right));
            }
            Mount::BindIfExists { src, dst } | Mount::CopyIfExists { src, dst } => {
                if src.exists() {
                    out.grants.push(grant(bind_target(src, dst)?, Right::Read));
                }
            }
            Mount::CopyTree {
                src,
                dst,
                size_bytes,
            } => {
                let copy = prepared_dir(dst, "a copy of the tree")?;
                let original = canonical(src)?;
                if copy.starts_with(&original) || original.starts_with(&copy) {
                    return Err(spec_err(format!(
                        "fallback mode cannot give a writable copy of {} at {}: the caller must \
                         copy it to a separate directory, or the program would write to the \
                         original",
                        src.display(),
                        dst.display()
                    )));
                }
                capped.push((copy.clone(), *size_bytes));
                out.grants.push(grant(copy, Right::ReadWrite));
            }
            Mount::Staging {
                dst, size_bytes, ..
            } => {
                let dir = prepared_dir(dst, "a staging area")?;
                let empty = fs::read_dir(&dir)
                    .map_err(|e| spec_err(format!("{}: {e}", dir.display())))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(spec_err(format!(
                        "fallback mode needs the staging directory {} to be empty",
                        dst.display()
                    )));
                }
                capped.push((dir.clone(), *size_bytes));
                out.staged.push((dst.clone(), dir.clone()));
                out.grants.push(grant(dir, Right::ReadWrite));
            }
            Mount::Tmpfs {
                dst, size_bytes, ..
            } => {
                let dir = prepared_dir(dst, "a scratch directory")?;
                capped.push((dir.clone(), *size_bytes));
                out.grants.push(grant(dir, Right::ReadWrite));
            }
            Mount::Dev {
                dst,
                devices: named,
                ..
            } => devices(dst, named, &mut out)?,
            Mount::Proc { .. } => out.limitations.push(
                "/proc: not granted at all, so the program cannot read other processes' \
                 environment, command lines or memory maps (a PID namespace would give it a \
                 /proc of its own; tools that need /proc fail)"
                    .into(),
            ),
            Mount::Mask { dst } => masks.push(dst.clone()),
            Mount::File { dst, contents, .. } => {
                // Already there exactly as asked: nothing to generate, a read grant suffices.
                if fs::read(dst).is_ok_and(|c| c == *contents) {
                    out.grants.push(grant(canonical(dst)?, Right::Read));
                } else {
                    return Err(spec_err(format!(
                        "fallback mode cannot show generated contents at {}: it has no file \
                         system of its own",
                        dst.display()
                    )));
                }
            }
            Mount::Symlink { target, dst } => {
                if fs::read_link(dst).ok().as_deref() != Some(target.as_path()) {
                    return Err(spec_err(format!(
                        "fallback mode cannot create the link {} -> {}: it has no file system of \
                         its own",
                        dst.display(),
                        target.display()
                    )));
                }
            }
            Mount::Dir { dst, .. } => {
                // An empty mount point in the namespace mode; grants nothing here either.
                if !fs::symlink_metadata(dst).is_ok_and(|m| m.is_dir()) {
                    return Err(spec_err(format!(
                        "fallback mode cannot create the directory {}: it has no file system of \
                         its own",
                        dst.display()
                    )));
                }
            }
        }
    }
    refuse_read_only_inside_writable(&out.grants)?;
    for dst in masks {
        if let Some(note) = unenforceable_mask(&dst, &out.grants) {
            out.limitations.push(note);
        }
    }
    if let Some(cap) = capped.iter().map(|(_, size)| *size).max() {
        out.file_size_cap = Some(cap);
        let dirs: Vec<String> = capped
            .iter()
            .map(|(d, _)| d.display().to_string())
            .collect();
        out.limitations.push(format!(
            "disk: {} are plain directories, with no total size cap; each file the program \
             writes anywhere is capped at {} (RLIMIT_FSIZE)",
            dirs.join(", "),
            human(cap)
        ));
    }
    Ok(out)
}

/// Landlock rights only add up: a read-only grant inside a writable one stays writable.
fn refuse_read_only_inside_writable(grants: &[Grant]) -> Result<(), Error> {
    for ro in grants.iter().filter(|g| g.right == Right::Read) {
        if let Some(rw) = grants
            .iter()
            .find(|g| g.right == Right::ReadWrite && ro.path.starts_with(&g.path))
        {
            return Err(spec_err(format!(
                "fallback mode cannot keep {} read-only inside the writable {}: Landlock rights \
                 only add up",
                ro.path.display(),
                rw.path.display()
            )));
        }
    }
    Ok(())
}

/// Why a mask cannot be enforced, or `None` when nothing reaches it anyway: it lies outside
/// every grant, or it is a socket, which a program without socket() cannot connect to.
fn unenforceable_mask(dst: &Path, grants: &[Grant]) -> Option<String> {
    let meta = fs::symlink_metadata(dst).ok()?;
    if meta.file_type().is_socket() {
        return None;
    }
    let real = dst.canonicalize().ok()?;
    let covering = grants.iter().find(|g| real.starts_with(&g.path))?;
    Some(format!(
        "{} cannot be hidden: it lies inside the granted {}",
        dst.display(),
        covering.path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir()
                .join(format!("seal-fallback-unit-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Scratch(p.canonicalize().unwrap())
        }
        fn dir(&self, name: &str) -> PathBuf {
            let p = self.0.join(name);
            fs::create_dir_all(&p).unwrap();
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ro(p: &Path) -> Mount {
        Mount::Bind {
            src: p.into(),
            dst: p.into(),
            access: Access::ReadOnly,
        }
    }

    fn err_text(r: Result<Translation, Error>) -> String {
        match r {
            Err(Error::Spec(s)) => s,
            other => panic!("expected a spec error, got {other:?}"),
        }
    }

    #[test]
    fn binds_become_grants_at_their_own_path_only() {
        let s = Scratch::new("binds");
        let a = s.dir("a");
        let b = s.dir("b");
        let t = translate(&[
            ro(&a),
            Mount::Bind {
                src: b.clone(),
                dst: b.clone(),
                access: Access::ReadWriteNoSymlinks,
            },
        ])
        .unwrap();
        assert_eq!(t.grants[0].right, Right::Read);
        assert_eq!(t.grants[1].right, Right::ReadWrite);
        assert!(t.limitations[0].contains("symbolic links"));
        let moved = translate(&[Mount::Bind {
            src: a.clone(),
            dst: "/seal/env".into(),
            access: Access::ReadOnly,
        }]);
        assert!(err_text(moved).contains("cannot show"));
    }

    #[test]
    fn read_only_inside_writable_is_refused() {
        let s = Scratch::new("nested");
        let outer = s.dir("out");
        let inner = s.dir("out/.git");
        let r = translate(&[
            Mount::Bind {
                src: outer.clone(),
                dst: outer,
                access: Access::ReadWrite,
            },
            ro(&inner),
        ]);
        assert!(err_text(r).contains("read-only inside the writable"));
    }

    #[test]
    fn prepared_directories_and_staging() {
        let s = Scratch::new("prepared");
        let tmp = s.dir("tmp");
        let out = s.dir("out");
        let t = translate(&[
            Mount::Tmpfs {
                dst: tmp.clone(),
                mode: 0o700,
                size_bytes: 1 << 20,
            },
            Mount::Staging {
                dst: out.clone(),
                size_bytes: 2 << 20,
                max_files: 10,
            },
        ])
        .unwrap();
        assert_eq!(t.staged, vec![(out.clone(), out.clone())]);
        assert_eq!(t.file_size_cap, Some(2 << 20));
        fs::write(out.join("old"), b"x").unwrap();
        let r = translate(&[Mount::Staging {
            dst: out,
            size_bytes: 1,
            max_files: 1,
        }]);
        assert!(err_text(r).contains("empty"));
        let r = translate(&[Mount::Tmpfs {
            dst: s.0.join("missing"),
            mode: 0o700,
            size_bytes: 1,
        }]);
        assert!(err_text(r).contains("prepared by the caller"));
    }

    #[test]
    fn a_copy_must_not_be_the_original() {
        let s = Scratch::new("copy");
        let src = s.dir("data");
        let r = translate(&[Mount::CopyTree {
            src: src.clone(),
            dst: src.clone(),
            size_bytes: 1,
        }]);
        assert!(err_text(r).contains("separate directory"));
        let copy = s.dir("copy");
        assert!(translate(&[Mount::CopyTree {
            src,
            dst: copy,
            size_bytes: 1,
        }])
        .is_ok());
    }

    #[test]
    fn generated_nodes_only_when_the_host_already_matches() {
        let s = Scratch::new("generated");
        let f = s.0.join("hosts");
        fs::write(&f, b"same").unwrap();
        let same = Mount::File {
            dst: f.clone(),
            contents: b"same".to_vec(),
            mode: 0o644,
        };
        assert_eq!(translate(&[same]).unwrap().grants[0].right, Right::Read);
        let other = Mount::File {
            dst: f,
            contents: b"other".to_vec(),
            mode: 0o644,
        };
        assert!(err_text(translate(&[other])).contains("generated"));
        let link = s.0.join("link");
        std::os::unix::fs::symlink("target", &link).unwrap();
        assert!(translate(&[Mount::Symlink {
            target: "target".into(),
            dst: link.clone(),
        }])
        .is_ok());
        let r = translate(&[Mount::Symlink {
            target: "elsewhere".into(),
            dst: link,
        }]);
        assert!(err_text(r).contains("cannot create the link"));
        let r = translate(&[Mount::Dir {
            dst: s.0.join("nodir"),
            mode: 0o755,
        }]);
        assert!(err_text(r).contains("cannot create the directory"));
    }

    #[test]
    fn proc_grants_nothing_and_masks_inside_grants_are_reported() {
        let s = Scratch::new("masks");
        let project = s.dir("project");
        let secret = project.join(".env");
        fs::write(&secret, b"TOKEN").unwrap();
        let outside = s.dir("elsewhere").join("x");
        fs::write(&outside, b"").unwrap();
        let t = translate(&[
            Mount::Proc {
                dst: "/proc".into(),
            },
            ro(&project),
            Mount::Mask {
                dst: secret.clone(),
            },
            Mount::Mask { dst: outside },
        ])
        .unwrap();
        assert!(t.grants.iter().all(|g| !g.path.starts_with("/proc")));
        let masks: Vec<&String> = t
            .limitations
            .iter()
            .filter(|l| l.contains("cannot be hidden"))
            .collect();
        assert_eq!(masks.len(), 1);
        assert!(masks[0].contains(".env"));
    }

    #[test]
    fn devices_are_individual_nodes() {
        let t = translate(&[Mount::Dev {
            dst: "/dev".into(),
            shm_size_bytes: 1,
            devices: vec![],
        }])
        .unwrap();
        let null = t
            .grants
            .iter()
            .find(|g| g.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!(null.right, Right::Device { write: true });
        assert!(!t.grants.iter().any(|g| g.path.starts_with("/dev/shm")));
        let r = translate(&[Mount::Dev {
            dst: "/sandbox/dev".into(),
            shm_size_bytes: 1,
            devices: vec![],
        }]);
        assert!(err_text(r).contains("/dev"));
    }
}
