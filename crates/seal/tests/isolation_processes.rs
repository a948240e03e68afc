//! Process isolation: host processes invisible and untouchable, nothing outlives the program,
//! memfd payloads stay inside, fork bombs stop at the PIDs limit.

mod support;

use support::isolation::probes::{self, Mode};
use support::isolation::*;

const PROC_VIEW: &str = include_str!("probes/isolation_processes/proc_view.py");

#[test]
fn host_processes_are_invisible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "proc-view");
        let needle = format!("sleeper-{}", env.nonce);
        let sleeper = host_sleeper(&env, &needle, &format!("{}-hostproc", env.tag));
        let probe = env.probe("proc_view", PROC_VIEW);
        let needle_hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
        let args = jobj(&[
            ("needle_hex", jstr(&needle_hex)),
            ("host_pid", sleeper.pid().to_string()),
        ]);

        let inside = Mode::Namespaces.run_ok(&env, &probe, &args, &[]);
        let p = inside.probe();
        p.expect_eq("host_pid_visible", "no");
        p.expect_eq("host_environ", "ENOENT");
        p.expect_eq("host_mem", "ENOENT");
        p.expect_eq("leaks", "");
        // /proc/1 inside is seal's init: a copy of seal, whose environment holds the canaries.
        // It must not be readable by the program (or hold nothing).
        p.expect_in("init_environ", &["EACCES", "EPERM", "readable:clean"]);
        let count: usize = p.get("pid_count").parse().unwrap();
        assert!(
            count <= 5,
            "the sandbox sees {count} processes\n{}",
            inside.describe()
        );

        // Positive control: without seal the sleeper and its secret are right there.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("host_pid_visible", "yes");
        c.expect_eq("host_environ", "canary");
        c.expect_contains("leaks", &format!("{}/environ", sleeper.pid()));
        c.expect_eq("host_mem", "OK");
    });
}

#[test]
fn ptrace_and_process_vm_readv_of_a_host_process_fail() {
    // The host sleeper is not in the sandbox's PID namespace (ESRCH), or seccomp refuses.
    each_variant(|v| {
        let env = TestEnv::new(v, "ptrace");
        probes::ptrace_and_vm_read_are_refused(&env, Mode::Namespaces, &["EPERM", "ESRCH"]);
    });
}

#[test]
fn setsid_double_fork_survivor_dies_with_the_program() {
    each_variant(|v| {
        probes::survivor_dies_with_the_run(&TestEnv::new(v, "survivor"), Mode::Namespaces);
    });
}

/// Decision: seal does not need to refuse memfd_create+execve (numerical and JIT libraries
/// use memfds, and a deny-list cannot tell a payload from a library). What matters is that
/// a payload executed from memory inherits every restriction of the sandbox. So: either the
/// exec is refused cleanly (EPERM/EACCES), or the payload runs and is still fully contained:
/// no canary, no host network, same seccomp filter, no capabilities.
#[test]
fn memfd_exec_payload_is_still_sandboxed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "memfd");
        let expect = probes::MemfdExpect {
            refusable: &["memfd_create", "memfd_exec"],
            uid: "1000".into(),
            read_host_path: &["ENOENT", "EACCES"],
            read_tilde: &["ENOENT", "EACCES"],
            tcp: &["ECONNREFUSED", "ENETUNREACH"],
        };
        probes::memfd_payload_is_still_sandboxed(&env, Mode::Namespaces, &expect);
    });
}

#[test]
fn fork_bomb_is_stopped_by_the_pids_limit() {
    each_variant(|v| {
        let env = TestEnv::new(v, "forkbomb");
        probes::fork_bomb_is_stopped(&env, Mode::Namespaces, 64, 100);
    });
}

#[test]
fn every_sandbox_process_dies_when_seal_is_killed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sigkill-seal");
        probes::killing_seal_kills_every_sandbox_process(&env, Mode::Namespaces);
    });
}
