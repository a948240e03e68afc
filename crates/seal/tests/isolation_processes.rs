//! Process isolation: host processes invisible and untouchable, nothing outlives the program,
//! memfd payloads stay inside, fork bombs stop at the PIDs limit.

mod common;

use std::time::Duration;

use common::*;

const PROC_VIEW: &str = r#"
needle = bytes.fromhex(A["needle_hex"])
host_pid = A["host_pid"]
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
put("pid_count", len(pids))
put("host_pid_visible", "yes" if os.path.exists("/proc/%d" % host_pid) else "no")
def host_environ():
    with open("/proc/%d/environ" % host_pid, "rb") as f:
        data = f.read()
    return "canary" if b"CANARY-" in data else "clean"
attempt("host_environ", host_environ)
leaks = []
for p in pids:
    for name in ("environ", "cmdline"):
        try:
            with open("/proc/%d/%s" % (p, name), "rb") as f:
                data = f.read()
        except OSError:
            continue
        if needle in data or (name == "environ" and b"CANARY-" in data):
            leaks.append("%d/%s" % (p, name))
put("leaks", ",".join(leaks))
def init_environ():
    with open("/proc/1/environ", "rb") as f:
        data = f.read()
    return "readable:canary" if b"CANARY-" in data else "readable:clean"
attempt("init_environ", init_environ)
attempt("host_mem", lambda: os.close(os.open("/proc/%d/mem" % host_pid, os.O_RDONLY)))
"#;

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

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
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
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("host_pid_visible", "yes");
        c.expect_eq("host_environ", "canary");
        c.expect_contains("leaks", &format!("{}/environ", sleeper.pid()));
        c.expect_eq("host_mem", "OK");
    });
}

const PTRACE: &str = r#"
PTRACE_SEIZE = 0x4206
LIBC.ptrace.restype = ctypes.c_long
def seize(pid):
    ctypes.set_errno(0)
    return cres(LIBC.ptrace(ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), None, None))
# In a throwaway child: the trace ends when the child exits.
put("ptrace_host", in_child(lambda: seize(A["host_pid"])))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def vm_read(pid):
    addr = 0x10000
    try:
        with open("/proc/%d/maps" % pid) as f:
            addr = int(f.readline().split("-")[0], 16)
    except OSError:
        pass
    buf = ctypes.create_string_buffer(8)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = iovec(ctypes.c_void_p(addr), 8)
    ctypes.set_errno(0)
    r = LIBC.syscall(ctypes.c_long(NR["process_vm_readv"]), ctypes.c_long(pid),
                     ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote),
                     ctypes.c_ulong(1), ctypes.c_ulong(0))
    return cres(r)
put("vm_read_host", vm_read(A["host_pid"]))
# A process of the sandbox's own: refused by seccomp, not merely by the PID namespace.
r, w = os.pipe()
kid = os.fork()
if kid == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
os.close(r)
put("ptrace_own_child", in_child(lambda: seize(kid)))
put("vm_read_own_child", vm_read(kid))
os.close(w)
os.waitpid(kid, 0)
"#;

#[test]
fn ptrace_and_process_vm_readv_of_a_host_process_fail() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ptrace");
        let sleeper = host_sleeper(&env, &format!("sleeper-{}", env.nonce), "x");
        let probe = env.probe("ptrace", PTRACE);
        let args = jobj(&[("host_pid", sleeper.pid().to_string())]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        p.expect_in("ptrace_host", &["EPERM", "ESRCH"]);
        p.expect_in("vm_read_host", &["EPERM", "ESRCH"]);
        p.expect_eq("ptrace_own_child", "EPERM");
        p.expect_eq("vm_read_own_child", "EPERM");

        // Positive control: without seal the same uid may trace and read the sleeper.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("ptrace_host", "OK");
        c.expect_eq("vm_read_host", "OK");
        c.expect_eq("ptrace_own_child", "OK");
        c.expect_eq("vm_read_own_child", "OK");
    });
}

const SURVIVOR: &str = r#"
marker_file = os.path.join(A["out"], "survivor-" + A["nonce"])
code = "import sys, time; time.sleep(2); open(sys.argv[1], 'w').write('survived')"
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", code, marker_file, A["marker"]])
    os._exit(0)
os.waitpid(pid, 0)
put("spawned", "OK")
"#;

#[test]
fn setsid_double_fork_survivor_dies_with_the_program() {
    each_variant(|v| {
        let env = TestEnv::new(v, "survivor");
        let marker = format!("survivor-marker-{}", env.nonce);
        let marker_file = env.out.join(format!("survivor-{}", env.nonce));
        let probe = env.probe("survivor", SURVIVOR);
        let args = jobj(&[
            ("out", jpath(&env.out)),
            ("nonce", jstr(&env.nonce)),
            ("marker", jstr(&marker)),
        ]);

        // --out-live: the output directory itself, not a staging area, so that a survivor's
        // write would show on the host.
        let inside = env.run_probe(&probe, &args, &["--out-live", env.out.to_str().unwrap()]);
        inside.expect_success();
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
    });
}

const MEMFD: &str = r#"
with open(A["payload_file"]) as f:
    src = f.read()
def make():
    fd = os.memfd_create("payload", 0)
    with open(sys.executable, "rb") as f:
        os.write(fd, f.read())
    return fd
try:
    fd = make()
    put("memfd_create", "OK")
except OSError as e:
    fd = None
    put("memfd_create", ename(e))
if fd is not None:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv("/proc/self/fd/%d" % fd,
                     ["memfd-payload", "-I", "-S", "-c", src, sys.argv[1]])
        except OSError as e:
            sys.stdout.write("PROBE\tmemfd_exec\t%s\n" % ename(e))
            sys.stdout.flush()
        os._exit(111)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        put("memfd_exec", "OK")
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 111:
        pass  # the child reported the errno itself
    else:
        put("memfd_exec", "status %d" % status)
"#;

/// What the payload executed from the memfd does: the same as any malware would.
const MEMFD_PAYLOAD: &str = r#"
put("payload_ran", "yes")
put("payload_uid", str(os.getuid()))
attempt("payload_read_ssh_host_path", lambda: "canary" if "CANARY-" in read_head(os.path.join(A["host_home"], ".ssh/id_rsa")) else "clean")
attempt("payload_read_ssh_tilde", lambda: "canary" if "CANARY-" in read_head(os.path.expanduser("~/.ssh/id_rsa")) else "clean")
put("payload_env", "canary" if any("CANARY-" in v for v in os.environ.values()) else "clean")
def tcp():
    s = socket.create_connection(("127.0.0.1", A["port"]), timeout=3)
    s.sendall(("payload " + A["marker"]).encode())
    s.close()
attempt("payload_tcp", tcp)
put("payload_seccomp", status_field("Seccomp"))
put("payload_no_new_privs", status_field("NoNewPrivs"))
put("payload_cap_eff", status_field("CapEff"))
put("payload_keyctl", syscall("keyctl", 0, -3, 0))
"#;

/// Decision: seal does not need to refuse memfd_create+execve (numerical and JIT libraries
/// use memfds, and a deny-list cannot tell a payload from a library). What matters is that
/// a payload executed from memory inherits every restriction of the sandbox. So: either the
/// exec is refused cleanly (EPERM/EACCES), or the payload runs and is still fully contained:
/// no canary, no host network, same seccomp filter, no capabilities.
#[test]
fn memfd_exec_payload_is_still_sandboxed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "memfd");
        let sink = Sink::tcp();
        let payload_file = env.project.join("payload.txt");
        env.write_owned(
            &payload_file,
            &format!("{PRELUDE}\n{MEMFD_PAYLOAD}\nemit()\n"),
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

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        let blocked = ["EPERM", "EACCES"];
        if blocked.contains(&p.get("memfd_create")) || blocked.contains(&p.get("memfd_exec")) {
            eprintln!("memfd payload refused: {:?}", p.map);
            assert!(!p.has("payload_ran"));
        } else {
            p.expect_eq("memfd_create", "OK");
            p.expect_eq("memfd_exec", "OK");
            p.expect_eq("payload_ran", "yes");
            p.expect_eq("payload_uid", "1000");
            p.expect_in("payload_read_ssh_host_path", &["ENOENT", "EACCES"]);
            p.expect_in("payload_read_ssh_tilde", &["ENOENT", "EACCES"]);
            p.expect_eq("payload_env", "clean");
            p.expect_in("payload_tcp", &["ECONNREFUSED", "ENETUNREACH"]);
            p.expect_eq("payload_seccomp", "2");
            p.expect_eq("payload_no_new_privs", "1");
            p.expect_eq("payload_cap_eff", "0000000000000000");
            p.expect_eq("payload_keyctl", "EPERM");
        }
        sink.assert_untouched("memfd payload");

        // Positive control: without seal the payload from memory reads and sends everything.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("memfd_exec", "OK");
        c.expect_eq("payload_read_ssh_host_path", "canary");
        c.expect_eq("payload_read_ssh_tilde", "canary");
        c.expect_eq("payload_env", "canary");
        c.expect_eq("payload_tcp", "OK");
        sink.assert_received(&marker, "memfd payload control");
    });
}

const FORK_BOMB: &str = r#"
limit = A["max_forks"]
deadline = time.time() + 20
r, w = os.pipe()
kids = []
err = "none"
while len(kids) < limit and time.time() < deadline:
    try:
        pid = os.fork()
    except OSError as e:
        err = ename(e)
        break
    if pid == 0:
        # Block until the parent closes the pipe (or dies): never outlives it for long.
        os.close(w)
        try:
            os.read(r, 1)
        finally:
            os._exit(0)
    kids.append(pid)
put("forks", len(kids))
put("fork_error", err)
os.close(w)
for k in kids:
    try:
        os.kill(k, signal.SIGKILL)
    except OSError:
        pass
for k in kids:
    os.waitpid(k, 0)
put("cleaned", "OK")
"#;

#[test]
fn fork_bomb_is_stopped_by_the_pids_limit() {
    each_variant(|v| {
        let env = TestEnv::new(v, "forkbomb");
        let marker = format!("forkbomb-{}", env.nonce);
        let probe = env.probe("forkbomb", FORK_BOMB);

        let args = jobj(&[("max_forks", "5000".into()), ("marker", jstr(&marker))]);
        let inside = env
            .seal()
            .args(&["--pids", "64", "--"])
            .arg(&probe)
            .arg(&args)
            .deadline(Duration::from_secs(90))
            .output();
        env.assert_no_canary(&inside);
        inside.expect_success();
        let p = inside.probe();
        p.expect_eq("fork_error", "EAGAIN");
        let forks: usize = p.get("forks").parse().unwrap();
        assert!(
            forks < 64,
            "{forks} forks succeeded under --pids 64\n{}",
            inside.describe()
        );
        p.expect_eq("cleaned", "OK");
        let left = wait_procs_gone(&marker, Duration::from_secs(10));
        assert!(left.is_empty(), "processes left behind: {left:?}");

        // Positive control: without seal, 100 forks (well above 64) all succeed.
        let args = jobj(&[("max_forks", "100".into()), ("marker", jstr(&marker))]);
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("forks", "100");
        c.expect_eq("fork_error", "none");
        kill_marked(&marker);
    });
}

const PARENT_WITH_CHILD: &str = r#"
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(120)", sys.argv[1]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("ready", flush=True)
time.sleep(120)
"#;

#[test]
fn every_sandbox_process_dies_when_seal_is_killed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sigkill-seal");
        let marker = format!("orphan-{}", env.nonce);
        let script = env.project.join("parent.py");
        env.write_owned(&script, PARENT_WITH_CHILD, 0o644);

        let mut running = env.seal().arg("--").arg(&script).arg(&marker).spawn();
        running.wait_for_stdout("ready", Duration::from_secs(30));
        assert!(
            wait_until(Duration::from_secs(10), || procs_with_marker(&marker).len()
                >= 2),
            "the sandboxed processes did not show up: {:?}",
            procs_with_marker(&marker)
        );
        running.signal(libc::SIGKILL);
        let out = running.finish();
        assert_eq!(out.code(), 128 + libc::SIGKILL);
        let left = wait_procs_gone(&marker, Duration::from_secs(10));
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
            procs_with_marker(&marker).len() == 1
        });
        kill_marked(&marker);
        let _ = direct.finish();
        assert!(orphan_alive, "positive control: the orphan was not found");
    });
}
