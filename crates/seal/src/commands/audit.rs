//! `seal audit`: what each installed distribution does when the interpreter starts (.pth
//! hooks) and when each of its top-level modules is imported, observed in the run-phase
//! sandbox (no network, none of the user's files) by Python audit hooks installed before any
//! package code runs, with decoy credentials in the sandbox's private HOME. The driver
//! (`audit_driver.py`) runs each import in a process of its own; seal reads the result from
//! the driver's stdout, which no package process holds.
//!
//! The result is printed per package and recorded in `seal.audit.toml` beside seal.lock, so the
//! next audit shows what is new ("thief 2.0: new: connects to 127.0.0.1:9 (import thief)").
//! Native code is seen only where the kernel shows it: in the namespace mode the engine
//! observes every connect(), addressed sendto() and execve() (seccomp user notification,
//! [`seal_sandbox::Observed`]), attributed through the calling process to the import it came
//! from; what Python's hooks already reported is not repeated. Files opened by native code,
//! sendmsg(), and reads of environment variables are not events; the output says so.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::AuditArgs;
use crate::commands::run::interpreter_for;
use crate::isolation;
use crate::layout::{self, fallback_scratch, RunRequest};
use crate::project::{self, ENV_MOUNT};

const DRIVER: &str = include_str!("audit_driver.py");
const DRIVER_NAME: &str = "audit_driver.py";
pub const RECORD_FILE: &str = "seal.audit.toml";
const NOT_OBSERVED: &str = "native code is observed only in its connect(), sendto() and exec \
    calls and the calls seccomp refuses (namespace mode; in the fallback socket() is refused \
    outright): files it opens, sendmsg() and reads of environment variables are not observed";

#[derive(Debug, Deserialize)]
struct Report {
    packages: BTreeMap<String, Package>,
    #[serde(default)]
    unattributed: Vec<Behaviour>,
    startup_problem: Option<String>,
    /// pid of each child of the driver: (distribution, "" for the .pth child; what it did).
    #[serde(default)]
    processes: BTreeMap<String, (String, String)>,
}

#[derive(Debug, Deserialize)]
struct Package {
    version: String,
    #[serde(default)]
    behaviour: Vec<Behaviour>,
    #[serde(default)]
    problems: Vec<String>,
    /// Events past the driver's cap for one package.
    #[serde(default)]
    dropped: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Behaviour {
    kind: String,
    detail: String,
    #[serde(default)]
    decoy: bool,
    when: String,
    #[serde(default = "yes")]
    attributed: bool,
    /// Seen by the kernel (a system call), not by Python's audit hooks.
    #[serde(default)]
    native: bool,
}

fn yes() -> bool {
    true
}

impl Behaviour {
    /// One line for the user and for the record: "DECOY reads ~/.ssh/id_rsa (import thief)".
    fn line(&self) -> String {
        let decoy = if self.decoy { "DECOY " } else { "" };
        // What the kernel saw: a refused call may come from Python or native code alike.
        let seen = if self.kind == "tried" {
            "refused by seccomp"
        } else {
            "native code"
        };
        let attributed = match (self.attributed, self.native) {
            (true, false) => String::new(),
            (true, true) => format!(", {seen}"),
            (false, false) => ", not attributed by the call stack".into(),
            (false, true) => format!(", {seen}, not attributed to a package"),
        };
        clean(&format!(
            "{decoy}{} {} ({}{attributed})",
            self.kind, self.detail, self.when
        ))
    }
}

/// Text a package chose (paths, command lines, error messages) as it may reach a terminal:
/// control characters escaped, so it cannot carry escape sequences, and bounded.
fn clean(s: &str) -> String {
    const MAX: usize = 400;
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `seal.audit.toml`: per package, its version and behaviour lines at the last audit.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_text_cannot_carry_terminal_escapes() {
        let b = Behaviour {
            kind: "runs".into(),
            detail: "echo \u{1b}]0;owned\u{7}\n".into(),
            decoy: false,
            when: "import x".into(),
            attributed: true,
            native: false,
        };
        let line = b.line();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.starts_with("runs echo \\u{1b}]0;owned"), "{line}");
        assert!(clean(&"x".repeat(1000)).len() < 410);
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    package: BTreeMap<String, RecordedPackage>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordedPackage {
    version: String,
    behaviour: Vec<String>,
}

pub fn run(args: AuditArgs) -> Result<i32> {
    let project = project::locate(args.project.as_deref())?;
    if !project.has_env() {
        bail!(
            "{} has no environment to audit; create it with `seal install`",
            project.root.display()
        );
    }
    let (python, env_dir) = interpreter_for(None, &project)?;
    let state = project.state_dir();
    // The run's "project": an empty directory holding only the driver, so the audit sees
    // nothing of the user's project either.
    let work = tempfile::Builder::new()
        .prefix("audit-")
        .tempdir_in(&state)
        .with_context(|| format!("creating a directory in {}", state.display()))?;
    let work_dir = work.path().canonicalize()?;
    let driver = work_dir.join(DRIVER_NAME);
    std::fs::write(&driver, DRIVER)?;
    let fallback_env = env_dir
        .as_deref()
        .map(|e| e.to_path_buf())
        .ok_or_else(|| anyhow!("no environment"))?;
    let command = |env_root: &str| -> Vec<std::ffi::OsString> {
        vec![
            format!("{env_root}/bin/python").into(),
            "-I".into(),
            "-S".into(),
            driver.clone().into(),
            "main".into(),
            format!("{env_root}/lib/python{}/site-packages", python.version).into(),
        ]
    };
    let req = RunRequest {
        command: command(ENV_MOUNT),
        project: work_dir.clone(),
        env_dir,
        out_quota: 1,
        out_max_files: 1,
        disk: 1 << 30,
        pids: Some(1024),
        memory: Some(seal_sandbox::host_memory_bytes() / 2).filter(|&m| m > 0),
        timeout: Some(Duration::from_secs(30 * 60)),
        ..RunRequest::default()
    };
    let observe_native = seal_sandbox::host_probe::seccomp_user_notification_available();
    if !observe_native {
        eprintln!(
            "seal: warning: this kernel has no seccomp user notification: native code's connections and commands will not be observed, only Python's"
        );
    }
    eprintln!(
        "seal: auditing {} (each package's start-up hooks and imports, in the run sandbox with decoy credentials)",
        project.env_dir().display()
    );
    let (status, stdout) = capture_stdout(|| {
        isolation::run_auto(
            args.isolation.unwrap_or_default(),
            || {
                let mut spec = layout::build(&python, &req)?;
                // Where the kernel cannot, the audit still runs, Python-level only, and says so.
                spec.handoff.observe = observe_native;
                let outcome = seal_sandbox::run(&spec)?;
                Ok((outcome.status, outcome.observed, outcome.observed_dropped))
            },
            |degraded| {
                degraded.warn(false);
                let scratch = fallback_scratch::Scratch::create()?;
                // Without a mount namespace the environment is seen at its host path.
                let req = RunRequest {
                    command: command(&fallback_env.to_string_lossy()),
                    ..req.clone()
                };
                let spec = layout::build_fallback(&python, &req, scratch.path())?;
                Ok((seal_sandbox::run_fallback(&spec)?.status, Vec::new(), 0))
            },
        )
    })?;
    let (status, observed, observed_dropped) = status?;
    let mut report: Report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            anyhow!(
                "the audit driver gave no report ({status:?}): a package may have stopped it; \
                 treat the environment as suspicious"
            )
        })?;

    add_native(&mut report, &observed, observed_dropped);

    let record_path = project.root.join(RECORD_FILE);
    let previous: Option<Record> = match std::fs::read_to_string(&record_path) {
        Ok(text) => {
            Some(toml::from_str(&text).map_err(|e| anyhow!("{}: {}", record_path.display(), e))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", record_path.display())),
    };
    let record = Record {
        package: report
            .packages
            .iter()
            .map(|(name, p)| {
                let behaviour = p.behaviour.iter().map(Behaviour::line).collect();
                (
                    name.clone(),
                    RecordedPackage {
                        version: p.version.clone(),
                        behaviour,
                    },
                )
            })
            .collect(),
    };
    if args.json {
        println!("{}", json_report(&report, &record, previous.as_ref()));
    } else {
        print_table(&report, &record, previous.as_ref());
    }
    let text = format!(
        "# {RECORD_FILE}: what each package did when `seal audit` last imported it. The next audit\n\
         # reports what is new. Written by seal; {NOT_OBSERVED}.\n\n{}",
        toml::to_string(&record)?
    );
    crate::install::write_atomically(&record_path, &text)?;
    Ok(0)
}

/// The network calls the kernel showed, each under the driver's child it came from (the
/// nearest of the caller's ancestors that is one), unless Python's hooks reported it there.
fn add_native(report: &mut Report, observed: &[seal_sandbox::Observed], dropped: u64) {
    for o in observed {
        let kind = match o.call {
            "connect" => "connects to",
            "sendto" => "sends a datagram to",
            "refused" => "tried",
            _ => "runs",
        };
        // The driver starting itself and its children is the audit's own doing.
        if kind == "runs" && o.detail.contains(DRIVER_NAME) {
            continue;
        }
        let owner = o
            .pids
            .iter()
            .find_map(|pid| report.processes.get(&pid.to_string()))
            .cloned();
        let (dist, when) = owner.unwrap_or_else(|| (String::new(), "the audit run".into()));
        let seen = |list: &[Behaviour]| list.iter().any(|b| b.kind == kind && b.detail == o.detail);
        let entry = Behaviour {
            kind: kind.into(),
            detail: o.detail.clone(),
            decoy: false,
            when,
            attributed: true,
            native: true,
        };
        match report.packages.get_mut(&dist) {
            Some(p) if seen(&p.behaviour) => {}
            Some(p) => {
                if !p.behaviour.contains(&entry) {
                    p.behaviour.push(entry);
                }
            }
            None if seen(&report.unattributed) => {}
            None => {
                let entry = Behaviour {
                    attributed: false,
                    ..entry
                };
                if !report.unattributed.contains(&entry) {
                    report.unattributed.push(entry);
                }
            }
        }
    }
    if dropped > 0 {
        report.unattributed.push(Behaviour {
            kind: "made".into(),
            detail: format!("{dropped} more network calls, not listed"),
            decoy: false,
            when: "the audit run".into(),
            attributed: false,
            native: true,
        });
    }
}

/// What is new for `name` since `previous`: behaviour lines not recorded then.
fn new_since<'a>(name: &str, now: &'a RecordedPackage, previous: Option<&Record>) -> Vec<&'a str> {
    let Some(prev) = previous else {
        return Vec::new();
    };
    let before = prev.package.get(name).map(|p| &p.behaviour);
    now.behaviour
        .iter()
        .filter(|b| !before.is_some_and(|v| v.contains(b)))
        .map(String::as_str)
        .collect()
}

fn print_table(report: &Report, record: &Record, previous: Option<&Record>) {
    println!(
        "seal audit: {} packages; {NOT_OBSERVED}",
        report.packages.len()
    );
    for (name, p) in &report.packages {
        let rec = &record.package[name];
        let new = new_since(name, rec, previous);
        let was = previous.and_then(|r| r.package.get(name));
        let version_note = match was {
            None if previous.is_some() => " (new package)".to_string(),
            Some(w) if w.version != p.version => format!(" (was {})", w.version),
            _ => String::new(),
        };
        let name = clean(name);
        if rec.behaviour.is_empty() && p.problems.is_empty() {
            println!("{name} {}{version_note}: nothing unusual", p.version);
            continue;
        }
        println!("{name} {}{version_note}:", p.version);
        // Decoys first: they are what a credential stealer touches.
        let mut lines: Vec<&String> = rec.behaviour.iter().collect();
        lines.sort_by_key(|l| !l.starts_with("DECOY"));
        for l in lines {
            let mark = if new.contains(&l.as_str()) {
                "new: "
            } else {
                ""
            };
            println!("  {mark}{l}");
        }
        for problem in &p.problems {
            println!("  problem: {}", clean(problem));
        }
        if p.dropped > 0 {
            println!("  ... and {} more events, not listed", p.dropped);
        }
    }
    for b in &report.unattributed {
        println!("unattributed: {}", b.line());
    }
    if let Some(p) = &report.startup_problem {
        println!("interpreter start: {}", clean(p));
    }
}

fn json_report(report: &Report, record: &Record, previous: Option<&Record>) -> String {
    let packages: serde_json::Map<String, serde_json::Value> = report
        .packages
        .iter()
        .map(|(name, p)| {
            let rec = &record.package[name];
            let items: Vec<serde_json::Value> = p
                .behaviour
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "kind": b.kind,
                        "detail": b.detail,
                        "decoy": b.decoy,
                        "when": b.when,
                        "attributed": b.attributed,
                        "native": b.native,
                    })
                })
                .collect();
            (
                name.clone(),
                serde_json::json!({
                    "version": p.version,
                    "behaviour": items,
                    "new": new_since(name, rec, previous),
                    "problems": p.problems,
                    "dropped": p.dropped,
                }),
            )
        })
        .collect();
    serde_json::json!({
        "packages": packages,
        "unattributed": report.unattributed.iter().map(Behaviour::line).collect::<Vec<_>>(),
        "startup_problem": report.startup_problem,
        "not_observed": NOT_OBSERVED,
    })
    .to_string()
}

/// Runs `f` with this process's stdout (which the sandbox inherits) replaced by a pipe, and
/// returns what was written to it. seal's own messages go to stderr meanwhile.
fn capture_stdout<T>(f: impl FnOnce() -> T) -> Result<(T, String)> {
    use std::io::Write;
    std::io::stdout().flush()?;
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let saved: OwnedFd = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3)?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::fs::File::from(read).read_to_string(&mut text);
        text
    });
    rustix::stdio::dup2_stdout(&write)?;
    drop(write);
    let result = f();
    // Puts stdout back, which also closes the last write end seal holds.
    rustix::stdio::dup2_stdout(&saved)?;
    let text = reader
        .join()
        .map_err(|_| anyhow!("reading the audit's output failed"))?;
    Ok((result, text))
}
