//! `seal export slurm`: the batch script runs the same sandbox as `seal run` with the same
//! options (the same probe gives the same verdicts through it), and the run's limits become
//! the job's resource request. No Slurm here: the script is run with bash, which is what
//! sbatch does on the node (its `#SBATCH` lines are comments to bash).
//!
//! `seal export k8s`: no cluster here either. The manifests are validated offline by
//! kubernetes-validate (from PyPI, pinned, with its bundled schemas; skipped, loudly, with
//! SEAL_TEST_NO_PYPI=1) against an old and a current Kubernetes, a manifest broken on purpose
//! must fail that validation, and the policy's fields are checked as kubectl would read them.

mod support;

use std::fs;

use support::isolation::*;
use support::CANARY_FILES;

const VERDICTS: &str = include_str!("probes/export/verdicts.py");
const K8S_DOCS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/probes/export/k8s_docs.py"
);
const KUBERNETES_VALIDATE: &str = "1.37.0";

#[test]
fn the_exported_script_runs_the_same_sandbox_as_seal_run() {
    each_variant(|v| {
        let env = TestEnv::new(v, "export-slurm");
        let sink = Sink::tcp();
        let probe = env.probe("verdicts", VERDICTS);
        let args = jobj(&[
            ("home", jpath(&env.home)),
            ("canary", jstr(CANARY_FILES[0])),
            ("sink", sink.port.to_string()),
            ("project", jpath(&env.project)),
            ("nonce", jstr(&env.nonce)),
        ]);
        let flags = ["--cpus", "1", "--memory", "512M", "--timeout", "5m"];

        let direct = env.run_probe(&probe, &args, &flags);
        direct.expect_success();

        let exported = env
            .seal_bare()
            .args(&["export", "slurm", "--python", PYTHON])
            .args(&flags)
            .arg("--")
            .arg(&probe)
            .arg(&args)
            .output();
        exported.expect_success();
        let script = &exported.stdout;
        for line in [
            "#SBATCH --job-name=seal-proj\n",
            "#SBATCH --cpus-per-task=1\n",
            "#SBATCH --mem=576M\n",
            "#SBATCH --time=6\n",
        ] {
            assert!(script.contains(line), "missing {line:?} in\n{script}");
        }
        let path = env.dir.join("job.sbatch");
        fs::write(&path, script).unwrap();

        // On the node: seal on PATH, the same paths, the job's environment.
        let seal_dir = v.seal.parent().unwrap();
        let via = env
            .host_command("/bin/bash")
            .env("PATH", format!("{}:/usr/bin:/bin", seal_dir.display()))
            .arg(&path)
            .output();
        via.expect_success();
        env.assert_no_canary(&via);
        let (d, s) = (direct.probe(), via.probe());
        assert_eq!(
            d.map,
            s.map,
            "seal run and the exported script disagree\n{}",
            via.describe()
        );
        s.expect_in("read_canary", &["ENOENT", "EACCES"]);
        s.expect_in("tcp_host_loopback", &["ECONNREFUSED", "ENETUNREACH"]);
        s.expect_eq("write_project", "EROFS");
        s.expect_eq("cpus", "1");
        sink.assert_untouched("a run of the exported script");

        // Positive control: without seal the same probe reads the canary and reaches the sink.
        let bare = env.direct_ok(&probe, &args);
        bare.expect_contains("read_canary", &env.tag);
        bare.expect_eq("tcp_host_loopback", "OK");
    });
}

#[test]
fn the_policy_limits_become_the_job_request_and_bad_options_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "export-policy");
        env.write_owned(
            &env.project.join("seal.toml"),
            "[limits]\nmemory = \"256M\"\ncpus = 1.5\ntimeout = \"90s\"\n",
            0o644,
        );
        let out = env
            .seal_bare()
            .args(&[
                "export", "slurm", "--python", PYTHON, "--", "train.py", "it's",
            ])
            .output();
        out.expect_success();
        for line in [
            "#SBATCH --cpus-per-task=2\n",
            "#SBATCH --mem=320M\n",
            "#SBATCH --time=3\n",
            "exec seal run '--python' '/usr/bin/python3' '--' 'train.py' 'it'\\''s'\n",
        ] {
            assert!(
                out.stdout.contains(line),
                "missing {line:?} in\n{}",
                out.stdout
            );
        }

        // Refused as `seal run` refuses it: one line, seal's exit status, no script.
        let bad = env
            .seal_bare()
            .args(&["export", "slurm", "--memory", "lots", "--", "train.py"])
            .output();
        bad.expect_code(125);
        assert!(bad.stdout.is_empty(), "{}", bad.describe());
        let lines: Vec<&str> = bad.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("seal: ") && lines[0].contains("lots"),
            "{}",
            bad.describe()
        );
    });
}

/// kubernetes-validate in a venv of its own under the target directory, made once (marked
/// complete last, so an interrupted install is redone).
fn kubernetes_validate() -> std::path::PathBuf {
    let venv =
        std::path::PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/kubernetes-validate"))
            .join(KUBERNETES_VALIDATE);
    if !venv.join(".complete").exists() {
        let _ = fs::remove_dir_all(&venv);
        let ok = |c: &mut std::process::Command| {
            let o = c.output().unwrap();
            assert!(
                o.status.success(),
                "{c:?}: {}\n(is PyPI reachable? set SEAL_TEST_NO_PYPI=1 to skip)",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        ok(std::process::Command::new(PYTHON)
            .args(["-m", "venv"])
            .arg(&venv));
        ok(std::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            &format!("kubernetes-validate=={KUBERNETES_VALIDATE}"),
        ]));
        fs::write(venv.join(".complete"), "").unwrap();
    }
    venv
}

/// `kubernetes-validate --strict -k VERSION FILE` (unknown fields are errors).
fn validate(venv: &std::path::Path, version: &str, file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(venv.join("bin/kubernetes-validate"))
        .args(["--strict", "-k", version])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn the_k8s_manifests_validate_and_carry_the_policy() {
    if std::env::var_os("SEAL_TEST_NO_PYPI").is_some() {
        eprintln!(
            "!!! SKIPPED the_k8s_manifests_validate_and_carry_the_policy: SEAL_TEST_NO_PYPI is \
             set (kubernetes-validate comes from PyPI)"
        );
        return;
    }
    let venv = kubernetes_validate();
    each_variant(|v| {
        let env = TestEnv::new(v, "export-k8s");
        let train = env.project.join("train.py");
        let out = env
            .seal_bare()
            .args(&[
                "export",
                "k8s",
                "--image",
                "registry.example/train:1",
                "--python",
                PYTHON,
                "--cpus",
                "1.5",
                "--memory",
                "1G",
                "--timeout",
                "10m",
                "--out",
                "results",
                "--env",
                "MODE=batch",
                "--runtime-class",
                "gvisor",
                "--",
            ])
            .arg(&train)
            .arg("--epochs=3")
            .output();
        out.expect_success();
        let file = env.dir.join("job.yaml");
        fs::write(&file, &out.stdout).unwrap();
        for version in ["1.29.0", KUBERNETES_VALIDATE] {
            let o = validate(&venv, version, &file);
            assert!(
                o.status.success(),
                "kubernetes-validate {version}: {}{}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
                out.stdout
            );
        }
        // The control: the validator refuses a manifest broken on purpose.
        let broken = env.dir.join("broken.yaml");
        fs::write(
            &broken,
            out.stdout
                .replace("backoffLimit: 0", "backoffLimit: \"none\""),
        )
        .unwrap();
        assert!(!validate(&venv, KUBERNETES_VALIDATE, &broken)
            .status
            .success());

        let docs = std::process::Command::new(venv.join("bin/python"))
            .arg(K8S_DOCS)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            docs.status.success(),
            "{}",
            String::from_utf8_lossy(&docs.stderr)
        );
        let docs: serde_json::Value = serde_json::from_slice(&docs.stdout).unwrap();
        let (policy, job) = (&docs[0], &docs[1]);
        assert_eq!(policy["kind"], "NetworkPolicy", "{docs}");
        assert_eq!(job["kind"], "Job", "{docs}");
        // The policy selects exactly the Job's pod and admits nothing either way.
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        for (k, val) in policy["spec"]["podSelector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(&labels[k], val, "{docs}");
        }
        assert_eq!(
            policy["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
        assert_eq!(policy["spec"]["ingress"], serde_json::json!([]));
        assert_eq!(policy["spec"]["egress"], serde_json::json!([]));

        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 600);
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["enableServiceLinks"], false);
        assert_eq!(pod["hostNetwork"], false);
        assert_eq!(pod["runtimeClassName"], "gvisor");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 1000);
        let c = &pod["containers"][0];
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(c["resources"]["limits"]["cpu"], "1500m");
        assert_eq!(c["resources"]["limits"]["memory"], "1024Mi");
        assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
        assert_eq!(c["image"], "registry.example/train:1");
        // The project has no environment: the base interpreter, at its own path (which the
        // image must hold); the script moved with the project.
        let command = c["command"].as_array().unwrap();
        assert!(
            command[0].as_str().unwrap().starts_with("/usr/bin/python3"),
            "{docs}"
        );
        assert_eq!(
            command[1..],
            [
                serde_json::json!("/seal/project/train.py"),
                serde_json::json!("--epochs=3")
            ],
            "{docs}"
        );
        assert_eq!(c["workingDir"], "/seal/project");
        let env_vars = c["env"].as_array().unwrap();
        assert!(env_vars.contains(&serde_json::json!({"name": "MODE", "value": "batch"})));
        // Nothing of this machine's environment is written into the manifest.
        assert!(!out.stdout.contains(&env.tag), "{}", out.stdout);
        let mounts: Vec<&str> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/tmp", "/home/sandbox", "/seal/project/results"]);
    });
}

#[test]
fn the_k8s_export_refuses_what_a_pod_cannot_do() {
    each_variant(|v| {
        let env = TestEnv::new(v, "export-k8s-refused");
        for (flags, named) in [
            (&["--in", "/etc/hostname"][..], "--in"),
            (&["--publish", "8888"][..], "--publish"),
            (&["--allow-net", "pypi.org"][..], "--allow-net"),
            (&["--pass-env", "HOME"][..], "--pass-env"),
            (&["--device", "/dev/null"][..], "--gpu/--device"),
        ] {
            let out = env
                .seal_bare()
                .args(&["export", "k8s", "--image", "x:1", "--python", PYTHON])
                .args(flags)
                .args(&["--", "train.py"])
                .output();
            out.expect_code(125);
            assert!(out.stdout.is_empty(), "{}", out.describe());
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert!(
                lines.len() == 1
                    && lines[0].starts_with(&format!(
                        "seal: {named} has no equivalent in a Kubernetes Job: "
                    )),
                "{}",
                out.describe()
            );
        }
        let out = env
            .seal_bare()
            .args(&["export", "k8s", "--", "train.py"])
            .output();
        out.expect_code(125);
        assert!(out.stderr.contains("--image"), "{}", out.describe());
    });
}
