//! The sandboxed steps of an install: what each one sees (mounts, environment, limits),
//! running it in the namespace sandbox or the fallback, and the auto-mode switch between them.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use seal_sandbox::{
    Access, HandoffRequest, LandlockMode, Limits, ModeChanges, Mount, Spec, Status,
};

use super::uv::TOOLS_MOUNT;
use super::{
    fallback, index_proxy, Ctx, Mode, Step, CACHE_MOUNT, DEFAULT_TIMEOUT, INPUT_MOUNT, PROXY_PORT,
    WHEELS_MOUNT,
};
use crate::isolation;
use crate::layout;
use crate::project::ENV_MOUNT;
use crate::python::Interpreter;

pub(super) fn pip_environment(
    python: &Interpreter,
    ca: Option<&Path>,
    proxy: bool,
) -> Vec<(OsString, OsString)> {
    let mut env = layout::base_environment(python, false);
    let mut set = |k: &str, v: &str| env.push((k.into(), v.into()));
    // pip and uv must read no configuration but what seal passes on the command line.
    set("PIP_CONFIG_FILE", "/dev/null");
    set("UV_NO_CONFIG", "1");
    set("UV_PYTHON_DOWNLOADS", "never");
    set("UV_CACHE_DIR", "/tmp/uv-cache");
    set("PIP_NO_INPUT", "1");
    set("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    set("PYTHONNOUSERSITE", "1");
    set("PYTHONDONTWRITEBYTECODE", "1");
    if proxy {
        let url = format!("http://127.0.0.1:{PROXY_PORT}");
        for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            set(k, &url);
        }
    }
    if let Some(ca) = ca {
        let ca = ca.to_string_lossy();
        set("PIP_CERT", &ca);
        set("SSL_CERT_FILE", &ca);
        set("REQUESTS_CA_BUNDLE", &ca);
    }
    env
}

pub(super) const GIB: u64 = 1 << 30;

pub(super) fn install_spec(
    python: &Interpreter,
    argv: Vec<String>,
    env: Vec<(OsString, OsString)>,
    extra_mounts: Vec<Mount>,
    timeout: Duration,
) -> Spec {
    let mut mounts = layout::base_mounts(python, 2 * GIB);
    mounts.extend(extra_mounts);
    layout::spec(
        argv.into_iter().map(OsString::from).collect(),
        env,
        // The private /tmp: every install sandbox has it, none sees the project.
        "/tmp".into(),
        mounts,
        install_limits(timeout),
        LandlockMode::BestEffort,
    )
}

pub(super) fn install_limits(timeout: Duration) -> Limits {
    Limits {
        timeout: Some(timeout),
        memory_bytes: Some(seal_sandbox::host_memory_bytes() / 2).filter(|&m| m > 0),
        ..Limits::default()
    }
}

impl Ctx<'_> {
    pub(super) fn py(&self) -> String {
        self.python.executable.to_string_lossy().into_owned()
    }

    pub(super) fn fallback(&self) -> bool {
        self.mode.get() == Mode::Fallback
    }

    /// Where the host directory `host` appears in a step's sandbox: at `mount` with
    /// namespaces, at its own path in the fallback (which cannot mount).
    pub(super) fn at(&self, host: &Path, mount: &str) -> String {
        if self.fallback() {
            host.to_string_lossy().into_owned()
        } else {
            mount.to_string()
        }
    }

    pub(super) fn bind(&self, host: &Path, mount: &str, access: Access) -> Mount {
        Mount::Bind {
            src: host.to_path_buf(),
            dst: self.at(host, mount).into(),
            access,
        }
    }

    pub(super) fn ro(&self, host: &Path, mount: &str) -> Mount {
        self.bind(host, mount, Access::ReadOnly)
    }

    pub(super) fn rw(&self, host: &Path, mount: &str) -> Mount {
        self.bind(host, mount, Access::ReadWrite)
    }

    /// The base interpreter with `flags`, running `target` (`-m MODULE` or a script) in a
    /// networked step: in the fallback through the connection shim, which must run first.
    pub(super) fn python_networked(&self, flags: &[&str], target: &[String]) -> Vec<String> {
        let mut argv = vec![self.py()];
        argv.extend(flags.iter().map(|f| f.to_string()));
        if self.fallback() {
            if !flags.contains(&"-I") {
                argv.push("-I".into());
            }
            argv.push(
                self.dirs
                    .scripts
                    .join(fallback::CONNECT_SHIM_NAME)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        argv.extend(target.iter().cloned());
        argv
    }

    pub(super) fn timeout(&self) -> Duration {
        self.args.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Run a step with network only to the index, through the host-side proxy. No package
    /// code runs in these steps, and none sets file modes.
    pub(super) fn networked(&self, what: &str, step: &Step<'_>) -> Result<()> {
        self.run_step(what, true, ModeChanges::Ignored, step)
    }

    /// Run a step with no network at all. `modes` says what chmod does in the fallback, where
    /// Landlock does not govern it (so it would reach every file of the user): only steps that
    /// must make files executable and run no package code (pip or uv installing wheels, seal
    /// unpacking uv) get [`ModeChanges::Restricted`]; package build code gets no-ops.
    pub(super) fn offline(&self, what: &str, modes: ModeChanges, step: &Step<'_>) -> Result<()> {
        self.run_step(what, false, modes, step)
    }

    pub(super) fn run_step(
        &self,
        what: &str,
        networked: bool,
        modes: ModeChanges,
        step: &Step<'_>,
    ) -> Result<()> {
        if self.fallback() {
            let (argv, mounts) = step(self);
            return self.run_fallback(what, networked, modes, argv, mounts);
        }
        // Only the first step may find that namespaces are refused; a later failure is that
        // step's own.
        let first = !self.settled.replace(true);
        let requested = if first {
            self.requested
        } else {
            isolation::Requested::Namespaces
        };
        isolation::run_auto(
            requested,
            || {
                let (argv, mounts) = step(self);
                check(what, self.run_namespaces(networked, argv, mounts)?)
            },
            |degraded| {
                self.enter_fallback()?;
                degraded.warn(self.args.quiet);
                let (argv, mounts) = step(self);
                self.run_fallback(what, networked, modes, argv, mounts)
            },
        )
    }

    /// Switch to the fallback for the rest of the install.
    pub(super) fn enter_fallback(&self) -> Result<()> {
        self.mode.set(Mode::Fallback);
        let mut paths = vec![self.tmp, &self.dirs.cache, &self.python.executable];
        paths.extend(self.ca.as_deref());
        // Paths become parts of command lines there, which are text.
        if let Some(p) = paths.iter().find(|p| p.to_str().is_none()) {
            bail!(
                "{}: without user namespaces seal install needs paths that are valid UTF-8",
                p.display()
            );
        }
        let dir = &self.dirs.scripts;
        std::fs::create_dir_all(dir)?;
        for (name, text) in [
            (fallback::CONNECT_SHIM_NAME, fallback::CONNECT_SHIM),
            (fallback::RELOCATE_NAME, fallback::RELOCATE),
        ] {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }

    /// The namespace sandbox; a failure to create it comes back as a [`seal_sandbox::Error`].
    pub(super) fn run_namespaces(
        &self,
        networked: bool,
        argv: Vec<String>,
        mut mounts: Vec<Mount>,
    ) -> Result<Status> {
        if !networked {
            let env = pip_environment(self.python, None, false);
            let spec = install_spec(self.python, argv, env, mounts, self.timeout());
            return Ok(seal_sandbox::run(&spec)?.status);
        }
        mounts.push(self.rw(&self.dirs.cache, CACHE_MOUNT));
        mounts.extend(self.ca_mount());
        let env = pip_environment(self.python, self.ca.as_deref(), true);
        let mut spec = install_spec(self.python, argv, env, mounts, self.timeout());
        spec.handoff = HandoffRequest {
            listen_ports: vec![PROXY_PORT],
            ..Default::default()
        };
        let policy = index_proxy::policy(self.allowed)?;
        let (outcome, proxy) = seal_sandbox::run_with(&spec, |started| {
            started
                .listeners
                .into_iter()
                .next()
                .map(|(_, listener)| seal_net::start(listener, policy))
        })?;
        match proxy {
            Some(Ok(handle)) => self.report_decisions(&handle.decisions()),
            Some(Err(e)) => bail!("cannot start the index proxy: {e}"),
            None => bail!("the install sandbox did not hand over its proxy listener"),
        }
        Ok(outcome.status)
    }

    /// The fallback: Landlock grants on host paths, fresh private HOME and TMPDIR, and for a
    /// networked step a connection channel served by the index proxy.
    pub(super) fn run_fallback(
        &self,
        what: &str,
        networked: bool,
        modes: ModeChanges,
        argv: Vec<String>,
        step_mounts: Vec<Mount>,
    ) -> Result<()> {
        let scratch = fallback::Scratch::new(self.tmp)?;
        let mut mounts = fallback::system_mounts(self.python);
        mounts.extend(scratch.mounts());
        mounts.extend(step_mounts);
        mounts.push(Mount::Bind {
            src: self.dirs.scripts.clone(),
            dst: self.dirs.scripts.clone(),
            access: Access::ReadOnly,
        });
        if networked {
            mounts.push(self.rw(&self.dirs.cache, CACHE_MOUNT));
            mounts.extend(self.ca_mount());
        }
        let env = fallback::adapt_environment(
            pip_environment(
                self.python,
                self.ca.as_deref().filter(|_| networked),
                networked,
            ),
            self.python,
            &scratch,
        );
        let mut spec = layout::spec(
            argv.into_iter().map(OsString::from).collect(),
            env,
            scratch.tmp(),
            mounts,
            install_limits(self.timeout()),
            LandlockMode::BestEffort,
        );
        let options = seal_sandbox::FallbackOptions {
            mode_changes: modes,
        };
        if !networked {
            let (outcome, ()) = seal_sandbox::run_fallback_with_options(&spec, options, |_| ())?;
            return check(what, outcome.status);
        }
        spec.handoff.connection_channel = true;
        let policy = index_proxy::policy(self.allowed)?;
        let mut proxy = seal_net::start_without_listener(policy)
            .map_err(|e| anyhow!("cannot start the index proxy: {e}"))?;
        let injector = proxy.stream_injector();
        let (outcome, server) = seal_sandbox::run_fallback_with_options(&spec, options, |s| {
            s.connection_channel
                .map(|channel| fallback::serve_channel(channel, injector))
        })?;
        // Every process of the step is gone, so the channel is at its end and the server
        // thread finishing.
        if let Some(server) = server {
            let _ = server.join();
        }
        proxy.stop();
        self.report_decisions(&proxy.decisions());
        check(what, outcome.status)
    }

    /// The CA bundle in force on the host, read-only at its own path.
    pub(super) fn ca_mount(&self) -> Option<Mount> {
        self.ca.as_ref().map(|ca| Mount::Bind {
            src: ca.clone(),
            dst: ca.clone(),
            access: Access::ReadOnly,
        })
    }

    pub(super) fn report_decisions(&self, decisions: &[seal_net::Decision]) {
        for d in decisions.iter().filter(|d| !d.allowed) {
            eprintln!(
                "seal: proxy refused {} {}: {}",
                d.method, d.target, d.reason
            );
        }
        if self.args.verbose {
            for d in decisions.iter().filter(|d| d.allowed) {
                eprintln!("seal: proxy allowed {} {}", d.method, d.target);
            }
        }
    }

    /// `pip download` of wheels only (nothing is built or imported) from the index into
    /// `dest`, through seal's cache; `what` is the rest of the command line.
    pub(super) fn pip_download(&self, dest: &str, what: &[String]) -> Vec<String> {
        let mut argv = self.python_networked(&[], &strings(&["-m", "pip"]));
        argv.extend([
            "download".into(),
            "--only-binary=:all:".into(),
            "--dest".into(),
            dest.into(),
            "--index-url".into(),
            self.index.to_string(),
            "--cache-dir".into(),
            self.at(&self.dirs.cache, CACHE_MOUNT),
        ]);
        argv.extend(what.iter().cloned());
        self.quiet(&mut argv);
        argv
    }

    /// On a terminal pip's own progress (packages and bytes) is shown; elsewhere pip is
    /// quiet unless -v.
    pub(super) fn quiet(&self, argv: &mut Vec<String>) {
        use std::io::IsTerminal;
        if !self.args.verbose && !std::io::stderr().is_terminal() {
            argv.push("--quiet".into());
        }
    }
}

pub(super) fn check(what: &str, status: Status) -> Result<()> {
    match status {
        Status::Exited(0) => Ok(()),
        Status::Exited(code) => {
            bail!("{what} failed (exit {code}); the previous environment is unchanged")
        }
        Status::TimedOut => {
            bail!("{what} took longer than --timeout; the previous environment is unchanged")
        }
    }
}

pub(super) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The offline install step: a fresh venv, then pip or uv installing exactly the downloaded
/// files into it; its command line and what it sees.
pub(super) fn install_step(
    c: &Ctx<'_>,
    uv: Option<&Path>,
    locked: bool,
) -> (Vec<String>, Vec<Mount>) {
    use fallback::sh_quote;
    let d = &c.dirs;
    let env = c.at(&d.env, ENV_MOUNT);
    let wheels = c.at(&d.wheels, WHEELS_MOUNT);
    let req = format!("{}/requirements.txt", c.at(&d.input, INPUT_MOUNT));
    let py = sh_quote(&c.py());
    let env_python = sh_quote(&format!("{env}/bin/python"));
    let uv_inside = format!("{TOOLS_MOUNT}/uv");
    let mut installer = match uv {
        Some(uv) => format!(
            "{} pip install --python {env_python} --offline --no-index --find-links {} \
             --only-binary :all:",
            sh_quote(&c.at(uv, &uv_inside)),
            sh_quote(&wheels)
        ),
        None => format!(
            "{py} -m pip --python {env_python} install --no-index --find-links {} \
             --only-binary=:all: --no-cache-dir --no-warn-script-location",
            sh_quote(&wheels)
        ),
    };
    // In the fallback the environment is not at /seal/env: pip's bytecode would name the
    // temporary path (tracebacks read the source there), so the relocation compiles it.
    let compile_later = c.fallback() && uv.is_none();
    if compile_later {
        installer.push_str(" --no-compile");
    }
    if locked {
        installer.push_str(&format!(
            " -r {} --require-hashes --no-deps",
            sh_quote(&req)
        ));
    } else if uv.is_some() {
        installer.push_str(&format!(" -r {}", sh_quote(&req)));
    } else {
        // The download step resolved the set already: install exactly those files, without
        // resolving again (pip's resolver is most of its time).
        installer.push_str(&format!(" --no-deps {}/*.whl", sh_quote(&wheels)));
    }
    if !c.args.verbose && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        installer.push_str(" --quiet");
    }
    // `--seed`: venv's own seeding, ensurepip from the interpreter's bundled wheel, offline.
    let without_pip = if c.args.seed { "" } else { "--without-pip " };
    let mut command = format!(
        "{py} -m venv {without_pip}{} && {installer}",
        sh_quote(&env)
    );
    if c.fallback() {
        let mut relocate = vec![
            c.py(),
            "-I".into(),
            "-S".into(),
            c.dirs
                .scripts
                .join(fallback::RELOCATE_NAME)
                .to_string_lossy()
                .into_owned(),
        ];
        if compile_later {
            relocate.push("--compile".into());
        }
        relocate.extend([
            env.clone(),
            ENV_MOUNT.into(),
            wheels.clone(),
            WHEELS_MOUNT.into(),
        ]);
        command.push_str(&format!(" && {}", fallback::sh_join(&relocate)));
    }
    let mut mounts = vec![
        c.ro(&d.input, INPUT_MOUNT),
        c.ro(&d.wheels, WHEELS_MOUNT),
        c.rw(&d.env, ENV_MOUNT),
    ];
    if let Some(uv) = uv {
        mounts.push(c.ro(uv, &uv_inside));
    }
    (vec!["/bin/sh".into(), "-c".into(), command], mounts)
}
