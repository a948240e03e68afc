//! `seal doctor`: what protects the user on this host, row by row, and how to fix what is
//! missing. Every fact is found by trying, not by guessing from versions alone.

use anyhow::Result;
use seal_sandbox::host_probe::{self, HostFacts, UsernsState};

use crate::cli::DoctorArgs;

struct Row {
    area: &'static str,
    run: String,
    install: String,
}

fn rows(f: &HostFacts) -> Vec<Row> {
    let root = f.uid == 0;
    if !f.userns.allowed && fallback_possible(f) {
        return fallback_rows(f);
    }
    if !f.userns.allowed {
        let refuse = "NONE: seal refuses to run: no user namespaces, and no Landlock + seccomp for the fallback (see remedies)".to_string();
        return ["file system", "network", "processes", "limits"]
            .into_iter()
            .map(|area| Row {
                area,
                run: refuse.clone(),
                install: refuse.clone(),
            })
            .collect();
    }
    let landlock = match &f.landlock_abi {
        Ok(abi) => format!("; Landlock ABI {abi} as a second layer"),
        Err(_) => "; no Landlock layer".into(),
    };
    let seccomp = if f.seccomp_filter {
        "seccomp deny-list"
    } else {
        "NO seccomp"
    };
    let v2 = |c: &str| f.cgroup_v2.as_ref().is_ok_and(|b| b.has(c));
    let v1 = |c: &str| root && f.cgroup_v1_controllers.iter().any(|x| x == c);
    let pids = if v2("pids") {
        "v2 pids cgroup"
    } else if !root {
        "RLIMIT_NPROC in the sandbox's user namespace"
    } else if v1("pids") {
        "v1 pids cgroup"
    } else if f.per_namespace_pid_max {
        "pid_max of the sandbox's PID namespace (N to N+299)"
    } else {
        "NOT ENFORCED for root on this host"
    };
    let memory = if v2("memory") {
        "--memory: v2 memory cgroup (whole sandbox, no swap) + RLIMIT_DATA"
    } else if v1("memory") {
        "--memory: v1 memory cgroup (whole sandbox) + RLIMIT_DATA"
    } else {
        "RLIMIT_DATA per process"
    };
    let cpus = if v2("cpu") {
        "v2 cpu cgroup quota + affinity"
    } else if v1("cpu") {
        "v1 cpu cgroup quota + affinity"
    } else {
        "CPU affinity (whole CPUs)"
    };
    let limits =
        format!("pids: {pids}; memory: {memory}; cpus: {cpus}; --timeout kills the PID namespace");
    vec![
        Row {
            area: "file system",
            run: format!("mount namespace, tmpfs root via pivot_root, read-only binds{landlock}"),
            install: format!("same; only the environment under construction is writable{landlock}"),
        },
        Row {
            area: "network",
            run: "own network namespace, loopback only".into(),
            install: "own network namespace; host-side proxy reaches only the index (SNI checked)"
                .into(),
        },
        Row {
            area: "processes",
            run: format!(
                "PID, IPC, UTS, cgroup namespaces; no capabilities; no_new_privs; {seccomp}"
            ),
            install: format!("same; {seccomp}"),
        },
        Row {
            area: "limits",
            run: limits.clone(),
            install: limits,
        },
    ]
}

/// The Landlock + seccomp fallback needs both.
fn fallback_possible(f: &HostFacts) -> bool {
    f.landlock_abi.is_ok() && f.seccomp_filter
}

/// What the fallback gives, and (last row) what it cannot stop, so the user can judge.
fn fallback_rows(f: &HostFacts) -> Vec<Row> {
    let abi = *f.landlock_abi.as_ref().unwrap_or(&0);
    let tcp = if abi >= 4 {
        "; Landlock also denies TCP bind/connect"
    } else {
        ""
    };
    let scopes = if abi >= 6 {
        "Landlock scopes signals and abstract Unix sockets to the sandbox"
    } else {
        "signals to your other processes NOT scoped (Landlock ABI < 6)"
    };
    vec![
        Row {
            area: "file system",
            run: "DEGRADED: Landlock grants on host paths: system files and project read-only, --in read-only, --out-live/--share writable, private HOME/TMPDIR; no /proc; staged --out and --in-copy unavailable"
                .into(),
            install: "DEGRADED: Landlock grants on host paths: system files read-only, the environment under construction (built in .seal, relocated to /seal/env) and private HOME/TMPDIR writable; never the project or your HOME".into(),
        },
        Row {
            area: "network",
            run: format!("seccomp denies socket() for every family (no TCP, UDP, Unix){tcp}"),
            install: "seccomp denies socket(); the download step gets connections only from seal's host-side proxy (through an inherited channel), which reaches only the index (SNI checked); build and install steps have none".into(),
        },
        Row {
            area: "processes",
            run: format!(
                "DEGRADED: runs as your uid, no PID namespace; {scopes}; ptrace of outside processes denied; no capabilities; no_new_privs; every descendant killed at exit"
            ),
            install: "same as run; chmod/chown are no-ops while package build code runs".into(),
        },
        Row {
            area: "limits",
            run: "pids: RLIMIT_NPROC (counts all your processes); memory: RLIMIT_DATA per process; cpus: affinity; disk: RLIMIT_FSIZE per file; --timeout kills every descendant"
                .into(),
            install: "memory: RLIMIT_DATA per process; --timeout kills every descendant of each step".into(),
        },
        Row {
            area: "not stopped",
            run: "stat, readlink and inotify of any path (Landlock does not cover metadata); \
                  utime of files you own outside the grants; the priority (renice), CPU affinity, ioprio of \
                  your other processes; no /dev/shm (multiprocessing locks fail); world-readable \
                  system files seal grants; a kernel bug in Landlock or seccomp is the only \
                  boundary; --publish and seal jupyter are unavailable"
                .into(),
            install: "the same as run, while the build code of --allow-sdist packages runs (the only package code an install runs)".into(),
        },
    ]
}

/// Where the AppArmor profile goes.
const APPARMOR_PROFILE_PATH: &str = "/etc/apparmor.d/seal";

/// packaging/apparmor/seal, written for the binary at `exe`.
fn apparmor_profile(exe: &str) -> String {
    include_str!("../../../../packaging/apparmor/seal").replace("/usr/local/bin/seal", exe)
}

/// This binary's path, as AppArmor matches it (symbolic links resolved).
fn own_binary() -> String {
    std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/seal".into())
}

fn remedies(f: &HostFacts) -> Vec<String> {
    let mut r = Vec::new();
    if let Some(by) = &f.userns.blocked_by {
        if by.contains("max_user_namespaces") {
            r.push("user namespaces are disabled: sudo sysctl -w user.max_user_namespaces=15000 (persist in /etc/sysctl.d/)".into());
        } else if by.contains("unprivileged_userns_clone") {
            r.push("unprivileged user namespaces are disabled: sudo sysctl -w kernel.unprivileged_userns_clone=1".into());
        } else if by.contains("AppArmor") {
            r.push(format!(
                "AppArmor gives user namespaces no capabilities unless a profile allows them: install seal's \
                 profile (for {exe}; again whenever the binary moves): \
                 seal doctor --apparmor-profile | sudo tee {APPARMOR_PROFILE_PATH} >/dev/null && sudo apparmor_parser -r {APPARMOR_PROFILE_PATH} \
                 (from a source checkout, for /usr/local/bin/seal: sudo install -m 644 packaging/apparmor/seal {APPARMOR_PROFILE_PATH} && sudo apparmor_parser -r {APPARMOR_PROFILE_PATH})",
                exe = own_binary()
            ));
            r.push(
                "there is no per-user alternative (only root loads AppArmor profiles); \
                 sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 lifts the restriction \
                 for every program on the host, which Ubuntu's default guards against"
                    .into(),
            );
        } else {
            r.push(format!(
                "user namespaces are refused ({by}); in a container, add to the runtime's default seccomp \
                 profile only what seal does inside its own user namespace: clone and unshare with \
                 CLONE_NEWUSER set, setns, and mount, umount2, pivot_root, mount_setattr, open_tree, \
                 move_mount (without CAP_SYS_ADMIN in the container the kernel allows these only in a \
                 user namespace the caller made); never run the container unconfined"
            ));
        }
    }
    if let Err(why) = &f.landlock_abi {
        r.push(format!(
            "Landlock is {why}: boot with it in the LSM list (e.g. lsm=landlock,lockdown,yama,apparmor,bpf)"
        ));
    }
    let v2_pids = f.cgroup_v2.as_ref().is_ok_and(|b| b.has("pids"));
    if f.uid == 0
        && !f.per_namespace_pid_max
        && !v2_pids
        && !f.cgroup_v1_controllers.iter().any(|c| c == "pids")
    {
        r.push("as root the --pids limit needs Linux 6.14+ or a pids cgroup controller".into());
    }
    r
}

pub fn run(args: DoctorArgs) -> Result<i32> {
    if args.apparmor_profile {
        print!("{}", apparmor_profile(&own_binary()));
        return Ok(0);
    }
    let f = host_probe::probe();
    let rows = rows(&f);
    let remedies = remedies(&f);
    if args.json {
        let v = serde_json::json!({
            "mode": mode(&f),
            "user_namespaces": userns_row(f.userns.state, f.userns.blocked_by.as_deref()),
            "facts": f,
            "isolation": rows.iter().map(|r| serde_json::json!({"area": r.area, "run": r.run, "install": r.install})).collect::<Vec<_>>(),
            "remedies": remedies,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit_code(&f));
    }
    println!("kernel                 {}", f.kernel);
    println!(
        "user                   uid {}{}",
        f.uid,
        if f.uid == 0 { " (root)" } else { "" }
    );
    println!(
        "user namespaces        {}",
        userns_row(f.userns.state, f.userns.blocked_by.as_deref())
    );
    println!(
        "landlock               {}",
        match &f.landlock_abi {
            Ok(abi) => format!("ABI {abi}"),
            Err(e) => format!("unavailable: {e}"),
        }
    );
    println!(
        "seccomp                {}, user notification {}",
        if f.seccomp_filter {
            "filters"
        } else {
            "NO filters"
        },
        if f.seccomp_user_notification {
            "yes (seal audit sees native code's calls)"
        } else {
            "no (seal audit sees Python-level events only)"
        }
    );
    println!(
        "cgroups                v1 controllers: {}; v2: {}",
        if f.cgroup_v1_controllers.is_empty() {
            "none".to_string()
        } else {
            f.cgroup_v1_controllers.join(", ")
        },
        match &f.cgroup_v2 {
            Ok(b) => format!(
                "runs get cgroups under {} ({}; {})",
                b.dir.display(),
                if b.delegated {
                    "delegated to this user"
                } else {
                    "root"
                },
                b.controllers.join(" ")
            ),
            Err(why) => format!("not used ({why})"),
        }
    );
    println!(
        "kernel features        per-namespace pid_max: {}; nosymfollow: {}; overlayfs in a user namespace: {} (not needed: seal's root is a tmpfs with read-only binds)",
        if f.per_namespace_pid_max { "yes" } else { "no" },
        if f.nosymfollow { "yes" } else { "no" },
        if f.overlay_in_userns { "yes" } else { "no" }
    );
    println!();
    println!(
        "mode                   {}",
        match mode(&f) {
            "namespaces" => "namespaces (full isolation)",
            "fallback" => "Landlock + seccomp FALLBACK (degraded; every run warns)",
            _ => "NONE: seal refuses to run here",
        }
    );
    println!("isolation              seal run / seal install");
    for r in &rows {
        println!("  {:<20} run:     {}", r.area, r.run);
        println!("  {:<20} install: {}", "", r.install);
    }
    if remedies.is_empty() {
        println!("\nnothing to fix");
    } else {
        println!("\nto fix:");
        for r in &remedies {
            println!("  - {r}");
        }
    }
    Ok(exit_code(&f))
}

/// The "user namespaces" line: allowed, allowed but useless, or blocked, and by what.
fn userns_row(state: UsernsState, by: Option<&str>) -> String {
    let by = by.unwrap_or("unknown");
    match state {
        UsernsState::Allowed => "allowed".into(),
        UsernsState::WithoutCapabilities if by.starts_with("AppArmor") => {
            "allowed but without capabilities (AppArmor restrict_unprivileged_userns): the namespace sandbox cannot run".into()
        }
        UsernsState::WithoutCapabilities => {
            format!("allowed but without capabilities ({by}): the namespace sandbox cannot run")
        }
        UsernsState::Blocked => format!("BLOCKED by {by}"),
    }
}

/// The isolation `seal run` will use here: "namespaces", "fallback" or "none".
fn mode(f: &HostFacts) -> &'static str {
    if f.userns.allowed {
        "namespaces"
    } else if fallback_possible(f) {
        "fallback"
    } else {
        "none"
    }
}

/// 0: full isolation; 2: only the degraded fallback; 1: seal cannot isolate here.
fn exit_code(f: &HostFacts) -> i32 {
    if f.userns.allowed {
        0
    } else if fallback_possible(f) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seal_sandbox::host_probe::UsernsFacts;

    /// An Ubuntu 24.04 desktop as an ordinary user: the namespace is created, the engine's
    /// first mount is refused, AppArmor's knob is on.
    fn ubuntu() -> HostFacts {
        HostFacts {
            kernel: "6.8.0-49-generic".into(),
            uid: 1000,
            userns: UsernsFacts {
                allowed: false,
                state: UsernsState::WithoutCapabilities,
                blocked_by: Some(
                    "AppArmor (kernel.apparmor_restrict_unprivileged_userns=1)".into(),
                ),
                refused_step: Some("writing the user namespace's id maps was refused".into()),
                max_user_namespaces: Some(63408),
                unprivileged_userns_clone: Some(1),
                apparmor_restrict_unprivileged_userns: Some(1),
            },
            landlock_abi: Ok(4),
            seccomp_filter: true,
            seccomp_user_notification: true,
            cgroup_v1_controllers: vec![],
            cgroup_v2: Err("no cgroup v2 hierarchy is mounted".into()),
            per_namespace_pid_max: false,
            nosymfollow: true,
            overlay_in_userns: false,
        }
    }

    #[test]
    fn ubuntu_names_apparmor_runs_the_fallback_and_gives_the_profile() {
        let f = ubuntu();
        assert_eq!(
            userns_row(f.userns.state, f.userns.blocked_by.as_deref()),
            "allowed but without capabilities (AppArmor restrict_unprivileged_userns): the namespace sandbox cannot run"
        );
        assert_eq!(mode(&f), "fallback");
        assert_eq!(exit_code(&f), 2);
        assert!(rows(&f)[0].run.starts_with("DEGRADED"));
        let r = remedies(&f).join("\n");
        assert!(
            r.contains("seal doctor --apparmor-profile | sudo tee /etc/apparmor.d/seal >/dev/null && sudo apparmor_parser -r /etc/apparmor.d/seal"),
            "{r}"
        );
        assert!(
            r.contains("sudo install -m 644 packaging/apparmor/seal /etc/apparmor.d/seal && sudo apparmor_parser -r /etc/apparmor.d/seal"),
            "{r}"
        );
        assert!(r.contains("no per-user alternative"), "{r}");
        assert!(!r.contains("seccomp=unconfined"), "{r}");
    }

    #[test]
    fn a_seccomp_policy_gets_the_narrow_container_remedy() {
        let mut f = ubuntu();
        f.userns.apparmor_restrict_unprivileged_userns = None;
        f.userns.blocked_by = Some(
            "mounting a tmpfs in the new mount namespace was refused (a container's seccomp policy or an LSM)"
                .into(),
        );
        assert!(userns_row(f.userns.state, f.userns.blocked_by.as_deref())
            .starts_with("allowed but without capabilities (mounting a tmpfs"));
        let r = remedies(&f).join("\n");
        assert!(r.contains("clone and unshare with CLONE_NEWUSER"), "{r}");
        assert!(
            !r.contains("unconfined,") && !r.contains("seccomp=unconfined"),
            "{r}"
        );
    }

    #[test]
    fn the_apparmor_profile_names_this_binary_and_grants_userns() {
        let p = apparmor_profile("/home/u/.cargo/bin/seal");
        assert!(
            p.contains("profile seal /home/u/.cargo/bin/seal flags=(unconfined) {"),
            "{p}"
        );
        assert!(p.contains("  userns,"), "{p}");
        assert!(!p.contains("/usr/local/bin/seal"), "{p}");
    }
}
