//! `seal run`: the run phase.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use seal_sandbox::{LandlockLevel, Outcome, Status};

use crate::cli::RunArgs;
use crate::python;
use crate::run_layout::{self, RunRequest};
use crate::EXIT_TIMEOUT;

/// A first argument ending in `.py` is a script for the interpreter; anything else is a
/// program looked up in the sandbox's PATH.
fn program_argv(python: &python::Interpreter, command: &[OsString]) -> Vec<OsString> {
    let is_script = command
        .first()
        .is_some_and(|c| c.to_string_lossy().ends_with(".py"));
    if is_script {
        let mut argv = vec![python.executable.clone().into_os_string()];
        argv.extend(command.iter().cloned());
        argv
    } else {
        command.to_vec()
    }
}

pub fn run(args: RunArgs) -> Result<i32> {
    let python = python::discover(args.python.as_deref())?;
    let request = RunRequest {
        command: program_argv(&python, &args.command),
        project: args.project.unwrap_or_else(|| PathBuf::from(".")),
        inputs: args.inputs,
        outputs: args.outputs,
        shares: args.shares,
        set_env: args.set_env,
        pass_env: args.pass_env,
        timeout: args.timeout,
        pids: Some(args.pids),
        landlock_required: args.require_landlock,
    };
    let spec = run_layout::build(&python, &request)?;
    let outcome = seal_sandbox::run(&spec)?;
    report(&outcome, args.verbose, &python, &request);
    Ok(match outcome.status {
        Status::Exited(code) => code,
        Status::TimedOut => EXIT_TIMEOUT,
    })
}

fn report(outcome: &Outcome, verbose: bool, python: &python::Interpreter, req: &RunRequest) {
    let e = &outcome.enforcement;
    if e.pids.starts_with("NOT ENFORCED") {
        eprintln!("seal: warning: the --pids limit is {}", e.pids);
    }
    if matches!(e.landlock, LandlockLevel::None | LandlockLevel::Partial) && verbose {
        eprintln!(
            "seal: note: Landlock is {} on this kernel",
            e.landlock.as_str()
        );
    }
    if outcome.pids_limit_hits > 0 {
        eprintln!(
            "seal: the program hit the --pids limit ({} forks refused)",
            outcome.pids_limit_hits
        );
    }
    if outcome.status == Status::TimedOut {
        if let Some(t) = req.timeout {
            eprintln!("seal: --timeout {t:?} expired; every process of the sandbox was killed");
        }
    }
    if verbose {
        eprintln!(
            "seal: interpreter      {} (prefix {})",
            python.executable.display(),
            python.prefix.display()
        );
        eprintln!("seal: namespaces       {}", e.namespaces);
        eprintln!(
            "seal: file system      new tmpfs root via pivot_root; system and project read-only"
        );
        eprintln!("seal: landlock         {}", e.landlock.as_str());
        eprintln!("seal: seccomp          denies {}", e.seccomp);
        eprintln!(
            "seal: privileges       no capabilities, no_new_privs, uid {} inside",
            run_layout::SANDBOX_UID
        );
        eprintln!("seal: pids limit       {}", e.pids);
        eprintln!("seal: core dumps       disabled (RLIMIT_CORE=0)");
        match outcome.status {
            Status::Exited(code) if code > 128 => eprintln!(
                "seal: exit status      {code} (killed by signal {})",
                code - 128
            ),
            Status::Exited(code) => eprintln!("seal: exit status      {code}"),
            Status::TimedOut => eprintln!("seal: exit status      {EXIT_TIMEOUT} (timeout)"),
        }
        if let Some(kib) = outcome.supervisor_peak_rss_kib {
            eprintln!("seal: supervisor peak RSS {kib} kB");
        }
    }
}
