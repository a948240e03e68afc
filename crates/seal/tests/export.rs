//! `seal export slurm`: the batch script runs the same sandbox as `seal run` with the same
//! options (the same probe gives the same verdicts through it), and the run's limits become
//! the job's resource request. No Slurm here: the script is run with bash, which is what
//! sbatch does on the node (its `#SBATCH` lines are comments to bash).

mod support;

use std::fs;

use support::isolation::*;
use support::CANARY_FILES;

const VERDICTS: &str = include_str!("probes/export/verdicts.py");

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
