//! Many seal runs at once, of one user and of two users sharing /tmp: every run keeps its own
//! state and cleans it up, whatever the others create and sweep meanwhile.
//!
//! Each run sweeps what dead runs left behind (fallback scratch directories in /tmp, v1
//! cgroups, `--out` incoming directories) at the very moment the others are creating theirs, so
//! any create-then-lock window or PID-named state shows up here as a run failing (its scratch
//! directory removed under it: exit 125 "No such file or directory", or the program's own
//! files gone) or as state left behind.
//!
//! Every run: the Landlock fallback (`--isolation landlock`, private HOME and TMPDIR in a
//! scratch directory of /tmp) or the namespace sandbox (`--pids`, a v1 pids cgroup for root;
//! `--out` into a directory shared by all the runs of its user). The program writes a file
//! named after its token in HOME and in the temporary directory, waits a little so that the
//! runs overlap, reads them back and lists what else is there. Nothing leaves the machine:
//! the runs use no network at all.

mod support;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::isolation::*;

/// Concurrent runs of each kind (fallback, namespaces) per user and round.
const PER_KIND: usize = 8;
/// Liveness bound of one run (never a timing assertion).
const RUN_DEADLINE: Duration = Duration::from_secs(100);

const PROGRAM: &str = include_str!("probes/concurrent_runs/program.py");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fallback,
    Namespaces,
}

/// One user's side of the test: its environment, the program, the shared `--out` directory.
struct Side {
    env: TestEnv,
    program: PathBuf,
    shared_out: PathBuf,
}

impl Side {
    fn new(v: &Variant, name: &str) -> Side {
        let env = TestEnv::new(v, name);
        let program = env.project.join("concurrent.py");
        env.write_owned(&program, PROGRAM, 0o644);
        let shared_out = env.out.join("shared");
        env.mkdir_owned(&shared_out, 0o755);
        Side {
            env,
            program,
            shared_out,
        }
    }

    fn spawn(&self, kind: Kind, token: &str) -> Running {
        let run = self.env.seal();
        let run = match kind {
            Kind::Fallback => run
                .args(&["--isolation", "landlock", "--"])
                .arg(&self.program)
                .args(&[token, "-"]),
            Kind::Namespaces => run
                .args(&["--pids", "200", "--out"])
                .arg(&self.shared_out)
                .arg("--")
                .arg(&self.program)
                .arg(token)
                .arg(&self.shared_out),
        };
        run.deadline(RUN_DEADLINE).spawn()
    }
}

/// What a started run is: whose, which kind, its token and its seal process.
struct Started {
    side: usize,
    kind: Kind,
    token: String,
    seal_pid: i32,
}

/// Entries of `dir` whose name starts with one of `prefixes`.
fn entries_with(dir: &Path, prefixes: &[String]) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
                .collect()
        })
        .unwrap_or_default()
}

/// What a finished run did wrong, if anything.
fn check(sides: &[Side], s: &Started, out: &Output, homes: &mut HashSet<String>) -> Vec<String> {
    let side = &sides[s.side];
    let what = format!("[{}] {:?} run {}", side.env.v.name, s.kind, s.token);
    let mut bad = Vec::new();
    let expected_end = format!("done {}\n", s.token);
    let clean = out.stdout.lines().count() == 2 && out.stdout.ends_with(&expected_end);
    if out.code() != 0 || !clean {
        bad.push(format!("{what} failed\n{}", out.describe()));
        return bad;
    }
    let home = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("home="))
        .unwrap_or_default()
        .to_string();
    if s.kind == Kind::Fallback {
        // The private HOME lies in this run's own scratch directory.
        let own = format!("/tmp/seal-fallback-{}-", s.seal_pid);
        if !home.starts_with(&own) {
            bad.push(format!("{what}: HOME {home:?} is not under {own}*"));
        }
        if !homes.insert(home.clone()) {
            bad.push(format!(
                "{what}: HOME {home:?} was given to another run too"
            ));
        }
        // Removed by the run itself, and nothing of it left in /tmp under any name.
        let left = entries_with(
            Path::new("/tmp"),
            &[
                format!("seal-fallback-{}-", s.seal_pid),
                format!(".seal-fallback-new-{}-", s.seal_pid),
            ],
        );
        if !left.is_empty() {
            bad.push(format!("{what}: left {left:?} in /tmp"));
        }
    } else {
        let copied = side.shared_out.join(format!("{}.txt", s.token));
        if fs::read_to_string(&copied).ok().as_deref() != Some(s.token.as_str()) {
            bad.push(format!(
                "{what}: its --out file {} did not arrive\n{}",
                copied.display(),
                out.describe()
            ));
        }
        for controller in ["pids", "memory", "cpu"] {
            let parent = Path::new("/sys/fs/cgroup").join(controller);
            let left = entries_with(
                &parent,
                &[
                    format!("seal-{}-", s.seal_pid),
                    format!(".seal-new-{}-", s.seal_pid),
                ],
            );
            if !left.is_empty() {
                bad.push(format!(
                    "{what}: left cgroups {left:?} in {}",
                    parent.display()
                ));
            }
        }
    }
    bad
}

/// `rounds` rounds; in each, [`PER_KIND`] fallback and [`PER_KIND`] namespace runs of every
/// side, all started before the first is waited for.
fn stress(sides: &[Side], rounds: usize) {
    let start = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let mut homes = HashSet::new();
    for round in 0..rounds {
        let mut started = Vec::new();
        for i in 0..PER_KIND {
            for (n, side) in sides.iter().enumerate() {
                for kind in [Kind::Fallback, Kind::Namespaces] {
                    let token = format!("{}-r{round}-{n}-{i}-{kind:?}", side.env.nonce);
                    let running = side.spawn(kind, &token);
                    let seal_pid = running.pid();
                    let s = Started {
                        side: n,
                        kind,
                        token,
                        seal_pid,
                    };
                    started.push((s, running));
                }
            }
        }
        for (s, running) in started {
            let out = running.finish();
            failures.extend(check(sides, &s, &out, &mut homes));
        }
        for side in sides {
            let left = entries_with(&side.shared_out, &[".seal".to_string()]);
            if !left.is_empty() {
                failures.push(format!(
                    "[{}] round {round}: {left:?} left in the shared --out directory",
                    side.env.v.name
                ));
            }
        }
    }
    eprintln!(
        "{} runs in {rounds} rounds took {:?}",
        rounds * sides.len() * 2 * PER_KIND,
        start.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problem(s) among concurrent runs:\n{}",
        failures.len(),
        failures
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

#[test]
fn concurrent_runs_of_one_user_keep_their_own_state() {
    each_variant(|v| {
        let side = Side::new(v, "concurrent");
        stress(&[side], 4);
    });
}

#[test]
fn concurrent_runs_of_two_users_sharing_tmp_keep_their_own_state() {
    let vs = variants();
    if vs.len() < 2 {
        eprintln!("only one variant runs here (not root): the two-user case is covered by none");
        return;
    }
    let sides: Vec<Side> = vs
        .iter()
        .map(|v| Side::new(v, "concurrent-users"))
        .collect();
    stress(&sides, 3);
}
