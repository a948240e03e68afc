//! File-system isolation: canaries in HOME, listings of /home and /root, the read-only project,
//! system files, the private HOME and /tmp, inputs.

mod support;

use std::fs;

use support::isolation::probes::{self, Mode};
use support::isolation::*;

const READ_DENIED: &[&str] = &["ENOENT", "EACCES"];
const WRITE_DENIED: &[&str] = &["EROFS", "EACCES"];

#[test]
fn canary_files_are_not_readable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "canary-files");
        let (probe, args) = probes::read_canaries_probe(&env, "");

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        // ~ is the sandbox's private HOME; the host path of the real HOME shows nothing.
        probes::expect_canaries_unread(&p, READ_DENIED, READ_DENIED);

        // Positive control: the same probe without seal reads every canary.
        probes::expect_canaries_read(&env.direct_ok(&probe, &args), &env);
    });
}

const LISTINGS: &str = include_str!("probes/isolation_files/listings.py");

#[test]
fn home_and_root_listings_hold_no_user_files() {
    each_variant(|v| {
        let env = TestEnv::new(v, "listings");
        let probe = env.probe("listings", LISTINGS);
        let args = jobj(&[
            ("host_home", jpath(&env.home)),
            ("project", jpath(&env.project)),
        ]);

        let inside = Mode::Namespaces.run_ok(&env, &probe, &args, &[]);
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
        let c = env.direct_ok(&probe, &args);
        c.expect_contains("ls:host_home", ".ssh");
        c.expect_contains("files:host_home", ".ssh/id_rsa");
        if v.is_root() {
            c.expect_not_in("ls:/root", &["ENOENT", ""]);
        }
    });
}

#[test]
fn project_dir_is_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "project-ro");
        let (probe, args, existing) = probes::write_project_probe(&env, "");

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        probes::expect_project_unchanged(&p, &env, WRITE_DENIED, &["EROFS", "EPERM", "EACCES"]);

        // Positive control: without seal every write succeeds.
        probes::expect_project_written(&env.direct_ok(&probe, &args));
        assert_eq!(
            fs::read_to_string(&existing).unwrap(),
            "original\ntampered\n"
        );
    });
}

const WRITE_INPUT: &str = include_str!("probes/isolation_files/write_input.py");

#[test]
fn system_files_and_inputs_are_read_only() {
    each_variant(|v| {
        let env = TestEnv::new(v, "system-ro");
        let input_dir = env.dir.join("inputs");
        env.mkdir_owned(&input_dir, 0o755);
        env.write_owned(&input_dir.join("data.txt"), "input data\n", 0o644);
        // Existing, non-executable host files: opened for writing, never written.
        let mut targets = vec![
            "/etc/ld.so.cache".to_string(),
            "/etc/passwd".to_string(),
            probes::system_os_py(),
        ];
        if std::path::Path::new("/usr/lib/os-release").is_file() {
            targets.push("/usr/lib/os-release".into());
        }
        let probe = env.probe(
            "write_system",
            &format!("{}{WRITE_INPUT}", probes::WRITE_TARGETS),
        );
        let args = jobj(&[
            ("targets", jarr(&targets)),
            ("input_dir", jpath(&input_dir)),
            ("nonce", jstr(&env.nonce)),
        ]);

        let p = Mode::Namespaces
            .run_ok(&env, &probe, &args, &["--in", input_dir.to_str().unwrap()])
            .probe();
        probes::expect_targets_unwritable(&p, &targets, WRITE_DENIED);
        p.expect_in("create_in_input", WRITE_DENIED);
        p.expect_in("append_input", WRITE_DENIED);

        // Positive control: as root the host lets the probe open them for writing; as an
        // unprivileged user the host's own permissions already refuse (EACCES), and the test
        // owned input directory is writable either way.
        let c = env.direct_ok(&probe, &args);
        probes::expect_targets_as_the_host_allows(&c, v, &targets);
        c.expect_eq("create_in_input", "OK");
        c.expect_eq("append_input", "OK");
    });
}

const BASHRC: &str = include_str!("probes/isolation_files/bashrc.py");

#[test]
fn bashrc_append_stays_in_the_private_home() {
    each_variant(|v| {
        let env = TestEnv::new(v, "bashrc");
        let host_rc = env.home.join(".bashrc");
        let original = fs::read_to_string(&host_rc).unwrap();
        let probe = env.probe("bashrc", BASHRC);
        let args = jobj(&[("host_home", jpath(&env.home)), ("nonce", jstr(&env.nonce))]);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
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
        let again = Mode::Namespaces.run(&env, &probe, &args, &[]);
        again.probe().expect_eq("read_before", "ENOENT");

        // Positive control: without seal the append lands in the real (fake) HOME.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("read_before", &original);
        c.expect_eq("append", "OK");
        assert!(fs::read_to_string(&host_rc)
            .unwrap()
            .contains(&format!("persisted-{}", env.nonce)));
    });
}

const TMP: &str = include_str!("probes/isolation_files/tmp.py");

#[test]
fn tmp_is_private() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tmp");
        let probe = env.probe("tmp", TMP);
        let args = jobj(&[("nonce", jstr(&env.nonce))]);
        let host_file = std::path::PathBuf::from(format!("/tmp/seal-probe-{}", env.nonce));

        let inside = Mode::Namespaces.run_ok(&env, &probe, &args, &[]);
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
        env.direct_ok(&probe, &args);
        assert!(host_file.exists(), "positive control did not write /tmp");
        let _ = fs::remove_file(&host_file);
    });
}

#[test]
fn only_the_named_input_is_visible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "inputs");
        let (probe, args, input) = probes::inputs_probe(&env, "");

        let p = Mode::Namespaces
            .run_ok(&env, &probe, &args, &["--in", input.to_str().unwrap()])
            .probe();
        probes::expect_only_the_input(&p, "ENOENT", "input.txt");

        // Positive control.
        probes::expect_the_sibling_too(&env.direct_ok(&probe, &args), &env);
    });
}

const DEV: &str = include_str!("probes/isolation_files/dev.py");

#[test]
fn dev_is_minimal() {
    each_variant(|v| {
        let env = TestEnv::new(v, "dev");
        let probe = env.probe("dev", DEV);
        let inside = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]);
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
        let host_dev = env.direct_ok(&probe, "{}").get("ls_dev").to_string();
        assert!(
            host_dev.split(',').any(|e| !allowed.contains(&e)),
            "positive control: the host's /dev ({host_dev}) has nothing the sandbox hides"
        );
    });
}
