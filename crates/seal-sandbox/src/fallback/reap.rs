//! Ending every process of a fallback run. Without a PID namespace nothing dies with the
//! program, so the keeper (a child subreaper, of which every orphaned descendant becomes a
//! child) kills its children until it has none left.

use std::fs;
use std::io;
use std::time::Duration;

use crate::sys::{self, fallback as fsys};

/// How many times in a row children may exist that /proc does not show before giving up:
/// only a host without /proc gets there, and hanging for ever would be worse.
const BLIND_ROUNDS: u32 = 500;

/// Children of this (single-threaded) process.
fn children() -> Vec<libc::pid_t> {
    let me = fsys::getpid();
    let listed = fs::read_to_string(format!("/proc/{me}/task/{me}/children"));
    match listed {
        Ok(s) => s
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        // Kernels built without CONFIG_PROC_CHILDREN: every process's parent, the slow way.
        Err(_) => children_by_scan(me),
    }
}

/// Children of process `parent`, found by reading every process's parent in /proc.
pub(super) fn children_by_scan(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_in_stat(&stat))
                == Some(parent)
        })
        .collect()
}

/// The ppid field of /proc/PID/stat. The command name before it is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted from the last `)`.
fn parent_in_stat(stat: &str) -> Option<libc::pid_t> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILL every descendant and reap them all. Each round kills the current children, whose
/// own children the kernel then hands to us, and waits for one to end, until none is left:
/// no descendant can leave the subtree of a subreaper.
pub fn kill_all_descendants() {
    let mut blind = 0;
    loop {
        let kids = children();
        if kids.is_empty() {
            match sys::waitpid(-1, true) {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    blind += 1;
                    if blind > BLIND_ROUNDS {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // ECHILD: nothing left
            }
        }
        blind = 0;
        for pid in kids {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        match sys::waitpid(-1, false) {
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return,
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_field_after_odd_command_names() {
        assert_eq!(parent_in_stat("42 (sleep) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (a) b (c) S 9 1 1"), Some(9));
        assert_eq!(parent_in_stat("garbage"), None);
    }
}
