//! What a user relies on: exit codes, signals, stdin, a terminal, multiprocessing, subprocess,
//! threads, --out/--in/--share, --env/--pass-env, scripts with arguments, --timeout, -v.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use support::isolation::*;

fn py(env: &TestEnv, code: &str) -> Output {
    env.seal_run(&[], &["python3", "-c", code])
}

fn assert_one_seal_line(out: &Output) {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("seal: "),
        "expected exactly one `seal: ...` line on stderr\n{}",
        out.describe()
    );
}

#[test]
fn exit_codes_are_the_programs_own() {
    each_variant(|v| {
        let env = TestEnv::new(v, "exit-codes");
        py(&env, "pass").expect_code(0);
        py(&env, "import sys; sys.exit(3)").expect_code(3);
        py(&env, "raise SystemExit(255)").expect_code(255);
        let uncaught = py(&env, "raise ValueError('boom')");
        uncaught.expect_code(1);
        assert!(uncaught.stderr.contains("ValueError: boom"));
    });
}

#[test]
fn missing_program_exits_127_and_non_executable_126() {
    each_variant(|v| {
        let env = TestEnv::new(v, "exit-127");
        let missing = env.seal_run(&[], &[&format!("no-such-program-{}", env.nonce)]);
        missing.expect_code(127);
        assert_one_seal_line(&missing);

        let missing_path = env.seal_run(&[], &["/no/such/dir/program"]);
        missing_path.expect_code(127);
        assert_one_seal_line(&missing_path);

        let data = env.project.join("data.txt");
        env.write_owned(&data, "not a program\n", 0o644);
        let not_exec = env.seal_run(&[], &[data.to_str().unwrap()]);
        not_exec.expect_code(126);
        assert_one_seal_line(&not_exec);
    });
}

#[test]
fn program_killed_by_a_signal_exits_128_plus_n() {
    each_variant(|v| {
        let env = TestEnv::new(v, "self-kill");
        py(
            &env,
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        )
        .expect_code(137);
        py(
            &env,
            "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
        )
        .expect_code(139);
    });
}

// The handler writes with os.write, never print: CPython also runs signal handlers inside
// BufferedWriter.flush (it checks for signals after each write(2), holding the buffer's lock),
// and the harness sends SIGTERM as soon as "ready" is readable, which on a loaded machine is
// often before `print("ready", flush=True)` has returned. A handler printing to stdout there
// dies with "RuntimeError: reentrant call inside <_io.BufferedWriter name='<stdout>'>".
const WAIT_FOR_SIGTERM: &str = include_str!("probes/functional/wait_for_sigterm.py");

#[test]
fn sigterm_to_seal_reaches_the_program() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sigterm");
        let script = env.project.join("wait.py");
        env.write_owned(&script, WAIT_FOR_SIGTERM, 0o644);
        for mode in ["handler", "default"] {
            let mut r = env
                .seal()
                .arg("--")
                .arg(&script)
                .arg(mode)
                .deadline(Duration::from_secs(60))
                .spawn();
            r.wait_for_stdout("ready", Duration::from_secs(30));
            r.signal(libc::SIGTERM);
            let out = r.finish();
            out.expect_code(143);
            assert!(out.elapsed < Duration::from_secs(45), "{}", out.describe());
            if mode == "handler" {
                assert!(out.stdout.contains("got SIGTERM"), "{}", out.describe());
            }
            assert!(!out.stdout.contains("not interrupted"));
        }
    });
}

#[test]
fn sigint_to_seal_interrupts_the_program() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sigint");
        let mut r = env
            .seal()
            .args(&[
                "--",
                "python3",
                "-c",
                "import time; print('ready', flush=True); time.sleep(60)",
            ])
            .deadline(Duration::from_secs(60))
            .spawn();
        r.wait_for_stdout("ready", Duration::from_secs(30));
        r.signal(libc::SIGINT);
        let out = r.finish();
        out.expect_code(130);
        assert!(
            out.stderr.contains("KeyboardInterrupt"),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn stdin_is_piped_to_the_program() {
    each_variant(|v| {
        let env = TestEnv::new(v, "stdin");
        let out = env
            .seal()
            .args(&["--", "python3", "-c", "import sys; print(sys.stdin.read())"])
            .stdin(b"hi\n")
            .output();
        out.expect_success();
        assert_eq!(out.stdout, "hi\n\n", "{}", out.describe());

        let big: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let out = env
            .seal()
            .args(&[
                "--",
                "python3",
                "-c",
                "import sys, hashlib; print(len(sys.stdin.buffer.read()))",
            ])
            .stdin(&big)
            .output();
        out.expect_success();
        assert_eq!(out.stdout.trim(), "2000000");
    });
}

const POOL: &str = include_str!("probes/functional/pool.py");

#[test]
fn multiprocessing_pool_works() {
    each_variant(|v| {
        let env = TestEnv::new(v, "mp");
        let script = env.project.join("pool.py");
        env.write_owned(&script, POOL, 0o644);
        let out = env.seal_run(&[], &["pool.py"]);
        out.expect_success();
        for method in ["fork", "spawn", "forkserver"] {
            assert!(
                out.stdout.contains(&format!("{method} 328350")),
                "{method}\n{}",
                out.describe()
            );
        }
    });
}

const SUBPROCESS_THREADS: &str = include_str!("probes/functional/subprocess_threads.py");

#[test]
fn subprocess_and_threads_work() {
    each_variant(|v| {
        let env = TestEnv::new(v, "subprocess");
        let script = env.project.join("sub.py");
        env.write_owned(&script, SUBPROCESS_THREADS, 0o644);
        let out = env.seal_run(&[], &["sub.py"]);
        out.expect_success();
        let expected_threads: u64 = (0..16u64)
            .map(|i| {
                let n = 10000 * (i + 1);
                n * (n - 1) / 2
            })
            .sum();
        for line in [
            "python3: 0 42".to_string(),
            format!("executable: 0 {}", env.project.display()),
            "shell: 0 /home/sandbox".to_string(),
            format!("threads: {expected_threads}"),
        ] {
            assert!(out.stdout.contains(&line), "{line:?}\n{}", out.describe());
        }
    });
}

#[test]
fn out_dir_is_created_and_receives_files() {
    each_variant(|v| {
        let env = TestEnv::new(v, "out");
        let results = env.home.join("results");
        assert!(!results.exists());
        let file = results.join("sub/r.txt");
        let code = format!(
            "import os; os.makedirs({d:?}, exist_ok=True); open({f:?}, 'w').write('result-{n}')",
            d = file.parent().unwrap().to_str().unwrap(),
            f = file.to_str().unwrap(),
            n = env.nonce
        );
        let out = env.seal_run(
            &["--out", results.to_str().unwrap()],
            &["python3", "-c", &code],
        );
        out.expect_success();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("result-{}", env.nonce)
        );
        // Files written inside belong to the user who ran seal.
        let meta = fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (v.uid, v.gid));
    });
}

#[test]
fn in_paths_are_readable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "in");
        let data = env.dir.join("dataset");
        env.mkdir_owned(&data, 0o755);
        env.write_owned(&data.join("a.csv"), "x,y\n1,2\n", 0o644);
        let single = env.dir.join("config.toml");
        env.write_owned(&single, "answer = 42\n", 0o644);
        let code = format!(
            "import os; print(sorted(os.listdir({d:?}))); print(open({a:?}).read().strip()); print(open({s:?}).read().strip())",
            d = data.to_str().unwrap(),
            a = data.join("a.csv").to_str().unwrap(),
            s = single.to_str().unwrap()
        );
        let out = env.seal_run(
            &[
                "--in",
                data.to_str().unwrap(),
                "--in",
                single.to_str().unwrap(),
            ],
            &["python3", "-c", &code],
        );
        out.expect_success();
        assert_eq!(
            out.stdout,
            "['a.csv']\nx,y\n1,2\nanswer = 42\n",
            "{}",
            out.describe()
        );
    });
}

#[test]
fn share_dir_is_read_write() {
    each_variant(|v| {
        let env = TestEnv::new(v, "share");
        let shared = env.dir.join("shared");
        env.mkdir_owned(&shared, 0o755);
        env.write_owned(&shared.join("in.txt"), "from host", 0o644);
        let code = format!(
            "d = {d:?}; print(open(d + '/in.txt').read()); open(d + '/out.txt', 'w').write('from sandbox')",
            d = shared.to_str().unwrap()
        );
        let out = env.seal_run(
            &["--share", shared.to_str().unwrap()],
            &["python3", "-c", &code],
        );
        out.expect_success();
        assert_eq!(out.stdout, "from host\n");
        assert_eq!(
            fs::read_to_string(shared.join("out.txt")).unwrap(),
            "from sandbox"
        );
    });
}

#[test]
fn env_and_pass_env_set_exactly_what_is_named() {
    each_variant(|v| {
        let env = TestEnv::new(v, "env-flags");
        let code = "import os; print(os.environ.get('FOO')); print(os.environ.get('GITHUB_TOKEN')); print(os.environ.get('OPENAI_API_KEY'))";
        let out = env.seal_run(
            &["--env", "FOO=bar=baz", "--pass-env", "GITHUB_TOKEN"],
            &["python3", "-c", code],
        );
        out.expect_success();
        assert_eq!(
            out.stdout,
            format!("bar=baz\n{}\nNone\n", env.canary_env_value("GITHUB_TOKEN")),
            "{}",
            out.describe()
        );
        // --env overrides what seal sets itself.
        let out = env.seal_run(
            &["--env", "HOME=/tmp"],
            &["python3", "-c", "import os; print(os.environ['HOME'])"],
        );
        out.expect_success();
        assert_eq!(out.stdout, "/tmp\n");
    });
}

const SCRIPT: &str = include_str!("probes/functional/script.py");

#[test]
fn py_script_runs_with_its_arguments() {
    each_variant(|v| {
        let env = TestEnv::new(v, "script");
        env.write_owned(&env.project.join("script.py"), SCRIPT, 0o644);
        let out = env.seal_run(&[], &["script.py", "--flag", "two words", "-v"]);
        out.expect_success();
        let expected = format!(
            "{{\"argv\": [\"--flag\", \"two words\", \"-v\"], \"cwd\": \"{}\", \"exe\": ",
            env.project.display()
        );
        assert!(out.stdout.starts_with(&expected), "{}", out.describe());
        // Without `--` too.
        let out = env.seal().args(&["script.py", "a", "--b"]).output();
        out.expect_success();
        assert!(
            out.stdout.contains("\"argv\": [\"a\", \"--b\"]"),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn timeout_kills_the_whole_sandbox_and_exits_124() {
    each_variant(|v| {
        let env = TestEnv::new(v, "timeout");
        // A unique duration is the marker of this test's sleep processes.
        let digits: String = env
            .nonce
            .chars()
            .map(|c| char::from(b'0' + (c.to_digit(16).unwrap() % 10) as u8))
            .collect();
        let marker = format!("30.{digits}");
        let out = env
            .seal()
            .args(&["--timeout", "1s", "--", "sleep", &marker])
            .deadline(Duration::from_secs(60))
            .output();
        out.expect_code(124);
        assert!(out.elapsed < Duration::from_secs(20), "{}", out.describe());
        assert!(out.stderr.contains("timeout"), "{}", out.describe());
        let left = wait_procs_gone(&marker, Duration::from_secs(5));
        assert!(left.is_empty(), "left behind: {left:?}");

        // With children of the program, too.
        let code = format!(
            "import subprocess, time; subprocess.Popen(['sleep', '{marker}']); time.sleep(30)"
        );
        let out = env
            .seal()
            .args(&["--timeout", "1500ms", "--", "python3", "-c", &code])
            .deadline(Duration::from_secs(60))
            .output();
        out.expect_code(124);
        let left = wait_procs_gone(&marker, Duration::from_secs(5));
        assert!(left.is_empty(), "left behind: {left:?}");
    });
}

#[test]
fn terminal_is_a_tty_and_ctrl_c_interrupts() {
    each_variant(|v| {
        let env = TestEnv::new(v, "tty");
        let mut s = env
            .seal()
            .args(&[
                "--",
                "python3",
                "-c",
                "import sys, time\n\
                 print('isatty', sys.stdin.isatty(), sys.stdout.isatty(), flush=True)\n\
                 time.sleep(30)\n\
                 print('slept through', flush=True)",
            ])
            .deadline(Duration::from_secs(60))
            .spawn_in_pty();
        s.wait_for("isatty", Duration::from_secs(30));
        // Give the line a moment to be complete, then press ^C.
        std::thread::sleep(Duration::from_millis(200));
        s.send(b"\x03");
        let sent = std::time::Instant::now();
        let (code, _, transcript) = s.finish();
        assert!(
            transcript.contains("isatty True True"),
            "transcript:\n{transcript}"
        );
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "^C did not end the program quickly"
        );
        assert_ne!(code, 0, "transcript:\n{transcript}");
        assert!(
            transcript.contains("KeyboardInterrupt"),
            "transcript:\n{transcript}"
        );
        assert!(!transcript.contains("slept through"));
    });
}

#[test]
fn verbose_reports_enforcement() {
    each_variant(|v| {
        let env = TestEnv::new(v, "verbose");
        let out = env.seal_run(&["-v"], &["python3", "-c", "print('hello')"]);
        out.expect_success();
        assert_eq!(out.stdout, "hello\n");
        for key in [
            "seal: namespaces",
            "seal: landlock",
            "seal: seccomp",
            "seal: pids limit",
            "seal: exit status",
        ] {
            assert!(out.stderr.contains(key), "{key}\n{}", out.describe());
        }
        // Every -v line is seal's own.
        for line in out.stderr.lines() {
            assert!(line.starts_with("seal: "), "{line:?}");
        }
        // Without -v seal prints nothing of its own.
        let quiet = env.seal_run(&[], &["python3", "-c", "print('hello')"]);
        quiet.expect_success();
        assert_eq!(quiet.stderr, "", "{}", quiet.describe());
        // --require-landlock runs where Landlock is fully enforced.
        if out.stderr.contains("seal: landlock         fully enforced") {
            env.seal_run(&["--require-landlock"], &["python3", "-c", "pass"])
                .expect_success();
        } else {
            eprintln!("NOTE: Landlock is not fully enforced here; --require-landlock not run");
        }
    });
}

const FOREIGN_IDS: &str = include_str!("probes/functional/foreign_ids.py");

/// Only the sandbox's own uid and gid are mapped; chown or set*id to any other id fails with
/// EPERM, as for an ordinary user (CPython's test_os and test_subprocess expect it), not with
/// the kernel's EINVAL, and the mapped ids and -1 still work.
#[test]
fn foreign_ids_fail_with_eperm_like_for_an_ordinary_user() {
    each_variant(|v| {
        let env = TestEnv::new(v, "foreign-ids");
        let probe = env.probe("foreign_ids", FOREIGN_IDS);
        let p = env.run_probe(&probe, "{}", &[]);
        p.expect_success();
        let p = p.probe();
        for key in [
            "chown_other_uid",
            "chown_other_gid",
            "chown_root",
            "popen_user",
            "popen_group",
            "setuid_root",
            "setresgid_other",
        ] {
            p.expect_eq(key, "EPERM");
        }
        for key in ["chown_unchanged", "chown_own", "setuid_own"] {
            p.expect_eq(key, "OK");
        }
    });
}

/// Open files: 4096 by default, as on most hosts, and a program that needs more may raise its
/// soft limit up to the host's hard limit, as it could outside.
#[test]
fn the_open_files_limit_can_be_raised_to_the_hosts_hard_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let host_hard = lim.rlim_max;
    each_variant(|v| {
        let env = TestEnv::new(v, "nofile");
        let out = py(
            &env,
            "import resource as r\n\
             soft, hard = r.getrlimit(r.RLIMIT_NOFILE)\n\
             print('before', soft, hard)\n\
             r.setrlimit(r.RLIMIT_NOFILE, (hard, hard))\n\
             print('after', *r.getrlimit(r.RLIMIT_NOFILE))",
        );
        out.expect_success();
        let want_soft = host_hard.min(4096);
        assert!(
            out.stdout
                .contains(&format!("before {want_soft} {host_hard}\n"))
                && out
                    .stdout
                    .contains(&format!("after {host_hard} {host_hard}\n")),
            "expected soft {want_soft} raisable to the host's hard {host_hard}\n{}",
            out.describe()
        );
    });
}

const SYSTEM_FACTS: &str = include_str!("probes/functional/system_facts.py");

/// The host's CPU numbering and /etc/os-release are readable (read-only copies); /sys shows
/// nothing else.
#[test]
fn cpu_numbering_and_os_release_are_visible_read_only() {
    let host =
        |p: &str| fs::read_to_string(p).map(|s| s.lines().next().unwrap_or("").trim().to_string());
    each_variant(|v| {
        let env = TestEnv::new(v, "system-facts");
        let probe = env.probe("system_facts", SYSTEM_FACTS);
        let p = env.run_probe(&probe, "{}", &[]);
        p.expect_success();
        let p = p.probe();
        for name in ["online", "possible", "present"] {
            match host(&format!("/sys/devices/system/cpu/{name}")) {
                Ok(value) => p.expect_eq(name, &value),
                Err(_) => p.expect_eq(name, "ENOENT"),
            }
        }
        p.expect_eq("sys", "devices");
        p.expect_eq("write_online", "EROFS");
        match host("/etc/os-release") {
            Ok(first) => p.expect_eq("os_release", &first),
            Err(_) => support::note(
                &v.name,
                "no /etc/os-release on this host: its copy is not checked",
            ),
        }
    });
}
