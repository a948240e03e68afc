//! The command line and the project's policy (seal.toml), resolved once into what a command
//! will do. Every rule of precedence lives here: a flag wins over its policy key, a list given
//! on the command line replaces the policy's list, and a default fills what neither names.
//! The commands read the result and never look at the policy again.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{InstallArgs, OutLinks, SandboxOptions};
use crate::isolation::{Requested, Required};
use crate::layout::RunRequest;
use crate::policy::{Policy, RunPolicy};
use crate::publish::{self, Publish};

const DEFAULT_PIDS: u64 = 1024;
const DEFAULT_DISK: u64 = 1 << 30;
const DEFAULT_OUT_QUOTA: u64 = 2 << 30;
const DEFAULT_OUT_FILES: u64 = 100_000;

/// Without --memory, half of the machine's memory: a balloon cannot take the host down, and
/// ordinary programs never notice.
fn default_memory() -> Option<u64> {
    match seal_sandbox::host_memory_bytes() {
        0 => None,
        total => Some(total / 2),
    }
}

/// A command-line list wins when given; otherwise the policy's.
fn either<T: Clone>(cli: Vec<T>, policy: &[T]) -> Vec<T> {
    if cli.is_empty() {
        policy.to_vec()
    } else {
        cli
    }
}

/// The base interpreter asked for: `--python`, else the policy's `python`. Chosen before the
/// rest, since the command depends on the interpreter found.
pub fn python_choice(cli: Option<&Path>, policy: &Policy) -> Option<PathBuf> {
    cli.map(Path::to_path_buf).or_else(|| policy.python.clone())
}

/// The ports a run publishes: the command line's, else the policy's `run.publish`.
pub fn publishes(cli: &[Publish], policy: &RunPolicy) -> Vec<Publish> {
    either(cli.to_vec(), &policy.publish)
}

/// The publish address the user named: on the command line, else the policy's
/// `run.publish_addr` (checked by [`publish::address`]).
pub fn named_publish_addr(cli: Option<IpAddr>, policy: &RunPolicy) -> Option<IpAddr> {
    cli.or(policy.publish_addr)
}

/// What `seal run`, `shell`, `exec` and `jupyter` do.
pub struct RunSettings {
    /// The sandbox's contents and limits, for the layout.
    pub request: RunRequest,
    pub publishes: Vec<Publish>,
    /// The host address ports are published on (checked: never every interface).
    pub publish_addr: IpAddr,
    pub out_links: OutLinks,
    pub keep_exec: bool,
    pub overwrite: bool,
    pub isolation: Requested,
    pub required: Required,
    pub quiet: bool,
    pub verbose: bool,
    pub json: bool,
}

impl RunSettings {
    /// `command` is the program's argv as it will be executed; `env_dir` the project's
    /// environment, if it has one.
    pub fn resolve(
        args: SandboxOptions,
        policy: &Policy,
        command: Vec<OsString>,
        project_dir: PathBuf,
        env_dir: Option<PathBuf>,
    ) -> Result<RunSettings> {
        let (run, limits) = (&policy.run, &policy.limits);
        let mut set_env: Vec<(String, String)> = run
            .env
            .iter()
            .filter(|(k, _)| !args.set_env.iter().any(|(ck, _)| ck == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        set_env.extend(args.set_env);
        let memory = args.memory.or(limits.memory.map(|s| s.0));
        let pids = args.pids.or(limits.pids);
        let required = Required::from_flags(&args.require);
        let request = RunRequest {
            command,
            project: project_dir,
            env_dir,
            inputs: either(args.inputs, &run.inputs),
            input_copies: either(args.input_copies, &run.in_copy),
            outputs: either(args.outputs, &run.out),
            live_outputs: either(args.live_outputs, &run.out_live),
            out_quota: args
                .out_quota
                .or(run.out_quota.map(|s| s.0))
                .unwrap_or(DEFAULT_OUT_QUOTA),
            out_max_files: args
                .out_max_files
                .or(run.out_max_files)
                .unwrap_or(DEFAULT_OUT_FILES),
            shares: either(args.shares, &run.share),
            set_env,
            pass_env: either(args.pass_env, &run.pass_env),
            timeout: args.timeout.or(limits.timeout.map(|t| t.0)),
            pids: Some(pids.unwrap_or(DEFAULT_PIDS)),
            pids_explicit: pids.is_some(),
            memory_explicit: memory.is_some(),
            memory: memory.or_else(default_memory),
            cpus: args.cpus.or(limits.cpus),
            disk: args
                .disk
                .or(limits.disk.map(|s| s.0))
                .unwrap_or(DEFAULT_DISK),
            landlock_required: args.require_landlock || required.landlock,
            notebook_dir: None,
            allow_net: either(args.allow_net, &run.allow_net),
            devices: either(args.devices, &run.devices),
            gpu: args.gpu || run.gpu.unwrap_or(false),
        };
        Ok(RunSettings {
            request,
            publishes: publishes(&args.publishes, run),
            publish_addr: publish::address(named_publish_addr(args.publish_addr, run))?,
            out_links: args.out_links.or(run.out_links).unwrap_or_default(),
            keep_exec: args.keep_exec,
            overwrite: args.overwrite,
            isolation: args.isolation.unwrap_or_default(),
            required,
            quiet: args.quiet,
            verbose: args.verbose,
            json: args.json,
        })
    }

    /// Variables that override both the policy's and the command line's (`seal jupyter`'s).
    pub fn override_env(&mut self, env: Vec<(String, String)>) {
        let set = &mut self.request.set_env;
        set.retain(|(k, _)| !env.iter().any(|(ek, _)| ek == k));
        set.extend(env);
    }
}

/// Fill what the command line of `seal install` leaves out from the policy's `[install]` and
/// `python`. Returns the policy's requirement files, used when neither packages nor `-r` are
/// given.
pub fn resolve_install(args: &mut InstallArgs, policy: Policy) -> Vec<PathBuf> {
    let pol = policy.install;
    if args.allow_hosts.is_empty() {
        args.allow_hosts = pol.allow_hosts;
    }
    if args.allow_sdist.is_empty() {
        args.allow_sdist = pol.allow_sdist;
    }
    if args.extra_index_urls.is_empty() {
        args.extra_index_urls = pol.extra_index_urls;
    }
    args.index_url = args.index_url.take().or(pol.index_url);
    args.installer = args.installer.or(pol.installer);
    args.timeout = args.timeout.or(pol.timeout.map(|t| t.0));
    args.seed = args.seed || pol.seed.unwrap_or(false);
    args.audit = args.audit || pol.audit.unwrap_or(false);
    args.python = args.python.take().or(policy.python);
    pol.requirements
}
