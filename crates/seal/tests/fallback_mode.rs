//! How seal chooses and announces the Landlock + seccomp fallback, what it refuses there, and
//! what `seal doctor` says on such a host. The host without user namespaces is simulated by
//! tests/support/no_userns.py (a seccomp filter making clone/unshare with CLONE_NEWUSER fail
//! with EPERM, installed before seal is executed); this host itself allows them, which the
//! positive controls (the same command without the wrapper) show.
//!
//! The threats stopped in fallback mode are in fallback_threats.rs, what it does not stop in
//! fallback_limitations.rs.

mod support;

use std::fs;
use std::net::TcpListener;

use support::isolation::probes::Mode;
use support::isolation::*;

const WHERE_AM_I: &str = include_str!("probes/fallback_mode/where_am_i.py");

fn stderr_lines(out: &Output) -> Vec<&str> {
    out.stderr.lines().collect()
}

/// The degraded-isolation warning lines of a run.
fn warnings(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with(DEGRADED_WARNING))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The choice of mode

#[test]
fn auto_mode_picks_the_fallback_and_warns_once_even_with_quiet() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-auto");
        let probe = env.probe("where", WHERE_AM_I);

        for flags in [&[][..], &["-q"][..]] {
            // One line, the reason included, and -q does not hide it: the user did not ask
            // for less isolation.
            let out = Mode::Fallback.run_ok(&env, &probe, "{}", flags);
            assert_eq!(stderr_lines(&out).len(), 1, "{}", out.describe());
            let w = warnings(&out)[0];
            for needle in ["Landlock + seccomp fallback", "seal doctor"] {
                assert!(w.contains(needle), "{needle:?} missing from {w:?}");
            }
            let p = out.probe();
            p.expect_eq("uid", &v.uid.to_string());
            p.expect_eq("proc", "EACCES");
        }

        // Positive control: without the wrapper the same command runs in the namespaces.
        let ns = Mode::Namespaces.run_ok(&env, &probe, "{}", &[]);
        assert!(warnings(&ns).is_empty(), "{}", ns.describe());
        let p = ns.probe();
        p.expect_eq("uid", "1000");
        p.expect_eq("proc", "Name:");
    });
}

#[test]
fn quiet_silences_the_warning_only_when_the_fallback_was_requested() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-quiet");
        let probe = env.probe("where", WHERE_AM_I);

        for mode in [Mode::Fallback, Mode::Namespaces] {
            let run = |flags: &[&str]| {
                let out = mode
                    .seal(&env)
                    .args(&["--isolation", "landlock"])
                    .args(flags)
                    .arg("--")
                    .arg(&probe)
                    .output();
                env.assert_no_canary(&out);
                out.expect_success();
                let p = out.probe();
                p.expect_eq("uid", &v.uid.to_string());
                p.expect_eq("proc", "EACCES");
                out
            };
            let loud = run(&[]);
            assert_eq!(warnings(&loud).len(), 1, "{}", loud.describe());
            assert!(
                warnings(&loud)[0].contains("requested with --isolation landlock"),
                "{}",
                loud.describe()
            );
            let quiet = run(&["-q"]);
            assert_eq!(quiet.stderr, "", "{}", quiet.describe());
        }
    });
}

#[test]
fn isolation_namespaces_refuses_with_one_line_instead_of_falling_back() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-ns-only");
        let probe = env.probe("where", WHERE_AM_I);
        let args = jobj(&[("nonce", jstr(&env.nonce))]);

        let out = env
            .seal_no_userns()
            .args(&["--isolation", "namespaces", "--"])
            .arg(&probe)
            .arg(&args)
            .output();
        out.expect_code(125);
        assert_eq!(stderr_lines(&out).len(), 1, "{}", out.describe());
        assert!(out.stderr.starts_with("seal: "), "{}", out.describe());
        assert!(warnings(&out).is_empty(), "{}", out.describe());
        assert!(
            !out.stdout.contains(&env.nonce),
            "the program ran\n{}",
            out.describe()
        );

        // Positive control: the same command runs where user namespaces work.
        let ns = env
            .seal()
            .args(&["--isolation", "namespaces", "--"])
            .arg(&probe)
            .arg(&args)
            .output();
        ns.expect_success();
        ns.probe().expect_eq("ran", &env.nonce);
    });
}

#[test]
fn isolation_landlock_runs_the_fallback_on_a_host_with_user_namespaces() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-landlock");
        let probe = env.probe(
            "where",
            &format!(
                "{WHERE_AM_I}\nattempt(\"socket\", lambda: socket.socket() and None)\n\
                 attempt(\"canary\", read_head, os.path.join(A[\"host_home\"], \".ssh/id_rsa\"))"
            ),
        );
        let args = jobj(&[("host_home", jpath(&env.home))]);

        let out = env
            .seal()
            .args(&["--isolation", "landlock", "--"])
            .arg(&probe)
            .arg(&args)
            .output();
        env.assert_no_canary(&out);
        out.expect_success();
        assert_eq!(warnings(&out).len(), 1, "{}", out.describe());
        let p = out.probe();
        p.expect_eq("uid", &v.uid.to_string());
        p.expect_eq("proc", "EACCES");
        p.expect_eq("socket", "EACCES");
        p.expect_eq("canary", "EACCES");

        // Control: the default mode on this host is the namespace sandbox.
        let c = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        c.expect_eq("uid", "1000");
        c.expect_eq("socket", "OK");
        c.expect_eq("canary", "ENOENT");
    });
}

#[test]
fn require_network_isolation_and_landlock_are_met_by_the_fallback() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-require");
        let probe = env.probe(
            "where",
            &format!("{WHERE_AM_I}\nattempt(\"socket\", lambda: socket.socket() and None)"),
        );
        let doctor = env.seal_bare().args(&["doctor", "--json"]).output();
        let facts: serde_json::Value = serde_json::from_str(&doctor.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", doctor.describe()));
        let abi = facts["facts"]["landlock_abi"]["Ok"].as_u64().unwrap_or(0);
        let all = [
            "--require",
            "network-isolation",
            "--require",
            "landlock",
            "--require-landlock",
        ];
        if abi >= 6 {
            let out = Mode::Fallback.run_ok(&env, &probe, "{}", &all);
            out.probe().expect_eq("socket", "EACCES");
            return;
        }
        // Older Landlock cannot enforce every rule: "fully enforced" is refused in words, and
        // the program never starts.
        eprintln!("NOTE: Landlock ABI {abi} < 6: --require-landlock must be refused here");
        let out = Mode::Fallback.run(&env, &probe, "{}", &all);
        out.expect_code(125);
        assert!(
            out.stderr.contains("run without --require-landlock") && !out.stdout.contains("PROBE"),
            "{}",
            out.describe()
        );
        let out = Mode::Fallback.run_ok(&env, &probe, "{}", &["--require", "network-isolation"]);
        out.probe().expect_eq("socket", "EACCES");
    });
}

// ---------------------------------------------------------------------------------------------
// What needs a mount or network namespace is refused in one line

#[test]
fn staged_out_in_copy_and_publish_are_refused_in_one_line() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-refusals");
        let copy_src = env.dir.join("copy-src");
        env.mkdir_owned(&copy_src, 0o755);
        env.write_owned(&copy_src.join("data.txt"), "data\n", 0o644);
        let staged = env.dir.join("staged");
        env.mkdir_owned(&staged, 0o755);
        // A free loopback port, released again for seal to take.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port().to_string()
        };
        let program = "import os, sys\nprint('RAN-' + sys.argv[1])\n\
                       open(os.path.join(sys.argv[2], 'result.txt'), 'w').write('result')\n\
                       print(open(os.path.join(sys.argv[3], 'data.txt')).read())";
        let cases: [(&str, Vec<&str>); 3] = [
            ("--out", vec!["--out", staged.to_str().unwrap()]),
            ("--in-copy", vec!["--in-copy", copy_src.to_str().unwrap()]),
            ("--publish", vec!["--publish", &port]),
        ];
        for (flag, flags) in &cases {
            for explicit in [false, true] {
                let mut run = env.seal_no_userns();
                if explicit {
                    run = run.args(&["--isolation", "landlock"]);
                }
                let out = run
                    .args(flags)
                    .args(&["--", PYTHON, "-c", program, &env.nonce])
                    .arg(&staged)
                    .arg(&copy_src)
                    .output();
                out.expect_code(125);
                let lines = stderr_lines(&out);
                assert_eq!(lines.len(), 1, "{flag}: {}", out.describe());
                assert!(
                    lines[0].starts_with("seal: ") && lines[0].contains(flag),
                    "{flag}: {}",
                    out.describe()
                );
                assert!(
                    lines[0].contains("user namespaces are unavailable"),
                    "{flag}: {}",
                    out.describe()
                );
                assert!(!out.stdout.contains(&env.nonce), "{flag}: the program ran");
                // What to run instead, with the user's own path.
                let instead = match *flag {
                    "--out" => format!("use --out-live {}", staged.display()),
                    "--in-copy" => format!("use --in {}", copy_src.display()),
                    _ => "seal doctor".to_string(),
                };
                assert!(lines[0].contains(&instead), "{flag}: {}", out.describe());
            }
        }
        assert!(!staged.join("result.txt").exists());

        // Positive control: with user namespaces --out and --in-copy work.
        let out = env
            .seal()
            .args(&["--out", staged.to_str().unwrap()])
            .args(&["--in-copy", copy_src.to_str().unwrap()])
            .args(&["--", PYTHON, "-c", program, &env.nonce])
            .arg(&staged)
            .arg(&copy_src)
            .output();
        out.expect_success();
        assert!(out.stdout.contains(&format!("RAN-{}", env.nonce)));
        assert_eq!(
            fs::read_to_string(staged.join("result.txt")).unwrap(),
            "result"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Reports and exit statuses

#[test]
fn verbose_report_names_the_fallback() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-verbose");
        let out = env
            .seal_no_userns()
            .args(&["-v", "--", PYTHON, "-c", "pass"])
            .output();
        out.expect_success();
        assert_fell_back(&out);
        for needle in [
            "seal: namespaces       none (user namespaces unavailable)",
            "your own uid",
            "seal: exit status      0",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{needle:?}\n{}",
                out.describe()
            );
        }
    });
}

#[test]
fn exit_statuses_are_the_programs_own() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-exit");
        let cases: [(&[&str], i32); 3] = [
            (&[PYTHON, "-c", "import sys; sys.exit(3)"], 3),
            (
                &[
                    PYTHON,
                    "-c",
                    "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                ],
                128 + libc::SIGKILL,
            ),
            (&["/nonexistent-program"], 127),
        ];
        for (program, code) in cases {
            let out = env.seal_no_userns().arg("--").args(program).output();
            out.expect_code(code);
            assert_fell_back(&out);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// seal shell and seal exec

#[test]
fn shell_runs_in_fallback_mode() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-shell");
        let key = env.home.join(".ssh/id_rsa");
        let script = format!(
            "echo \"id=$(id -u)\"\n\
             cat {key} >/dev/null 2>&1; echo \"cat=$?\"\n\
             touch {project}/planted 2>/dev/null; echo \"touch=$?\"\n\
             echo \"home=$HOME\"\n\
             exit 7\n",
            key = key.display(),
            project = env.project.display()
        );
        let out = env
            .seal_bare_no_userns()
            .args(&["shell", "--python", PYTHON])
            .stdin(script.as_bytes())
            .output();
        env.assert_no_canary(&out);
        out.expect_code(7);
        assert_fell_back(&out);
        for needle in [format!("id={}", v.uid), "cat=1".into(), "touch=1".into()] {
            assert!(
                out.stdout.contains(&needle),
                "{needle:?}\n{}",
                out.describe()
            );
        }
        assert!(
            !out.stdout.contains(&format!("home={}", env.home.display())),
            "{}",
            out.describe()
        );
        assert!(!env.project.join("planted").exists());

        // Positive control: the same commands without seal reach both.
        let direct = env
            .host_command("/bin/sh")
            .stdin(script.as_bytes())
            .output();
        direct.expect_code(7);
        assert!(direct.stdout.contains("cat=0") && direct.stdout.contains("touch=0"));
    });
}

const CONSOLE_SCRIPT: &str = include_str!("probes/fallback_mode/console_script.py");

#[test]
fn exec_runs_console_scripts_of_the_environment_in_fallback_mode() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-exec");
        // A venv with one console script, as an installer would leave it (its #! line names
        // the path inside the namespace sandbox, which does not exist in the fallback).
        let venv = env.project.join(".seal/env");
        env.mkdir_owned(&env.project.join(".seal"), 0o755);
        env.host_command(PYTHON)
            .args(&["-I", "-m", "venv", "--without-pip"])
            .arg(&venv)
            .output()
            .expect_success();
        env.write_owned(&venv.join("bin/hello"), CONSOLE_SCRIPT, 0o755);
        // What `seal install` records next to the environment: the interpreter it used.
        let base = std::fs::canonicalize(PYTHON).unwrap();
        env.write_owned(
            &env.project.join(".seal/interpreter"),
            &format!("{}\n", base.display()),
            0o644,
        );
        let key = env.home.join(".ssh/id_rsa");

        let out = env
            .seal_bare_no_userns()
            .args(&["exec", "hello"])
            .arg(&key)
            .args(&["-x", "--y"])
            .output();
        env.assert_no_canary(&out);
        out.expect_success();
        assert_fell_back(&out);
        let want = format!(
            "hello {} {} ['-x', '--y'] Permission denied",
            v.uid,
            venv.display()
        );
        assert!(out.stdout.contains(&want), "{want:?}\n{}", out.describe());

        // A name that is not a console script of the environment is still refused.
        let out = env.seal_bare_no_userns().args(&["exec", "ls"]).output();
        out.expect_code(125);
        assert!(out.stdout.is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// seal doctor

#[test]
fn doctor_reports_the_block_the_fallback_and_the_remedy() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-doctor");

        let out = env.seal_bare_no_userns().arg("doctor").output();
        out.expect_code(2);
        let text = &out.stdout;
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", out.describe()))
                .to_string()
        };
        assert!(
            line("user namespaces ").contains("BLOCKED by"),
            "{}",
            out.describe()
        );
        assert!(
            line("mode ").contains("Landlock + seccomp FALLBACK"),
            "{}",
            out.describe()
        );
        let fixes: Vec<&str> = text
            .split("\nto fix:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no remedies\n{}", out.describe()))
            .lines()
            .collect();
        assert!(
            fixes.iter().any(|l| l.contains("CLONE_NEWUSER")),
            "the remedy for a seccomp policy refusing user namespaces is missing\n{}",
            out.describe()
        );
        assert!(text.contains("not stopped"), "{}", out.describe());

        let json = env
            .seal_bare_no_userns()
            .args(&["doctor", "--json"])
            .output();
        json.expect_code(2);
        let j: serde_json::Value = serde_json::from_str(&json.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", json.describe()));
        assert_eq!(j["facts"]["userns"]["allowed"], false, "{j:#}");
        assert!(j["facts"]["userns"]["blocked_by"].is_string(), "{j:#}");
        assert_eq!(j["facts"]["overlay_in_userns"], false, "{j:#}");
        let rows = j["isolation"].as_array().expect("isolation rows");
        let row = |area: &str| {
            rows.iter()
                .find(|r| r["area"] == area)
                .unwrap_or_else(|| panic!("no {area:?} row: {j:#}"))
        };
        assert!(row("file system")["run"]
            .as_str()
            .unwrap()
            .starts_with("DEGRADED"));
        assert!(row("not stopped")["run"].is_string());
        let remedies = j["remedies"].as_array().expect("remedies");
        assert!(
            remedies
                .iter()
                .any(|r| r.as_str().unwrap().contains("CLONE_NEWUSER")),
            "{j:#}"
        );

        // Positive control: without the wrapper this host has user namespaces.
        let ns = env.seal_bare().arg("doctor").output();
        ns.expect_code(0);
        assert!(line_of(&ns.stdout, "user namespaces ").ends_with("allowed"));
        assert!(line_of(&ns.stdout, "mode ").contains("namespaces"));
    });
}

fn line_of(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in\n{text}"))
        .to_string()
}

/// The issue: "What the fallback cannot stop is documented and shown by doctor". Each item is
/// a behaviour fallback_limitations.rs shows; doctor must name it on a host that gets the
/// fallback.
#[test]
fn doctor_names_what_the_fallback_does_not_stop() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbmode-doctor-limits");
        let out = env.seal_bare_no_userns().arg("doctor").output();
        out.expect_code(2);
        let text = out.stdout.to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '/')
            .collect();
        let missing: Vec<&str> = [
            ("runs as your uid", text.contains("your uid")),
            ("stat of paths outside the grants", words.contains(&"stat")),
            ("no /dev/shm", text.contains("/dev/shm")),
            (
                "priority of your other processes",
                text.contains("priority"),
            ),
        ]
        .into_iter()
        .filter(|(_, shown)| !shown)
        .map(|(what, _)| what)
        .collect();
        assert!(
            missing.is_empty(),
            "seal doctor does not show what the fallback cannot stop: {missing:?}\n{}",
            out.describe()
        );
    });
}
