//! cgroup v1: one hierarchy per controller under /sys/fs/cgroup, usable by root.

use std::path::{Path, PathBuf};

const V1_ROOT: &str = "/sys/fs/cgroup";

/// The hierarchy of `controller`, if the host mounts one.
pub fn hierarchy(controller: &str) -> Option<PathBuf> {
    let p = Path::new(V1_ROOT).join(controller);
    p.join("tasks").exists().then_some(p)
}

pub fn pids_settings(n: u64) -> Vec<(&'static str, String)> {
    vec![("pids.max", n.to_string())]
}

pub fn memory_settings(bytes: u64) -> Vec<(&'static str, String)> {
    vec![("memory.limit_in_bytes", bytes.to_string())]
}

pub fn cpu_settings(quota: u64) -> Vec<(&'static str, String)> {
    vec![
        ("cpu.cfs_period_us", "100000".into()),
        ("cpu.cfs_quota_us", quota.to_string()),
    ]
}
