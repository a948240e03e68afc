//! Resource limits: --memory, --pids, --cpus, --timeout, --disk, and what `-v` says enforces
//! each. Every test runs as root and as uid 65534 (see `support::staging`); the mechanisms
//! differ (root: cgroups, v2 first, where seal makes them; uid 65534: rlimits and affinity only), so
//! each test checks the behaviour every variant must have, plus that `-v` names the
//! mechanism actually used, and, as root, that the cgroup `-v` claims really exists on the
//! host with the requested setting. Which mechanism to expect is decided from the host the way
//! seal decides it (the support tree's `host` module: v2 and v1 controllers, per-namespace pid_max), and a
//! `NOTE:` line says so wherever a kernel without them changes the expectation.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use support::staging::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The first size in a line: "268435456 bytes", "256.0 MiB", "11.8 GiB", "64M".
fn first_size_in(line: &str) -> Option<u64> {
    let unit_of = |u: &str| -> Option<u64> {
        let u = u.trim_matches(|c: char| !c.is_ascii_alphabetic());
        Some(match u {
            "bytes" | "B" | "byte" => 1,
            "KiB" | "K" | "KB" | "kB" => KIB,
            "MiB" | "M" | "MB" => MIB,
            "GiB" | "G" | "GB" => GIB,
            "TiB" | "T" | "TB" => GIB * 1024,
            _ => return None,
        })
    };
    let tokens: Vec<&str> = line.split_whitespace().collect();
    for (i, t) in tokens.iter().enumerate() {
        // "256M" in one token.
        let digits: String = t
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if digits.is_empty() {
            continue;
        }
        let Ok(v) = digits.parse::<f64>() else {
            continue;
        };
        let rest = &t[digits.len()..];
        let mult = if !rest.is_empty() {
            unit_of(rest)
        } else {
            tokens.get(i + 1).and_then(|u| unit_of(u))
        };
        if let Some(m) = mult {
            return Some((v * m as f64) as u64);
        }
    }
    None
}

/// `a` and `b` within `pct` percent of each other.
fn close(a: u64, b: u64, pct: f64) -> bool {
    let (a, b) = (a as f64, b as f64);
    (a - b).abs() <= b * pct / 100.0
}

/// The cgroup a live root seal made for its sandbox's `controller` limit, `seal-<pid>-<random>`
/// in the v2 `seal/` base or the v1 hierarchy (a path that does not exist if it made none).
fn cgroup_dir(controller: &str, seal_pid: i32) -> PathBuf {
    let prefix = format!("seal-{seal_pid}-");
    let Some(parent) = root_cgroup_parent(controller) else {
        return PathBuf::from(format!("/nonexistent/{prefix}(none)"));
    };
    fs::read_dir(&parent)
        .ok()
        .and_then(|d| {
            d.flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
        })
        .unwrap_or_else(|| parent.join(format!("{prefix}(none)")))
}

/// A cgroup's memory limit file: v2 `memory.max`, v1 `memory.limit_in_bytes`.
fn memory_limit_file(cg: &Path) -> PathBuf {
    if cg.join("cgroup.controllers").exists() {
        cg.join("memory.max")
    } else {
        cg.join("memory.limit_in_bytes")
    }
}

/// A cgroup's CPU quota and period: v2 `cpu.max` ("QUOTA PERIOD"), v1 `cpu.cfs_quota_us` and
/// `cpu.cfs_period_us`.
fn cpu_quota_and_period(cg: &Path) -> Option<(u64, u64)> {
    if cg.join("cgroup.controllers").exists() {
        let max = read_trim(&cg.join("cpu.max"))?;
        let mut it = max.split_whitespace().map(|n| n.parse().ok());
        Some((it.next()??, it.next()??))
    } else {
        Some((
            read_trim(&cg.join("cpu.cfs_quota_us"))?.parse().ok()?,
            read_trim(&cg.join("cpu.cfs_period_us"))?.parse().ok()?,
        ))
    }
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// Reads what the kernel applies to the probe itself.
const SELF_LIMITS: &str = include_str!("probes/limits/self_limits.py");

// ---------------------------------------------------------------------------------------------
// Memory

const BALLOON: &str = include_str!("probes/limits/balloon.py");

/// A Python program allocating 2 GiB under --memory 256M gets MemoryError (or is killed);
/// seal returns normally and leaves nothing behind.
#[test]
fn memory_balloon_is_stopped() {
    each_variant(|v| {
        let env = Env::new(v, "balloon");
        let probe = env.probe("balloon", &format!("{SELF_LIMITS}\n{BALLOON}"));
        let marker = format!("BALLOON{}", env.nonce);
        let args = serde_json::json!({"m": marker}).to_string();
        // Positive control: without seal the probe does allocate its 2 GiB.
        let c = env.direct(&probe, &args);
        c.expect_code(0);
        let cp = c.probe();
        cp.expect_eq("big", "ALLOCATED");
        cp.expect_eq("chunks", "ALLOCATED");
        assert_eq!(cp.num("allocated_mib"), 2048);

        let out = env
            .seal_probe(&["--json", "-v", "--memory", "256M"], &probe, &args)
            .output();
        let p = out.probe();
        p.expect_eq("ready", "yes");
        p.expect_eq("rlimit_data", &(256 * MIB).to_string());
        let code = out.code();
        assert!(
            code == 0 || code == 128 + libc::SIGKILL,
            "expected a normal exit (MemoryError) or SIGKILL, got {code}\n{}",
            out.describe()
        );
        if code == 0 {
            p.expect_eq("big", "MemoryError");
            p.expect_eq("chunks", "MemoryError");
            p.expect_eq("done", "yes");
        }
        let mib = p.num("allocated_mib");
        assert!(
            mib * MIB <= 256 * MIB,
            "the program held {mib} MiB under --memory 256M\n{}",
            out.describe()
        );
        let line = out.verbose_line("memory limit");
        assert_eq!(first_size_in(&line), Some(256 * MIB), "{line}");
        assert!(line.contains("RLIMIT_DATA"), "{line}");
        let j = out.json();
        assert_eq!(j["exit_code"], code);
        assert!(j["limits"]["memory"]
            .as_str()
            .is_some_and(|m| m.contains("RLIMIT_DATA")));
        assert_procs_gone(&marker, Duration::from_secs(10), "balloon");
        // The host is fine: seal works right after.
        env.seal()
            .args(&["--", "python3", "-c", "print('alive')"])
            .output()
            .expect_code(0);
    });
}

const MULTI_BALLOON: &str = include_str!("probes/limits/multi_balloon.py");

/// Four processes of 200 MiB each under --memory 256M. As root seal makes a memory cgroup: the
/// sandbox as a whole cannot hold more than 256 MiB (v1: the OOM killer picks processes and
/// the rest finish; v2, with memory.oom.group: the whole sandbox ends, 137). As uid 65534
/// without a delegated cgroup there is none and `-v` must say the limit is per process.
#[test]
fn memory_limit_covers_the_whole_sandbox_where_a_cgroup_is_claimed() {
    each_variant(|v| {
        let env = Env::new(v, "multiballoon");
        let probe = env.probe("multi", MULTI_BALLOON);
        let marker = format!("MULTI{}", env.nonce);
        let args = serde_json::json!({"m": marker}).to_string();
        let mut running = env
            .seal_probe(&["--json", "-v", "--memory", "256M"], &probe, &args)
            .spawn();
        running.wait_for_stdout("PROBE\tready\tyes", Duration::from_secs(60));
        let cg = cgroup_dir("memory", running.pid());
        let cg_limit = read_trim(&memory_limit_file(&cg));
        let out = running.finish();
        let line = out.verbose_line("memory limit");
        assert_eq!(first_size_in(&line), Some(256 * MIB), "{line}");
        let claims_cgroup = line.contains("memory cgroup") && !line.contains("no memory cgroup");
        if line.contains("(v2 memory cgroup") {
            // memory.oom.group: the first out-of-memory kill ends the whole sandbox.
            out.expect_code(128 + libc::SIGKILL);
            assert!(
                out.stderr.contains("hit the --memory limit")
                    && out.json()["limits"]["oom_kills"].as_u64().unwrap_or(0) >= 1,
                "a v2 memory cgroup's OOM kill must be reported in words and in --json\n{}",
                out.describe()
            );
            assert!(!cg.exists(), "left behind: {}", cg.display());
            assert_eq!(cg_limit.as_deref(), Some((256 * MIB).to_string().as_str()));
            assert!(
                v.is_root() && root_cgroup("memory") == Some(CgroupVersion::V2),
                "{line}"
            );
            return;
        }
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        // -v is honest: a cgroup is claimed exactly when one existed, with the limit.
        assert_eq!(
            claims_cgroup,
            cg_limit.is_some(),
            "-v says {line:?}, but {} {}",
            cg.display(),
            if cg_limit.is_some() {
                "existed"
            } else {
                "did not exist"
            }
        );
        if let Some(l) = &cg_limit {
            assert_eq!(
                l,
                &(256 * MIB).to_string(),
                "{}",
                memory_limit_file(&cg).display()
            );
        }
        if let (true, Some(version)) = (v.is_root(), root_cgroup("memory")) {
            let label = if version == CgroupVersion::V2 {
                "(v2 memory cgroup"
            } else {
                "(v1 memory cgroup)"
            };
            assert!(
                claims_cgroup && line.contains(label),
                "as root, with a {version:?} memory controller, --memory must use it: {line}"
            );
        } else if v.is_root() {
            note(
                &v.name,
                "no memory controller in cgroup v2 or v1: expecting --memory per process \
                 (RLIMIT_DATA), not a cgroup",
            );
            assert!(
                line.contains("per process")
                    && line.contains("no memory cgroup available")
                    && !claims_cgroup,
                "as root without a v1 memory controller, -v must say the limit is per process: \
                 {line}"
            );
        } else {
            assert!(
                line.contains("per process") && !claims_cgroup,
                "as uid {}, -v must say the limit is per process: {line}",
                v.uid
            );
        }
        if claims_cgroup {
            let survivors = p.num("survivors");
            assert!(
                survivors <= 1,
                "{survivors} processes of 200 MiB each survived in a 256 MiB cgroup\n{}",
                out.describe()
            );
            let j = out.json();
            let ooms = j["limits"]["oom_kills"].as_u64().unwrap_or(0);
            assert!(
                ooms >= 1 || p.num("killed") >= 1 || p.num("refused") >= 1,
                "no process was stopped in a 256 MiB cgroup\n{}",
                out.describe()
            );
            if p.num("killed") >= 1 {
                assert!(
                    ooms >= 1,
                    "processes were OOM-killed but --json says oom_kills {ooms}"
                );
            }
        } else {
            eprintln!(
                "[{}] note: no memory cgroup for this user: 4 x 200 MiB were allowed ({} \
                 survivors); -v says: {line}",
                v.name,
                p.num("survivors")
            );
        }
        assert!(
            wait_until(Duration::from_secs(10), || !cg.exists()),
            "{} left behind",
            cg.display()
        );
        assert_procs_gone(&marker, Duration::from_secs(10), "multi balloon");
    });
}

// ---------------------------------------------------------------------------------------------
// PIDs

const FORK_BOMB: &str = include_str!("probes/limits/fork_bomb.py");

const THREAD_BOMB: &str = include_str!("probes/limits/thread_bomb.py");

/// The most tasks `-v` says the --pids limit allows ("64 processes" or "64..363 processes").
fn pids_bound(line: &str) -> u64 {
    let head = line.split("processes").next().unwrap_or("");
    let nums: Vec<u64> = head
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    *nums
        .last()
        .unwrap_or_else(|| panic!("no number in the pids line {line:?}"))
}

/// A fork bomb and a thread bomb under --pids 64: fork/thread creation fails (EAGAIN), seal
/// returns, and no process of the sandbox is left on the host. `-v` names the mechanism seal
/// uses here ([`pids_mechanism`]). Where it cannot enforce the limit (root without a v1 pids
/// controller and without per-namespace pid_max) `-v`, `--json` and the warning of an explicit
/// --pids say NOT ENFORCED; the bombs, capped by the probes themselves at 200 forks and 100
/// threads, then get all of them (the report is true), and nothing outlives the run either.
#[test]
fn fork_bomb_and_thread_bomb_hit_the_pids_limit() {
    each_variant(|v| {
        let env = Env::new(v, "forkbomb");
        let fork = env.probe("forkbomb", FORK_BOMB);
        let threads = env.probe("threadbomb", THREAD_BOMB);
        let mech = pids_mechanism(v.is_root(), true);
        if !mech.enforced() || mech == PidsMechanism::PidMax {
            note(&v.name, &format!("--pids 64: {}", mech.why()));
        }
        let (fork_cap, thread_cap) = if mech.enforced() {
            (3000, 5000)
        } else {
            (200, 100)
        };
        let marker = format!("FORKBOMB{}", env.nonce);
        let args = serde_json::json!({"m": marker, "max": fork_cap}).to_string();
        let out = env
            .seal_probe(&["--json", "-v", "--pids", "64"], &fork, &args)
            .output();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        let line = out.verbose_line("pids limit");
        mech.assert_describes(&line, 64);
        mech.assert_describes(out.json()["limits"]["pids"].as_str().unwrap_or(""), 64);
        let warned = out.stderr.contains(PIDS_NOT_ENFORCED_WARNING);
        assert_eq!(
            warned,
            !mech.enforced(),
            "the NOT ENFORCED warning of an explicit --pids 64 ({})\n{}",
            mech.why(),
            out.describe()
        );
        let forked = p.num("forked");
        // `bound`: the most tasks the limit allows, as -v states it.
        let bound = if mech.enforced() {
            p.expect_eq("error", "EAGAIN");
            let bound = pids_bound(&line);
            // The bomb's own process plus its children.
            assert!(
                forked < bound,
                "{} processes ran with --pids 64, more than the {bound} that -v states ({line})",
                forked + 1
            );
            assert!(
                forked >= 8,
                "only {forked} forks before EAGAIN: limit far too tight?"
            );
            match mech {
                PidsMechanism::PidMax => {
                    assert_eq!(bound, 64 + PID_MAX_RESERVED - 1, "{line}");
                    eprintln!(
                        "[root] note: --pids 64 allowed {} processes ({line})",
                        forked + 1
                    );
                }
                _ => assert!(
                    bound <= 64,
                    "{mech:?} of 64 but -v states a bound of {bound}"
                ),
            }
            bound
        } else {
            // Not enforced, as seal says: every fork the bomb tried succeeded.
            p.expect_eq("error", "none");
            assert_eq!(forked, fork_cap, "{}", out.describe());
            u64::MAX
        };
        assert_procs_gone(&marker, Duration::from_secs(10), "fork bomb");

        let marker2 = format!("THREADBOMB{}", env.nonce);
        let args2 = serde_json::json!({"m": marker2, "max": thread_cap}).to_string();
        let out = env.seal_probe(&["--pids", "64"], &threads, &args2).output();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        let n = p.num("threads");
        assert_eq!(
            out.stderr.contains(PIDS_NOT_ENFORCED_WARNING),
            !mech.enforced(),
            "the NOT ENFORCED warning of an explicit --pids 64 ({})\n{}",
            mech.why(),
            out.describe()
        );
        if mech.enforced() {
            assert!(
                p.get("error").contains("thread"),
                "thread creation never failed: {}",
                p.get("error")
            );
            assert!(
                n < bound,
                "{} threads ran with --pids 64 (bound {bound})",
                n + 1
            );
        } else {
            p.expect_eq("error", "none");
            assert_eq!(n, thread_cap, "{}", out.describe());
        }
        assert_procs_gone(&marker2, Duration::from_secs(10), "thread bomb");
    });
}

// ---------------------------------------------------------------------------------------------
// CPUs and the wall-clock limit

const SPINNER: &str = include_str!("probes/limits/spinner.py");

/// --cpus 1: the program sees one CPU; with --timeout two spinning processes (and the
/// spinning parent) are killed: exit 124, a message naming --timeout, nothing left behind.
/// As root with a v1 cpu controller the quota is a cpu cgroup's; otherwise `-v` says affinity
/// only and no cgroup exists.
///
/// The timeout is 3 s, or more where starting a sandboxed Python is slow (an emulated VM): the
/// spinners must be seen on the host before it expires, or the check races the kill.
#[test]
fn cpu_spinners_are_confined_and_killed_by_the_timeout() {
    each_variant(|v| {
        let env = Env::new(v, "spinner");
        let probe = env.probe("spin", SPINNER);
        let marker = format!("SPINNER{}", env.nonce);
        let args = serde_json::json!({"m": marker}).to_string();
        // How long seal takes here to start a Python that forks twice on one CPU.
        let warmup = env.probe(
            "warmup",
            "for i in range(2):\n    if os.fork() == 0:\n        os._exit(0)\n    os.wait()\n",
        );
        let startup = env.seal_probe(&["--cpus", "1"], &warmup, "{}").output();
        startup.expect_code(0);
        let timeout_s = timeout_after_startup(&v.name, startup.elapsed, 3);
        let timeout = format!("{timeout_s}s");
        let mut running = env
            .seal_probe(
                &["--json", "-v", "--cpus", "1", "--timeout", &timeout],
                &probe,
                &args,
            )
            .spawn();
        running.wait_for_stdout("PROBE\tspinning\tyes", Duration::from_secs(60));
        // From the host: every spinner may run on one CPU only.
        thread::sleep(Duration::from_millis(200));
        let spinners: Vec<(i32, String)> = procs_with_marker(&marker)
            .into_iter()
            .filter(|(pid, cmd)| {
                // The Python processes only (not seal itself, whose command line has the
                // marker too).
                cmd.contains("spin.py")
                    && fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.starts_with("python"))
            })
            .collect();
        let mut allowed = Vec::new();
        for (pid, _) in &spinners {
            if let Some(s) = fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                        .map(|v| v.trim().to_string())
                })
            {
                allowed.push(s);
            }
        }
        let cg = cgroup_dir("cpu", running.pid());
        let quota = cpu_quota_and_period(&cg);
        let out = running.finish();
        out.expect_code(124);
        assert!(
            out.stderr.contains("--timeout"),
            "no message naming --timeout\n{}",
            out.describe()
        );
        let j = out.json();
        assert_eq!(j["timed_out"], true);
        assert_eq!(j["exit_code"], 124);
        let p = out.probe();
        p.expect_eq("affinity", "1");
        assert!(
            spinners.len() >= 3,
            "expected 3 spinners on the host, saw {spinners:?}"
        );
        for a in &allowed {
            assert!(
                !a.contains(',') && !a.contains('-'),
                "a spinner may run on CPUs {a:?}, not one"
            );
        }
        let line = out.verbose_line("cpu limit");
        assert!(line.contains("affinity"), "{line}");
        let claims_cgroup = line.contains("cpu cgroup");
        assert_eq!(
            claims_cgroup,
            quota.is_some(),
            "-v says {line:?}; cgroup {} exists: {}",
            cg.display(),
            quota.is_some()
        );
        if let Some((q, per)) = quota {
            assert_eq!(q, per, "--cpus 1: quota {q} for period {per}");
        }
        if let (true, Some(version)) = (v.is_root(), root_cgroup("cpu")) {
            let label = if version == CgroupVersion::V2 {
                "v2 cpu cgroup"
            } else {
                "v1 cpu cgroup"
            };
            assert!(
                claims_cgroup && line.contains(label),
                "root with a {version:?} cpu controller: --cpus should use it: {line}"
            );
        } else {
            if v.is_root() {
                note(
                    &v.name,
                    "no cpu controller in cgroup v2 or v1: expecting --cpus 1 as affinity only, \
                     no cpu cgroup",
                );
            }
            assert!(
                !claims_cgroup && line.ends_with("at most 1 CPUs (affinity)"),
                "{}: --cpus 1 without a cpu cgroup must be affinity only: {line}",
                v.name
            );
        }
        assert!(
            out.elapsed < Duration::from_secs(60 + timeout_s),
            "--timeout {timeout} took {:?}",
            out.elapsed
        );
        assert_procs_gone(&marker, Duration::from_secs(10), "spinners");
        assert!(
            wait_until(Duration::from_secs(10), || !cg.exists()),
            "{} left behind",
            cg.display()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Disk

const FILLER: &str = include_str!("probes/limits/filler.py");

/// --disk 64M: /tmp, HOME, /dev/shm and an --in-copy each fill up at 64 MiB (ENOSPC); the
/// host's /tmp and the original of the copy are untouched.
#[test]
fn tmpfs_filler_hits_the_disk_limit() {
    each_variant(|v| {
        let env = Env::new(v, "filler");
        let copy = env.dir.join("copysrc");
        env.mkdir(&copy, 0o755);
        env.write(&copy.join("seed.txt"), b"seed", 0o644);
        let probe = env.probe("fill", FILLER);
        let args = serde_json::json!({"copy": copy, "nonce": env.nonce}).to_string();
        let before = snapshot(&env.dir, &[]);
        let out = env
            .seal_probe(
                &["-v", "--disk", "64M", "--in-copy", copy.to_str().unwrap()],
                &probe,
                &args,
            )
            .output();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        for key in ["tmp", "home", "shm", "copy"] {
            p.expect_in(&format!("error:{key}"), &["ENOSPC", "EDQUOT"]);
            let w = p.num(&format!("written:{key}"));
            assert!(w <= 64 * MIB, "{key}: {w} bytes written under --disk 64M");
            assert!(
                w >= 32 * MIB,
                "{key}: only {w} bytes fit: limit far too tight"
            );
        }
        let line = out.verbose_line("disk limit");
        assert_eq!(first_size_in(&line), Some(64 * MIB), "{line}");
        assert!(line.contains("tmpfs"), "{line}");
        let leaked = Path::new("/tmp").join(format!("fill-{}", env.nonce));
        assert!(!leaked.exists(), "the filler reached the host's /tmp");
        assert_same_snapshot(&before, &snapshot(&env.dir, &[]), "filler");
    });
}

// ---------------------------------------------------------------------------------------------
// What -v says

/// `-v` names the mechanism of every limit, and the kernel state inside matches it.
#[test]
fn verbose_names_the_mechanism_of_each_limit() {
    each_variant(|v| {
        let env = Env::new(v, "verbose");
        let probe = env.probe("limits", SELF_LIMITS);
        // Positive control: what the same probe sees without seal.
        let c = env.direct(&probe, "{}");
        c.expect_code(0);
        let cp = c.probe();
        assert_ne!(
            cp.get("rlimit_data"),
            (256 * MIB).to_string(),
            "host already limited"
        );
        if cp.num("affinity") < 2 {
            loud(&format!(
                "!!! [{}] this host has one CPU: the --cpus 1 affinity check cannot fail here",
                v.name
            ));
        }
        let out = env
            .seal_probe(
                &[
                    "-v", "--memory", "256M", "--cpus", "1", "--pids", "64", "--disk", "64M",
                ],
                &probe,
                "{}",
            )
            .output();
        out.expect_code(0);
        let p = out.probe();
        let mem = out.verbose_line("memory limit");
        let cpu = out.verbose_line("cpu limit");
        let pids = out.verbose_line("pids limit");
        let disk = out.verbose_line("disk limit");
        eprintln!("[{}]\n{mem}\n{cpu}\n{pids}\n{disk}", v.name);

        // Every variant: RLIMIT_DATA, affinity, tmpfs sizes.
        assert_eq!(first_size_in(&mem), Some(256 * MIB), "{mem}");
        assert!(mem.contains("RLIMIT_DATA"), "{mem}");
        p.expect_eq("rlimit_data", &(256 * MIB).to_string());
        assert!(cpu.contains("affinity"), "{cpu}");
        p.expect_eq("affinity", "1");
        let mech = pids_mechanism(v.is_root(), true);
        mech.assert_describes(&pids, 64);
        assert_eq!(first_size_in(&disk), Some(64 * MIB), "{disk}");
        assert!(disk.contains("tmpfs"), "{disk}");
        for d in ["/tmp", "/home/sandbox", "/dev/shm"] {
            let key = format!("fs_size:{d}");
            if p.opt(&key).is_some() {
                assert_eq!(p.num(&key), 64 * MIB, "{d} is not a 64 MiB tmpfs");
            }
        }
        if pids.contains("pid_max=") {
            let m = pids
                .split("pid_max=")
                .nth(1)
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .unwrap();
            p.expect_eq("pid_max", m);
        }

        // Root gets each controller's cgroup the host has (v2 first, then v1); the rest is
        // what any user without a delegated cgroup gets.
        let (mem_cg, cpu_cg) = (
            v.is_root() && root_cgroup("memory").is_some(),
            v.is_root() && root_cgroup("cpu").is_some(),
        );
        if v.is_root() {
            let missing: Vec<&str> = ["pids", "memory", "cpu"]
                .into_iter()
                .filter(|c| root_cgroup(c).is_none())
                .collect();
            if !missing.is_empty() {
                note(
                    &v.name,
                    &format!(
                        "no {} controller(s) in cgroup v2 or v1 on this host: expecting the \
                         mechanisms without them; pids: {}",
                        missing.join("/"),
                        mech.why()
                    ),
                );
            }
        }
        if mem_cg {
            assert!(
                mem.contains("memory cgroup") && !mem.contains("no memory cgroup"),
                "root: {mem}"
            );
        } else {
            assert!(
                mem.contains("per process")
                    && !mem.contains("memory cgroup)")
                    && !mem.contains("memory cgroup:"),
                "{}: {mem}",
                v.name
            );
        }
        if cpu_cg {
            assert!(cpu.contains("cpu cgroup"), "root: {cpu}");
        } else {
            assert!(!cpu.contains("cgroup quota"), "{}: {cpu}", v.name);
        }
        match mech {
            PidsMechanism::UserNsRlimit => p.expect_eq("rlimit_nproc", "64"),
            PidsMechanism::PidMax => p.expect_eq("pid_max", &(64 + PID_MAX_RESERVED).to_string()),
            _ => {}
        }
        assert_eq!(
            out.stderr.contains(PIDS_NOT_ENFORCED_WARNING),
            !mech.enforced(),
            "the NOT ENFORCED warning of an explicit --pids 64 ({})\n{}",
            mech.why(),
            out.describe()
        );

        // Defaults: memory half of the machine, 1024 pids, 1 GiB disk.
        let out = env.seal_probe(&["-v"], &probe, "{}").output();
        out.expect_code(0);
        let mem = out.verbose_line("memory limit");
        let half = mem_total() / 2;
        let got = first_size_in(&mem).unwrap_or_else(|| panic!("no size in {mem:?}"));
        assert!(
            close(got, half, 5.0),
            "default memory {got} is not half of {}: {mem}",
            2 * half
        );
        assert!(mem.contains("RLIMIT_DATA"), "{mem}");
        // The default 1024, by the same mechanism (or, likewise, not enforced: said by -v).
        mech.assert_describes(&out.verbose_line("pids limit"), 1024);
        // Only a limit the user asked for warns when it is not enforced.
        assert!(
            !out.stderr.contains(PIDS_NOT_ENFORCED_WARNING),
            "the default pids limit warned\n{}",
            out.describe()
        );
        assert_eq!(first_size_in(&out.verbose_line("disk limit")), Some(GIB));
        assert!(out.verbose_line("cpu limit").contains("none"));
    });
}
