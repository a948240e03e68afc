//! [`TestHome`]: the per-test tree the isolation and install tests build on, made one way.
//!
//! `<work root>/<test>-<variant>-<nonce>/` (0755, the test process's) holds `home/`, a fake
//! HOME (0700, the variant's user's) full of canary files, with the project `home/proj` (the
//! working directory) and an output directory `home/out` in it, and `run/` for host sockets.
//! The environment of every command starts from [`base_env`] plus canary variables. Every
//! canary contains [`TestHome::tag`], so one search of a run's output finds any of them.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{base_env, random_hex, set_mode, test_dir, Output, Variant};

/// Canary files, relative to the fake HOME: what credential stealers read (keys, cloud and
/// cluster credentials, registry and index tokens, pip's configuration, shell start-up).
pub const CANARY_FILES: &[&str] = &[
    ".ssh/id_rsa",
    ".aws/credentials",
    ".kube/config",
    ".netrc",
    ".bashrc",
    ".pypirc",
    ".git-credentials",
    ".docker/config.json",
    ".config/pip/pip.conf",
    ".pip/pip.conf",
];
/// Canary environment variables set on every command of the test.
pub const CANARY_ENV: &[&str] = &["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"];

/// Lets a test environment built on a [`TestHome`] (in a field named `base`) be used as one:
/// `env.home`, `env.mkdir_owned(...)`, `env.env.push(...)`.
macro_rules! derefs_to_test_home {
    ($env:ty) => {
        impl std::ops::Deref for $env {
            type Target = TestHome;
            fn deref(&self) -> &TestHome {
                &self.base
            }
        }

        impl std::ops::DerefMut for $env {
            fn deref_mut(&mut self) -> &mut TestHome {
                &mut self.base
            }
        }
    };
}

pub struct TestHome {
    pub v: Variant,
    /// The test's own directory (mode 0755, owned by the test process).
    pub dir: PathBuf,
    /// The fake HOME with canaries (owned by the variant's user).
    pub home: PathBuf,
    /// The project: `home/proj`, the working directory.
    pub project: PathBuf,
    /// An output directory: `home/out` (exists, owned by the variant's user).
    pub out: PathBuf,
    /// A directory for host sockets (0755, owned by the test process).
    pub run_dir: PathBuf,
    /// "CANARY-<random>": every canary contains it.
    pub tag: String,
    /// A random string unique to this test, for markers and file names.
    pub nonce: String,
    /// The environment of every command of the test (seal's and the positive controls').
    pub env: Vec<(String, String)>,
}

impl TestHome {
    pub fn new(v: &Variant, name: &str) -> TestHome {
        let (dir, nonce) = test_dir(v, name);
        let home = dir.join("home");
        let mut t = TestHome {
            v: v.clone(),
            project: home.join("proj"),
            out: home.join("out"),
            run_dir: dir.join("run"),
            dir,
            home: home.clone(),
            tag: format!("CANARY-{}", random_hex(8)),
            nonce,
            env: base_env(&home),
        };
        t.mkdir_owned(&home, 0o700);
        for rel in CANARY_FILES {
            t.write_home_file(rel, &t.canary_file_content(rel));
        }
        t.mkdir_owned(&t.project, 0o755);
        t.mkdir_owned(&t.out, 0o755);
        fs::create_dir(&t.run_dir).expect("creating the socket directory");
        set_mode(&t.run_dir, 0o755);
        for name in CANARY_ENV {
            let value = t.canary_env_value(name);
            t.env.push((name.to_string(), value));
        }
        t
    }

    /// What the canary file `~/rel` holds (one line, no newline: probes report it whole).
    pub fn canary_file_content(&self, rel: &str) -> String {
        format!("{}-file-{}", self.tag, rel.trim_start_matches('.'))
    }

    pub fn canary_env_value(&self, name: &str) -> String {
        format!("{}-env-{name}", self.tag)
    }

    /// Give `p` (never a link's target) to the variant's user.
    pub fn chown_to_user(&self, p: &Path) {
        self.v.chown(p);
    }

    /// Create a directory owned by the variant's user.
    pub fn mkdir_owned(&self, p: &Path, mode: u32) {
        self.v.mkdir(p, mode);
    }

    /// Write a file owned by the variant's user.
    pub fn write_owned(&self, p: &Path, content: &str, mode: u32) {
        self.v.write(p, content, mode);
    }

    /// Write `~/rel` of the fake HOME (parents created 0700, everything owned by the user).
    pub fn write_home_file(&self, rel: &str, content: &str) {
        self.v.write_private(&self.home, rel, content);
    }

    /// Set `k` in the test environment, replacing an earlier value.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(ek, _)| ek != k);
        self.env.push((k.into(), v.into()));
    }

    /// Each of `keys` that the test process has, with its value, in the test environment.
    pub fn pass_host_env(&mut self, keys: &[&str]) {
        for k in keys {
            if let Ok(val) = std::env::var(k) {
                self.set_env(k, &val);
            }
        }
    }

    /// No canary may appear in anything a sandboxed command printed.
    pub fn assert_no_canary(&self, out: &Output) {
        assert!(
            !out.stdout.contains(&self.tag) && !out.stderr.contains(&self.tag),
            "a canary ({}) appeared in the output of a sandboxed command\n{}",
            self.tag,
            out.describe()
        );
    }

    /// Every canary file holds exactly what it was written with.
    pub fn canary_files_intact(&self) {
        for rel in CANARY_FILES {
            let got = fs::read_to_string(self.home.join(rel)).unwrap_or_default();
            assert_eq!(
                got,
                self.canary_file_content(rel),
                "host file ~/{rel} changed"
            );
        }
    }

    /// The canary files are untouched, modes included (written 0600).
    pub fn assert_home_intact(&self) {
        for rel in CANARY_FILES {
            let got = fs::read_to_string(self.home.join(rel)).unwrap_or_default();
            assert!(
                got.contains(&self.tag) && !got.contains("pwned"),
                "~/{rel} of the fake HOME changed: {got:?}"
            );
            let mode = fs::metadata(self.home.join(rel)).map_or(0, |m| m.mode() & 0o7777);
            assert_eq!(
                mode, 0o600,
                "~/{rel} of the fake HOME changed mode: {mode:o}"
            );
        }
    }
}
