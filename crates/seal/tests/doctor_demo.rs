//! `seal doctor` and `seal demo`, as the calling user and (when that is root) as uid 65534.

mod support;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use support::cli::*;

/// A world-readable copy of the binary in a fresh 0755 directory, usable by any uid.
fn shared_binary() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bin = copy_binary(dir.path());
    (dir, bin)
}

#[test]
fn doctor_reports_the_protections_in_force() {
    let (dir, bin) = shared_binary();
    for uid in users() {
        let o = seal_output(&bin, uid, dir.path(), &["doctor"]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        for needle in [
            "user namespaces        allowed",
            "landlock               ABI",
            "isolation",
            "network",
        ] {
            assert!(t.contains(needle), "missing {needle:?}\n{t}");
        }
        let j = seal_output(&bin, uid, dir.path(), &["doctor", "--json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&j.stdout).expect("doctor --json is JSON");
        assert_eq!(v["facts"]["userns"]["allowed"], true, "{}", text(&j));
        assert!(v["isolation"].as_array().is_some_and(|a| a.len() == 4));
        // Tried in a throwaway namespace, not guessed: Linux lets user namespaces mount
        // overlayfs since 5.11.
        let kernel = v["facts"]["kernel"].as_str().unwrap_or("");
        let mut numbers = kernel
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        if (numbers.next(), numbers.next()) >= (Some(5), Some(11)) {
            assert_eq!(v["facts"]["overlay_in_userns"], true, "{}", text(&j));
            assert!(t.contains("overlayfs in a user namespace: yes"), "{t}");
        }
    }
}

/// Inside seal, user namespaces are unavailable (the sandbox sets its own
/// user.max_user_namespaces to 0 and seccomp refuses unshare): doctor must say so, name the
/// cause, give a remedy and exit non-zero, and `seal run` must refuse rather than run
/// unprotected.
#[test]
fn doctor_and_run_explain_blocked_user_namespaces_and_fall_back() {
    let (dir, bin) = shared_binary();
    for uid in users() {
        // `seal ARGS` run by a program inside `seal run`, where user namespaces are off.
        let inside = |args: &[&str]| {
            let mut all = vec![
                "run",
                "--python",
                "/usr/bin/python3",
                "--",
                bin.to_str().unwrap(),
            ];
            all.extend_from_slice(args);
            seal_output(&bin, uid, dir.path(), &all)
        };
        let o = inside(&["doctor"]);
        let t = text(&o);
        // Inside seal, Landlock and seccomp still work: the fallback is possible (exit 2).
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains("BLOCKED by sysctl user.max_user_namespaces=0"),
            "{t}"
        );
        assert!(
            t.contains("sudo sysctl -w user.max_user_namespaces="),
            "{t}"
        );
        assert!(t.contains("Landlock + seccomp FALLBACK"), "{t}");

        let nested = inside(&[
            "run",
            "--isolation",
            "namespaces",
            "--python",
            "/usr/bin/python3",
            "--",
            "/bin/echo",
            "RAN-UNPROTECTED",
        ]);
        let t = text(&nested);
        assert_eq!(nested.status.code(), Some(125), "{t}");
        assert!(!t.contains("RAN-UNPROTECTED"), "{t}");
        assert!(t.contains("cannot create the sandbox's namespaces"), "{t}");
        assert_eq!(
            String::from_utf8_lossy(&nested.stderr).lines().count(),
            1,
            "{t}"
        );

        // Without --isolation namespaces, the nested run falls back, and says so.
        let nested = inside(&[
            "run",
            "--python",
            "/usr/bin/python3",
            "--",
            "/bin/echo",
            "RAN-IN-FALLBACK",
        ]);
        let t = text(&nested);
        assert_eq!(nested.status.code(), Some(0), "{t}");
        assert!(t.contains("RAN-IN-FALLBACK"), "{t}");
        assert!(t.contains("seal: warning: degraded isolation"), "{t}");
    }
}

#[test]
fn demo_shows_what_the_sandbox_blocks() {
    let (dir, bin) = shared_binary();
    for uid in users() {
        let mut c = Command::new(&bin);
        c.args(["demo", "--python", "/usr/bin/python3"])
            .current_dir(dir.path())
            .env("PATH", "/usr/bin:/bin");
        if let Some(u) = uid {
            c.uid(u).gid(u).env("HOME", "/nonexistent");
        }
        assert_demo_isolates(&c.output().unwrap());
    }
}
