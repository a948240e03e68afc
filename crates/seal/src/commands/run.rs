//! `seal run`: the run phase.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use seal_sandbox::export::{self, ExportPolicy, ExportReport, LinkPolicy};
use seal_sandbox::{Isolation, LandlockLevel, Outcome, Status};

use crate::allow_net::{self, NetTarget};
use crate::cli::{OutLinks, SandboxOptions};
use crate::isolation;
use crate::layout::fallback_scratch;
use crate::layout::{self, RunRequest};
use crate::notebook_review;
use crate::project::{self, Project};
use crate::publish::{self, Publish};
use crate::python;
use crate::settings::RunSettings;
use crate::{EXIT_SEAL_ERROR, EXIT_TIMEOUT};

/// A first argument ending in `.py` is a script for the interpreter; anything else is a
/// program looked up in the sandbox's PATH.
fn program_argv(interpreter: OsString, command: &[OsString]) -> Vec<OsString> {
    let is_script = command
        .first()
        .is_some_and(|c| c.to_string_lossy().ends_with(".py"));
    if is_script {
        let mut argv = vec![interpreter];
        argv.extend(command.iter().cloned());
        argv
    } else {
        command.to_vec()
    }
}

/// `seal shell`: an interactive shell (bash when the system has it) in the run sandbox.
pub fn shell(args: SandboxOptions) -> Result<i32> {
    let sh = if std::path::Path::new("/bin/bash").exists() {
        vec!["/bin/bash".into(), "-i".into()]
    } else {
        vec!["/bin/sh".into(), "-i".into()]
    };
    run(args, sh)
}

/// `seal exec NAME`: a console script of the project's environment, refused when the
/// environment has no such script (so a typo never falls through to a system program).
pub fn exec(args: SandboxOptions, command: Vec<OsString>) -> Result<i32> {
    let project_dir = args.project.clone().unwrap_or_else(|| PathBuf::from("."));
    let project = project::locate(Some(&project_dir))?;
    if !project.has_env() {
        anyhow::bail!(
            "seal exec runs console scripts of the project's environment, and {} has none; \
             create it with `seal install`, or use `seal run -- PROGRAM`",
            project.root.display()
        );
    }
    let name = command.first().cloned().unwrap_or_default();
    let plain = !name.to_string_lossy().contains('/');
    let script = project.env_dir().join("bin").join(&name);
    if !plain || !script.is_file() {
        anyhow::bail!(
            "{} is not a console script of {} (seal env lists the packages; seal run -- PROGRAM runs anything else)",
            std::path::Path::new(&name).display(),
            project.env_dir().join("bin").display()
        );
    }
    let mut argv = vec![format!("{}/bin/{}", project::ENV_MOUNT, name.to_string_lossy()).into()];
    argv.extend(command.into_iter().skip(1));
    run(args, argv)
}

/// The interpreter and environment of a run: the project's environment and its base
/// interpreter when there is one, else the base interpreter alone.
pub(crate) fn interpreter_for(
    explicit: Option<&std::path::Path>,
    project: &Project,
) -> Result<(python::Interpreter, Option<PathBuf>)> {
    if !project.has_env() {
        return Ok((python::discover(explicit)?, None));
    }
    let env = project.env_dir();
    let base = project::env_base_interpreter(&env).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: seal has no record of the interpreter this environment was built with; recreate it with `seal install`",
            env.display()
        )
    })?;
    let python = python::discover(Some(&base))?;
    if let Some(e) = explicit {
        let wanted = python::discover(Some(e))?;
        if wanted.executable != python.executable {
            anyhow::bail!(
                "--python {} differs from the interpreter of this project's environment ({});                  drop --python, or run `seal env remove` and reinstall",
                e.display(),
                python.executable.display()
            );
        }
    }
    Ok((python, Some(env)))
}

/// What `seal jupyter` adds to a run.
#[derive(Default)]
pub(crate) struct Extras {
    /// A directory bound read-write (the notebook directory), its protected names read-only.
    pub notebook_dir: Option<PathBuf>,
    /// Variables set inside, after the policy's and the command line's.
    pub env: Vec<(String, String)>,
    /// Ports published in addition to --publish.
    pub publishes: Vec<Publish>,
    /// Called on its own thread once the program has started, with the connector into the
    /// sandbox and the host address ports are published on.
    #[allow(clippy::type_complexity)]
    pub on_start: Option<Box<dyn FnOnce(Arc<seal_sandbox::Connector>, std::net::IpAddr) + Send>>,
}

pub fn run(args: SandboxOptions, command: Vec<OsString>) -> Result<i32> {
    run_extended(args, command, Extras::default())
}

/// A run of `command` with `args` as `seal run` resolves it: the project, its policy, the
/// interpreter and environment, and from those the settings.
pub(crate) struct Resolved {
    pub project: Project,
    pub python: python::Interpreter,
    pub settings: RunSettings,
}

pub(crate) fn resolve(args: SandboxOptions, command: &[OsString]) -> Result<Resolved> {
    let project_dir = args.project.clone().unwrap_or_else(|| PathBuf::from("."));
    let project = project::locate(Some(&project_dir))?;
    let policy = crate::policy::load(&project)?;
    let python_choice = crate::settings::python_choice(args.python.as_deref(), &policy);
    let (python, env_dir) = interpreter_for(python_choice.as_deref(), &project)?;
    let interpreter: OsString = match &env_dir {
        Some(_) => format!("{}/bin/python", project::ENV_MOUNT).into(),
        None => python.executable.clone().into_os_string(),
    };
    let settings = RunSettings::resolve(
        args,
        &policy,
        program_argv(interpreter, command),
        project_dir,
        env_dir,
    )?;
    Ok(Resolved {
        project,
        python,
        settings,
    })
}

pub(crate) fn run_extended(
    args: SandboxOptions,
    command: Vec<OsString>,
    extras: Extras,
) -> Result<i32> {
    let Resolved {
        python,
        mut settings,
        ..
    } = resolve(args, &command)?;
    settings.override_env(extras.env);
    settings.publishes.extend(extras.publishes);
    settings.request.notebook_dir = extras.notebook_dir;
    let RunSettings {
        request,
        publishes,
        publish_addr,
        required,
        ..
    } = &settings;
    let publish_addr = *publish_addr;
    let notebooks = layout::notebook_dir(request)?;
    let started = notebook_review::start_mark();
    // `_scratch`, the fallback's private HOME and TMPDIR, is held until the copy-back is done.
    let (outcome, services, _scratch) = isolation::run_auto(
        settings.isolation,
        || {
            let spec = layout::build(&python, request)?;
            // Host ports are taken before the sandbox starts: a port in use is an error, not
            // a half-started run.
            let bound = publish::bind(publish_addr, publishes)?;
            let egress = egress_policy(&request.allow_net, settings.verbose)?;
            let (outcome, services) =
                run_namespaces(spec, bound, egress, extras.on_start, publish_addr)?;
            Ok((outcome, Some(services), None))
        },
        |degraded| {
            if !publishes.is_empty() {
                anyhow::bail!(
                    "--publish needs a network namespace of its own, and user namespaces are unavailable here (see `seal doctor`)"
                );
            }
            if !request.allow_net.is_empty() {
                anyhow::bail!(
                    "--allow-net needs a network namespace of its own, and user namespaces are unavailable here (see `seal doctor`); without them seal cannot give an arbitrary program a proxy and nothing else"
                );
            }
            isolation::check_fallback(required)?;
            let scratch = fallback_scratch::Scratch::create()?;
            let spec = layout::build_fallback(&python, request, scratch.path())?;
            degraded.warn(settings.quiet);
            Ok((seal_sandbox::run_fallback(&spec)?, None, Some(scratch)))
        },
    )?;
    // Closes the host ports and the proxy, and prints the last refusals.
    drop(services);
    if let Some(dir) = &notebooks {
        notebook_review::report(dir, started);
    }

    let policy = ExportPolicy {
        links: if settings.out_links == OutLinks::Refuse {
            LinkPolicy::Refuse
        } else {
            LinkPolicy::Internal
        },
        keep_exec: settings.keep_exec,
        overwrite: settings.overwrite,
        max_bytes: request.out_quota,
        max_files: request.out_max_files,
    };
    // Every process of the sandbox is dead by now: nothing can change the staged files
    // while they are copied.
    let exports: Vec<ExportReport> = outcome
        .staged
        .iter()
        .map(|(dir, fd)| export::copy_back(fd, dir, &policy))
        .collect();

    let mut code = match outcome.status {
        Status::Exited(code) => code,
        Status::TimedOut => EXIT_TIMEOUT,
    };
    if code == 0 && exports.iter().any(|e| e.aborted.is_some()) {
        // The program succeeded but its results did not arrive: scripts must notice.
        code = EXIT_SEAL_ERROR;
    }
    report(&outcome, &exports, settings.verbose, &python, request, code);
    if settings.json {
        eprintln!("{}", json_report(&outcome, &exports, code));
    }
    Ok(code)
}

/// What the host serves a running namespace sandbox: its published ports and the
/// `--allow-net` proxy. Dropping it closes both.
#[derive(Default)]
struct Services {
    bridges: Option<publish::Bridges>,
    proxy: Option<seal_net::ProxyHandle>,
}

/// The `--allow-net` proxy's policy, printing refusals (and with -v what it allows) as the
/// program makes its requests.
fn egress_policy(targets: &[NetTarget], verbose: bool) -> Result<Option<seal_net::ProxyPolicy>> {
    if targets.is_empty() {
        return Ok(None);
    }
    let print = Arc::new(move |d: &seal_net::Decision| {
        if !d.allowed || verbose {
            eprintln!("{d}");
        }
    });
    allow_net::proxy_policy(targets, print).map(Some)
}

/// The namespace sandbox, with published ports and the `--allow-net` proxy served once the
/// program has started.
#[allow(clippy::type_complexity)]
fn run_namespaces(
    mut spec: seal_sandbox::Spec,
    bound: Vec<(Publish, std::net::TcpListener)>,
    egress: Option<seal_net::ProxyPolicy>,
    on_start: Option<Box<dyn FnOnce(Arc<seal_sandbox::Connector>, std::net::IpAddr) + Send>>,
    publish_addr: std::net::IpAddr,
) -> Result<(Outcome, Services), seal_sandbox::Error> {
    spec.handoff.loopback_connector = !bound.is_empty() || on_start.is_some();
    if egress.is_some() {
        spec.handoff.listen_ports = vec![allow_net::PROXY_PORT];
    }
    seal_sandbox::run_with(&spec, |started| {
        let mut services = Services::default();
        // Started on this thread, which is in the host's network namespace: the proxy
        // resolves and connects from there.
        if let Some(policy) = egress {
            let listener = started.listeners.into_iter().next().map(|(_, l)| l);
            match listener.map(|l| seal_net::start(l, policy)) {
                Some(Ok(handle)) => services.proxy = Some(handle),
                Some(Err(e)) => eprintln!("seal: cannot start the --allow-net proxy: {e}"),
                None => eprintln!("seal: the sandbox did not hand over the --allow-net listener"),
            }
        }
        let Some(connector) = started.connector else {
            return services;
        };
        let connector = Arc::new(connector);
        services.bridges = if bound.is_empty() {
            None
        } else {
            for (p, _) in &bound {
                eprintln!(
                    "seal: publishing http://{} -> port {} inside the sandbox",
                    publish::host_and_port(publish_addr, p.host_port),
                    p.port
                );
            }
            match publish::start(publish_addr, bound, connector.clone()) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("seal: cannot publish ports: {e:#}");
                    None
                }
            }
        };
        if let Some(f) = on_start {
            let c = connector.clone();
            std::thread::spawn(move || f(c, publish_addr));
        }
        services
    })
}

fn report(
    outcome: &Outcome,
    exports: &[ExportReport],
    verbose: bool,
    python: &python::Interpreter,
    req: &RunRequest,
    code: i32,
) {
    let e = &outcome.enforcement;
    // Only a limit the user asked for warns: the default one is a safety net whose absence
    // (root on a host without a pids cgroup) would otherwise add a line to every run.
    if e.pids.is_not_enforced() && req.pids_explicit {
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
    if outcome.oom_kills > 0 {
        eprintln!(
            "seal: the program hit the --memory limit ({} processes killed)",
            outcome.oom_kills
        );
    }
    if outcome.status == Status::TimedOut {
        if let Some(t) = req.timeout {
            eprintln!("seal: the --timeout limit ({t:?}) expired; every process of the sandbox was killed");
        }
    }
    for x in exports {
        for r in &x.refused {
            eprintln!(
                "seal: --out {}: refused {}: {}",
                x.destination.display(),
                r.path,
                r.reason
            );
        }
        if let Some(why) = &x.aborted {
            eprintln!("seal: --out {}: {why}", x.destination.display());
        } else if verbose {
            eprintln!(
                "seal: --out {}: copied {} files ({} bytes), {} links; refused {}",
                x.destination.display(),
                x.files,
                x.bytes,
                x.links,
                x.refused.len()
            );
        }
    }
    if verbose {
        eprintln!(
            "seal: interpreter      {} (prefix {})",
            python.executable.display(),
            python.prefix.display()
        );
        let fallback = e.isolation == Isolation::Fallback;
        eprintln!("seal: namespaces       {}", e.isolation);
        if fallback {
            eprintln!("seal: file system      Landlock grants on host paths (no /proc; system and project read-only)");
        } else {
            eprintln!(
                "seal: file system      new tmpfs root via pivot_root; system and project read-only"
            );
        }
        if fallback {
            eprintln!("seal: network          none (socket() refused for every family, loopback included)");
        } else if req.allow_net.is_empty() {
            eprintln!("seal: network          none (a network namespace with only loopback)");
        } else {
            let hosts: Vec<String> = req.allow_net.iter().map(|t| t.to_string()).collect();
            eprintln!(
                "seal: network          only {} through seal's proxy on the host (loopback-only namespace)",
                hosts.join(", ")
            );
        }
        if !req.devices.is_empty() || req.gpu {
            let mut what: Vec<String> = req
                .devices
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            if req.gpu {
                what.push("the GPUs (--gpu)".into());
            }
            eprintln!(
                "seal: devices          {} besides null, zero, full, random, urandom, tty",
                what.join(", ")
            );
        }
        eprintln!("seal: landlock         {}", e.landlock.as_str());
        eprintln!("seal: seccomp          denies {}", e.seccomp);
        if fallback {
            eprintln!("seal: privileges       no capabilities, no_new_privs, your own uid");
        } else {
            eprintln!(
                "seal: privileges       no capabilities, no_new_privs, uid {} inside",
                layout::SANDBOX_UID
            );
        }
        eprintln!("seal: pids limit       {}", e.pids);
        eprintln!("seal: memory limit     {}", e.memory);
        eprintln!("seal: cpu limit        {}", e.cpus);
        if fallback {
            eprintln!(
                "seal: disk limit       {} per file written (RLIMIT_FSIZE; no tmpfs without namespaces)",
                export::human(req.disk)
            );
        } else {
            eprintln!(
                "seal: disk limit       {} for /tmp, HOME, /dev/shm, each --in-copy (tmpfs size)",
                export::human(req.disk)
            );
        }
        eprintln!("seal: core dumps       disabled (RLIMIT_CORE=0)");
        for l in &e.limitations {
            eprintln!("seal: not enforced     {l}");
        }
        match outcome.status {
            Status::Exited(c) if c > 128 => {
                eprintln!(
                    "seal: exit status      {code} (killed by signal {})",
                    c - 128
                )
            }
            Status::Exited(_) => eprintln!("seal: exit status      {code}"),
            Status::TimedOut => eprintln!("seal: exit status      {code} (timeout)"),
        }
        if let Some(kib) = outcome.supervisor_peak_rss_kib {
            eprintln!("seal: supervisor peak RSS {kib} kB");
        }
    }
}

fn json_report(outcome: &Outcome, exports: &[ExportReport], code: i32) -> String {
    let e = &outcome.enforcement;
    let v = serde_json::json!({
        "exit_code": code,
        "timed_out": outcome.status == Status::TimedOut,
        "limits": {
            "pids": e.pids.to_string(),
            "memory": e.memory.to_string(),
            "cpus": e.cpus.to_string(),
            "pids_limit_hits": outcome.pids_limit_hits,
            "oom_kills": outcome.oom_kills,
        },
        "landlock": e.landlock.as_str(),
        "namespaces": e.isolation.to_string(),
        "not_enforced": e.limitations,
        "outputs": exports,
    });
    v.to_string()
}
