//! Small utilities: randomness, modes, polling, JSON literals, directory walks, host processes.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

pub fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("reading /dev/urandom");
    b
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Copy an executable with `cp`, not in this process: a child that another test thread forks
/// inherits every descriptor open at that moment until it execs, and executing a file still
/// open for writing somewhere fails with ETXTBSY ("Text file busy"). The copy keeps the
/// source's mode bits only as far as `cp` does; set the mode afterwards.
pub fn copy_executable(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("--")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap_or_else(|e| panic!("running cp {} {}: {e}", src.display(), dst.display()));
    assert!(
        st.success(),
        "cp {} {} failed: {st}",
        src.display(),
        dst.display()
    );
}

/// Print on the real stderr, past the test harness's output capture: for skips and
/// degraded checks that must be seen even when the test passes.
pub fn loud(msg: &str) {
    let _ = writeln!(io::stderr(), "{msg}");
}

/// `lines` (each starting with `!!! `) between two rows of `!`, after an empty line: the frame
/// of the notices no one should miss (skipped variants, skipped tests).
pub fn bang_frame(lines: &str) -> String {
    let row = "!".repeat(78);
    format!("\n{row}\n{lines}\n{row}")
}

pub fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "(non-string panic)".into()
    }
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// A `--timeout`, in whole seconds, for a test that must see its program at work before the
/// timeout kills it: `min_s`, or four times `startup` (how long a warm-up run of the same kind
/// took here to do what the program does before the test looks) where that is longer, as on
/// an emulated VM or a loaded host. A fixed timeout there races the program's start. Says so
/// (a `NOTE:`) when it is longer than `min_s`.
pub fn timeout_after_startup(variant: &str, startup: Duration, min_s: u64) -> u64 {
    let s = (4 * startup.as_millis() as u64).div_ceil(1000).max(min_s);
    if s > min_s {
        loud(&format!(
            "NOTE: [{variant}] a warm-up run took {startup:?} here: --timeout {s}s instead of \
             {min_s}s, so that the program is seen at work before it expires"
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// JSON literals (probe arguments, policy files)

/// A JSON string literal.
pub fn jstr(s: impl AsRef<str>) -> String {
    serde_json::Value::String(s.as_ref().to_string()).to_string()
}

/// A JSON path string.
pub fn jpath(p: &Path) -> String {
    jstr(p.to_str().expect("test paths are UTF-8"))
}

/// A JSON object from already-encoded values.
pub fn jobj(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", jstr(k), v))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// A JSON array of strings.
pub fn jarr<S: AsRef<str>>(items: &[S]) -> String {
    let body: Vec<String> = items.iter().map(jstr).collect();
    format!("[{}]", body.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Directory trees

/// Every path below `root` (relative), depth first with the entries of each directory sorted
/// (which is also the sorted order of the paths), not following links; what cannot be read is
/// left out.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    fn go(root: &Path, rel: &Path, acc: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(root.join(rel)) else {
            return;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            acc.push(r.clone());
            if fs::symlink_metadata(root.join(&r)).is_ok_and(|m| m.is_dir()) {
                go(root, &r, acc);
            }
        }
    }
    let mut acc = Vec::new();
    go(root, Path::new(""), &mut acc);
    acc
}

// ---------------------------------------------------------------------------------------------
// Host processes

/// Host processes (other than this one) whose command line contains `marker`.
pub fn procs_with_marker(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) {
            found.push((pid, text));
        }
    }
    found
}

/// Wait up to `timeout` for every host process carrying `marker` to be gone; returns those
/// still there.
pub fn wait_procs_gone(marker: &str, timeout: Duration) -> Vec<(i32, String)> {
    let mut left = Vec::new();
    wait_until(timeout, || {
        left = procs_with_marker(marker);
        left.is_empty()
    });
    left
}

/// Kill (SIGKILL) every host process carrying `marker` (cleanup after positive controls).
pub fn kill_marked(marker: &str) {
    for (pid, _) in procs_with_marker(marker) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Wait up to `timeout` for every host process carrying `marker` to be gone; fails (after
/// killing them) if some are left.
pub fn assert_procs_gone(marker: &str, timeout: Duration, what: &str) {
    let left = wait_procs_gone(marker, timeout);
    if !left.is_empty() {
        let n = left.len();
        for (pid, _) in &left {
            // SAFETY: kill has no memory-safety preconditions; only processes carrying this
            // test's unique marker are signalled.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        panic!(
            "{what}: {n} process(es) carrying the marker {marker} outlived seal: {:?}",
            &left[..n.min(5)]
        );
    }
}
