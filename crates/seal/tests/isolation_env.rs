//! The environment: only an allowlist of the host's variables reaches the program.

mod support;

use support::isolation::probes::{self, Mode};
use support::isolation::*;

#[test]
fn canary_env_vars_are_not_visible() {
    each_variant(|v| {
        let env = TestEnv::new(v, "env-canaries");
        let (probe, args) = probes::env_dump_probe(&env, CANARY_ENV);

        let p = Mode::Namespaces.run_ok(&env, &probe, &args, &[]).probe();
        probes::expect_canary_env(&p, "absent");

        probes::expect_canary_env(&env.direct_ok(&probe, &args), "HAS-CANARY");
    });
}

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
        let mut blocked = probes::blocked_env(&env);
        blocked.extend([
            ("PYTHONSTARTUP", format!("{home}/.pythonrc")),
            ("DOCKER_HOST", format!("unix://{run_dir}/docker.sock")),
        ]);
        for (k, val) in passed.iter().chain(blocked.iter()) {
            env.env.push((k.to_string(), val.clone()));
        }
        let (probe, args) = probes::env_dump_probe(&env, CANARY_ENV);

        let inside = Mode::Namespaces.run_ok(&env, &probe, &args, &[]);
        let p = inside.probe();
        probes::expect_env_allowlist(&p, &inside, &home, &["/root"]);
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
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("env:HOME", &home);
        c.expect_eq("env:AWS_SECRET_ACCESS_KEY", "HAS-CANARY");
        c.expect_eq("env:PIP_INDEX_URL", "HAS-CANARY");
        c.expect_eq("env:SSH_AUTH_SOCK", &probes::agent_sock(&env));
    });
}
