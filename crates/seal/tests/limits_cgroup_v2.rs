//! Limits through cgroup v2, for root and for a user with a delegated cgroup: a balloon of
//! ten processes is stopped as a whole, `--pids` is exact, `--cpus 0.5` throttles a spinner
//! to half a CPU (cpu.stat), no run cgroup outlives its run (nor a SIGKILL of seal, once the
//! next run has swept), and a cgroup shared with other processes still runs (root: under
//! `seal/` at the top; a delegated user: rlimits, saying why).
//!
//! Two placements, each a fresh cgroup the test makes at the top of the v2 hierarchy and
//! starts seal in (root writes seal's PID into its `cgroup.procs`, then seal is exec'd, as
//! uid 65534 through setpriv where needed):
//! - `root`: root in a cgroup that also holds a sleeping process;
//! - `delegated`: uid 65534 in a cgroup chowned to it with its `cgroup.procs`,
//!   `cgroup.subtree_control` and `cgroup.threads`, the way systemd delegates
//!   (`Delegate=yes`).
//!
//! They need root and a v2 hierarchy whose top offers pids, memory and cpu: pure cgroup v2, as
//! in the VM tests (`scripts/vm-tests.sh`, Debian 6.1 and 6.12). On a host without it (this
//! project's hybrid v1/v2 development host) every test says NOT RUN, loudly, and why.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::staging::*;

// ---------------------------------------------------------------------------------------------
// Placements

const CONTROLLERS: [&str; 3] = ["pids", "memory", "cpu"];

/// The v2 hierarchy if this test can run here; else prints NOT RUN with the reason.
fn v2_top(test: &str) -> Option<PathBuf> {
    let why = if getuid() != 0 {
        "the test process is not root (it makes and delegates cgroups)".to_string()
    } else {
        match v2_mount() {
            None => "no cgroup v2 hierarchy is mounted".into(),
            Some(m) => {
                let missing: Vec<&str> = CONTROLLERS
                    .into_iter()
                    .filter(|c| !root_has_v2_controller(c))
                    .collect();
                if missing.is_empty() {
                    return Some(m);
                }
                format!(
                    "the top of cgroup v2 ({}) offers no {} controller (on this host they are \
                     on v1)",
                    m.display(),
                    missing.join("/")
                )
            }
        }
    };
    loud(&bang_frame(&format!(
        "!!! {test}: NOT RUN on this host: {why}.\n!!! It runs in the VM tests \
         (scripts/vm-tests.sh: pure cgroup v2)."
    )));
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Root,
    Delegated,
}

/// A fresh cgroup seal starts in, and where its run cgroups appear.
struct Placement {
    kind: Kind,
    env: Env,
    /// The cgroup made for the test.
    cgroup: PathBuf,
    /// Where seal makes run cgroups: `seal/` at the top for root, the delegated cgroup itself.
    base: PathBuf,
    /// Processes the test put in `cgroup` besides seal.
    others: Vec<Child>,
}

impl Drop for Placement {
    fn drop(&mut self) {
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Seal's leaf of a delegated cgroup, then the cgroup itself (both empty by now).
        let leaf = self.cgroup.join("seal.supervisors");
        let _ = wait_until(Duration::from_secs(5), || {
            (!leaf.exists() || fs::remove_dir(&leaf).is_ok())
                && fs::remove_dir(&self.cgroup).is_ok()
        });
    }
}

fn variant(kind: Kind) -> Variant {
    let want = if kind == Kind::Root {
        "root"
    } else {
        "uid65534"
    };
    variants()
        .into_iter()
        .find(|v| v.name == want)
        .unwrap_or_else(|| panic!("no {want} variant (SEAL_TEST_VARIANTS set?)"))
}

fn placements() -> [Kind; 2] {
    [Kind::Root, Kind::Delegated]
}

impl Placement {
    fn new(top: &Path, kind: Kind, name: &str) -> Placement {
        let env = Env::new(&variant(kind), name);
        // Root's own runs enable these at the top too; a delegated cgroup only offers what
        // its parent enables.
        let have = fs::read_to_string(top.join("cgroup.subtree_control")).unwrap_or_default();
        for c in CONTROLLERS {
            if !have.split_whitespace().any(|h| h == c) {
                fs::write(top.join("cgroup.subtree_control"), format!("+{c}"))
                    .unwrap_or_else(|e| panic!("enabling {c} at {}: {e}", top.display()));
            }
        }
        let cgroup = top.join(format!("sealtest-{name}-{}", env.nonce));
        fs::create_dir(&cgroup).unwrap_or_else(|e| panic!("mkdir {}: {e}", cgroup.display()));
        let base = match kind {
            Kind::Root => top.join("seal"),
            Kind::Delegated => {
                for p in [
                    cgroup.clone(),
                    cgroup.join("cgroup.procs"),
                    cgroup.join("cgroup.subtree_control"),
                    cgroup.join("cgroup.threads"),
                ] {
                    std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY))
                        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
                }
                cgroup.clone()
            }
        };
        Placement {
            kind,
            env,
            cgroup,
            base,
            others: Vec::new(),
        }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Root => "root in a cgroup with another process",
            Kind::Delegated => "uid 65534 in a delegated cgroup",
        }
    }

    /// Where a new seal is put: the cgroup, or, once a seal has enabled controllers in a
    /// delegated one (no process may join it then), the leaf its seal processes live in.
    fn entry(&self) -> PathBuf {
        let leaf = self.cgroup.join("seal.supervisors");
        if leaf.exists() {
            leaf
        } else {
            self.cgroup.clone()
        }
    }

    /// A `sleep` of the variant's user in the cgroup, until the placement is dropped.
    fn add_other_process(&mut self) {
        let mut cmd = self
            .env
            .v
            .command(Path::new("/bin/sleep"), &self.env.env, &self.env.dir);
        cmd.arg("600").stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.spawn().expect("spawn sleep");
        fs::write(self.entry().join("cgroup.procs"), child.id().to_string())
            .expect("moving the sleeper into the test cgroup");
        self.others.push(child);
    }

    /// `seal ARGS` started inside the placement's cgroup.
    fn seal(&self, args: &[&str]) -> Run {
        let v = &self.env.v;
        let mut cmd = Command::new("/bin/sh");
        cmd.env_clear()
            .envs(self.env.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.env.project)
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" || exit 99; exec "$@""#)
            .arg(self.entry());
        if v.switch {
            cmd.args([
                "/usr/bin/setpriv".to_string(),
                format!("--reuid={}", v.uid),
                format!("--regid={}", v.gid),
                "--clear-groups".into(),
                "--".into(),
            ]);
        }
        cmd.arg(&v.seal).args(args);
        Run::new(
            cmd,
            format!("[{:?}] seal {}", self.kind, args.join(" ")),
            DEADLINE,
        )
    }

    /// `seal run FLAGS -- python3 PROBE ARGS` inside the placement's cgroup.
    fn seal_probe(&self, flags: &[&str], probe: &Path, args: &str) -> Run {
        let probe = probe.to_string_lossy().into_owned();
        let mut all = vec!["run", "--python", PYTHON];
        all.extend_from_slice(flags);
        all.extend_from_slice(&["--", "python3", &probe, args]);
        self.seal(&all)
    }

    /// Run cgroups of the seal with this PID in the base.
    fn run_cgroups_of(&self, seal_pid: i32) -> Vec<PathBuf> {
        let prefix = format!("seal-{seal_pid}-");
        fs::read_dir(&self.base)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn run_cgroup_of(&self, seal_pid: i32) -> PathBuf {
        let mut found = Vec::new();
        wait_until(Duration::from_secs(10), || {
            found = self.run_cgroups_of(seal_pid);
            !found.is_empty()
        });
        assert_eq!(
            found.len(),
            1,
            "[{}] expected one run cgroup of seal {seal_pid} in {}, found {found:?}",
            self.name(),
            self.base.display()
        );
        found.remove(0)
    }
}

/// Each placement in turn (a fresh cgroup each), failing with every placement that failed.
fn each_placement(test: &str, f: impl Fn(&Path, Kind)) {
    let Some(top) = v2_top(test) else { return };
    let mut failures = Vec::new();
    for kind in placements() {
        eprintln!("=== placement {kind:?}");
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&top, kind))) {
            failures.push(format!("[{kind:?}] {}", panic_message(&*e)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn cpu_stat(cg: &Path, key: &str) -> u64 {
    fs::read_to_string(cg.join("cpu.stat"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}/cpu.stat", cg.display()))
}

// ---------------------------------------------------------------------------------------------
// Probes

const BALLOON: &str = include_str!("probes/limits_cgroup_v2/balloon.py");

const FORKS: &str = include_str!("probes/limits_cgroup_v2/forks.py");

const SPINNER: &str = include_str!("probes/limits_cgroup_v2/spinner.py");

// ---------------------------------------------------------------------------------------------
// Tests

/// Ten processes of 40 MiB each under --memory 200M: no single one is over any per-process
/// limit, together they are twice the cgroup's; the OOM kill ends the whole sandbox (137, said
/// in words and in --json). The control run with --memory 1G lets all ten finish.
#[test]
fn a_balloon_of_ten_processes_is_stopped_as_a_whole() {
    each_placement(
        "a_balloon_of_ten_processes_is_stopped_as_a_whole",
        |top, kind| {
            let mut pl = Placement::new(top, kind, "balloon");
            if kind == Kind::Root {
                pl.add_other_process();
            }
            let probe = pl.env.probe("balloon", BALLOON);
            let args = r#"{"n": 10, "mib": 40}"#;

            let control = pl
                .seal_probe(&["-v", "--memory", "1G"], &probe, args)
                .output();
            control.expect_code(0);
            control.probe().expect_eq("ok", "10");
            let line = control.verbose_line("memory limit");
            assert!(line.contains("(v2 memory cgroup"), "[{kind:?}] {line}");

            let out = pl
                .seal_probe(&["-v", "--json", "--memory", "200M"], &probe, args)
                .output();
            let line = out.verbose_line("memory limit");
            assert!(
                line.contains("for the whole sandbox (v2 memory cgroup"),
                "[{kind:?}] {line}"
            );
            out.expect_code(128 + libc::SIGKILL);
            assert!(
                !out.probe().has("done"),
                "[{kind:?}] the balloon finished under --memory 200M\n{}",
                out.describe()
            );
            assert!(
                out.stderr.contains("hit the --memory limit"),
                "[{kind:?}] no word of the memory limit\n{}",
                out.describe()
            );
            let ooms = out.json()["limits"]["oom_kills"].as_u64().unwrap_or(0);
            assert!(
                ooms >= 1,
                "[{kind:?}] --json oom_kills {ooms}\n{}",
                out.describe()
            );
        },
    );
}

/// --pids 50 is exact: the cgroup counts every task of the sandbox, its init and the program
/// included, so the program forks exactly 48 children, then EAGAIN.
#[test]
fn the_pids_limit_is_exact() {
    each_placement("the_pids_limit_is_exact", |top, kind| {
        let pl = Placement::new(top, kind, "pids");
        let probe = pl.env.probe("forks", FORKS);
        let out = pl
            .seal_probe(&["-v", "--json", "--pids", "50"], &probe, "{}")
            .output();
        out.expect_code(0);
        let line = out.verbose_line("pids limit");
        assert!(
            line.contains("50 processes (v2 pids cgroup)"),
            "[{kind:?}] {line}"
        );
        let p = out.probe();
        p.expect_eq("error", "EAGAIN");
        assert_eq!(
            p.num("forked"),
            48,
            "[{kind:?}] 50 tasks = init + the program + 48 children\n{}",
            out.describe()
        );
        let hits = out.json()["limits"]["pids_limit_hits"]
            .as_u64()
            .unwrap_or(0);
        assert!(hits >= 1, "[{kind:?}] --json pids_limit_hits {hits}");
    });
}

/// --cpus 0.5: the run cgroup has cpu.max "50000 100000", and a spinner is throttled
/// (cpu.stat nr_throttled grows) to at most about half a CPU of usage over two seconds. A busy
/// host can only lower the usage; no lower bound is asserted.
#[test]
fn half_a_cpu_throttles_a_spinner() {
    each_placement("half_a_cpu_throttles_a_spinner", |top, kind| {
        let pl = Placement::new(top, kind, "cpu");
        let probe = pl.env.probe("spin", SPINNER);
        let mut running = pl
            .seal_probe(&["-v", "--cpus", "0.5"], &probe, r#"{"secs": 8}"#)
            .spawn();
        running.wait_for_stdout("PROBE\tready\tyes", Duration::from_secs(120));
        let cg = pl.run_cgroup_of(running.pid());
        assert_eq!(
            fs::read_to_string(cg.join("cpu.max"))
                .unwrap_or_default()
                .trim(),
            "50000 100000"
        );
        let (u0, t0, th0) = (
            cpu_stat(&cg, "usage_usec"),
            Instant::now(),
            cpu_stat(&cg, "nr_throttled"),
        );
        std::thread::sleep(Duration::from_secs(2));
        let (u1, t1, th1) = (
            cpu_stat(&cg, "usage_usec"),
            Instant::now(),
            cpu_stat(&cg, "nr_throttled"),
        );
        let share = (u1 - u0) as f64 / (t1 - t0).as_micros() as f64;
        eprintln!(
            "[{kind:?}] --cpus 0.5: {share:.2} CPUs used, throttled {} times",
            th1 - th0
        );
        let out = running.finish();
        out.expect_code(0);
        let line = out.verbose_line("cpu limit");
        assert!(line.contains("(v2 cpu cgroup quota)"), "[{kind:?}] {line}");
        assert!(th1 > th0, "[{kind:?}] the spinner was never throttled");
        assert!(
            share <= 0.65,
            "[{kind:?}] the spinner used {share:.2} CPUs under --cpus 0.5"
        );
    });
}

/// A run's cgroup is gone when seal returns. After a SIGKILL of seal the sandbox dies with it
/// and its cgroup is empty; the next run in the same base sweeps it.
#[test]
fn no_run_cgroup_outlives_its_run_or_a_killed_seal() {
    each_placement(
        "no_run_cgroup_outlives_its_run_or_a_killed_seal",
        |top, kind| {
            let pl = Placement::new(top, kind, "leftover");
            let probe = pl.env.probe("spin", SPINNER);
            let running = pl
                .seal_probe(&["--pids", "20"], &probe, r#"{"secs": 0}"#)
                .spawn();
            let pid = running.pid();
            running.finish().expect_code(0);
            assert!(
                pl.run_cgroups_of(pid).is_empty(),
                "[{kind:?}] left behind: {:?}",
                pl.run_cgroups_of(pid)
            );

            let mut running = pl
                .seal_probe(&["--pids", "20"], &probe, r#"{"secs": 120}"#)
                .spawn();
            running.wait_for_stdout("PROBE\tready\tyes", Duration::from_secs(120));
            let killed = running.pid();
            let cg = pl.run_cgroup_of(killed);
            running.signal(libc::SIGKILL);
            let _ = running.finish();
            assert!(
                wait_until(Duration::from_secs(10), || {
                    fs::read_to_string(cg.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
                        || !cg.exists()
                }),
                "[{kind:?}] the sandbox outlived its killed seal in {}",
                cg.display()
            );
            let next = pl
                .seal_probe(&["--pids", "20"], &probe, r#"{"secs": 0}"#)
                .output();
            next.expect_code(0);
            assert!(
                !cg.exists(),
                "[{kind:?}] {} of the killed seal was not swept by the next run",
                cg.display()
            );
        },
    );
}

/// A delegated cgroup that holds another process cannot enable controllers for its children
/// (no internal processes): seal runs all the same, with rlimits, and says why.
#[test]
fn a_delegated_cgroup_shared_with_another_process_runs_with_rlimits_and_says_why() {
    let test = "a_delegated_cgroup_shared_with_another_process_runs_with_rlimits_and_says_why";
    let Some(top) = v2_top(test) else { return };
    let mut pl = Placement::new(&top, Kind::Delegated, "shared");
    pl.add_other_process();
    let probe = pl.env.probe("spin", SPINNER);
    let out = pl
        .seal_probe(
            &["-v", "--memory", "200M", "--pids", "20"],
            &probe,
            r#"{"secs": 0}"#,
        )
        .output();
    out.expect_code(0);
    let mem = out.verbose_line("memory limit");
    assert!(
        mem.contains("per process (RLIMIT_DATA; no memory cgroup available to this user")
            && mem.contains("holds processes other than seal")
            && mem.contains("systemd-run --user --scope -p Delegate=yes"),
        "{mem}"
    );
    let pids = out.verbose_line("pids limit");
    assert!(pids.contains("20 processes (RLIMIT_NPROC"), "{pids}");
}

/// doctor names the v2 base each placement's runs get, and the v2 mechanisms.
#[test]
fn doctor_names_the_cgroup_v2_base() {
    each_placement("doctor_names_the_cgroup_v2_base", |top, kind| {
        let pl = Placement::new(top, kind, "doctor");
        let out = pl.seal(&["doctor"]).output();
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with("cgroups "))
            .unwrap_or_else(|| panic!("no cgroups row\n{}", out.describe()))
            .to_string();
        let expected = match kind {
            Kind::Root => format!(
                "runs get cgroups under {} (root; pids memory cpu)",
                pl.base.display()
            ),
            Kind::Delegated => format!(
                "runs get cgroups under {} (delegated to this user; pids memory cpu)",
                pl.base.display()
            ),
        };
        assert!(
            row.contains(&expected),
            "[{kind:?}] {row}\nexpected {expected}"
        );
        assert!(
            out.stdout
                .contains("pids: v2 pids cgroup; memory: --memory: v2 memory cgroup"),
            "[{kind:?}]\n{}",
            out.stdout
        );
    });
}
