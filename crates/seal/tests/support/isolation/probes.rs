//! The probes the namespace-mode tests (isolation_*.rs) and the fallback-mode tests
//! (fallback_*.rs) have in common: one implementation of each probe script, of its setup and of
//! the assertions both modes make, parameterised by the [`Mode`] seal runs in and by the errnos
//! where the two modes legitimately differ (what a namespace hides, ENOENT, Landlock refuses,
//! EACCES). A test that is the same in both modes but for that is one function here, called by
//! a test of each file under that file's own name; what only one mode asserts stays in its file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

// ---------------------------------------------------------------------------------------------
// The mode: which sandbox seal runs the probe in

/// The sandbox `seal run` is expected to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The namespace sandbox: seal as it is, on this host (which allows user namespaces).
    Namespaces,
    /// The Landlock + seccomp fallback: seal under no_userns.py (see [`no_userns_wrapper`]),
    /// choosing the fallback by itself (auto mode).
    Fallback,
    /// The fallback chosen on a simulated Ubuntu 23.10+ host, where user namespaces are
    /// created without capabilities (`no_userns.py --without-caps`).
    UbuntuFallback,
}

impl Mode {
    /// `seal run --python /usr/bin/python3` in this mode ([`TestEnv::seal`] or
    /// [`TestEnv::seal_no_userns`]). Add flags, then `--` and the program.
    pub fn seal(self, env: &TestEnv) -> Run {
        match self {
            Mode::Namespaces => env.seal(),
            Mode::Fallback => env.seal_no_userns(),
            Mode::UbuntuFallback => env.seal_userns_without_caps(),
        }
    }

    /// A finished run used this mode: in the fallback, seal chose it by itself and said so
    /// once ([`assert_fell_back`]). Nothing to check in the namespace mode.
    pub fn assert_mode(self, out: &Output) {
        if self != Mode::Namespaces {
            assert_fell_back(out);
        } else {
            assert!(
                !out.stderr.contains(DEGRADED_WARNING),
                "the namespace sandbox fell back: {}",
                out.describe()
            );
        }
    }

    /// Run a probe in seal: `seal run FLAGS -- /path/probe.py ARGS_JSON`. No canary may appear
    /// in what it printed.
    pub fn run(self, env: &TestEnv, probe: &Path, args: &str, flags: &[&str]) -> Output {
        let out = self
            .seal(env)
            .args(flags)
            .arg("--")
            .arg(probe)
            .arg(args)
            .output();
        env.assert_no_canary(&out);
        out
    }

    /// [`Mode::run`], which must succeed, in this mode ([`Mode::assert_mode`]).
    pub fn run_ok(self, env: &TestEnv, probe: &Path, args: &str, flags: &[&str]) -> Output {
        let out = self.run(env, probe, args, flags);
        out.expect_success();
        self.assert_mode(&out);
        out
    }
}

/// No capabilities, as /proc/PID/status and [`PRIVILEGES`] show them.
pub const NO_CAPS: &str = "0000000000000000";

/// Defines `put_privileges(prefix)`: puts `no_new_privs`, `seccomp_mode`, `cap_eff` and
/// `cap_prm` (each after `prefix`) without /proc, which the fallback has not got. The
/// capability sets are formatted as /proc/PID/status shows them; they are left out if capget
/// fails.
pub const PRIVILEGES: &str = include_str!("probes/privileges.py");

// ---------------------------------------------------------------------------------------------
// Files

/// Every canary file, read through `~` ("tilde:REL") and through the host path of HOME
/// ("abs:REL").
const READ_CANARIES: &str = include_str!("probes/read_canaries.py");

/// The canary-file probe with `extra` (more attempts) after it, and its arguments.
pub fn read_canaries_probe(env: &TestEnv, extra: &str) -> (PathBuf, String) {
    let probe = env.probe("read_canaries", &format!("{READ_CANARIES}{extra}"));
    let args = jobj(&[
        ("files", jarr(CANARY_FILES)),
        ("host_home", jpath(&env.home)),
    ]);
    (probe, args)
}

/// No canary file was read: through `~` the read failed with one of `tilde`, through the
/// host path with one of `abs`.
pub fn expect_canaries_unread(p: &Probe, tilde: &[&str], abs: &[&str]) {
    for rel in CANARY_FILES {
        p.expect_in(&format!("tilde:{rel}"), tilde);
        p.expect_in(&format!("abs:{rel}"), abs);
    }
}

/// Positive control: every canary file was read, both ways.
pub fn expect_canaries_read(c: &Probe, env: &TestEnv) {
    for rel in CANARY_FILES {
        c.expect_eq(&format!("tilde:{rel}"), &env.canary_file_content(rel));
        c.expect_eq(&format!("abs:{rel}"), &env.canary_file_content(rel));
    }
}

/// Writes of every kind into the project (the working directory).
const WRITE_PROJECT: &str = include_str!("probes/write_project.py");

/// The writes of the project probe, besides "chmod" (to 0666).
pub const PROJECT_WRITES: &[&str] = &["create", "append_existing", "mkdir", "rename", "git_hook"];

/// Makes project/existing.txt ("original\n", mode 0644) and project/.git/hooks; returns the
/// project probe with `extra` after it (`p` is the project there, `existing` that file), its
/// arguments and the path of existing.txt.
pub fn write_project_probe(env: &TestEnv, extra: &str) -> (PathBuf, String, PathBuf) {
    let existing = env.project.join("existing.txt");
    env.write_owned(&existing, "original\n", 0o644);
    env.mkdir_owned(&env.project.join(".git"), 0o755);
    env.mkdir_owned(&env.project.join(".git/hooks"), 0o755);
    let probe = env.probe("write_project", &format!("{WRITE_PROJECT}{extra}"));
    let args = jobj(&[
        ("project", jpath(&env.project)),
        ("nonce", jstr(&env.nonce)),
    ]);
    (probe, args, existing)
}

/// Every write into the project failed with one of `denied`, chmod with one of `chmod`, and
/// on the host existing.txt, its mode and the git hooks are as they were.
pub fn expect_project_unchanged(p: &Probe, env: &TestEnv, denied: &[&str], chmod: &[&str]) {
    for k in PROJECT_WRITES {
        p.expect_in(k, denied);
    }
    p.expect_in("chmod", chmod);
    let existing = env.project.join("existing.txt");
    assert_eq!(fs::read_to_string(&existing).unwrap(), "original\n");
    assert!(!env.project.join(".git/hooks/pre-commit").exists());
    assert_eq!(fs::metadata(&existing).unwrap().mode() & 0o7777, 0o644);
}

/// Positive control: every write into the project succeeded, chmod included.
pub fn expect_project_written(c: &Probe) {
    for k in PROJECT_WRITES.iter().chain(&["chmod"]) {
        c.expect_eq(k, "OK");
    }
}

/// Reads the named input, the file beside it, and lists their directory.
const INPUTS: &str = include_str!("probes/inputs.py");

/// Makes data/input.txt ("the input\n") and, beside it, data/secret.txt (holding the tag) in
/// the test directory; returns the inputs probe with `extra` after it, its arguments and the
/// input's path (for `--in`).
pub fn inputs_probe(env: &TestEnv, extra: &str) -> (PathBuf, String, PathBuf) {
    let data = env.dir.join("data");
    env.mkdir_owned(&data, 0o755);
    let input = data.join("input.txt");
    let sibling = data.join("secret.txt");
    env.write_owned(&input, "the input\n", 0o644);
    env.write_owned(&sibling, &format!("{}-sibling\n", env.tag), 0o644);
    let probe = env.probe("inputs", &format!("{INPUTS}{extra}"));
    let args = jobj(&[("input", jpath(&input)), ("sibling", jpath(&sibling))]);
    (probe, args, input)
}

/// The input was read; reading its sibling gave `sibling` and listing its directory
/// `listing`.
pub fn expect_only_the_input(p: &Probe, sibling: &str, listing: &str) {
    p.expect_eq("read_input", "the input\n");
    p.expect_eq("read_sibling", sibling);
    p.expect_eq("ls_parent", listing);
}

/// Positive control: the sibling was read and listed.
pub fn expect_the_sibling_too(c: &Probe, env: &TestEnv) {
    c.expect_contains("read_sibling", &env.tag);
    c.expect_eq("ls_parent", "input.txt,secret.txt");
}

/// Opens each of A["targets"] for writing, without writing ("wr:PATH").
pub const WRITE_TARGETS: &str = include_str!("probes/write_targets.py");

/// The os.py of the system's Python 3: an existing, non-executable host file.
pub fn system_os_py() -> String {
    fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("os.py"))
        .find(|p| p.exists())
        .expect("a /usr/lib/python3.X/os.py")
        .to_str()
        .unwrap()
        .to_string()
}

/// Opening every target for writing failed with one of `denied`.
pub fn expect_targets_unwritable<S: AsRef<str>>(p: &Probe, targets: &[S], denied: &[&str]) {
    for t in targets {
        p.expect_in(&format!("wr:{}", t.as_ref()), denied);
    }
}

/// Positive control: as root every target opens for writing (nothing is written); as an
/// unprivileged user the host's own permissions already refuse (EACCES).
pub fn expect_targets_as_the_host_allows<S: AsRef<str>>(c: &Probe, v: &Variant, targets: &[S]) {
    for t in targets {
        c.expect_eq(
            &format!("wr:{}", t.as_ref()),
            if v.is_root() { "OK" } else { "EACCES" },
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Environment

/// Every variable ("env:NAME", canary values shown as HAS-CANARY) and each of A["names"]
/// looked up ("get:NAME", "absent" when unset).
const ENV_DUMP: &str = include_str!("probes/env_dump.py");

/// The environment probe looking `names` up, and its arguments.
pub fn env_dump_probe(env: &TestEnv, names: &[&str]) -> (PathBuf, String) {
    let probe = env.probe("env_dump", ENV_DUMP);
    (probe, jobj(&[("names", jarr(names))]))
}

/// The variables that may reach the program, besides LC_*.
pub const ENV_ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "TZ",
    "NO_COLOR",
];

/// SSH_AUTH_SOCK of [`blocked_env`].
pub fn agent_sock(env: &TestEnv) -> String {
    format!("{}/agent.sock", env.run_dir.to_str().unwrap())
}

/// Variables the program must not get, for the test to set on seal: a code path, an agent
/// socket, a credential in a URL, a name on no list.
pub fn blocked_env(env: &TestEnv) -> Vec<(&'static str, String)> {
    let home = env.home.to_str().unwrap();
    vec![
        ("PYTHONPATH", format!("{home}/evil")),
        ("SSH_AUTH_SOCK", agent_sock(env)),
        (
            "PIP_INDEX_URL",
            format!("https://user:{}@localhost/simple", env.tag),
        ),
        ("SEAL_TEST_UNLISTED", format!("{}-unlisted", env.tag)),
    ]
}

/// Every variable of the environment probe's dump is in the allowlist and holds neither a
/// canary nor the host's HOME, nor any of `also_forbidden`.
pub fn expect_env_allowlist(p: &Probe, out: &Output, host_home: &str, also_forbidden: &[&str]) {
    for (key, value) in p.map.iter().filter(|(k, _)| k.starts_with("env:")) {
        let name = &key[4..];
        assert!(
            ENV_ALLOWED.contains(&name) || name.starts_with("LC_"),
            "{name}={value:?} is not in the allowlist\n{}",
            out.describe()
        );
        assert!(
            !value.contains(host_home)
                && !also_forbidden.iter().any(|f| value.contains(f))
                && value != "HAS-CANARY",
            "{name}={value:?} leaks the host's HOME or a canary"
        );
    }
}

/// Every canary variable looked up as `value` ("absent", or "HAS-CANARY" in a control).
pub fn expect_canary_env(p: &Probe, value: &str) {
    for n in CANARY_ENV {
        p.expect_eq(&format!("get:{n}"), value);
    }
}

// ---------------------------------------------------------------------------------------------
// Network: every sink on host loopback or a test-owned Unix socket

/// What an exfiltrating package does first: collect secrets from the environment and from
/// HOME (through `~` and, given A["host_home"], through the host path), into PAYLOAD. Then
/// `send_stream(family, addr)` and `udp_exchange(addr)` (send, wait for an answer) send it.
const GATHER: &str = include_str!("probes/gather.py");

/// A probe that gathers secrets, then runs `body` (args: marker, optionally host_home).
pub fn exfil_probe(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    env.probe(name, &format!("{GATHER}\n{body}"))
}

/// Positive control: the sink received the marker, a canary variable and a canary file.
pub fn expect_exfil_received(sink: &Sink, env: &TestEnv, marker: &str, what: &str) {
    sink.assert_received(marker, what);
    sink.assert_received(&env.canary_env_value("AWS_SECRET_ACCESS_KEY"), what);
    sink.assert_received(&env.canary_file_content(".ssh/id_rsa"), what);
}

/// A server and a client on the program's own loopback ("loopback_echo": "ping").
pub const LOOPBACK_ECHO: &str = include_str!("probes/loopback_echo.py");

// ---------------------------------------------------------------------------------------------
// Other processes: a test-owned sleeper

const PTRACE: &str = include_str!("probes/ptrace.py");

/// First mapped address of a host process (read by the test, which may).
fn first_mapping(pid: i32) -> u64 {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let start = maps.split('-').next().unwrap();
    u64::from_str_radix(start, 16).unwrap()
}

/// ptrace and process_vm_readv of a host sleeper fail with one of `host` (its errnos), and of
/// the program's own child with EPERM. Positive control: without seal the same uid may trace
/// and read both.
pub fn ptrace_and_vm_read_are_refused(env: &TestEnv, mode: Mode, host: &[&str]) {
    let sleeper = host_sleeper(env, &format!("sleeper-{}", env.nonce), "x");
    let probe = env.probe("ptrace", PTRACE);
    let args = jobj(&[
        ("host_pid", sleeper.pid().to_string()),
        ("host_addr", first_mapping(sleeper.pid()).to_string()),
    ]);

    let p = mode.run_ok(env, &probe, &args, &[]).probe();
    p.expect_in("ptrace_host", host);
    p.expect_in("vm_read_host", host);
    p.expect_eq("ptrace_own_child", "EPERM");
    p.expect_eq("vm_read_own_child", "EPERM");

    let c = env.direct_ok(&probe, &args);
    for k in [
        "ptrace_host",
        "vm_read_host",
        "ptrace_own_child",
        "vm_read_own_child",
    ] {
        c.expect_eq(k, "OK");
    }
}

// ---------------------------------------------------------------------------------------------
// Lifetime

/// A classic daemon: fork, setsid, fork again, the grandchild writes a marker file 2 s later.
const SURVIVOR: &str = include_str!("probes/survivor.py");

/// A setsid double-fork daemon dies with the run: no process is left when seal returns, and
/// the marker file it would write in the --out-live directory never appears. Positive control:
/// without seal it lives on and writes.
pub fn survivor_dies_with_the_run(env: &TestEnv, mode: Mode) {
    let marker = format!("survivor-marker-{}", env.nonce);
    let marker_file = env.out.join(format!("survivor-{}", env.nonce));
    let probe = env.probe("survivor", SURVIVOR);
    let args = jobj(&[
        ("out", jpath(&env.out)),
        ("nonce", jstr(&env.nonce)),
        ("marker", jstr(&marker)),
    ]);

    // --out-live: the output directory itself, not a staging area, so that a survivor's write
    // would show on the host at once.
    let inside = mode.run_ok(
        env,
        &probe,
        &args,
        &["--out-live", env.out.to_str().unwrap()],
    );
    inside.probe().expect_eq("spawned", "OK");
    let left = procs_with_marker(&marker);
    assert!(left.is_empty(), "sandbox processes survived seal: {left:?}");
    let appeared = wait_until(Duration::from_secs(4), || {
        marker_file.exists() || !procs_with_marker(&marker).is_empty()
    });
    assert!(
        !appeared,
        "the survivor lived on after seal returned (marker file: {}, processes: {:?})",
        marker_file.exists(),
        procs_with_marker(&marker)
    );

    // Positive control: without seal the survivor outlives the probe and writes.
    let direct = env.run_direct(&probe, &args);
    direct.expect_success();
    let alive = !procs_with_marker(&marker).is_empty();
    let wrote = wait_until(Duration::from_secs(15), || marker_file.exists());
    kill_marked(&marker);
    assert!(
        alive && wrote,
        "positive control: survivor alive={alive}, wrote the marker file={wrote}"
    );
}

/// A program (argv[1]: a marker) that starts a long-sleeping child in a session of its own
/// (its command line carries "MARKER-child"), prints "ready HOME" and sleeps.
pub const PARENT_WITH_CHILD: &str = include_str!("probes/parent_with_child.py");

/// seal (in `mode`) killed with SIGKILL while its program and that program's child run: no
/// process of the sandbox survives it. Positive control: killing the same program run without
/// seal leaves the child running. Returns the output of the killed seal.
pub fn killing_seal_kills_every_sandbox_process(env: &TestEnv, mode: Mode) -> Output {
    let marker = format!("orphan-{}", env.nonce);
    let script = env.project.join("parent.py");
    env.write_owned(&script, PARENT_WITH_CHILD, 0o644);

    // (no_userns.py execs seal: the process started is seal itself in both modes.)
    let mut running = mode.seal(env).arg("--").arg(&script).arg(&marker).spawn();
    running.wait_for_stdout("ready", Duration::from_secs(30));
    // Only the child carries the "-child" marker; seal's and the program's command lines
    // carry the plain one.
    let child_marker = format!("{marker}-child");
    let child_seen = || procs_with_marker(&child_marker).len() == 1;
    assert!(
        wait_until(Duration::from_secs(10), child_seen),
        "the sandboxed child did not show up: {:?}",
        procs_with_marker(&marker)
    );
    running.signal(libc::SIGKILL);
    let out = running.finish();
    assert_eq!(out.code(), 128 + libc::SIGKILL, "{}", out.describe());
    mode.assert_mode(&out);
    let left = wait_procs_gone(&marker, Duration::from_secs(10));
    kill_marked(&marker);
    assert!(
        left.is_empty(),
        "sandbox processes survived SIGKILL of seal: {left:?}"
    );

    // Positive control: killing a plain parent leaves its child running.
    let mut direct = env
        .host_command(PYTHON)
        .args(&["-I", "-S"])
        .arg(&script)
        .arg(&marker)
        .spawn();
    direct.wait_for_stdout("ready", Duration::from_secs(30));
    direct.signal(libc::SIGKILL);
    let orphan_alive = wait_until(Duration::from_secs(5), || {
        procs_with_marker(&marker).len() == 1 && procs_with_marker(&child_marker).len() == 1
    });
    kill_marked(&marker);
    let _ = direct.finish();
    assert!(orphan_alive, "positive control: the orphan was not found");
    out
}

/// Forks up to A["max_forks"] children (blocked on a pipe), then kills and reaps them.
const FORK_BOMB: &str = include_str!("probes/fork_bomb.py");

/// A fork bomb under `--pids 64` stops with EAGAIN after fewer than `bound` forks and leaves
/// nothing behind. Positive control: without seal `control_forks` (more than 64) forks all
/// succeed.
///
/// Where seal cannot enforce the limit (root without a v1 pids controller and without a
/// per-namespace pid_max, see [`pids_mechanism`]) it must say so (the warning an explicit
/// `--pids` gets) and the bomb, capped at `control_forks` by the probe itself, then does fork
/// past 64: the warning is true. Either way nothing is left behind.
pub fn fork_bomb_is_stopped(env: &TestEnv, mode: Mode, bound: usize, control_forks: usize) {
    let marker = format!("forkbomb-{}", env.nonce);
    let probe = env.probe("forkbomb", FORK_BOMB);
    let args = |n: usize| jobj(&[("max_forks", n.to_string()), ("marker", jstr(&marker))]);
    let mech = pids_mechanism(env.v.is_root(), mode == Mode::Namespaces);
    if !mech.enforced() || mech == PidsMechanism::PidMax {
        note(
            &env.v.name,
            &format!("--pids 64 in {mode:?}: {}", mech.why()),
        );
    }
    // pid_max counts the tasks seal needs too: N to N+299 tasks.
    let bound = if mech == PidsMechanism::PidMax {
        bound.max(64 + PID_MAX_RESERVED as usize)
    } else {
        bound
    };

    let cap = if mech.enforced() { 5000 } else { control_forks };
    let inside = mode
        .seal(env)
        .args(&["--pids", "64", "--"])
        .arg(&probe)
        .arg(args(cap))
        .deadline(Duration::from_secs(90))
        .output();
    env.assert_no_canary(&inside);
    inside.expect_success();
    mode.assert_mode(&inside);
    let p = inside.probe();
    let warned = inside.stderr.contains(PIDS_NOT_ENFORCED_WARNING);
    if mech.enforced() {
        assert!(
            !warned,
            "seal warns that --pids is not enforced, but it is ({})\n{}",
            mech.why(),
            inside.describe()
        );
        p.expect_eq("fork_error", "EAGAIN");
        let forks: usize = p.get("forks").parse().unwrap();
        assert!(
            forks < bound,
            "{forks} forks succeeded under --pids 64\n{}",
            inside.describe()
        );
    } else {
        assert!(
            warned,
            "--pids 64 cannot be enforced here ({}), and seal did not warn\n{}",
            mech.why(),
            inside.describe()
        );
        let line = inside
            .stderr
            .lines()
            .find(|l| l.starts_with(PIDS_NOT_ENFORCED_WARNING))
            .unwrap();
        mech.assert_describes(
            line.trim_start_matches("seal: warning: the --pids limit is "),
            64,
        );
        // The warning is true: the bomb got every fork it tried.
        p.expect_eq("forks", &cap.to_string());
        p.expect_eq("fork_error", "none");
    }
    p.expect_eq("cleaned", "OK");
    let left = wait_procs_gone(&marker, Duration::from_secs(10));
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let c = env.direct_ok(&probe, &args(control_forks));
    c.expect_eq("forks", &control_forks.to_string());
    c.expect_eq("fork_error", "none");
    kill_marked(&marker);
}

/// Writes the Python interpreter into a memfd and executes it (fexecve: execveat(fd, "",
/// AT_EMPTY_PATH), no /proc needed) with the payload A["payload_file"] holds.
const MEMFD: &str = include_str!("probes/memfd.py");

/// What the payload executed from the memfd does: the same as any malware would. (After
/// [`PRIVILEGES`].)
const MEMFD_PAYLOAD: &str = include_str!("probes/memfd_payload.py");

/// What the memfd test expects where the modes differ.
pub struct MemfdExpect<'a> {
    /// The steps whose refusal (EPERM or EACCES) is containment enough: "memfd_create",
    /// "memfd_exec".
    pub refusable: &'a [&'a str],
    /// The payload's uid.
    pub uid: String,
    /// Reading ~/.ssh/id_rsa through the host path of HOME, and through `~`.
    pub read_host_path: &'a [&'a str],
    pub read_tilde: &'a [&'a str],
    /// Connecting to the sink on host loopback.
    pub tcp: &'a [&'a str],
}

/// A payload executed from a memfd is either refused cleanly (one of `expect.refusable`
/// fails with EPERM or EACCES and no payload ran) or runs and is still fully contained: no
/// canary, no host network, the same seccomp filter, no_new_privs, no capabilities. Positive
/// control: without seal the payload reads and sends everything.
pub fn memfd_payload_is_still_sandboxed(env: &TestEnv, mode: Mode, expect: &MemfdExpect) {
    let sink = Sink::tcp();
    let payload_file = env.project.join("payload.txt");
    env.write_owned(
        &payload_file,
        &format!("{PRELUDE}\n{PRIVILEGES}\n{MEMFD_PAYLOAD}\nemit()\n"),
        0o644,
    );
    let probe = env.probe("memfd", MEMFD);
    let marker = format!("memfd-{}", env.nonce);
    let args = jobj(&[
        ("payload_file", jpath(&payload_file)),
        ("host_home", jpath(&env.home)),
        ("port", sink.port.to_string()),
        ("marker", jstr(&marker)),
    ]);

    let inside = mode.run_ok(env, &probe, &args, &[]);
    let p = inside.probe();
    let blocked = ["EPERM", "EACCES"];
    let refused = expect
        .refusable
        .iter()
        .any(|k| p.has(k) && blocked.contains(&p.get(k)));
    if refused {
        eprintln!("memfd payload refused: {:?}", p.map);
        assert!(!p.has("payload_ran"), "{}", inside.describe());
    } else {
        p.expect_eq("memfd_create", "OK");
        p.expect_eq("memfd_exec", "OK");
        p.expect_eq("payload_ran", "yes");
        p.expect_eq("payload_uid", &expect.uid);
        p.expect_in("payload_read_ssh_host_path", expect.read_host_path);
        p.expect_in("payload_read_ssh_tilde", expect.read_tilde);
        p.expect_eq("payload_env", "clean");
        p.expect_in("payload_tcp", expect.tcp);
        p.expect_eq("payload_seccomp_mode", "2");
        p.expect_eq("payload_no_new_privs", "1");
        p.expect_eq("payload_cap_eff", NO_CAPS);
        p.expect_eq("payload_keyctl", "EPERM");
    }
    sink.assert_untouched("memfd payload");

    let c = env.direct_ok(&probe, &args);
    c.expect_eq("memfd_exec", "OK");
    c.expect_eq("payload_read_ssh_host_path", "canary");
    c.expect_eq("payload_read_ssh_tilde", "canary");
    c.expect_eq("payload_env", "canary");
    c.expect_eq("payload_tcp", "OK");
    sink.assert_received(&marker, "memfd payload control");
}

// ---------------------------------------------------------------------------------------------
// Kernel-facing restrictions

/// keyctl (a look-up of the session keyring) and io_uring_setup (a ring created).
pub const KEYCTL_IO_URING: &str = include_str!("probes/keyctl_io_uring.py");

/// Pushes a character into the input of the controlling terminal (stdin).
const TIOCSTI_CTTY: &str = include_str!("probes/tiocsti_ctty.py");

/// The real attack (CVE-2017-5226): push characters into the input of the user's terminal,
/// which their shell reads after the program ends. seal (in `mode`) runs on a pty the test
/// holds, and TIOCSTI on it is refused. Positive control: the same probe directly, on the same
/// kind of terminal.
pub fn tiocsti_on_the_controlling_terminal_is_refused(env: &TestEnv, mode: Mode) {
    let probe = env.probe("tiocsti_ctty", TIOCSTI_CTTY);
    let on_a_pty = |run: Run| {
        let mut s = run
            .arg(&probe)
            .deadline(Duration::from_secs(60))
            .spawn_in_pty();
        s.wait_for("PROBE\ttiocsti_ctty", Duration::from_secs(30));
        let (code, _, transcript) = s.finish();
        assert_eq!(code, 0, "transcript:\n{transcript}");
        (Probe::parse(&transcript, transcript.clone()), transcript)
    };

    let (p, transcript) = on_a_pty(mode.seal(env).arg("--"));
    if mode != Mode::Namespaces {
        assert!(transcript.contains(DEGRADED_WARNING), "{transcript}");
    }
    p.expect_eq("stdin_isatty", "yes");
    p.expect_eq("tiocsti_ctty", "EPERM");

    let (c, _) = on_a_pty(env.host_command(PYTHON).args(&["-I", "-S"]));
    c.expect_eq("stdin_isatty", "yes");
    if env.v.is_root() {
        c.expect_eq("tiocsti_ctty", "OK");
    } else {
        c.expect_in("tiocsti_ctty", &["OK", "EIO"]);
    }
}
