//! Kernel-facing restrictions: capabilities, no_new_privs, seccomp, RLIMIT_CORE, the
//! denied system calls and ioctls, host-global /proc knobs, the UTS namespace.
//!
//! Every attempt here is harmless if it succeeded: keyctl only looks a keyring up, io_uring
//! only creates a ring, unshare/clone/mount happen in a throwaway child (mounts in a private
//! namespace, onto a test-owned empty directory), TIOCSTI targets a pty the probe owns or the
//! test's own pty, host-global files are opened for writing and closed without a write.

mod support;

use support::isolation::probes::{self, Mode, NO_CAPS};
use support::isolation::*;

const STATUS: &str = include_str!("probes/isolation_kernel/status.py");

/// (inside, direct) results of the status probe.
fn status(env: &TestEnv) -> (Probe, Probe) {
    let probe = env.probe("status", STATUS);
    let inside = Mode::Namespaces.run_ok(env, &probe, "{}", &[]);
    (inside.probe(), env.direct_ok(&probe, "{}"))
}

#[test]
fn rlimit_core_is_zero() {
    each_variant(|v| {
        let env = TestEnv::new(v, "rlimit-core");
        let (p, c) = status(&env);
        p.expect_eq("rlimit_core", "0,0");
        // Positive control: the seal process (and the direct run) start with the soft limit
        // raised to the hard one, so 0 inside is seal's doing.
        if c.get("rlimit_core") == "0,0" {
            eprintln!("NOTE: the host's hard RLIMIT_CORE is 0: the check cannot discriminate");
        } else {
            c.expect_not_in("rlimit_core", &["0,0"]);
        }
    });
}

#[test]
fn no_capabilities_at_all() {
    each_variant(|v| {
        let env = TestEnv::new(v, "caps");
        let (p, c) = status(&env);
        for f in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
            p.expect_eq(f, NO_CAPS);
        }
        if v.is_root() {
            c.expect_not_in("CapEff", &[NO_CAPS]);
            c.expect_not_in("CapBnd", &[NO_CAPS]);
        } else {
            // An unprivileged process has no effective capabilities to begin with, but its
            // bounding set is full: seal empties it.
            c.expect_not_in("CapBnd", &[NO_CAPS]);
        }
    });
}

#[test]
fn no_new_privs_is_set() {
    each_variant(|v| {
        let env = TestEnv::new(v, "nnp");
        let (p, c) = status(&env);
        p.expect_eq("NoNewPrivs", "1");
        c.expect_eq("NoNewPrivs", "0");
    });
}

#[test]
fn seccomp_filter_is_active() {
    each_variant(|v| {
        let env = TestEnv::new(v, "seccomp");
        let (p, c) = status(&env);
        p.expect_eq("Seccomp", "2");
        let inside: u32 = p.get("Seccomp_filters").parse().unwrap();
        let host: u32 = c.get("Seccomp_filters").parse().unwrap();
        assert!(
            inside > host,
            "Seccomp_filters inside {inside}, without seal {host}"
        );
        c.expect_eq("Seccomp", "0");
    });
}

#[test]
fn program_runs_as_uid_and_gid_1000_without_groups() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ids");
        let (p, c) = status(&env);
        p.expect_eq("Uid", "1000\t1000\t1000\t1000");
        p.expect_eq("Gid", "1000\t1000\t1000\t1000");
        p.expect_eq("Groups", "");
        c.expect_contains("Uid", &v.uid.to_string());
    });
}

#[test]
fn keyctl_and_io_uring_setup_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "keyctl-iouring");
        let probe = env.probe("keyctl_iouring", probes::KEYCTL_IO_URING);
        let p = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("keyctl", "EPERM");
        p.expect_eq("io_uring_setup", "EPERM");

        // Positive control: both work without seal (io_uring unless the host disables it).
        let c = env.direct_ok(&probe, "{}");
        c.expect_eq("keyctl", "OK");
        let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .map(|s| s.trim() != "0")
            .unwrap_or(false);
        if disabled {
            eprintln!("NOTE: io_uring is disabled on this host: its control cannot discriminate");
        } else {
            c.expect_eq("io_uring_setup", "OK");
        }
    });
}

const TERMINAL_IOCTLS: &str = include_str!("probes/isolation_kernel/terminal_ioctls.py");

#[test]
fn terminal_injection_ioctls_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tiocsti");
        let probe = env.probe("terminal_ioctls", TERMINAL_IOCTLS);
        let p = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("tiocsti_own_pty", "EPERM");
        p.expect_eq("tioclinux", "EPERM");

        // Positive control: without seal TIOCSTI into the probe's own controlling pty works
        // (EIO if the host disabled legacy TIOCSTI for unprivileged users); TIOCLINUX reaches
        // the pty driver, which does not know it.
        let c = env.direct_ok(&probe, "{}");
        if v.is_root() {
            c.expect_eq("tiocsti_own_pty", "OK");
        } else {
            c.expect_in("tiocsti_own_pty", &["OK", "EIO"]);
        }
        c.expect_not_in("tioclinux", &["EPERM", "OK"]);
    });
}

/// The real attack (CVE-2017-5226): push characters into the input of the user's terminal,
/// which their shell reads after the program ends. Here seal runs on a pty the test holds.
#[test]
fn tiocsti_on_the_controlling_terminal_is_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tiocsti-ctty");
        probes::tiocsti_on_the_controlling_terminal_is_refused(&env, Mode::Namespaces);
    });
}

const NAMESPACES: &str = include_str!("probes/isolation_kernel/namespaces.py");

#[test]
fn new_namespaces_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "unshare");
        let probe = env.probe("namespaces", NAMESPACES);
        let p = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("unshare_newuser", "EPERM");
        p.expect_eq("clone_newuser", "EPERM");
        // clone3's flags live in memory seccomp cannot read: it is answered ENOSYS so that
        // libc falls back to clone, whose flags are checked.
        p.expect_eq("clone3", "ENOSYS");

        let c = env.direct_ok(&probe, "{}");
        c.expect_eq("unshare_newuser", "OK");
        c.expect_eq("clone_newuser", "OK");
        c.expect_not_in("clone3", &["ENOSYS"]);
    });
}

const MOUNT: &str = include_str!("probes/isolation_kernel/mount.py");

#[test]
fn mount_is_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "mount");
        let target = env.out.join("mnt");
        env.mkdir_owned(&target, 0o755);
        let probe = env.probe("mount", MOUNT);
        let args = jobj(&[("target", jpath(&target))]);

        let p = Mode::Namespaces
            .run_ok(&env, &probe, &args, &["--out", env.out.to_str().unwrap()])
            .probe();
        p.expect_eq("mount", "EPERM");
        p.expect_eq("fsopen", "EPERM");

        // Positive control: in its own user+mount namespace the probe may mount.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("mount", "OK");
        c.expect_eq("fsopen", "OK");
        // And nothing stayed mounted on the host.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(target.to_str().unwrap()));
    });
}

const MORE_SYSCALLS: &str = include_str!("probes/isolation_kernel/more_syscalls.py");

#[test]
fn bpf_perf_userfaultfd_and_vsock_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "more-syscalls");
        let probe = env.probe("more_syscalls", MORE_SYSCALLS);
        let p = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("bpf", "EPERM");
        p.expect_eq("perf_event_open", "EPERM");
        p.expect_eq("userfaultfd", "EPERM");
        p.expect_eq("vsock", "EAFNOSUPPORT");

        // Positive control (as root the kernel itself lets every call through to argument
        // checking; unprivileged, the host's sysctls may already refuse some).
        let c = env.direct_ok(&probe, "{}");
        if v.is_root() {
            c.expect_not_in("bpf", &["EPERM"]);
            c.expect_not_in("perf_event_open", &["EPERM"]);
            c.expect_eq("userfaultfd", "OK");
        }
        eprintln!("host vsock: {}", c.get("vsock"));
    });
}

#[test]
fn host_global_proc_knobs_are_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "proc-knobs");
        let mut targets = Vec::new();
        for t in [
            "/proc/sys/kernel/core_pattern",
            "/proc/sysrq-trigger",
            "/proc/sys/kernel/modprobe",
            "/proc/sys/vm/drop_caches",
        ] {
            if std::path::Path::new(t).exists() {
                targets.push(t);
            } else {
                eprintln!("NOTE: this host has no {t}: not checked");
            }
        }
        assert!(targets.contains(&"/proc/sys/kernel/core_pattern"));
        let probe = env.probe("proc_knobs", probes::WRITE_TARGETS);
        let args = jobj(&[("targets", jarr(&targets))]);
        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        probes::expect_targets_unwritable(&p, &targets, &["EROFS", "EACCES"]);

        // Positive control: as root they open for writing (nothing is written); as an
        // unprivileged user the host's permissions already refuse.
        probes::expect_targets_as_the_host_allows(&env.direct_ok(&probe, &args), v, &targets);
    });
}

const HOSTNAME: &str = include_str!("probes/isolation_kernel/hostname.py");

#[test]
fn hostname_is_sandbox() {
    each_variant(|v| {
        let env = TestEnv::new(v, "hostname");
        let probe = env.probe("hostname", HOSTNAME);
        let inside = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]);
        let p = inside.probe();
        p.expect_eq("gethostname", "sandbox");
        p.expect_eq("nodename", "sandbox");
        p.expect_eq("proc_hostname", "sandbox");

        let host = env.direct_ok(&probe, "{}").get("gethostname").to_string();
        if host == "sandbox" {
            eprintln!("NOTE: the host is called `sandbox`: the check cannot discriminate");
        }
        // The host's name must not leak in.
        assert!(!inside.stdout.contains(&format!("\t{host}\n")) || host == "sandbox");
    });
}
