//! File-system isolation: canaries in HOME, listings of /home and /root, the read-only project,
//! system files, the private HOME and /tmp, inputs.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;

const READ_DENIED: &[&str] = &["ENOENT", "EACCES"];
const WRITE_DENIED: &[&str] = &["EROFS", "EACCES"];

const READ_CANARIES: &str = r#"
for rel in A["files"]:
    attempt("tilde:" + rel, read_head, os.path.expanduser("~/" + rel))
    attempt("abs:" + rel, read_head, os.path.join(A["host_home"], rel))
"#;

#[test]
fn canary_files_are_not_readable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "canary-files");
        let probe = env.probe("read_canaries", READ_CANARIES);
        let args = jobj(&[
            ("files", jarr(CANARY_FILES)),
            ("host_home", jpath(&env.home)),
        ]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        for rel in CANARY_FILES {
            // ~ is the sandbox's private HOME; the host path of the real HOME shows nothing.
            p.expect_in(&format!("tilde:{rel}"), READ_DENIED);
            p.expect_in(&format!("abs:{rel}"), READ_DENIED);
        }

        // Positive control: the same probe without seal reads every canary.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for rel in CANARY_FILES {
            c.expect_eq(&format!("tilde:{rel}"), &env.canary_file_content(rel));
            c.expect_eq(&format!("abs:{rel}"), &env.canary_file_content(rel));
        }
    });
}

const LISTINGS: &str = r#"
def ls(p):
    return ",".join(sorted(os.listdir(p)))
attempt("ls:/home", ls, "/home")
attempt("ls:/root", ls, "/root")
attempt("ls:host_home", ls, A["host_home"])
def walk(top):
    found = []
    base = top.rstrip("/").count("/")
    for dp, dns, fns in os.walk(top):
        if dp.startswith(A["project"]) or dp.count("/") - base >= 3 or len(found) > 50:
            dns[:] = []
            continue
        found.extend(os.path.join(dp, f) for f in fns)
    return ",".join(sorted(found)[:50])
put("files:/home", walk("/home"))
put("files:/root", walk("/root"))
put("files:host_home", walk(A["host_home"]))
"#;

#[test]
fn home_and_root_listings_hold_no_user_files() {
    each_variant(|v| {
        let env = TestEnv::new(v, "listings");
        let probe = env.probe("listings", LISTINGS);
        let args = jobj(&[
            ("host_home", jpath(&env.home)),
            ("project", jpath(&env.project)),
        ]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        // Only the sandbox's own (empty, private) home.
        p.expect_eq("ls:/home", "sandbox");
        // /usr/bin/python3 has its prefix in /usr: nothing of /root is needed.
        p.expect_in("ls:/root", &["ENOENT", ""]);
        // The host HOME path exists only as the parent of the project mount point.
        let listed = p.get("ls:host_home");
        for entry in listed.split(',').filter(|e| !e.is_empty()) {
            assert!(
                ["proj", "out"].contains(&entry),
                "the host HOME path shows {entry:?} inside (listing {listed:?})\n{}",
                inside.describe()
            );
        }
        for top in ["/home", "/root", "host_home"] {
            p.expect_eq(&format!("files:{top}"), "");
        }

        // Positive control: without seal the fake HOME lists its canaries.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_contains("ls:host_home", ".ssh");
        c.expect_contains("files:host_home", ".ssh/id_rsa");
        if v.is_root() {
            c.expect_not_in("ls:/root", &["ENOENT", ""]);
        }
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
def mkdir():
    d = os.path.join(p, "dir-" + A["nonce"])
    os.mkdir(d)
    os.rmdir(d)
attempt("mkdir", mkdir)
def rename():
    os.rename(existing, existing + ".moved")
    os.rename(existing + ".moved", existing)
attempt("rename", rename)
def git_hook():
    with open(os.path.join(p, ".git", "hooks", "pre-commit"), "w") as f:
        f.write("#!/bin/sh\necho hooked\n")
attempt("git_hook", git_hook)
attempt("chmod", os.chmod, existing, 0o666)
"##;

#[test]
fn project_dir_is_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "project-ro");
        let existing = env.project.join("existing.txt");
        env.write_owned(&existing, "original\n", 0o644);
        env.mkdir_owned(&env.project.join(".git"), 0o755);
        env.mkdir_owned(&env.project.join(".git/hooks"), 0o755);
        let probe = env.probe("write_project", WRITE_PROJECT);
        let args = jobj(&[
            ("project", jpath(&env.project)),
            ("nonce", jstr(&env.nonce)),
        ]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        for k in ["create", "append_existing", "mkdir", "rename", "git_hook"] {
            p.expect_in(k, WRITE_DENIED);
        }
        p.expect_in("chmod", &["EROFS", "EPERM", "EACCES"]);
        assert_eq!(fs::read_to_string(&existing).unwrap(), "original\n");
        assert!(!env.project.join(".git/hooks/pre-commit").exists());
        assert_eq!(fs::metadata(&existing).unwrap().mode() & 0o777, 0o644);

        // Positive control: without seal every write succeeds.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for k in [
            "create",
            "append_existing",
            "mkdir",
            "rename",
            "git_hook",
            "chmod",
        ] {
            c.expect_eq(k, "OK");
        }
        assert_eq!(
            fs::read_to_string(&existing).unwrap(),
            "original\ntampered\n"
        );
    });
}

const WRITE_SYSTEM: &str = r#"
for t in A["targets"]:
    attempt("wr:" + t, open_for_write_only, t)
def create_in_input():
    path = os.path.join(A["input_dir"], "created-" + A["nonce"])
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)
attempt("create_in_input", create_in_input)
attempt("append_input", lambda: open(os.path.join(A["input_dir"], "data.txt"), "a").close())
"#;

#[test]
fn system_files_and_inputs_are_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "system-ro");
        let input_dir = env.dir.join("inputs");
        env.mkdir_owned(&input_dir, 0o755);
        env.write_owned(&input_dir.join("data.txt"), "input data\n", 0o644);
        // Existing, non-executable host files: opened for writing, never written.
        let mut targets = vec!["/etc/ld.so.cache".to_string(), "/etc/passwd".to_string()];
        let os_py = fs::read_dir("/usr/lib")
            .unwrap()
            .flatten()
            .map(|e| e.path().join("os.py"))
            .find(|p| p.exists())
            .expect("a /usr/lib/python3.X/os.py");
        targets.push(os_py.to_str().unwrap().to_string());
        if std::path::Path::new("/usr/lib/os-release").is_file() {
            targets.push("/usr/lib/os-release".into());
        }
        let probe = env.probe("write_system", WRITE_SYSTEM);
        let args = jobj(&[
            ("targets", jarr(&targets)),
            ("input_dir", jpath(&input_dir)),
            ("nonce", jstr(&env.nonce)),
        ]);

        let inside = env.run_probe(&probe, &args, &["--in", input_dir.to_str().unwrap()]);
        inside.expect_success();
        let p = inside.probe();
        for t in &targets {
            p.expect_in(&format!("wr:{t}"), WRITE_DENIED);
        }
        p.expect_in("create_in_input", WRITE_DENIED);
        p.expect_in("append_input", WRITE_DENIED);

        // Positive control: as root the host lets the probe open them for writing; as an
        // unprivileged user the host's own permissions already refuse (EACCES), and the test
        // owned input directory is writable either way.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for t in &targets {
            c.expect_eq(
                &format!("wr:{t}"),
                if v.is_root() { "OK" } else { "EACCES" },
            );
        }
        c.expect_eq("create_in_input", "OK");
        c.expect_eq("append_input", "OK");
    });
}

const BASHRC: &str = r#"
rc = os.path.expanduser("~/.bashrc")
put("home", os.path.expanduser("~"))
attempt("read_before", read_head, rc)
def append():
    with open(rc, "a") as f:
        f.write("echo persisted-" + A["nonce"] + "\n")
attempt("append", append)
attempt("read_after", read_head, rc)
attempt("append_host_path", lambda: open(os.path.join(A["host_home"], ".bashrc"), "a").close())
"#;

#[test]
fn bashrc_append_stays_in_the_private_home() {
    each_variant(|v| {
        let env = TestEnv::new(v, "bashrc");
        let host_rc = env.home.join(".bashrc");
        let original = fs::read_to_string(&host_rc).unwrap();
        let probe = env.probe("bashrc", BASHRC);
        let args = jobj(&[("host_home", jpath(&env.home)), ("nonce", jstr(&env.nonce))]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        p.expect_eq("home", "/home/sandbox");
        p.expect_eq("read_before", "ENOENT");
        p.expect_eq("append", "OK");
        p.expect_contains("read_after", &format!("persisted-{}", env.nonce));
        // The host path of HOME exists inside only as the parent of the project's mount
        // point: on the read-only root (EROFS) or, when the project lives under /tmp as
        // here, in the sandbox's private /tmp (OK, but a private copy). Either way the
        // host's file must not change (checked below).
        p.expect_in("append_host_path", &["EROFS", "EACCES", "ENOENT", "OK"]);
        assert_eq!(fs::read_to_string(&host_rc).unwrap(), original);
        env.canary_files_intact();

        // The private HOME does not persist: a second run starts empty again.
        let again = env.run_probe(&probe, &args, &[]);
        again.probe().expect_eq("read_before", "ENOENT");

        // Positive control: without seal the append lands in the real (fake) HOME.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("read_before", &original);
        c.expect_eq("append", "OK");
        assert!(fs::read_to_string(&host_rc)
            .unwrap()
            .contains(&format!("persisted-{}", env.nonce)));
    });
}

const TMP: &str = r#"
path = "/tmp/seal-probe-" + A["nonce"]
def write():
    with open(path, "w") as f:
        f.write("from the probe")
attempt("write_tmp", write)
attempt("ls_tmp", lambda: ",".join(sorted(os.listdir("/tmp"))))
put("tmpdir", os.environ.get("TMPDIR", "unset"))
"#;

#[test]
fn tmp_is_private() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tmp");
        let probe = env.probe("tmp", TMP);
        let args = jobj(&[("nonce", jstr(&env.nonce))]);
        let host_file = std::path::PathBuf::from(format!("/tmp/seal-probe-{}", env.nonce));

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        p.expect_eq("write_tmp", "OK");
        p.expect_eq("tmpdir", "/tmp");
        let leaked = host_file.exists();
        let _ = fs::remove_file(&host_file);
        assert!(
            !leaked,
            "a file the sandbox wrote to /tmp appeared in the host's /tmp"
        );
        // Inside, /tmp holds the probe's file and the path down to the project mount only.
        let work = work_root()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for entry in p.get("ls_tmp").split(',') {
            assert!(
                entry == format!("seal-probe-{}", env.nonce) || entry == work,
                "the host's /tmp shows through: {entry:?}\n{}",
                inside.describe()
            );
        }

        // Positive control: without seal the file lands in the host's /tmp.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        assert!(host_file.exists(), "positive control did not write /tmp");
        let _ = fs::remove_file(&host_file);
    });
}

const INPUTS: &str = r#"
attempt("read_input", read_head, A["input"])
attempt("read_sibling", read_head, A["sibling"])
attempt("ls_parent", lambda: ",".join(sorted(os.listdir(os.path.dirname(A["input"])))))
"#;

#[test]
fn only_the_named_input_is_visible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "inputs");
        let data = env.dir.join("data");
        env.mkdir_owned(&data, 0o755);
        let input = data.join("input.txt");
        let sibling = data.join("secret.txt");
        env.write_owned(&input, "the input\n", 0o644);
        env.write_owned(&sibling, &format!("{}-sibling\n", env.tag), 0o644);
        let probe = env.probe("inputs", INPUTS);
        let args = jobj(&[("input", jpath(&input)), ("sibling", jpath(&sibling))]);

        let inside = env.run_probe(&probe, &args, &["--in", input.to_str().unwrap()]);
        inside.expect_success();
        let p = inside.probe();
        p.expect_eq("read_input", "the input\n");
        p.expect_eq("read_sibling", "ENOENT");
        p.expect_eq("ls_parent", "input.txt");

        // Positive control.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_contains("read_sibling", &env.tag);
        c.expect_eq("ls_parent", "input.txt,secret.txt");
    });
}

const DEV: &str = r#"
attempt("ls_dev", lambda: ",".join(sorted(os.listdir("/dev"))))
for d in ["/dev/kmsg", "/dev/mem", "/dev/kvm", "/dev/sda", "/dev/vda", "/dev/loop0", "/dev/fuse"]:
    attempt("open:" + d, lambda d=d: os.close(os.open(d, os.O_RDONLY | os.O_NONBLOCK)))
attempt("devnull", lambda: open("/dev/null", "w").write("x") and None)
attempt("urandom", lambda: len(open("/dev/urandom", "rb").read(8)))
"#;

#[test]
fn dev_is_minimal() {
    each_variant(|v| {
        let env = TestEnv::new(v, "dev");
        let probe = env.probe("dev", DEV);
        let inside = env.run_probe(&probe, "{}", &[]);
        inside.expect_success();
        let p = inside.probe();
        let allowed = [
            "null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr",
            "ptmx", "pts", "shm",
        ];
        for entry in p.get("ls_dev").split(',') {
            assert!(
                allowed.contains(&entry),
                "unexpected /dev entry {entry:?}\n{}",
                inside.describe()
            );
        }
        for d in ["kmsg", "mem", "kvm", "sda", "vda", "loop0", "fuse"] {
            p.expect_eq(&format!("open:/dev/{d}"), "ENOENT");
        }
        p.expect_eq("devnull", "OK");
        p.expect_eq("urandom", "8");

        // Positive control: the host's /dev has more than the sandbox's.
        let direct = env.run_direct(&probe, "{}");
        direct.expect_success();
        let host_dev = direct.probe().get("ls_dev").to_string();
        assert!(
            host_dev.split(',').any(|e| !allowed.contains(&e)),
            "positive control: the host's /dev ({host_dev}) has nothing the sandbox hides"
        );
    });
}
