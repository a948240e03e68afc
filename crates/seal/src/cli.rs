//! Command-line definitions. `--help` text is the user's first documentation: keep it in step
//! with the README.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

pub use crate::isolation::{Guarantee, Requested};

#[derive(Parser, Debug)]
#[command(
    name = "seal",
    version,
    about = "Run un-audited Python packages without handing them your files, secrets or network",
    long_about = "seal runs Python programs in an unprivileged sandbox: fresh user, mount, PID, \
network, IPC, UTS and cgroup namespaces, a new read-only root, no capabilities, no_new_privs, \
Landlock and seccomp. The program sees its project read-only, the inputs you name read-only, \
the output directories you name writable, and nothing else of your machine: no $HOME, no \
secrets in the environment, no network.",
    after_help = "Examples:\n  seal demo                                 show what the sandbox hides, side by side\n  \
seal run train.py --epochs 3             run a script with the base Python\n  \
seal run --in data/ --out results/ train.py\n  \
seal run -- python -c 'print(1)'         any program of the environment\n  \
seal run python                          an interactive REPL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a program in the run-phase sandbox (no network, read-only project)
    #[command(after_help = "Examples:\n  seal run train.py --epochs 3\n  \
seal run --in data/ --out results/ train.py\n  \
seal run --timeout 10m --pids 256 -- python -m mypkg\n  \
seal run -v -- python3 -c 'import os; print(os.listdir(\"/\"))'\n\n\
Exit status: the program's own; 128+N if it was killed by signal N; 124 if --timeout \
expired; 125 if seal itself failed; 126/127 if the program could not be executed/found.")]
    Run(Box<RunArgs>),
    /// An interactive shell in the run-phase sandbox (same isolation as `seal run`)
    #[command(after_help = "Examples:\n  seal shell\n  seal shell --in data/ --out results/")]
    Shell(Box<ShellArgs>),
    /// Run a console script of the project's environment (`seal exec pytest -x`)
    #[command(
        after_help = "Examples:\n  seal exec pytest -x\n  seal exec --out build/ sphinx-build docs build"
    )]
    Exec(Box<ExecArgs>),
    /// JupyterLab (or Notebook) in the run-phase sandbox, reachable only from this machine's
    /// browser; notebooks are saved in the project directory
    #[command(after_help = "Examples:\n  seal install jupyterlab pandas\n  \
seal jupyter\n  \
seal jupyter --port 9999 --in ~/data\n  \
seal jupyter --notebook-dir notebooks/\n\n\
The server and its kernels have no network at all and see only the project (writable, except \
.seal, .git, the policy and the project's build files, which stay read-only) and what you name \
with --in. The browser reaches it through seal's bridge on a loopback address of the run's own \
(127.A.B.C: no cookies or storage shared with your other local web services; --publish-addr \
127.0.0.1 for the usual one), which checks the Host and Origin headers and adds a \
Content-Security-Policy (see the README for what it stops).")]
    Jupyter(Box<JupyterArgs>),
    /// Build the project's environment (.seal/env) in sandboxes that reach only the package
    /// index and see none of your files
    #[command(after_help = "Examples:\n  seal install requests numpy\n  \
seal install -r requirements.txt --lock     # also write seal.lock (versions + sha256)\n  \
seal install                                # from seal.lock, else pyproject.toml dependencies\n  \
seal install --index-url https://mirror.example/simple pkg\n\n\
Wheels only by default: no package code runs while the network is on, and installing happens \
with no network at all; --allow-sdist NAME builds that package from source, offline. The environment is replaced only when the whole install succeeded.")]
    Install(Box<InstallArgs>),
    /// Add packages to the project's declared requirements (pyproject.toml's
    /// [project].dependencies or requirements.txt, whichever the project uses) and rebuild the
    /// environment with everything declared, under the same rules as seal install
    #[command(
        after_help = "Examples:\n  seal add requests\n  seal add 'numpy>=2' pandas\n\nThe file is changed only when the new environment was built; seal.lock, if the project has one, is written anew."
    )]
    Add(Box<AddArgs>),
    /// Remove packages from the project's declared requirements and rebuild the environment
    #[command(after_help = "Example:\n  seal remove requests")]
    Remove(Box<RemoveArgs>),
    /// Report what each installed package does when the interpreter starts and when it is
    /// imported (files, connections, name lookups, processes), with decoy credentials in the
    /// run sandbox; recorded in seal.audit.toml so the next audit shows what is new
    #[command(
        after_help = "Examples:\n  seal audit\n  seal audit --json\n\nObserved by Python audit hooks, each import in a process of its own, with no network and none of your files; native code is observed in its connect(), sendto() and exec calls (seccomp user notification, namespace mode), not in the files it opens."
    )]
    Audit(AuditArgs),
    /// Carry a run to other machines: a Slurm batch script that runs the same sandbox (seal
    /// itself, on the node), or Kubernetes manifests (a Job with the policy as the pod's and a
    /// deny-all NetworkPolicy), with the resources taken from the run's limits
    #[command(subcommand)]
    Export(ExportTarget),
    /// Show the project's environment (interpreter, packages, size, lock digest, findings), or
    /// remove it
    #[command(after_help = "Examples:\n  seal env\n  seal env --json\n  seal env remove")]
    Env(EnvArgs),
    /// Report what protects you on this host (namespaces, Landlock, seccomp, cgroups), row by
    /// row, with a command to fix each missing piece
    #[command(
        after_help = "Examples:\n  seal doctor\n  seal doctor --json\n  seal doctor --apparmor-profile | sudo tee /etc/apparmor.d/seal >/dev/null && sudo apparmor_parser -r /etc/apparmor.d/seal\n\nExit status: 0 with full isolation, 2 when only the degraded Landlock + seccomp fallback works, 1 when seal cannot isolate here."
    )]
    Doctor(DoctorArgs),
    /// Show, side by side, what a program can reach without seal and inside seal
    #[command(after_help = "Examples:\n  seal demo\n  seal demo --python /usr/bin/python3")]
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  seal completions bash > ~/.local/share/bash-completion/completions/seal\n  \
seal completions zsh > ~/.zfunc/_seal"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a commented seal.toml (the project's policy) into the project directory
    #[command(after_help = "Examples:\n  seal init\n  seal init --project ~/code/myproject")]
    Init {
        /// Project directory [default: the current directory]
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
    },
    /// Print the manual page (roff) generated from this command line definition
    #[command(after_help = "Example:\n  seal man > seal.1 && man ./seal.1")]
    Man,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Machine-readable output
    #[arg(long, conflicts_with = "apparmor_profile")]
    pub json: bool,
    /// Print an AppArmor profile that lets this seal binary use user namespaces (for hosts
    /// with kernel.apparmor_restrict_unprivileged_userns=1, such as Ubuntu 23.10+)
    #[arg(long)]
    pub apparmor_profile: bool,
}

#[derive(Args, Debug, Default)]
pub struct InstallArgs {
    /// Packages to install (requirement specifiers, e.g. "requests>=2"). They replace the
    /// environment (`seal add` adds to the declared set instead). With none and no -r: seal.lock, else the policy's requirement files, else
    /// [project].dependencies, else requirements.txt (seal says which it used)
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,

    /// Install from a requirements file (repeatable; pip options inside are refused)
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,

    /// Write seal.lock: the exact version and sha256 of every artifact
    #[arg(long)]
    pub lock: bool,

    #[command(flatten)]
    pub with: InstallOptions,

    /// Resolve from the declared requirements even where seal.lock exists, and write a new
    /// seal.lock if there was one (`seal add`, `seal remove`).
    #[arg(skip)]
    pub relock: bool,
}

/// `seal add PACKAGE...`: the project's declared requirements get these (a package already
/// there gets the new specifier), then the environment is rebuilt.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// Requirement specifiers, e.g. "requests>=2" or "rich"
    #[arg(value_name = "PACKAGE", required = true)]
    pub packages: Vec<String>,

    #[command(flatten)]
    pub with: InstallOptions,
}

/// `seal remove PACKAGE...`.
#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Names of declared requirements
    #[arg(value_name = "PACKAGE", required = true)]
    pub packages: Vec<String>,

    #[command(flatten)]
    pub with: InstallOptions,
}

/// What `seal install`, `add` and `remove` share: where from, with what, how.
#[derive(Args, Debug, Default)]
pub struct InstallOptions {
    /// The package index [default: https://pypi.org/simple]
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,

    /// An additional index (repeatable). pip takes the highest version from any index, the
    /// dependency-confusion hole: every installed name that more than one index serves is
    /// reported
    #[arg(long = "extra-index-url", value_name = "URL")]
    pub extra_index_urls: Vec<String>,

    /// Also let the download step reach HOST[:PORT] (a mirror's file host; default port 443;
    /// *.NAME for every subdomain of NAME)
    #[arg(long = "allow-host", value_name = "HOST[:PORT]", value_parser = crate::allow_net::parse)]
    pub allow_hosts: Vec<crate::allow_net::NetTarget>,

    /// Let NAME be built from its source archive (sdist): fetched with no code running, then
    /// built with no network at all (repeatable)
    #[arg(long = "allow-sdist", value_name = "NAME")]
    pub allow_sdist: Vec<String>,

    /// Allow direct URL / VCS / path requirements (their host must be allowed too)
    #[arg(long)]
    pub allow_direct_urls: bool,

    /// Base interpreter for the environment [default: the first python3 on PATH]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// When the environment is built, run `seal audit` on it: what each package does at
    /// interpreter start and on import, with decoy credentials
    #[arg(long)]
    pub audit: bool,

    /// Also put pip into the environment, as `python -m venv` does (from the interpreter's own
    /// ensurepip wheel, offline); without it the environment has no pip, like uv's
    #[arg(long)]
    pub seed: bool,

    /// Which tool installs into the environment: uv when one is available (on PATH or in
    /// seal's cache), else pip; `uv` fetches uv from the index (through the same sandbox) if
    /// needed
    /// [default: auto]
    #[arg(long, value_name = "TOOL")]
    pub installer: Option<Installer>,

    /// Project directory [default: found from the current directory upwards]
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Give up after this long (each of the download and install steps) [default: 30m]
    #[arg(long, value_name = "DURATION", value_parser = crate::values::parse_duration)]
    pub timeout: Option<Duration>,

    /// Show pip's output and every proxy decision
    #[arg(short, long)]
    pub verbose: bool,

    /// Isolation: `auto` uses namespaces, and where the kernel refuses user namespaces the
    /// Landlock + seccomp fallback with a warning (the index still reached only through seal's
    /// proxy); `namespaces` never falls back; `landlock` asks for the fallback [default: auto]
    #[arg(long, value_name = "MODE")]
    pub isolation: Option<Requested>,

    /// Do not print the degraded-isolation warning (only when --isolation landlock was asked
    /// for explicitly)
    #[arg(short, long)]
    pub quiet: bool,
}

impl std::ops::Deref for InstallArgs {
    type Target = InstallOptions;
    fn deref(&self) -> &InstallOptions {
        &self.with
    }
}

impl std::ops::DerefMut for InstallArgs {
    fn deref_mut(&mut self) -> &mut InstallOptions {
        &mut self.with
    }
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Project directory [default: found from the current directory upwards]
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Isolation of the audit run: auto, namespaces, landlock [default: auto]
    #[arg(long, value_name = "MODE")]
    pub isolation: Option<Requested>,
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub action: Option<EnvAction>,

    /// Machine-readable output
    #[arg(long)]
    pub json: bool,

    /// Project directory [default: found from the current directory upwards]
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum EnvAction {
    /// Delete the project's environment
    Remove,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The program and its arguments; a first argument ending in .py runs with Python
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct JupyterArgs {
    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// Host port of the browser URL [default: the first free one from 8888]
    #[arg(long, value_name = "HOSTPORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// The writable notebook directory [default: the project directory]
    #[arg(long, value_name = "DIR")]
    pub notebook_dir: Option<PathBuf>,

    /// Do not open a browser (by default seal opens one with xdg-open in a graphical
    /// session; the URL is printed either way)
    #[arg(long)]
    pub no_browser: bool,

    /// Extra arguments for the Jupyter server (after --)
    #[arg(last = true, value_name = "JUPYTER_ARGS")]
    pub jupyter_args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    pub sandbox: SandboxOptions,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// A console script of the project's environment (.seal/env/bin), and its arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "SCRIPT")]
    pub command: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
pub enum ExportTarget {
    /// A Slurm batch script (to stdout) that runs `seal run` with these options on the node;
    /// --cpus, --memory and --timeout (or the policy's) become its resource request
    #[command(
        after_help = "Examples:\n  seal export slurm --out results/ -- python train.py > train.sbatch && sbatch train.sbatch\n  \
seal export slurm --cpus 4 --memory 8G --timeout 2h train.py > job.sbatch\n\n\
The node needs seal on PATH (it needs no root, daemon or image) and the same paths as here (a \
shared file system). The job asks for the sandbox's memory limit plus 64 MiB and for its \
timeout plus a minute, so that seal meets its own limits, and reports them, before Slurm does."
    )]
    Slurm(Box<ExportSlurmArgs>),
    /// Kubernetes manifests (YAML, to stdout): a batch/v1 Job running the program in --image
    /// with the sandbox's policy as the pod's (non-root, no privilege, read-only root, the
    /// limits as resources) and a NetworkPolicy that denies it all ingress and egress
    #[command(
        after_help = "Examples:\n  seal export k8s --image registry.example/train:1 --out results/ -- python train.py > job.yaml\n  \
seal export k8s --image train:1 --cpus 2 --memory 4G --timeout 2h --runtime-class gvisor train.py | kubectl apply -f -\n\n\
seal does not run in the pod: the image must hold the interpreter at the path the environment \
was built for, the environment at /seal/env and the project at /seal/project. Options with no \
equivalent in a pod (--in, --share, --publish, --allow-net, --gpu, --device, --pass-env) are \
refused with the reason."
    )]
    K8s(Box<ExportK8sArgs>),
}

#[derive(Args, Debug)]
pub struct ExportK8sArgs {
    /// The container image (it holds the interpreter, the environment at /seal/env and the
    /// project at /seal/project)
    #[arg(long, value_name = "IMAGE", required = true)]
    pub image: String,

    /// The Job's and the NetworkPolicy's name [default: seal-<project directory>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The pod's runtimeClassName (e.g. gvisor, kata) for a boundary beyond the runtime's
    /// defaults
    #[arg(long, value_name = "CLASS")]
    pub runtime_class: Option<String>,

    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The program and its arguments, as for `seal run`
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct ExportSlurmArgs {
    #[command(flatten)]
    pub sandbox: SandboxOptions,

    /// The program and its arguments, as for `seal run`
    #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

/// Options shared by `run`, `shell` and `exec`: what the sandbox sees and its limits.
#[derive(Args, Debug)]
pub struct SandboxOptions {
    /// Base interpreter (path or name on PATH); default: the first python3 on PATH
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Project directory, visible read-only at its own path and the working directory
    /// [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Make a file or directory visible read-only at its own path (repeatable)
    #[arg(long = "in", value_name = "PATH")]
    pub inputs: Vec<PathBuf>,

    /// Snapshot a directory into the sandbox at its own path: the program may change its copy;
    /// the original is never touched (repeatable)
    #[arg(long = "in-copy", value_name = "DIR")]
    pub input_copies: Vec<PathBuf>,

    /// Output directory, staged: the program writes to a private area at this path, and seal
    /// copies the results into DIR after it exits, refusing links that leave DIR, special
    /// files, setuid bits and more (repeatable; DIR is created if missing)
    #[arg(long = "out", value_name = "DIR")]
    pub outputs: Vec<PathBuf>,

    /// Output directory bound directly read-write (watch files grow); nosuid, nodev and, where
    /// the kernel has it, nosymfollow (repeatable)
    #[arg(long = "out-live", value_name = "DIR")]
    pub live_outputs: Vec<PathBuf>,

    /// Size quota of each staged --out (also the size of its staging area) [default: 2G]
    #[arg(long, value_name = "SIZE", value_parser = crate::values::parse_size)]
    pub out_quota: Option<u64>,

    /// File-count quota of each staged --out [default: 100000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub out_max_files: Option<u64>,

    /// Symbolic links in staged output: copy those that stay inside DIR, or refuse all
    /// [default: internal]
    #[arg(long, value_name = "POLICY")]
    pub out_links: Option<OutLinks>,

    /// Keep executable bits of output files (setuid/setgid are always removed)
    #[arg(long)]
    pub keep_exec: bool,

    /// Let staged output replace files that already exist in DIR
    #[arg(long)]
    pub overwrite: bool,

    /// Share a host directory read-write; an explicit opt-in (repeatable)
    #[arg(long = "share", value_name = "DIR")]
    pub shares: Vec<PathBuf>,

    /// Forward host 127.0.0.1:HOSTPORT (or --publish-addr) to PORT on the sandbox's own
    /// loopback (HOSTPORT defaults to PORT), through seal's HTTP bridge: requests with a
    /// foreign Host or Origin header are refused, and responses get a Content-Security-Policy
    /// that keeps pages from sending data to other sites (repeatable)
    #[arg(long = "publish", value_name = "[HOSTPORT:]PORT", value_parser = crate::publish::parse)]
    pub publishes: Vec<crate::publish::Publish>,

    /// Give the program the GPUs of this machine: NVIDIA's device nodes or the DRM render
    /// nodes, the driver's libraries and the /sys entries that describe the devices (read-only);
    /// network, files, Landlock and seccomp stay as they are
    #[arg(long)]
    pub gpu: bool,

    /// Put one host character device into the sandbox's /dev, read-write (e.g. /dev/ttyUSB0
    /// for a serial board; repeatable)
    #[arg(long = "device", value_name = "PATH")]
    pub devices: Vec<PathBuf>,

    /// Host address for --publish [default: 127.0.0.1; seal jupyter: a loopback address of
    /// the run's own]; a non-loopback address makes the ports reachable from other machines
    /// (with a warning)
    #[arg(long, value_name = "ADDR")]
    pub publish_addr: Option<std::net::IpAddr>,

    /// Let the program reach HOST[:PORT] (default port 443; *.NAME for every subdomain of
    /// NAME) through seal's proxy on the host: HTTPS_PROXY and HTTP_PROXY are set inside,
    /// names are resolved by seal, TLS must name the host, and nothing else is reachable (no
    /// other host, no IP not named exactly, no raw TCP or UDP); refusals are printed as they
    /// happen (repeatable)
    #[arg(long = "allow-net", value_name = "HOST[:PORT]", value_parser = crate::allow_net::parse)]
    pub allow_net: Vec<crate::allow_net::NetTarget>,

    /// Set an environment variable inside (repeatable)
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env_pair)]
    pub set_env: Vec<(String, String)>,

    /// Copy one variable of your environment into the sandbox (repeatable)
    #[arg(long = "pass-env", value_name = "NAME", value_parser = parse_env_name)]
    pub pass_env: Vec<String>,

    /// Kill the whole sandbox after this long (e.g. 90s, 10m, 1h30m, 500ms)
    #[arg(long, value_name = "DURATION", value_parser = crate::values::parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,

    /// Memory limit [default: half of this machine's memory]
    #[arg(long, value_name = "SIZE", value_parser = crate::values::parse_size)]
    pub memory: Option<u64>,

    /// CPU limit (whole CPUs by affinity; fractions need a cpu cgroup)
    #[arg(long, value_name = "N", value_parser = crate::values::parse_cpus)]
    pub cpus: Option<f64>,

    /// Size of /tmp, HOME, /dev/shm and each --in-copy inside [default: 1G]
    #[arg(long, value_name = "SIZE", value_parser = crate::values::parse_size)]
    pub disk: Option<u64>,

    /// Maximum number of processes and threads inside (as root without a pids cgroup it is
    /// enforced through the PID namespace's pid_max: between N and N+299) [default: 1024]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4_000_000))]
    pub pids: Option<u64>,

    /// Fail unless Landlock is fully enforced by this kernel
    #[arg(long)]
    pub require_landlock: bool,

    /// Isolation: `auto` uses namespaces, and where the kernel refuses user namespaces the
    /// Landlock + seccomp fallback with a warning; `namespaces` never falls back; `landlock`
    /// asks for the fallback [default: auto]
    #[arg(long, value_name = "MODE")]
    pub isolation: Option<Requested>,

    /// Refuse to run unless this guarantee holds: network-isolation, landlock (repeatable)
    #[arg(long, value_name = "GUARANTEE")]
    pub require: Vec<Guarantee>,

    /// Do not print the degraded-isolation warning (only when --isolation landlock was asked
    /// for explicitly)
    #[arg(short, long)]
    pub quiet: bool,

    /// Report what enforces each protection, and the exit status
    #[arg(short, long)]
    pub verbose: bool,

    /// At exit, print the run report (status, limits, copied and refused outputs) as one JSON
    /// object on stderr
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Base interpreter (path or name on PATH); default: the first python3 on PATH
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn parse_env_name(s: &str) -> Result<String, String> {
    if valid_env_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a valid variable name (letters, digits, _)"
        ))
    }
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=VALUE"))?;
    Ok((parse_env_name(k)?, v.to_string()))
}

/// "512M", "2G", "1.5G", "100K" (powers of 1024), or a plain number of bytes.
/// `--installer` and `install.installer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    // uv when one is available, else pip.
    #[default]
    Auto,
    Uv,
    Pip,
}

/// `--out-links` and `run.out_links`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutLinks {
    // Links that stay inside the output directory are copied.
    #[default]
    Internal,
    Refuse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs() {
        assert_eq!(
            parse_env_pair("A_1=x=y").unwrap(),
            ("A_1".into(), "x=y".into())
        );
        assert!(parse_env_pair("1A=x").is_err());
        assert!(parse_env_pair("NOEQUALS").is_err());
        assert!(parse_env_name("BAD-NAME").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
