//! The environment: only an allowlist of the host's variables reaches the program.

mod common;

use common::*;

const ENV_DUMP: &str = r#"
for k, v in os.environ.items():
    put("env:" + k, "HAS-CANARY" if "CANARY-" in v else v)
for n in A["canaries"]:
    put("get:" + n, "HAS-CANARY" if "CANARY-" in os.environ.get(n, "") else os.environ.get(n, "absent"))
"#;

#[test]
fn canary_env_vars_are_not_visible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "env-canaries");
        let probe = env.probe("env_dump", ENV_DUMP);
        let args = jobj(&[("canaries", jarr(CANARY_ENV))]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        for n in CANARY_ENV {
            p.expect_eq(&format!("get:{n}"), "absent");
        }

        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        for n in CANARY_ENV {
            c.expect_eq(&format!("get:{n}"), "HAS-CANARY");
        }
    });
}

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
fn environment_is_the_allowlist_only() {
    each_variant(|v| {
        let mut env = TestEnv::new(v, "env-allowlist");
        let home = env.home.to_str().unwrap().to_string();
        let run_dir = env.run_dir.to_str().unwrap().to_string();
        let passed = [
            ("TZ", "UTC".to_string()),
            ("LC_MESSAGES", "C".to_string()),
            ("LANGUAGE", "en".to_string()),
            ("TERM", "xterm-256color".to_string()),
            ("COLORTERM", "truecolor".to_string()),
            ("NO_COLOR", "1".to_string()),
        ];
        let blocked = [
            ("PYTHONPATH", format!("{home}/evil")),
            ("PYTHONSTARTUP", format!("{home}/.pythonrc")),
            ("SSH_AUTH_SOCK", format!("{run_dir}/agent.sock")),
            ("DOCKER_HOST", format!("unix://{run_dir}/docker.sock")),
            (
                "PIP_INDEX_URL",
                format!("https://user:{}@localhost/simple", env.tag),
            ),
            ("SEAL_TEST_UNLISTED", format!("{}-unlisted", env.tag)),
        ];
        for (k, val) in passed.iter().chain(blocked.iter()) {
            env.env.push((k.to_string(), val.clone()));
        }
        let probe = env.probe("env_dump", ENV_DUMP);
        let args = jobj(&[("canaries", jarr(CANARY_ENV))]);

        let inside = env.run_probe(&probe, &args, &[]);
        inside.expect_success();
        let p = inside.probe();
        for (key, value) in p.map.iter().filter(|(k, _)| k.starts_with("env:")) {
            let name = &key[4..];
            assert!(
                ALLOWED.contains(&name) || name.starts_with("LC_"),
                "{name}={value:?} is not in the allowlist\n{}",
                inside.describe()
            );
            assert!(
                !value.contains(&home) && !value.contains("/root") && value != "HAS-CANARY",
                "{name}={value:?} leaks the host's HOME or a canary"
            );
        }
        p.expect_eq("env:HOME", "/home/sandbox");
        p.expect_eq("env:TMPDIR", "/tmp");
        p.expect_eq("env:USER", "sandbox");
        p.expect_eq("env:LOGNAME", "sandbox");
        assert!(
            p.get("env:PATH").starts_with("/seal/bin:"),
            "PATH inside: {}",
            p.get("env:PATH")
        );
        p.expect_eq("env:LANG", "C.UTF-8");
        for (k, val) in &passed {
            p.expect_eq(&format!("env:{k}"), val);
        }
        for (k, _) in &blocked {
            assert!(!p.has(&format!("env:{k}")), "{k} reached the sandbox");
        }

        // Positive control: without seal all of it is there.
        let direct = env.run_direct(&probe, &args);
        direct.expect_success();
        let c = direct.probe();
        c.expect_eq("env:HOME", &home);
        c.expect_eq("env:AWS_SECRET_ACCESS_KEY", "HAS-CANARY");
        c.expect_eq("env:PIP_INDEX_URL", "HAS-CANARY");
        c.expect_eq("env:SSH_AUTH_SOCK", &blocked[2].1);
    });
}
