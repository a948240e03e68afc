//! `seal export slurm`: a batch script that runs the same sandbox on a cluster node.
//!
//! seal needs no root, no daemon and no container image, so the faithful way to carry a run
//! to a Slurm node is to run seal itself there: the script is `seal run` with the options given
//! here, word for word, and the limits it enforces become the job's resource request, so
//! that the scheduler allocates what the sandbox may use.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::SandboxOptions;

/// Slurm accounts the job's whole cgroup, seal's supervisor included, so it asks for a little
/// more than the sandbox may use: the sandbox then meets its own limit (and seal reports it)
/// before the job meets Slurm's.
const MEMORY_HEADROOM_MIB: u64 = 64;
/// The job's time limit exceeds seal's --timeout by this much, for the same reason.
const TIME_HEADROOM: Duration = Duration::from_secs(60);

/// `seal export slurm [RUN OPTIONS] [--] PROGRAM...`: validate the options as `seal run` would,
/// then print the script.
pub fn slurm(args: SandboxOptions, command: Vec<OsString>) -> Result<i32> {
    let passed = passed_through(std::env::args_os().collect())?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let run = crate::commands::run::resolve(args, &command)?;
    let r = &run.settings.request;
    let resources = Resources {
        cpus: r.cpus.map(|c| c.ceil().max(1.0) as u64),
        memory_mib: r
            .memory_explicit
            .then_some(r.memory)
            .flatten()
            .map(|b| b.div_ceil(1 << 20) + MEMORY_HEADROOM_MIB),
        minutes: r
            .timeout
            .map(|t| (t + TIME_HEADROOM).as_secs().div_ceil(60)),
    };
    let script = script(&job_name(&run.project.root), &resources, &cwd, &passed);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("cannot write the script to standard output")?;
    Ok(0)
}

/// The arguments after `seal export slurm`, exactly as given: the script hands them to `seal
/// run` unchanged, so that the node parses them as this command line was parsed.
fn passed_through(argv: Vec<OsString>) -> Result<Vec<OsString>> {
    match argv.get(1..3) {
        Some([e, s]) if e == "export" && s == "slurm" => Ok(argv[3..].to_vec()),
        _ => bail!("seal export slurm must be invoked as `seal export slurm [OPTIONS] -- PROGRAM`"),
    }
}

struct Resources {
    cpus: Option<u64>,
    memory_mib: Option<u64>,
    minutes: Option<u64>,
}

/// Slurm job names are shown in squeue and used in file names: letters, digits, `._-`.
fn job_name(project: &Path) -> String {
    let base = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "seal".into()
    } else {
        format!("seal-{clean}")
    }
}

/// One word for a POSIX shell, in single quotes (the only character they cannot hold is the
/// quote itself, written as `'\''`). Bytes that are not UTF-8 pass through untouched.
fn quoted(word: &OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in word.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

fn script(name: &str, res: &Resources, cwd: &Path, passed: &[OsString]) -> Vec<u8> {
    let mut s = Vec::new();
    let mut line = |text: &str| {
        s.extend_from_slice(text.as_bytes());
        s.push(b'\n');
    };
    line("#!/bin/bash");
    line("# Written by `seal export slurm`; submit it with `sbatch FILE`.");
    line("# The job runs seal itself on the node (seal needs no root, no daemon, no image): the");
    line("# same sandbox, policy (seal.toml) and limits as `seal run` with these options here.");
    line("# The node needs seal on PATH and the same paths (a shared file system).");
    line(&format!("#SBATCH --job-name={name}"));
    if let Some(c) = res.cpus {
        line(&format!("#SBATCH --cpus-per-task={c}"));
    }
    // Explanations go on lines of their own: an #SBATCH line holds its option alone.
    if let Some(m) = res.memory_mib {
        line(&format!(
            "# --mem: the sandbox's memory limit + {MEMORY_HEADROOM_MIB} MiB for seal itself"
        ));
        line(&format!("#SBATCH --mem={m}M"));
    }
    if let Some(t) = res.minutes {
        line(&format!(
            "# --time (minutes): seal's --timeout + {} s",
            TIME_HEADROOM.as_secs()
        ));
        line(&format!("#SBATCH --time={t}"));
    }
    line("set -euo pipefail");
    line("if ! command -v seal >/dev/null 2>&1; then");
    line("    echo \"seal export: seal is not on PATH on $(hostname); install it there (it needs no root)\" >&2");
    line("    exit 127");
    line("fi");
    s.extend_from_slice(b"cd -- ");
    s.extend_from_slice(&quoted(cwd.as_os_str()));
    s.push(b'\n');
    s.extend_from_slice(b"exec seal run");
    for word in passed {
        s.push(b' ');
        s.extend_from_slice(&quoted(word));
    }
    s.push(b'\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_survive_the_shell_as_they_were() {
        assert_eq!(quoted(OsStr::new("plain")), b"'plain'");
        assert_eq!(
            quoted(OsStr::new("it's $HOME `x`")),
            b"'it'\\''s $HOME `x`'"
        );
        assert_eq!(quoted(OsStr::from_bytes(b"\xff")), b"'\xff'");
    }

    #[test]
    fn only_the_export_arguments_are_dropped() {
        let argv: Vec<OsString> = [
            "seal", "export", "slurm", "--cpus", "2", "--", "x.py", "slurm",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let kept: Vec<OsString> = ["--cpus", "2", "--", "x.py", "slurm"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(passed_through(argv).unwrap(), kept);
        assert!(passed_through(vec!["seal".into(), "run".into()]).is_err());
    }

    #[test]
    fn job_names_are_safe() {
        assert_eq!(job_name(Path::new("/home/a/my proj!")), "seal-my_proj_");
        assert_eq!(job_name(Path::new("/")), "seal");
    }

    #[test]
    fn resources_become_the_job_request() {
        let res = Resources {
            cpus: Some(2),
            memory_mib: Some(1088),
            minutes: Some(11),
        };
        let s = String::from_utf8(script("seal-p", &res, Path::new("/w"), &[])).unwrap();
        assert!(s.contains("#SBATCH --cpus-per-task=2\n"), "{s}");
        assert!(s.contains("#SBATCH --mem=1088M\n"), "{s}");
        assert!(s.contains("#SBATCH --time=11\n"), "{s}");
        assert!(s.ends_with("cd -- '/w'\nexec seal run\n"), "{s}");
        // sbatch reads #SBATCH lines only before the first command.
        let first_command = s.find("set -euo").unwrap();
        assert!(s.rfind("#SBATCH").unwrap() < first_command);
    }
}
