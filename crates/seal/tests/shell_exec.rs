//! `seal shell` and `seal exec`, as the calling user and (when that is root) as uid 65534.

mod support;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use support::cli::*;

/// `seal ARGS` in the scratch project as `uid`, fed `stdin`.
fn seal(s: &Scratch, uid: Option<u32>, args: &[&str], stdin: &str) -> Output {
    let mut child = s
        .command(uid, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn shell_runs_in_the_sandbox() {
    for uid in users() {
        let s = scratch(uid, &[]);
        let o = seal(
            &s,
            uid,
            &["shell", "--python", "/usr/bin/python3"],
            "echo \"id=$(id -u) host=$(hostname) home=$HOME\"; ls /root/.ssh 2>&1 | head -1; exit 7\n",
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(7), "{t}");
        assert!(t.contains("id=1000 host=sandbox home=/home/sandbox"), "{t}");
        assert!(t.contains("No such file or directory"), "{t}");
    }
}

#[test]
fn exec_runs_only_console_scripts_of_the_environment() {
    for uid in users() {
        let s = scratch(uid, &[]);
        // No environment yet: refused with one line, nothing runs.
        let o = seal(&s, uid, &["exec", "hello"], "");
        let t = text(&o);
        assert_eq!(o.status.code(), Some(125), "{t}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1, "{t}");

        // A venv with one console script, as an installer would leave it.
        let env = s.project.join(".seal/env");
        let made = Command::new("/usr/bin/python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&env)
            .status()
            .unwrap();
        assert!(made.success());
        let script = env.join("bin/hello");
        std::fs::write(
            &script,
            "#!/seal/env/bin/python\nimport os, sys\nprint('hello', os.getuid(), sys.prefix, sys.argv[1:])\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A package can overwrite pyvenv.cfg (a wheel's data files land anywhere in the env)
        // and name a script of its own as the base interpreter: seal must never run it on the
        // host. The interpreter comes from seal's own record next to the environment.
        let evil = s.project.join(".seal/env/evil");
        std::fs::create_dir_all(&evil).unwrap();
        let marker = s.project.join("HOST-RCE");
        for name in ["python3", "python3.11", "python3.12", "python3.13"] {
            let p = evil.join(name);
            std::fs::write(&p, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(
            env.join("pyvenv.cfg"),
            format!("home = {}\nversion = 3.11.2\n", evil.display()),
        )
        .unwrap();
        if let Some(u) = uid {
            chown_tree(&s.project, u);
        }
        let o = seal(&s, uid, &["exec", "hello"], "");
        let t = text(&o);
        assert_eq!(o.status.code(), Some(125), "no record yet: {t}");
        assert!(t.contains("seal has no record of the interpreter"), "{t}");
        assert!(
            !marker.exists(),
            "seal ran the environment's pyvenv.cfg home on the host"
        );
        let base = std::fs::canonicalize("/usr/bin/python3").unwrap();
        std::fs::write(
            s.project.join(".seal/interpreter"),
            format!("{}\n", base.display()),
        )
        .unwrap();
        if let Some(u) = uid {
            chown_tree(&s.project, u);
        }

        let o = seal(&s, uid, &["exec", "hello", "-x", "--y"], "");
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("hello 1000 /seal/env ['-x', '--y']"), "{t}");
        assert!(
            !marker.exists(),
            "seal ran the environment's pyvenv.cfg home on the host"
        );

        // Not a script of the environment (a system program, a path): refused, not run.
        for name in ["ls", "/bin/ls", "../bin/hello"] {
            let o = seal(&s, uid, &["exec", name], "");
            let t = text(&o);
            assert_eq!(o.status.code(), Some(125), "{name}: {t}");
            assert!(String::from_utf8_lossy(&o.stdout).is_empty(), "{name}: {t}");
        }
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_seal"))
            .args(args)
            .output()
            .unwrap()
    };
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let text = String::from_utf8_lossy(&bash.stdout);
    for word in ["install", "doctor", "--out-quota", "--allow-sdist"] {
        assert!(text.contains(word), "bash completion lacks {word}");
    }
    let man = run(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.contains(".TH seal 1") && text.contains("doctor"),
        "{text}"
    );
    let bad = run(&["completions", "nosuchshell"]);
    assert_eq!(bad.status.code(), Some(125));
}
