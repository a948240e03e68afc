//! `seal install` without user namespaces: the pieces the Landlock + seccomp fallback needs
//! beyond the namespace mode's (see [`crate::install`], which runs the same steps in either mode).
//!
//! The rules stay those of the namespace mode: the fetch step reaches only the index, through
//! seal's host-side proxy, and runs no package code; the install and build steps have no
//! network; no step sees the project, HOME or the user's environment; only the environment
//! under construction (or the step's output directory) is writable. What changes is how:
//!
//! - Paths: nothing can be mounted, so every directory appears at its host path, as a Landlock
//!   grant (system directories read-only as in `seal run`'s fallback; HOME and TMPDIR private
//!   directories made fresh for each step, so a step that runs package code leaves nothing for
//!   the next one).
//! - Network: socket() is refused. The fetch step gets a connection channel instead
//!   (descriptor 3); [`serve_channel`] answers each request with one end of a Unix stream pair
//!   whose other end is a client of the index proxy, and a stdlib shim in the sandbox
//!   (`fallback_connect.py`) makes pip's and urllib's connections ask the channel.
//! - The environment is built at `.seal/tmp-install-PID-RANDOM/env`, not at `/seal/env`, so console
//!   scripts would name that path in their `#!` line. `relocate_env.py`, run at the end of the
//!   same offline step, rewrites it to `/seal/env/bin/python` (and the activate scripts,
//!   pyvenv.cfg, direct_url.json and RECORD), and compiles pip's bytecode naming /seal/env, so
//!   the environment is what the namespace mode builds.

use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use seal_sandbox::Mount;

use crate::layout;
use crate::python::Interpreter;

/// The connection shim run by the fetch step's interpreter.
pub const CONNECT_SHIM: &str = include_str!("fallback_connect.py");
pub const CONNECT_SHIM_NAME: &str = "fallback_connect.py";
/// seal's relocation of an environment built at a host path (see `relocate_env.py`), run at
/// the end of the offline install step.
pub const RELOCATE: &str = include_str!("relocate_env.py");
pub const RELOCATE_NAME: &str = "relocate_env.py";
/// The proxy the fetch step's programs are told about. Any name would do: the shim ignores the
/// address and every connection reaches seal's proxy.
pub const PLACEHOLDER_PROXY: &str = "http://seal-proxy:3128";

/// What every fallback install step sees of the system: `seal run`'s system view without the
/// parts that need a root of its own (the /seal/bin links, the generated /etc files, the
/// private /tmp and HOME, which are [`Scratch`] directories here instead).
pub fn system_mounts(python: &Interpreter) -> Vec<Mount> {
    layout::base_mounts(python, 0)
        .into_iter()
        .filter(|m| {
            !matches!(m, Mount::File { .. } | Mount::Tmpfs { .. })
                && !m.dst().starts_with(layout::SEAL_BIN)
        })
        .collect()
}

/// A step's private HOME and TMPDIR, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    /// `<parent>/scratch-N`, fresh (a leftover of an earlier step is never reused) and private
    /// to the user (0700), like the namespace mode's tmpfs HOME.
    pub fn new(parent: &Path) -> Result<Scratch> {
        let mut private = fs::DirBuilder::new();
        private.mode(0o700);
        let mut n = 0u32;
        let dir = loop {
            let dir = parent.join(format!("scratch-{n}"));
            match private.create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
        };
        let scratch = Scratch { dir };
        for sub in [scratch.home(), scratch.tmp()] {
            private
                .create(&sub)
                .with_context(|| format!("creating {}", sub.display()))?;
        }
        Ok(scratch)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Read-write grants of both directories.
    pub fn mounts(&self) -> Vec<Mount> {
        [self.home(), self.tmp()]
            .into_iter()
            .map(|d| Mount::Bind {
                src: d.clone(),
                dst: d,
                // A plain directory: a tmpfs-like mount would cap every file the step writes
                // (RLIMIT_FSIZE), wheels included.
                access: seal_sandbox::Access::ReadWrite,
            })
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The namespace mode's environment of an install step, moved to host paths: HOME, TMPDIR,
/// uv's cache in the step's scratch directories, a PATH without /seal/bin, and the placeholder
/// proxy where the namespace mode names its listener.
pub fn adapt_environment(
    mut env: Vec<(OsString, OsString)>,
    python: &Interpreter,
    scratch: &Scratch,
) -> Vec<(OsString, OsString)> {
    let path = crate::layout::search_path(python, None, false);
    let proxied = env.iter().any(|(k, _)| k == "HTTPS_PROXY");
    let mut set = |k: &str, v: OsString| {
        env.retain(|(n, _)| n != k);
        env.push((k.into(), v));
    };
    set("PATH", path.into());
    set("HOME", scratch.home().into());
    set("TMPDIR", scratch.tmp().into());
    set("UV_CACHE_DIR", scratch.tmp().join("uv-cache").into());
    if proxied {
        for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            set(k, PLACEHOLDER_PROXY.into());
        }
    }
    env
}

/// Serve the fetch step's connection channel until every process that holds it is gone: each
/// request gets a fresh Unix stream pair, one end served by the index proxy (same policy,
/// connection cap and decision log as a TCP client), the other passed to the program.
pub fn serve_channel(channel: OwnedFd, proxy: seal_net::StreamInjector) -> JoinHandle<()> {
    std::thread::spawn(move || {
        // An error here is the channel's own: the program is gone, and the step's exit status
        // says how it ended.
        let _ = seal_sandbox::serve_connection_channel(&channel, || {
            let (ours, theirs) = UnixStream::pair()?;
            proxy.serve_stream(ours)?;
            Ok(theirs)
        });
    })
}

/// Quote `s` for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// An argument vector as one `/bin/sh` command line.
pub fn sh_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| sh_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    #[test]
    fn quoting_for_sh() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_join(&["x".into(), "$HOME".into()]), "'x' '$HOME'");
        let out = Command::new("/bin/sh")
            .args(["-c", &format!("printf %s {}", sh_quote("it's $HOME `x`"))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $HOME `x`");
    }

    /// A fabricated environment as pip writes one at `built`, relocated by the script.
    #[test]
    fn relocation_script_rewrites_paths_records_and_bytecode() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let built = root.join("long dir ".repeat(12)).join("env");
        let wheels = root.join("wheels");
        let site = built.join("lib/python3.11/site-packages");
        let di = site.join("alpha-1.0.dist-info");
        let bin = built.join("bin");
        for d in [&bin, &di, &site.join("alpha"), &wheels] {
            fs::create_dir_all(d).unwrap();
        }
        let b = built.to_str().unwrap();
        // Spaces and length make installers write the /bin/sh preamble.
        let sh_script = format!(
            "#!/bin/sh\n'''exec' \"{b}/bin/python\" \"$0\" \"$@\"\n' '''\n# -*- coding: utf-8 -*-\nimport alpha\n"
        );
        let direct = format!("#!{b}/bin/python3.11\nimport alpha\n");
        fs::write(bin.join("alpha-cli"), &sh_script).unwrap();
        // Hard-linked from an installer's cache: that copy must not change.
        let cached = root.join("cached-script");
        fs::write(&cached, &direct).unwrap();
        fs::set_permissions(&cached, fs::Permissions::from_mode(0o751)).unwrap();
        fs::hard_link(&cached, bin.join("alpha-direct")).unwrap();
        fs::write(bin.join("other"), "#!/usr/bin/python3\n").unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", bin.join("python")).unwrap();
        fs::write(bin.join("activate"), format!("VIRTUAL_ENV=\"{b}\"\n")).unwrap();
        fs::write(
            built.join("pyvenv.cfg"),
            format!("home = /usr/bin\ncommand = /usr/bin/python3 -m venv {b}\n"),
        )
        .unwrap();
        fs::write(site.join("alpha/__init__.py"), "def main():\n    1/0\n").unwrap();
        fs::write(site.join("alpha/broken.py"), "def (:\n").unwrap();
        let wheel_url = format!(
            "file://{}/alpha-1.0-py3-none-any.whl",
            wheels.to_str().unwrap()
        );
        fs::write(
            di.join("direct_url.json"),
            format!("{{\"archive_info\": {{}}, \"url\": \"{wheel_url}\"}}"),
        )
        .unwrap();
        fs::write(
            di.join("RECORD"),
            "../../../bin/alpha-cli,sha256=old,1\r\n../../../bin/alpha-direct,sha256=old,1\r\n\
             alpha-1.0.dist-info/RECORD,,\r\nalpha-1.0.dist-info/direct_url.json,sha256=old,1\r\n\
             alpha/__init__.py,sha256=x,22\r\nalpha/broken.py,sha256=y,8\r\n",
        )
        .unwrap();
        let script = root.join(RELOCATE_NAME);
        fs::write(&script, RELOCATE).unwrap();
        let out = Command::new("python3")
            .args(["-I", "-S"])
            .arg(&script)
            .args([
                "--compile",
                b,
                "/seal/env",
                wheels.to_str().unwrap(),
                "/seal/wheels",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let read = |p: &Path| fs::read_to_string(p).unwrap();
        let cli = "#!/seal/env/bin/python\n# -*- coding: utf-8 -*-\nimport alpha\n";
        assert_eq!(read(&bin.join("alpha-cli")), cli);
        assert_eq!(
            read(&bin.join("alpha-direct")),
            "#!/seal/env/bin/python3.11\nimport alpha\n"
        );
        assert_eq!(read(&cached), direct);
        let mode = fs::metadata(bin.join("alpha-direct"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o751);
        assert_eq!(read(&bin.join("other")), "#!/usr/bin/python3\n");
        assert_eq!(read(&bin.join("activate")), "VIRTUAL_ENV=\"/seal/env\"\n");
        assert!(read(&built.join("pyvenv.cfg")).ends_with("-m venv /seal/env\n"));
        let direct_url =
            "{\"archive_info\": {}, \"url\": \"file:///seal/wheels/alpha-1.0-py3-none-any.whl\"}";
        assert_eq!(read(&di.join("direct_url.json")), direct_url);
        let hash = |data: &str| {
            let out = Command::new("python3")
                .args(["-I", "-S", "-c"])
                .arg(
                    "import base64, hashlib, sys; print('sha256=' + base64.urlsafe_b64encode(\
                     hashlib.sha256(sys.argv[1].encode()).digest()).decode().rstrip('='))",
                )
                .arg(data)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let direct_len = "#!/seal/env/bin/python3.11\nimport alpha\n".len();
        let want = [
            format!("../../../bin/alpha-cli,{},{}", hash(cli), cli.len()),
            format!(
                "../../../bin/alpha-direct,{},{direct_len}",
                hash("#!/seal/env/bin/python3.11\nimport alpha\n")
            ),
            "alpha-1.0.dist-info/RECORD,,".to_string(),
            format!(
                "alpha-1.0.dist-info/direct_url.json,{},{}",
                hash(direct_url),
                direct_url.len()
            ),
            "alpha/__init__.py,sha256=x,22".to_string(),
            "alpha/__pycache__/__init__.cpython-311.pyc,,".to_string(),
            "alpha/broken.py,sha256=y,8".to_string(),
        ];
        let record = read(&di.join("RECORD"));
        assert_eq!(record, want.join("\r\n") + "\r\n");
        // The bytecode names the source at /seal/env.
        let pyc = site.join("alpha/__pycache__/__init__.cpython-311.pyc");
        let data = fs::read(&pyc).unwrap();
        let needle = b"/seal/env/lib/python3.11/site-packages/alpha/__init__.py";
        assert!(data.windows(needle.len()).any(|w| w == needle));
        assert!(!data.windows(b.len()).any(|w| w == b.as_bytes()));
        assert_eq!(
            fs::read_link(bin.join("python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
    }
}
