//! Ubuntu 23.10+ (`kernel.apparmor_restrict_unprivileged_userns=1`), emulated: a user
//! namespace can be created, but it holds no capabilities, so every other namespace, setns and
//! every mount are refused with EPERM (`tests/support/no_userns.py --without-caps`). seal must
//! not take the successful namespace creation for working namespaces: `seal doctor` names the
//! case in its own row and says the run mode is the fallback, and `seal run` falls back (with
//! its warning) and still keeps the files, the network and the program's survivors contained.
//! Root and uid 65534 alike; each test has a positive control without the wrapper.
//!
//! What the emulation cannot show (a seccomp filter cannot tell which file a write goes to):
//! on Ubuntu the id map write is refused too. That case, and the naming of AppArmor when the
//! sysctl is on, are covered by doctor's unit tests.

mod support;

use std::fs;

use support::isolation::probes::{self, Mode};
use support::isolation::*;

const CANNOT_RUN: &str = "allowed but without capabilities";

#[test]
fn doctor_names_userns_without_capabilities_and_the_fallback() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ubuntu-doctor");
        let out = env.seal_bare_userns_without_caps().arg("doctor").output();
        out.expect_code(2);
        let line = |prefix: &str| {
            out.stdout
                .lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", out.describe()))
                .to_string()
        };
        let row = line("user namespaces ");
        assert!(row.contains(CANNOT_RUN), "{}", out.describe());
        assert!(!row.contains("BLOCKED"), "{}", out.describe());
        assert!(
            line("mode ").contains("Landlock + seccomp FALLBACK"),
            "{}",
            out.describe()
        );
        let fixes = out
            .stdout
            .split("\nto fix:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no remedies\n{}", out.describe()));
        assert!(fixes.contains("CLONE_NEWUSER"), "{}", out.describe());
        assert!(!fixes.contains("seccomp=unconfined"), "{}", out.describe());

        let json = env
            .seal_bare_userns_without_caps()
            .args(&["doctor", "--json"])
            .output();
        json.expect_code(2);
        let j: serde_json::Value = serde_json::from_str(&json.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", json.describe()));
        assert_eq!(j["mode"], "fallback", "{j:#}");
        assert_eq!(
            j["facts"]["userns"]["state"], "without_capabilities",
            "{j:#}"
        );
        assert_eq!(j["facts"]["userns"]["allowed"], false, "{j:#}");
        assert!(j["facts"]["userns"]["refused_step"].is_string(), "{j:#}");
        assert!(
            j["user_namespaces"].as_str().unwrap().contains(CANNOT_RUN),
            "{j:#}"
        );

        // The plain block is told apart: creating the namespace itself refused.
        let blocked = env
            .seal_bare_no_userns()
            .args(&["doctor", "--json"])
            .output();
        let b: serde_json::Value = serde_json::from_str(&blocked.stdout).unwrap();
        assert_eq!(b["facts"]["userns"]["state"], "blocked", "{b:#}");

        // Positive control: this host's user namespaces work.
        let ns = env.seal_bare().args(&["doctor", "--json"]).output();
        ns.expect_code(0);
        let n: serde_json::Value = serde_json::from_str(&ns.stdout).unwrap();
        assert_eq!(n["facts"]["userns"]["state"], "allowed", "{n:#}");
        assert_eq!(n["mode"], "namespaces", "{n:#}");
    });
}

/// A capability-less user namespace is not mistaken for a sandbox: the run falls back and the
/// canaries stay unread; `--isolation namespaces` refuses instead.
#[test]
fn run_falls_back_and_keeps_the_home_canaries_out() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ubuntu-canaries");
        let (probe, args) = probes::read_canaries_probe(&env, "");

        let p = Mode::UbuntuFallback
            .run_ok(&env, &probe, &args, &[])
            .probe();
        probes::expect_canaries_unread(&p, &["ENOENT"], &["EACCES"]);

        let refused = env
            .seal_userns_without_caps()
            .args(&["--isolation", "namespaces", "--"])
            .arg(&probe)
            .arg(&args)
            .output();
        refused.expect_code(125);
        assert!(!refused.stdout.contains("PROBE"), "{}", refused.describe());

        // Positive control: the same probe without seal reads every canary.
        let c = env.direct_ok(&probe, &args);
        probes::expect_canaries_read(&c, &env);
    });
}

const TCP: &str = include_str!("probes/ubuntu_userns/tcp.py");

#[test]
fn run_falls_back_without_sockets() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ubuntu-net");
        let tcp = Sink::tcp();
        let probe = probes::exfil_probe(&env, "tcp", TCP);
        let marker = format!("marker-{}", env.nonce);
        let args = jobj(&[
            ("tcp_port", tcp.port.to_string()),
            ("marker", jstr(&marker)),
            ("host_home", jpath(&env.home)),
        ]);

        let p = Mode::UbuntuFallback
            .run_ok(&env, &probe, &args, &[])
            .probe();
        p.expect_eq("tcp", "EACCES");
        tcp.assert_untouched("TCP 127.0.0.1 from the fallback on a capability-less userns host");

        // Positive control: without seal the sink receives the marker and the secrets.
        let c = env.direct_ok(&probe, &args);
        c.expect_eq("tcp", "OK");
        probes::expect_exfil_received(&tcp, &env, &marker, "TCP control");
    });
}

#[test]
fn survivors_die_with_the_run() {
    each_variant(|v| {
        probes::survivor_dies_with_the_run(
            &TestEnv::new(v, "ubuntu-survivor"),
            Mode::UbuntuFallback,
        );
    });
}

/// The output flags that need a mount namespace are refused with what to run instead, and the
/// alternative they name works.
#[test]
fn staged_out_is_refused_with_the_alternative_that_works() {
    each_variant(|v| {
        let env = TestEnv::new(v, "ubuntu-out");
        let program = "import sys; open(sys.argv[1] + '/result.txt', 'w').write('result')";
        let out_dir = env.out.to_str().unwrap();
        let staged = env
            .seal_userns_without_caps()
            .args(&["--out", out_dir, "--", PYTHON, "-c", program, out_dir])
            .output();
        staged.expect_code(125);
        assert!(
            staged.stderr.contains(&format!("use --out-live {out_dir}")),
            "{}",
            staged.describe()
        );
        assert!(!env.out.join("result.txt").exists());

        let live = env
            .seal_userns_without_caps()
            .args(&["--out-live", out_dir, "--", PYTHON, "-c", program, out_dir])
            .output();
        live.expect_success();
        assert_fell_back(&live);
        assert_eq!(
            fs::read_to_string(env.out.join("result.txt")).unwrap(),
            "result"
        );
    });
}
