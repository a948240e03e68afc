//! Support of the data-in/data-out (`staging.rs`) and resource-limit (`limits*.rs`) tests, on
//! top of [`super`] (variants, the work root, [`TestHome`], commands, probe results).
//!
//! * Every test runs once per [`Variant`]: as the test process's uid (root in CI) and, when
//!   that is root, again as uid 65534 with a world-executable copy of the seal binary. Not
//!   running as root, only the current uid runs and the skip is printed loudly.
//! * [`Env`] is a [`TestHome`] (a fake HOME with canaries, a project where probes live, an
//!   output directory) whose `~/.ssh/id_rsa` canary the tests link to and copy; everything the
//!   unprivileged variant needs is owned by it.
//! * Probes are Python scripts ([`PRELUDE`] + body) that print `PROBE<TAB>key<TAB>value` lines
//!   as they go (flushed at once, so a run killed half way still reports what it did).
//!
//! Set `SEAL_TEST_KEEP=1` to keep the temporary directories and `SEAL_TEST_VARIANTS=root` or
//! `=uid65534` to run one variant only.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use super::*;

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// FNV-1a, enough to notice a changed file.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Entries of a directory (names as bytes), empty if it cannot be read.
pub fn dir_names(dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The `.seal-incoming-*` entries directly in `dir` (crash leftovers of copy-back).
pub fn incoming_leftovers(dir: &Path) -> Vec<OsString> {
    dir_names(dir)
        .into_iter()
        .filter(|n| is_incoming(n.as_bytes()))
        .collect()
}

/// The copy-back's own directory in DIR: `.seal-incoming-*`, or `.seal-new-incoming-*` in the
/// instant before it is locked and renamed.
pub fn is_incoming(name: &[u8]) -> bool {
    name.starts_with(b".seal-incoming") || name.starts_with(b".seal-new-incoming")
}

/// A description of every entry below `root` (type, mode, owner, size, mtime, link target,
/// content hash of files up to 8 MiB), skipping the subtrees in `skip`. Two equal snapshots
/// mean nothing was created, removed or changed there.
pub fn snapshot(root: &Path, skip: &[&Path]) -> BTreeMap<PathBuf, String> {
    fn go(p: &Path, skip: &[&Path], acc: &mut BTreeMap<PathBuf, String>) {
        if skip.contains(&p) {
            return;
        }
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        let ft = m.file_type();
        let mut d = format!(
            "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.nlink()
        );
        if ft.is_symlink() {
            d.push_str(&format!(" -> {:?}", fs::read_link(p).ok()));
        } else if ft.is_file() && m.size() <= 8 * MIB {
            d.push_str(&format!(" fnv={:x}", fnv(&fs::read(p).unwrap_or_default())));
        }
        acc.insert(p.to_path_buf(), d);
        if ft.is_dir() {
            let mut names: Vec<OsString> = fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            names.sort();
            for n in names {
                go(&p.join(n), skip, acc);
            }
        }
    }
    let mut acc = BTreeMap::new();
    go(root, skip, &mut acc);
    acc
}

/// Assert two snapshots are equal, naming the differences.
pub fn assert_same_snapshot(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diffs.push(format!("removed: {}", k.display())),
            Some(w) if w != v => diffs.push(format!("changed: {}: {v} => {w}", k.display())),
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            diffs.push(format!("created: {} ({})", k.display(), after[k]));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: host files outside the output directory changed:\n{}",
        diffs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Probes

/// Helpers of every probe: `A` holds the JSON arguments (argv[1]); `put(k, v)` prints one
/// result line at once; `attempt(k, fn, ...)` records "OK", a value, or the errno name.
pub const PRELUDE: &str = include_str!("staging/prelude.py");

// ---------------------------------------------------------------------------------------------
// The per-test environment

/// A [`TestHome`] (its fields are the home's) with the key canary these tests link to and
/// copy, and the staging commands.
pub struct Env {
    base: TestHome,
    /// `home/.ssh/id_rsa`
    pub canary: PathBuf,
    pub canary_content: String,
}

derefs_to_test_home!(Env);

impl Env {
    pub fn new(v: &Variant, name: &str) -> Env {
        let base = TestHome::new(v, name);
        Env {
            canary: base.home.join(".ssh/id_rsa"),
            canary_content: base.canary_file_content(".ssh/id_rsa"),
            base,
        }
    }

    /// Give a whole tree to the variant's user.
    pub fn chown_tree(&self, p: &Path) {
        if !self.v.switch {
            return;
        }
        self.chown_to_user(p);
        for rel in walk(p) {
            self.chown_to_user(&p.join(rel));
        }
    }

    /// Create a directory owned by the variant's user.
    pub fn mkdir(&self, p: &Path, mode: u32) {
        self.v.mkdir(p, mode);
    }

    /// Write a file owned by the variant's user.
    pub fn write(&self, p: &Path, content: &[u8], mode: u32) {
        self.v.write(p, content, mode);
    }

    /// Write a probe (PRELUDE + body) into the project; returns its path.
    pub fn probe(&self, name: &str, body: &str) -> PathBuf {
        let p = self.project.join(format!("{name}.py"));
        self.write(&p, format!("{PRELUDE}\n{body}\n").as_bytes(), 0o644);
        p
    }

    pub fn canary_intact(&self) {
        let got = fs::read_to_string(&self.canary).unwrap_or_default();
        assert_eq!(got, self.canary_content, "the ~/.ssh/id_rsa canary changed");
        let m = fs::symlink_metadata(&self.canary).unwrap();
        assert!(
            m.is_file() && m.mode() & 0o7777 == 0o600,
            "canary mode/type changed"
        );
    }

    /// `program` as the variant's user, in the project, with the test environment; `label`
    /// names it in messages.
    fn command(&self, program: &Path, label: &str) -> Run {
        Run::new(
            self.v.command(program, &self.env, &self.project),
            format!("[{}] {label}", self.v.name),
            DEADLINE,
        )
    }

    /// `seal run --python /usr/bin/python3` as the variant's user, in the project.
    pub fn seal(&self) -> Run {
        self.command(&self.v.seal, "seal")
            .args(&["run", "--python", PYTHON])
    }

    /// `seal run ... FLAGS -- python3 PROBE ARGS`
    pub fn seal_probe(&self, flags: &[&str], probe: &Path, args: &str) -> Run {
        self.seal()
            .args(flags)
            .args(&["--", "python3"])
            .arg(probe)
            .arg(args)
    }

    /// The positive control: the same probe directly (no seal), same user, environment and
    /// working directory.
    pub fn direct(&self, probe: &Path, args: &str) -> Output {
        self.command(Path::new(PYTHON), "direct python3 -I -S")
            .args(&["-I", "-S"])
            .arg(probe)
            .arg(args)
            .output()
    }

    /// A host command as the variant's user.
    pub fn host_command(&self, program: &str) -> Run {
        self.command(Path::new(program), program)
    }
}

// ---------------------------------------------------------------------------------------------
// Host facts

/// `MemTotal` of /proc/meminfo in bytes.
pub fn mem_total() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
