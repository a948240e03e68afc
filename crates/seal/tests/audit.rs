//! `seal audit`: each installed distribution's behaviour at interpreter start (.pth) and on
//! import, attributed to the right distribution, with decoys touched flagged, benign packages
//! showing nothing, and what is new since the last audit marked. Packages come from a PEP 503
//! index the test serves on 127.0.0.1; the only addresses they ever name are the sandbox's own
//! loopback (127.0.0.1:9, "localhost"), so nothing would leave even if the sandbox failed. As
//! root and as uid 65534.
//!
//! Not covered, and said so by seal audit itself: a native extension's own system calls (a C
//! extension calling connect() is not seen by Python's audit hooks).

mod support;

use serde_json::Value;
use support::install::*;

fn publish(index: &PyIndex, spec: WheelSpec) {
    let name = spec.name.clone();
    let a = index.wheel(&spec);
    index.publish(&name, &[&a]);
}

fn packages(index: &PyIndex, quiet_version: &str, quiet_body: &str) {
    publish(
        index,
        WheelSpec::new("thief", "1.0").file(
            "thief/__init__.py",
            "import os\nfor p in ('~/.ssh/id_rsa', '~/.aws/credentials'):\n    open(os.path.expanduser(p)).read()\n",
        ),
    );
    publish(
        index,
        WheelSpec::new("phoner", "1.0").file(
            "phoner/__init__.py",
            "import socket\ntry:\n    socket.getaddrinfo('localhost', 9)\nexcept OSError:\n    pass\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n",
        ),
    );
    publish(
        index,
        WheelSpec::new("spawner", "1.0").file(
            "spawner/__init__.py",
            "import subprocess\nsubprocess.run(['sh', '-c', 'true'])\n",
        ),
    );
    publish(
        index,
        WheelSpec::new("writer", "1.0").file(
            "writer/__init__.py",
            "import os\nwith open(os.path.expanduser('~/.bashrc'), 'a') as f:\n    f.write('# planted\\n')\n",
        ),
    );
    publish(
        index,
        WheelSpec::new("hooker", "1.0")
            .file("hooker.pth", "import hooker_payload\n")
            .file(
                "hooker_payload.py",
                "import os\ntry:\n    open(os.path.expanduser('~/.netrc')).read()\nexcept OSError:\n    pass\n",
            ),
    );
    publish(
        index,
        WheelSpec::new("caller", "1.0").file("caller/__init__.py", "import thief\n"),
    );
    publish(
        index,
        WheelSpec::new("quiet", quiet_version).file("quiet/__init__.py", quiet_body),
    );
}

const ALL: &[&str] = &[
    "thief", "phoner", "spawner", "writer", "hooker", "caller", "quiet",
];

fn behaviour(report: &Value, name: &str) -> Vec<(String, String, bool, String)> {
    report["packages"][name]["behaviour"]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {report}"))
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_string(),
                b["detail"].as_str().unwrap().to_string(),
                b["decoy"].as_bool().unwrap(),
                b["when"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(
    list: &[(String, String, bool, String)],
    kind: &str,
    detail: &str,
    decoy: bool,
    when: &str,
) -> bool {
    list.iter()
        .any(|(k, d, dec, w)| k == kind && d == detail && *dec == decoy && w == when)
}

#[test]
fn each_behaviour_is_attributed_and_what_is_new_is_marked() {
    each_variant(|v| {
        let env = TestEnv::new(v, "audit");
        let index = PyIndex::start(&env.dir.join("index"));
        packages(&index, "1.0", "import json\nVALUE = json.dumps({})\n");
        let mut first: Vec<&str> = ALL.to_vec();
        first.push("--audit");
        let out = env.install(&index.url(), &first);
        out.expect_success();
        assert!(
            out.stdout.contains("thief 1.0:\n")
                && out
                    .stdout
                    .contains("  DECOY reads ~/.ssh/id_rsa (import thief)\n")
                && out.stdout.contains("quiet 1.0: nothing unusual\n"),
            "seal install --audit did not audit\n{}",
            out.describe()
        );

        let out = env.seal(&["audit", "--json"]).output();
        out.expect_success();
        let report: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.describe()));
        let thief = behaviour(&report, "thief");
        for decoy in ["~/.ssh/id_rsa", "~/.aws/credentials"] {
            assert!(
                has(&thief, "reads", decoy, true, "import thief"),
                "{thief:?}"
            );
            // Imported by caller, the reads are still thief's own.
            assert!(
                has(&thief, "reads", decoy, true, "import caller"),
                "{thief:?}"
            );
        }
        assert!(behaviour(&report, "caller").is_empty(), "{report}");
        let phoner = behaviour(&report, "phoner");
        assert!(
            has(&phoner, "resolves", "localhost", false, "import phoner"),
            "{phoner:?}"
        );
        assert!(
            has(
                &phoner,
                "connects to",
                "127.0.0.1:9",
                false,
                "import phoner"
            ),
            "{phoner:?}"
        );
        let spawner = behaviour(&report, "spawner");
        assert!(
            has(&spawner, "runs", "sh -c true", false, "import spawner"),
            "{spawner:?}"
        );
        let writer = behaviour(&report, "writer");
        assert!(
            has(&writer, "writes", "~/.bashrc", false, "import writer"),
            "{writer:?}"
        );
        let hooker = behaviour(&report, "hooker");
        assert!(
            has(
                &hooker,
                "reads",
                "~/.netrc",
                true,
                "interpreter start via .pth"
            ),
            "{hooker:?}"
        );
        assert!(behaviour(&report, "quiet").is_empty(), "{report}");
        assert!(
            report["unattributed"].as_array().unwrap().is_empty(),
            "{report}"
        );
        assert!(report["not_observed"]
            .as_str()
            .unwrap()
            .contains("native code"));
        let record = std::fs::read_to_string(env.project.join("seal.audit.toml")).unwrap();
        assert!(record.contains("[package.thief]"), "{record}");

        // quiet 2.0 connects on import: the next audit says that is new, and nothing else is.
        packages(
            &index,
            "2.0",
            "import socket\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n",
        );
        let mut args: Vec<&str> = ALL.iter().copied().filter(|p| *p != "quiet").collect();
        args.push("quiet==2.0");
        env.install(&index.url(), &args).expect_success();
        let out = env.seal(&["audit"]).output();
        out.expect_success();
        assert!(
            out.stdout
                .contains("quiet 2.0 (was 1.0):\n  new: connects to 127.0.0.1:9 (import quiet)\n"),
            "{}",
            out.describe()
        );
        assert_eq!(out.stdout.matches("new: ").count(), 1, "{}", out.describe());
        assert!(
            out.stdout
                .contains("  DECOY reads ~/.ssh/id_rsa (import thief)\n"),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn a_project_without_an_environment_is_one_clear_error() {
    each_variant(|v| {
        let env = TestEnv::new(v, "audit-none");
        let out = env.seal(&["audit"]).output();
        out.expect_failure();
        assert!(
            out.stderr
                .contains("has no environment to audit; create it with `seal install`")
                && out.stderr.lines().count() == 1,
            "{}",
            out.describe()
        );
    });
}

/// tests/probes/audit/nativeconn.c compiled against the test interpreter: (module file name,
/// shared object). A machine without gcc or Python's headers fails here, saying so.
fn native_extension(dir: &std::path::Path) -> (String, Vec<u8>) {
    let ask = |expr: &str| {
        let o = std::process::Command::new(PYTHON)
            .args(["-I", "-c", &format!("import sysconfig; print({expr})")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let include = ask("sysconfig.get_paths()['include']");
    let suffix = ask("sysconfig.get_config_var('EXT_SUFFIX')");
    assert!(
        std::path::Path::new(&include).join("Python.h").exists(),
        "{include}/Python.h is missing: the native-extension test needs Python's headers \
         (apt-get install python3-dev; .ci/run does)"
    );
    let so = dir.join(format!("nativeconn{suffix}"));
    let o = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-I", &include, "-o"])
        .arg(&so)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/probes/audit/nativeconn.c"
        ))
        .output()
        .expect("gcc (the native-extension test builds a C extension)");
    assert!(
        o.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (format!("nativeconn{suffix}"), std::fs::read(&so).unwrap())
}

fn entries(report: &Value, name: &str) -> Vec<Value> {
    report["packages"][name]["behaviour"]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {report}"))
        .clone()
}

/// A C extension built here connects, sends a datagram and starts a process from its
/// initialiser through libc, which Python's audit hooks never see: the kernel's view (seccomp
/// user notification in the namespace mode) shows all three, attributed to the package whose
/// import made them. Python-level calls (phoner's connect, spawner's subprocess) are reported
/// once, as Python saw them, not again as native.
#[test]
fn native_calls_are_seen_and_attributed() {
    each_variant(|v| {
        let env = TestEnv::new(v, "audit-native");
        let index = PyIndex::start(&env.dir.join("index"));
        let (file, so) = native_extension(&env.dir);
        publish(
            &index,
            WheelSpec::new("nativeconn", "1.0").binary_file(&file, &so),
        );
        packages(&index, "1.0", "VALUE = 1\n");
        env.install(&index.url(), &["nativeconn", "phoner", "spawner", "quiet"])
            .expect_success();
        let out = env.seal(&["audit", "--json"]).output();
        out.expect_success();
        let report: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.describe()));

        let native = entries(&report, "nativeconn");
        let find = |kind: &str, detail: &str| {
            native
                .iter()
                .find(|b| b["kind"] == kind && b["detail"] == detail)
                .cloned()
        };
        for (kind, detail) in [
            ("connects to", "127.0.0.1:9"),
            ("sends a datagram to", "127.0.0.1:10"),
            ("runs", "/bin/true seal-native-probe"),
            ("tried", "keyrings (EPERM)"),
        ] {
            let b = find(kind, detail)
                .unwrap_or_else(|| panic!("no '{kind} {detail}' for nativeconn: {report}"));
            assert_eq!(b["native"], true, "{b}");
            assert_eq!(b["when"], "import nativeconn", "{b}");
            assert_eq!(b["attributed"], true, "{b}");
        }
        // The refused call got its refusal (the probe connects to port 11 otherwise).
        assert!(
            find("connects to", "127.0.0.1:11").is_none(),
            "the keyring call was not refused: {report}"
        );
        // The control: Python's hooks alone saw none of it.
        assert!(
            native.iter().all(|b| b["native"] == true),
            "Python-level events for a C-only package: {report}"
        );

        let phoner = entries(&report, "phoner");
        let connects: Vec<&Value> = phoner
            .iter()
            .filter(|b| b["kind"] == "connects to" && b["detail"] == "127.0.0.1:9")
            .collect();
        assert_eq!(connects.len(), 1, "{report}");
        assert_eq!(connects[0]["native"], false, "{report}");
        // spawner's subprocess.run(['sh', '-c', 'true']): once, as Python saw it.
        let spawner = entries(&report, "spawner");
        let runs: Vec<&Value> = spawner
            .iter()
            .filter(|b| b["kind"] == "runs" && b["detail"] == "sh -c true")
            .collect();
        assert_eq!(runs.len(), 1, "{report}");
        assert_eq!(runs[0]["native"], false, "{report}");
        assert!(entries(&report, "quiet").is_empty(), "{report}");
        assert!(
            report["unattributed"].as_array().unwrap().is_empty(),
            "{report}"
        );

        let text = env.seal(&["audit"]).output();
        text.expect_success();
        assert!(
            text.stdout
                .contains("  connects to 127.0.0.1:9 (import nativeconn, native code)\n"),
            "{}",
            text.describe()
        );
    });
}

/// The same audit in the Landlock + seccomp fallback (asked for with --isolation landlock):
/// decoys in the fallback's private HOME, the environment at its host path.
#[test]
fn the_fallback_audits_the_same_way() {
    each_variant(|v| {
        let env = TestEnv::new(v, "audit-fallback");
        let index = PyIndex::start(&env.dir.join("index"));
        packages(&index, "1.0", "VALUE = 1\n");
        env.install(&index.url(), &["thief", "hooker", "quiet"])
            .expect_success();
        let out = env
            .seal(&["audit", "--isolation", "landlock", "--json"])
            .output();
        out.expect_success();
        assert!(
            out.stderr.contains("degraded isolation"),
            "{}",
            out.describe()
        );
        let report: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.describe()));
        let thief = behaviour(&report, "thief");
        assert!(
            has(&thief, "reads", "~/.ssh/id_rsa", true, "import thief"),
            "{thief:?}"
        );
        let hooker = behaviour(&report, "hooker");
        assert!(
            has(
                &hooker,
                "reads",
                "~/.netrc",
                true,
                "interpreter start via .pth"
            ),
            "{hooker:?}"
        );
        assert!(behaviour(&report, "quiet").is_empty(), "{report}");
    });
}

/// The real PyPI: `requests` and its dependencies, audited, do nothing unusual at start-up or
/// on import (no decoy touched, no connection, no process, nothing unattributed). Skipped,
/// loudly, with SEAL_TEST_NO_PYPI=1.
#[test]
fn requests_from_pypi_audits_clean() {
    if skip_without_pypi("requests_from_pypi_audits_clean") {
        return;
    }
    each_variant(|v| {
        let mut env = TestEnv::new(v, "audit-pypi");
        env.pass_host_env(PROXY_ENV);
        env.pass_host_env(NO_PROXY_ENV);
        let out = env
            .seal(&["install", "--python", PYTHON, "requests"])
            .output();
        assert_eq!(
            out.code(),
            0,
            "installing requests from the real PyPI failed (set SEAL_TEST_NO_PYPI=1 to skip)\n{}",
            out.describe()
        );
        let out = env.seal(&["audit", "--json"]).output();
        out.expect_success();
        let report: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.describe()));
        let packages = report["packages"].as_object().unwrap();
        for name in [
            "requests",
            "urllib3",
            "idna",
            "certifi",
            "charset-normalizer",
        ] {
            let p = packages
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .unwrap_or_else(|| panic!("{name} was not audited: {report}"))
                .1;
            assert!(
                p["behaviour"].as_array().unwrap().is_empty()
                    && p["problems"].as_array().unwrap().is_empty(),
                "{name}: {p}"
            );
        }
        assert!(
            report["unattributed"].as_array().unwrap().is_empty(),
            "{report}"
        );
        assert!(report["startup_problem"].is_null(), "{report}");
    });
}
