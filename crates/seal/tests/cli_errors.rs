//! seal's own errors: exit status 125 and exactly one line on stderr, starting `seal: `. The
//! program must not have started (nothing on stdout).

mod support;

use support::isolation::*;

fn expect_seal_error(out: &Output, mentions: &str) {
    out.expect_code(125);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("seal: "),
        "expected exactly one `seal: ...` line on stderr\n{}",
        out.describe()
    );
    assert!(
        lines[0].contains(mentions),
        "the message should mention {mentions:?}\n{}",
        out.describe()
    );
    assert_eq!(
        out.stdout,
        "",
        "the program must not run\n{}",
        out.describe()
    );
}

const PROGRAM: &[&str] = &["python3", "-c", "print('program ran')"];

#[test]
fn missing_in_path() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-in");
        let missing = env.dir.join("no-such-input");
        let out = env.seal_run(&["--in", missing.to_str().unwrap()], PROGRAM);
        expect_seal_error(&out, "no-such-input");
    });
}

#[test]
fn out_that_is_a_file() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-out");
        let file = env.home.join("a-file");
        env.write_owned(&file, "x", 0o644);
        let out = env.seal_run(&["--out", file.to_str().unwrap()], PROGRAM);
        expect_seal_error(&out, "a-file");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    });
}

#[test]
fn same_path_as_in_and_out() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-in-out");
        let d = env.out.to_str().unwrap();
        let out = env.seal_run(&["--in", d, "--out", d], PROGRAM);
        expect_seal_error(&out, "--in");
    });
}

#[test]
fn bad_timeout() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-timeout");
        for bad in ["abc", "10x", "0s", "-5s"] {
            let out = env.seal_run(&["--timeout", bad], PROGRAM);
            expect_seal_error(&out, "timeout");
        }
    });
}

#[test]
fn env_without_equals() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-env");
        let out = env.seal_run(&["--env", "FOO"], PROGRAM);
        expect_seal_error(&out, "FOO");
    });
}

#[test]
fn pass_env_of_an_unset_variable() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-pass-env");
        let out = env.seal_run(&["--pass-env", "SEAL_TEST_NOT_SET"], PROGRAM);
        expect_seal_error(&out, "SEAL_TEST_NOT_SET");
    });
}

#[test]
fn unknown_flag() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-flag");
        let out = env.seal_run(&["--no-such-flag"], PROGRAM);
        expect_seal_error(&out, "--no-such-flag");
    });
}

#[test]
fn missing_python() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-python");
        let out = env
            .seal_bare()
            .args(&["run", "--python", "/no/such/python3", "--"])
            .args(PROGRAM)
            .output();
        expect_seal_error(&out, "/no/such/python3");
    });
}

#[test]
fn project_dir_that_is_or_contains_home() {
    each_variant(|v| {
        let env = TestEnv::new(v, "cli-home");
        // The working directory is HOME itself.
        let out = env.seal().cwd(&env.home).arg("--").args(PROGRAM).output();
        expect_seal_error(&out, "home");
        // --project HOME, and --project of a parent of HOME.
        for p in [&env.home, &env.dir] {
            let out = env.seal_run(&["--project", p.to_str().unwrap()], PROGRAM);
            expect_seal_error(&out, "home");
        }
        // --project /.
        let out = env.seal_run(&["--project", "/"], PROGRAM);
        expect_seal_error(&out, "/");
        // A subdirectory of HOME is fine (it is where the test projects live).
        env.seal_run(&["--project", env.project.to_str().unwrap()], PROGRAM)
            .expect_success();
    });
}
