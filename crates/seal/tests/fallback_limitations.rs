//! What the Landlock + seccomp fallback does NOT stop, asserted as documented (the module
//! documentation of seal-sandbox's fallback, its `general_limitations()` and `/dev` note, and
//! the rows of `seal doctor`): when one of these tests fails, the documentation and doctor must
//! change with the behaviour. Every run is under tests/support/no_userns.py, in auto mode.
//!
//! Harmless if the sandbox failed: the only process touched is a sleeper the test started, and
//! the only files are test-owned.

mod support;

use std::fs;
use std::os::unix::fs::symlink;

use support::isolation::probes::{self, Mode};
use support::isolation::*;

const IDENTITY: &str = include_str!("probes/fallback_limitations/identity.py");

/// "identity: the program runs as your own uid with the host's hostname; the spec's uid, gid
/// and hostname do not apply" (doctor: "runs as your uid").
#[test]
fn the_program_runs_as_the_callers_uid_with_the_hosts_hostname() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-identity");
        let probe = env.probe("identity", IDENTITY);

        let p = Mode::Fallback.run_ok(&env, &probe, "{}", &[]).probe();

        // The same as without seal.
        let c = env.direct_ok(&probe, "{}");
        for k in ["uid", "gid", "euid", "hostname"] {
            p.expect_eq(k, c.get(k));
        }
        p.expect_eq("uid", &v.uid.to_string());
        p.expect_eq("gid", &v.gid.to_string());
    });
}

const STAT_OUTSIDE: &str = include_str!("probes/fallback_limitations/stat_outside.py");

/// "files: Landlock does not govern stat, readlink or inotify, so the program can learn which
/// paths exist anywhere, with their sizes and times": metadata of a known path and the target
/// of a link leak; contents and directory listings do not.
#[test]
fn stat_and_readlink_outside_the_grants_still_work() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-stat");
        let link = env.home.join("link-to-key");
        symlink(env.home.join(".ssh/id_rsa"), &link).unwrap();
        let probe = env.probe("stat_outside", STAT_OUTSIDE);
        let args = jobj(&[("host_home", jpath(&env.home)), ("link", jpath(&link))]);
        let size = fs::metadata(env.home.join(".ssh/id_rsa")).unwrap().len();

        let p = Mode::Fallback.run_ok(&env, &probe, &args, &[]).probe();
        // Not stopped (documented):
        p.expect_eq("stat_size", &size.to_string());
        p.expect_eq("exists_key", "yes");
        p.expect_eq("exists_missing", "no");
        p.expect_eq("readlink", env.home.join(".ssh/id_rsa").to_str().unwrap());
        // Stopped:
        p.expect_eq("read", "EACCES");
        p.expect_eq("listdir", "EACCES");

        // Control: without seal, all of it.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("stat_size", &size.to_string());
        c.expect_eq("read", &env.canary_file_content(".ssh/id_rsa"));
        c.expect_eq("listdir", "id_rsa");
    });
}

const SHM: &str = include_str!("probes/fallback_limitations/shm.py");

/// "/dev: ... no /dev/shm (it is the host's, shared with the user's other programs, so POSIX
/// semaphores and multiprocessing locks fail)".
#[test]
fn dev_shm_is_absent_so_multiprocessing_locks_fail() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-shm");
        let probe = env.probe("shm", SHM);
        let args = jobj(&[("nonce", jstr(&env.nonce))]);

        let p = Mode::Fallback.run_ok(&env, &probe, &args, &[]).probe();
        for k in ["ls_dev_shm", "lock", "pool", "shm_file"] {
            p.expect_eq(k, "EACCES");
        }

        // Control: the host's /dev/shm works without seal.
        let c = env.direct_ok(&probe, &args);
        for k in ["lock", "pool", "shm_file"] {
            c.expect_eq(k, "OK");
        }
    });
}

/// After [`probes::LOOPBACK_ECHO`].
const SOCKETPAIRS: &str = include_str!("probes/fallback_limitations/socketpairs.py");

/// "network: none; socket() is refused for every family, loopback included" (doctor: "seccomp
/// denies socket() for every family"); seccomp's own description: "socketpair only for AF_UNIX
/// stream/seqpacket". A test server on the program's own loopback cannot run.
#[test]
fn no_network_at_all_not_even_the_programs_own_loopback() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-loopback");
        let probe = env.probe(
            "loopback",
            &format!("{}{SOCKETPAIRS}", probes::LOOPBACK_ECHO),
        );

        let p = Mode::Fallback.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("loopback_echo", "EACCES");
        p.expect_eq("unix_dgram_pair", "EACCES");
        p.expect_eq("unix_stream_pair", "pong");

        let c = env.direct_ok(&probe, "{}");
        c.expect_eq("loopback_echo", "ping");
        c.expect_eq("unix_dgram_pair", "OK");
    });
}

const OWN_PROC: &str = include_str!("probes/fallback_limitations/own_proc.py");

/// "There is no /proc at all" (doctor: "no /proc"): not even the program's own entries.
#[test]
fn there_is_no_proc_even_for_the_program_itself() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-proc");
        let probe = env.probe("own_proc", OWN_PROC);

        let p = Mode::Fallback.run_ok(&env, &probe, "{}", &[]).probe();
        p.expect_eq("self_status", "EACCES");
        p.expect_eq("cpuinfo", "EACCES");
        // What does not need /proc still works.
        p.expect_eq("cpu_count", "OK");

        env.direct_ok(&probe, "{}")
            .expect_contains("self_status", "Name:");
    });
}

const PRIORITY: &str = include_str!("probes/fallback_limitations/priority.py");

/// Nice value of a host process, from the test's own view of /proc.
fn nice_of(pid: i32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses); nice is field 19.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

/// "processes: your other processes are out of reach of signals, ptrace, /proc and prlimit,
/// but their scheduling priority and CPU affinity can still be lowered". Raising it stays
/// refused (no capabilities). As root the kernel itself refuses even lowering it, since the
/// target holds capabilities the program has not got (commoncap's cap_safe_nice).
#[test]
fn host_processes_can_still_be_reniced_unless_they_hold_capabilities() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-priority");
        let sleeper = host_sleeper(&env, &format!("sleeper-{}", env.nonce), "x");
        let probe = env.probe("priority", PRIORITY);
        let args = jobj(&[("host_pid", sleeper.pid().to_string())]);
        assert!(
            nice_of(sleeper.pid()) < 19,
            "the sleeper starts at the lowest priority"
        );

        let p = Mode::Fallback.run_ok(&env, &probe, &args, &[]).probe();
        p.expect_in("raise_host_sleeper", &["EACCES", "EPERM"]);
        if v.is_root() {
            p.expect_eq("renice_host_sleeper", "EPERM");
            assert!(nice_of(sleeper.pid()) < 19);
        } else {
            p.expect_eq("renice_host_sleeper", "OK");
            assert_eq!(
                nice_of(sleeper.pid()),
                19,
                "the documented renice had no effect"
            );
        }

        // Control: as root, without seal, the priority can also be raised.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("renice_host_sleeper", "OK");
        if v.is_root() {
            c.expect_eq("raise_host_sleeper", "OK");
        }
    });
}

const LIVE_LINK: &str = include_str!("probes/fallback_limitations/live_link.py");

/// "--out-live DIR: symbolic links in it are followed (nosymfollow needs a mount; Landlock
/// still checks what they lead to)", and as in the namespace mode, links the program creates
/// in an --out-live directory reach the host as they are (README: --out-live).
#[test]
fn links_created_in_out_live_reach_the_host_as_they_are() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-live-link");
        let target = env.home.join(".ssh/id_rsa");
        let probe = env.probe("live_link", LIVE_LINK);
        let args = jobj(&[("live", jpath(&env.out)), ("target", jpath(&target))]);

        Mode::Fallback
            .run_ok(
                &env,
                &probe,
                &args,
                &["--out-live", env.out.to_str().unwrap()],
            )
            .probe()
            .expect_eq("plant_link", "OK");
        let planted = env.out.join("planted-link");
        assert_eq!(fs::read_link(&planted).unwrap(), target);
    });
}

const MODES_AND_TIMES: &str = include_str!("probes/fallback_limitations/modes_and_times.py");

/// "chmod and chown are no-ops answering success (Landlock does not govern them either), so
/// no mode changes, in the writable paths too: a file the program writes cannot be made
/// executable"; "nor utime: it can change the times of files you own, even outside the
/// granted paths".
#[test]
fn chmod_is_a_no_op_but_utime_outside_the_grants_still_works() {
    use std::os::unix::fs::MetadataExt;
    each_variant(|v| {
        let env = TestEnv::new(v, "fbdoc-modes");
        let outside = env.home.join(".ssh/id_rsa");
        let probe = env.probe("modes_times", MODES_AND_TIMES);
        let args = jobj(&[("outside", jpath(&outside)), ("live", jpath(&env.out))]);
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&outside), 0o600);

        let p = Mode::Fallback
            .run_ok(
                &env,
                &probe,
                &args,
                &["--out-live", env.out.to_str().unwrap()],
            )
            .probe();
        // Stopped: success is answered, nothing changes.
        p.expect_eq("chmod_outside", "OK");
        assert_eq!(
            mode(&outside),
            0o600,
            "chmod outside the grants changed the host file"
        );
        p.expect_eq("chmod_own_file", "0o644");
        assert_eq!(mode(&env.out.join("script.sh")) & 0o111, 0);
        // Not stopped (documented): the times change.
        p.expect_eq("utime_outside", "OK");
        assert_eq!(fs::metadata(&outside).unwrap().mtime(), 1_000_000_000);

        // Control: without seal chmod works.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("chmod_own_file", "0o755");
        assert_eq!(mode(&outside), 0o644);
    });
}
