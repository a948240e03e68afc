//! `seal install`: build the project's environment without mixing installing with the user's
//! code or data.
//!
//! Two sandboxes, neither of which sees the project tree, the user's files or environment:
//! 1. fetch: pip downloads wheels (`--only-binary :all:`: nothing is built or imported, so no
//!    third-party code runs) through seal's host-side proxy, which reaches only the index;
//! 2. install: with no network at all, pip installs those files into the environment under
//!    construction, the only writable place besides private tmpfs /tmp and HOME.
//!
//! The environment is built in a temporary directory and swapped into `.seal/env` only when
//! everything succeeded, so a failed or interrupted install leaves the previous one intact.
//!
//! Where the kernel refuses user namespaces (or with `--isolation landlock`), the same steps
//! run in the Landlock + seccomp fallback under the same rules; [`fallback`] says how.

pub mod fallback;
pub mod index_proxy;
pub mod persistence_scan;
pub mod requirements;

use std::cell::Cell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use seal_sandbox::claimed_dir::{self, Family};
use seal_sandbox::{
    Access, HandoffRequest, LandlockMode, Limits, ModeChanges, Mount, Spec, Status,
};
use sha2::{Digest, Sha256};

use crate::cli::{InstallArgs, Installer};
use crate::isolation;
use crate::layout;
use crate::project::{self, Project, ENV_MOUNT};
use crate::python::{self, Interpreter};
use requirements::{Lock, LockedPackage, Requirements};

/// The proxy's port on the install sandbox's own loopback.
const PROXY_PORT: u16 = 3128;
const INPUT_MOUNT: &str = "/seal/input";
const WHEELS_MOUNT: &str = "/seal/wheels";
const CACHE_MOUNT: &str = "/seal/cache";
const PYPI_SIMPLE: &str = "https://pypi.org/simple";
const PYPI_FILES: &str = "files.pythonhosted.org";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// scheme, host, port of an index URL.
pub(crate) fn parse_url(url: &str) -> Result<(String, String, u16)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("--index-url {url}: expected http(s)://host[:port]/path"))?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => bail!("--index-url {url}: only http and https indexes are supported"),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        bail!("--index-url {url}: credentials in the URL are not passed into the sandbox; use a keyring-free mirror URL");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (
            h,
            p.parse()
                .map_err(|_| anyhow!("--index-url {url}: bad port"))?,
        ),
        _ => (authority, default_port),
    };
    if host.is_empty() {
        bail!("--index-url {url}: no host");
    }
    Ok((scheme.to_string(), host.to_ascii_lowercase(), port))
}

/// The hosts the proxy lets the fetch step reach: the index, PyPI's file host when the index
/// is PyPI, and what the user allows explicitly.
fn allowed_hosts(index: &str, extra: &[String]) -> Result<Vec<(String, u16)>> {
    let (_, host, port) = parse_url(index)?;
    let mut v = vec![(host.clone(), port)];
    if host == "pypi.org" {
        v.push((PYPI_FILES.to_string(), 443));
    }
    for a in extra {
        let (h, p) = match a.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| anyhow!("--allow-host {a}: bad port"))?,
            ),
            None => (a.as_str(), 443),
        };
        if h.is_empty() || h.contains('/') {
            bail!("--allow-host {a}: expected HOST or HOST:PORT");
        }
        v.push((h.to_ascii_lowercase(), p));
    }
    Ok(v)
}

fn cache_dir(project: &Project) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .filter(|p| std::fs::create_dir_all(p).is_ok());
    match base {
        Some(b) => b.join("seal").join("pip"),
        None => project.state_dir().join("cache"),
    }
}

/// A CA bundle the host's tools are told to trust (corporate proxies, registry mirrors): the
/// sandboxed pip must trust it too, so the file is mounted read-only and named to pip.
fn host_ca_bundle() -> Option<PathBuf> {
    ["PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn pip_environment(
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

const GIB: u64 = 1 << 30;

fn install_spec(
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

fn install_limits(timeout: Duration) -> Limits {
    Limits {
        timeout: Some(timeout),
        memory_bytes: Some(seal_sandbox::host_memory_bytes() / 2).filter(|&m| m > 0),
        ..Limits::default()
    }
}

fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}

/// name and version from a wheel's file name (`name-version-...-tag.whl`).
fn wheel_name_version(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".whl")?;
    let mut parts = stem.split('-');
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// One artifact per wheel in `wheels`, plus the source archives that were built offline
/// (whose locally built wheels are recorded through their sdist, not by their own hash).
fn lock_from_artifacts(
    wheels: &Path,
    sdists: &[SdistInfo],
    python: &Interpreter,
    index: &str,
) -> Result<Lock> {
    let built: Vec<String> = sdists.iter().map(|s| normalize(&s.name)).collect();
    let mut packages = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(wheels)?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let file = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (name, version) = wheel_name_version(&file)
            .ok_or_else(|| anyhow!("unexpected artifact {file} (not a wheel)"))?;
        if built.contains(&normalize(&name)) {
            continue;
        }
        packages.push(LockedPackage {
            name,
            version,
            sha256: sha256_file(&f)?,
            file,
            kind: "wheel".into(),
        });
    }
    for s in sdists {
        packages.push(LockedPackage {
            name: s.name.clone(),
            version: s.version.clone(),
            file: s.file.clone(),
            sha256: s.sha256.clone(),
            kind: "sdist".into(),
        });
    }
    Ok(Lock {
        version: 1,
        python: python.version.clone(),
        index: index.to_string(),
        packages,
    })
}

/// PEP 503 name normalization.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[derive(Debug, Clone, serde::Deserialize)]
struct SdistInfo {
    name: String,
    version: String,
    file: String,
    sha256: String,
    #[serde(default)]
    build_requires: Vec<String>,
}

/// A requirement that can only be a name, extras, version specifiers and a marker: printable
/// ASCII on one line, no option, no URL or direct reference.
fn is_plain_requirement(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 200
        && r.chars().all(|c| (' '..='~').contains(&c))
        && !r.trim_start().starts_with('-')
        && !r.contains('@')
        && !r.contains("://")
}

/// Fetcher specs for `--allow-sdist NAME`: pinned to the version the requirements pin, if any.
fn sdist_specs(names: &[String], lines: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let pinned = lines.iter().find_map(|l| {
                let (name, version) = l.split_once("==")?;
                let version = version.split([' ', ';', ',']).next()?.trim();
                (normalize(name.trim()) == normalize(n) && !version.is_empty())
                    .then(|| version.to_string())
            });
            match pinned {
                Some(v) => format!("{n}=={v}"),
                None => n.clone(),
            }
        })
        .collect()
}

/// Swap the new environment into place: an existing one is exchanged atomically, then removed.
fn swap_into_place(new_env: &Path, project: &Project) -> Result<()> {
    let target = project.env_dir();
    if target.exists() {
        rustix_exchange(new_env, &target)
            .with_context(|| format!("replacing {}", target.display()))?;
        // `new_env` now holds the previous environment.
        std::fs::remove_dir_all(new_env).ok();
    } else {
        std::fs::rename(new_env, &target)
            .with_context(|| format!("moving the environment to {}", target.display()))?;
    }
    Ok(())
}

fn rustix_exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    Ok(renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?)
}

/// An install's temporary directory in the project's state directory (see
/// [`seal_sandbox::claimed_dir`]): `tmp-install-<pid>-<random>`, locked while the install
/// lasts; `tmp-new-install-...` while being made.
const TEMP_STATE: Family = Family {
    live: "tmp-install-",
    new: "tmp-new-install-",
};

struct TempState {
    dir: PathBuf,
    /// Held until the directory has been removed: no concurrent install's sweep takes it.
    _claim: claimed_dir::Claimed,
}

impl TempState {
    /// Sweep what dead installs left in `state`, then make a fresh locked directory there.
    fn create(state: &Path) -> Result<TempState> {
        use rustix::fs::{Mode, OFlags};
        let parent = rustix::fs::open(
            state,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", state.display()))?;
        sweep_stale(&parent, state);
        let claim = claimed_dir::claim(&parent, &TEMP_STATE, 0o777)
            .with_context(|| format!("creating a temporary directory in {}", state.display()))?;
        Ok(TempState {
            dir: state.join(claim.name()),
            _claim: claim,
        })
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        // Removed while still locked: a concurrent sweep cannot take it half-removed.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Remove temporary install directories of installs that died: those no live install holds
/// locked. A lock, not a PID check: an install in another PID namespace sharing the project
/// is invisible in our /proc, and a dead install's PID may be reused (by this very install,
/// which would then have taken over its leftovers).
fn sweep_stale(parent: &std::os::fd::OwnedFd, state: &Path) {
    claimed_dir::sweep(parent, &TEMP_STATE, |_, name| {
        let _ = std::fs::remove_dir_all(state.join(name));
    });
}

/// Host directories of one install, mounted at fixed paths in the sandboxes.
struct Dirs {
    input: PathBuf,
    work: PathBuf,
    wheels: PathBuf,
    sdists: PathBuf,
    build_deps: PathBuf,
    built: PathBuf,
    env: PathBuf,
    cache: PathBuf,
    /// seal's scripts of the fallback (the connection shim, the relocation), written when it
    /// is used.
    scripts: PathBuf,
}

const WORK_MOUNT: &str = "/seal/work";
const SDISTS_MOUNT: &str = "/seal/sdists";
const BUILD_DEPS_MOUNT: &str = "/seal/build-deps";
const BUILT_MOUNT: &str = "/seal/built";

/// Which sandbox the steps run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Namespaces,
    /// The Landlock + seccomp fallback (see [`fallback`]).
    Fallback,
}

/// A step's command line and what it sees, made for the mode in force: when auto mode falls
/// back after the first step failed to create namespaces, that step is made again.
type Step<'s> = dyn Fn(&Ctx<'_>) -> (Vec<String>, Vec<Mount>) + 's;

/// Shared settings of the steps.
struct Ctx<'a> {
    args: &'a InstallArgs,
    python: &'a Interpreter,
    index: &'a str,
    allowed: &'a [(String, u16)],
    ca: Option<PathBuf>,
    dirs: Dirs,
    /// The install's temporary directory: the fallback's scratch directories go there.
    tmp: &'a Path,
    requested: isolation::Requested,
    mode: Cell<Mode>,
    /// Set once a sandbox ran: only the first may still switch auto mode to the fallback.
    settled: Cell<bool>,
}

impl Ctx<'_> {
    fn py(&self) -> String {
        self.python.executable.to_string_lossy().into_owned()
    }

    fn fallback(&self) -> bool {
        self.mode.get() == Mode::Fallback
    }

    /// Where the host directory `host` appears in a step's sandbox: at `mount` with
    /// namespaces, at its own path in the fallback (which cannot mount).
    fn at(&self, host: &Path, mount: &str) -> String {
        if self.fallback() {
            host.to_string_lossy().into_owned()
        } else {
            mount.to_string()
        }
    }

    fn bind(&self, host: &Path, mount: &str, access: Access) -> Mount {
        Mount::Bind {
            src: host.to_path_buf(),
            dst: self.at(host, mount).into(),
            access,
        }
    }

    fn ro(&self, host: &Path, mount: &str) -> Mount {
        self.bind(host, mount, Access::ReadOnly)
    }

    fn rw(&self, host: &Path, mount: &str) -> Mount {
        self.bind(host, mount, Access::ReadWrite)
    }

    /// The base interpreter with `flags`, running `target` (`-m MODULE` or a script) in a
    /// networked step: in the fallback through the connection shim, which must run first.
    fn python_networked(&self, flags: &[&str], target: &[String]) -> Vec<String> {
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

    fn timeout(&self) -> Duration {
        self.args.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Run a step with network only to the index, through the host-side proxy. No package
    /// code runs in these steps, and none sets file modes.
    fn networked(&self, what: &str, step: &Step<'_>) -> Result<()> {
        self.run_step(what, true, ModeChanges::Ignored, step)
    }

    /// Run a step with no network at all. `modes` says what chmod does in the fallback, where
    /// Landlock does not govern it (so it would reach every file of the user): only steps that
    /// must make files executable and run no package code (pip or uv installing wheels, seal
    /// unpacking uv) get [`ModeChanges::Restricted`]; package build code gets no-ops.
    fn offline(&self, what: &str, modes: ModeChanges, step: &Step<'_>) -> Result<()> {
        self.run_step(what, false, modes, step)
    }

    fn run_step(
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
    fn enter_fallback(&self) -> Result<()> {
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
    fn run_namespaces(
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
    fn run_fallback(
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
    fn ca_mount(&self) -> Option<Mount> {
        self.ca.as_ref().map(|ca| Mount::Bind {
            src: ca.clone(),
            dst: ca.clone(),
            access: Access::ReadOnly,
        })
    }

    fn report_decisions(&self, decisions: &[seal_net::Decision]) {
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
    fn pip_download(&self, dest: &str, what: &[String]) -> Vec<String> {
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
    fn quiet(&self, argv: &mut Vec<String>) {
        use std::io::IsTerminal;
        if !self.args.verbose && !std::io::stderr().is_terminal() {
            argv.push("--quiet".into());
        }
    }
}

fn check(what: &str, status: Status) -> Result<()> {
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

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Source archives: fetch them (no code runs), then build wheels with no network.
fn build_sdists(ctx: &Ctx<'_>, specs: &[String]) -> Result<Vec<SdistInfo>> {
    let d = &ctx.dirs;
    std::fs::write(d.input.join("fetch_sdists.py"), FETCH_SDISTS)?;
    ctx.networked("downloading source archives", &|c: &Ctx<'_>| {
        let d = &c.dirs;
        let work = c.at(&d.work, WORK_MOUNT);
        let script = format!("{}/fetch_sdists.py", c.at(&d.input, INPUT_MOUNT));
        let mut fetcher = c.python_networked(&["-I", "-S"], &[script]);
        fetcher.extend([
            c.index.to_string(),
            c.at(&d.sdists, SDISTS_MOUNT),
            format!("{work}/build-requirements.txt"),
        ]);
        fetcher.extend(specs.iter().cloned());
        let command = format!(
            "{} > {}",
            fallback::sh_join(&fetcher),
            fallback::sh_quote(&format!("{work}/sdists.json"))
        );
        (
            vec!["/bin/sh".into(), "-c".into(), command],
            vec![
                c.ro(&d.input, INPUT_MOUNT),
                c.rw(&d.work, WORK_MOUNT),
                c.rw(&d.sdists, SDISTS_MOUNT),
            ],
        )
    })?;
    let infos: Vec<SdistInfo> = std::fs::read_to_string(d.work.join("sdists.json"))?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("reading the fetcher's report")?;
    // The build requirements come from untrusted archives: check them here too, then write
    // the requirements file ourselves (one line each, no option can be smuggled in).
    let mut build_reqs: Vec<String> = Vec::new();
    for i in &infos {
        for r in &i.build_requires {
            if !is_plain_requirement(r) {
                bail!(
                    "{}: refusing build requirement {r:?} (not a plain name and version)",
                    i.file
                );
            }
            if !build_reqs.contains(r) {
                build_reqs.push(r.clone());
            }
        }
    }
    if !build_reqs.is_empty() {
        std::fs::write(
            d.work.join("build-requirements.txt"),
            build_reqs.join("\n") + "\n",
        )?;
        // Build requirements are wheels like everything else: nothing runs while fetching.
        ctx.networked("downloading build requirements", &|c: &Ctx<'_>| {
            let d = &c.dirs;
            let reqs = format!("{}/build-requirements.txt", c.at(&d.work, WORK_MOUNT));
            (
                c.pip_download(&c.at(&d.build_deps, BUILD_DEPS_MOUNT), &["-r".into(), reqs]),
                vec![
                    c.ro(&d.work, WORK_MOUNT),
                    c.rw(&d.build_deps, BUILD_DEPS_MOUNT),
                ],
            )
        })?;
    }
    // Third-party build code runs here: no network, and only the output directory writable.
    ctx.offline(
        "building source archives (offline)",
        ModeChanges::Ignored,
        &|c: &Ctx<'_>| {
            let d = &c.dirs;
            let mut argv = vec![
                c.py(),
                "-m".into(),
                "pip".into(),
                "wheel".into(),
                "--no-index".into(),
                "--find-links".into(),
                c.at(&d.build_deps, BUILD_DEPS_MOUNT),
                "--no-deps".into(),
                "--no-cache-dir".into(),
                "--wheel-dir".into(),
                c.at(&d.built, BUILT_MOUNT),
            ];
            let sdists = c.at(&d.sdists, SDISTS_MOUNT);
            for i in &infos {
                argv.push(format!("{sdists}/{}", i.file));
            }
            c.quiet(&mut argv);
            (
                argv,
                vec![
                    c.ro(&d.sdists, SDISTS_MOUNT),
                    c.ro(&d.build_deps, BUILD_DEPS_MOUNT),
                    c.rw(&d.built, BUILT_MOUNT),
                ],
            )
        },
    )?;
    Ok(infos)
}

const FETCH_SDISTS: &str = include_str!("fetch_sdists.py");

/// Make the project's own package importable at run time (src/ layout) without the install
/// phase ever seeing it: the environment gets only the path, as a `.pth` line, which `seal
/// run` resolves against the project mounted read-only at the same path.
fn link_project_sources(env: &Path, project: &Project, python: &Interpreter) -> Result<()> {
    let src = project.root.join("src");
    if !src.is_dir() {
        return Ok(());
    }
    let site = env
        .join("lib")
        .join(format!("python{}", python.version))
        .join("site-packages");
    std::fs::write(
        site.join("_seal_project.pth"),
        format!("{}\n", src.display()),
    )
    .with_context(|| format!("linking {} into the environment", src.display()))
}
const SHADOW_CHECK: &str = include_str!("shadow_check.py");

/// Report every downloaded project that more than one index serves (dependency confusion).
fn report_shadowing(ctx: &Ctx<'_>, extra: &[String]) -> Result<()> {
    let d = &ctx.dirs;
    std::fs::write(d.input.join("shadow_check.py"), SHADOW_CHECK)?;
    let mut names: Vec<String> = std::fs::read_dir(&d.wheels)?
        .flatten()
        .filter_map(|e| wheel_name_version(&e.file_name().to_string_lossy()).map(|(n, _)| n))
        .collect();
    names.sort();
    names.dedup();
    ctx.networked("checking the indexes for shadowed names", &|c: &Ctx<'_>| {
        let d = &c.dirs;
        let script = format!("{}/shadow_check.py", c.at(&d.input, INPUT_MOUNT));
        let mut argv = c.python_networked(&["-I", "-S"], &[script]);
        argv.push(c.index.to_string());
        argv.extend(extra.iter().cloned());
        argv.push("--".into());
        argv.extend(names.iter().cloned());
        let out = format!("{}/shadowed.txt", c.at(&d.work, WORK_MOUNT));
        let command = format!(
            "{} > {}",
            fallback::sh_join(&argv),
            fallback::sh_quote(&out)
        );
        (
            vec!["/bin/sh".into(), "-c".into(), command],
            vec![c.ro(&d.input, INPUT_MOUNT), c.rw(&d.work, WORK_MOUNT)],
        )
    })?;
    for line in std::fs::read_to_string(d.work.join("shadowed.txt"))?.lines() {
        let mut parts = line.split('\t');
        let name = parts.next().unwrap_or_default();
        let hits: Vec<&str> = parts.collect();
        eprintln!(
            "seal: warning: dependency confusion: {name} is served by {}; pip took the highest version from any of them",
            hits.join(" and ")
        );
    }
    Ok(())
}
const TOOLS_MOUNT: &str = "/seal/tools";

fn is_elf(p: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head == b"\x7fELF")
}

fn uv_cache(cache: &Path) -> PathBuf {
    cache.parent().unwrap_or(cache).join("uv").join("uv")
}

/// uv on PATH (a real binary, not a shim) or in seal's cache.
fn find_uv(cache: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("uv"))
        .filter_map(|p| p.canonicalize().ok())
        .chain(std::iter::once(uv_cache(cache)))
        .find(|p| p.is_file() && is_elf(p))
}

/// Fetch uv's wheel from the index through the sandboxed path (hash checked by pip against
/// the index) and unpack its binary into seal's cache, offline.
fn fetch_uv(ctx: &Ctx<'_>) -> Result<PathBuf> {
    let d = &ctx.dirs;
    let uv_dir = d.work.join("uv");
    std::fs::create_dir_all(&uv_dir)?;
    eprintln!(
        "seal: fetching uv from {} (once; kept in {})",
        ctx.index,
        uv_cache(&d.cache).display()
    );
    ctx.networked("downloading uv", &|c: &Ctx<'_>| {
        let dest = format!("{}/uv", c.at(&c.dirs.work, WORK_MOUNT));
        (
            c.pip_download(&dest, &strings(&["--no-deps", "uv"])),
            vec![c.rw(&c.dirs.work, WORK_MOUNT)],
        )
    })?;
    let target = uv_cache(&d.cache);
    let target_dir = target
        .parent()
        .expect("cache path has a parent")
        .to_path_buf();
    std::fs::create_dir_all(&target_dir)?;
    let unpack = "import glob, os, sys, zipfile\n\
work, tools = sys.argv[1:3]\n\
w = glob.glob(os.path.join(work, 'uv', 'uv-*.whl'))\n\
z = zipfile.ZipFile(w[0])\n\
name = [n for n in z.namelist() if n.endswith('.data/scripts/uv')][0]\n\
new = os.path.join(tools, 'uv.new')\n\
open(new, 'wb').write(z.read(name))\n\
os.chmod(new, 0o755)\n\
os.rename(new, os.path.join(tools, 'uv'))\n";
    ctx.offline("unpacking uv", ModeChanges::Restricted, &|c: &Ctx<'_>| {
        (
            vec![
                c.py(),
                "-I".into(),
                "-S".into(),
                "-c".into(),
                unpack.into(),
                c.at(&c.dirs.work, WORK_MOUNT),
                c.at(&target_dir, TOOLS_MOUNT),
            ],
            vec![
                c.ro(&c.dirs.work, WORK_MOUNT),
                c.rw(&target_dir, TOOLS_MOUNT),
            ],
        )
    })?;
    Ok(target)
}

/// The offline install step: a fresh venv, then pip or uv installing exactly the downloaded
/// files into it; its command line and what it sees.
fn install_step(c: &Ctx<'_>, uv: Option<&Path>, locked: bool) -> (Vec<String>, Vec<Mount>) {
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
    let mut command = format!(
        "{py} -m venv --without-pip {} && {installer}",
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

pub fn install(mut args: InstallArgs) -> Result<i32> {
    let project = project::locate(args.project.as_deref())?;
    project::check_not_home(&project.root)?;
    // The project's policy fills in what the command line leaves out.
    let policy = crate::policy::load(&project)?;
    let policy_requirements = crate::settings::resolve_install(&mut args, policy);
    let reqs: Requirements = requirements::gather(
        &args.packages,
        &args.requirements,
        &policy_requirements,
        &project,
        args.allow_direct_urls,
    )?;
    let index = reqs
        .locked()
        .map(|l| l.index.clone())
        .or(args.index_url.clone())
        .unwrap_or_else(|| PYPI_SIMPLE.to_string());
    let mut allowed = allowed_hosts(&index, &args.allow_hosts)?;
    for extra in &args.extra_index_urls {
        for h in allowed_hosts(extra, &[])? {
            if !allowed.contains(&h) {
                allowed.push(h);
            }
        }
    }
    let python = python::discover(args.python.as_deref())?;
    if let Some(lock) = reqs.locked() {
        if lock.python != python.version {
            bail!(
                "seal.lock was made for Python {} but the interpreter is Python {}; pass --python for a {} interpreter",
                lock.python,
                python.version,
                lock.python
            );
        }
    }
    let sdist_specs = match reqs.locked() {
        Some(lock) => lock.sdist_specs(),
        None => sdist_specs(&args.allow_sdist, &reqs.lines),
    };

    let state = project.state_dir();
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let tmp = TempState::create(&state)?;
    // Real paths: the fallback grants and names them as they are.
    let tmp_dir = tmp
        .dir
        .canonicalize()
        .with_context(|| format!("{}", tmp.dir.display()))?;
    let dirs = Dirs {
        input: tmp_dir.join("input"),
        work: tmp_dir.join("work"),
        wheels: tmp_dir.join("wheels"),
        sdists: tmp_dir.join("sdists"),
        build_deps: tmp_dir.join("build-deps"),
        built: tmp_dir.join("built"),
        env: tmp_dir.join("env"),
        cache: cache_dir(&project),
        scripts: tmp_dir.join("scripts"),
    };
    for d in [
        &dirs.input,
        &dirs.work,
        &dirs.wheels,
        &dirs.sdists,
        &dirs.build_deps,
        &dirs.built,
        &dirs.env,
        &dirs.cache,
    ] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let dirs = Dirs {
        cache: dirs
            .cache
            .canonicalize()
            .with_context(|| format!("{}", dirs.cache.display()))?,
        ..dirs
    };
    let locked = reqs.locked().is_some();
    eprintln!(
        "seal: installing from {} via {} (network: only {})",
        reqs.describe(),
        index,
        allowed
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let requested = args.isolation.unwrap_or_default();
    let ctx = Ctx {
        args: &args,
        python: &python,
        index: &index,
        allowed: &allowed,
        ca: host_ca_bundle().and_then(|p| p.canonicalize().ok()),
        dirs,
        tmp: &tmp_dir,
        requested,
        mode: Cell::new(Mode::Namespaces),
        settled: Cell::new(false),
    };
    if requested == isolation::Requested::Landlock {
        ctx.enter_fallback()?;
        isolation::warn_degraded("requested", true, args.quiet);
    }
    let d = &ctx.dirs;

    // 1. Source archives the user allowed: fetched with no code running, built offline.
    let sdists = if sdist_specs.is_empty() {
        Vec::new()
    } else {
        build_sdists(&ctx, &sdist_specs)?
    };
    let mut lines = reqs.lines.clone();
    if locked {
        // Wheels built here have no hash in the lock; pin them to what was just built.
        for f in std::fs::read_dir(&d.built)?.flatten() {
            // Build code wrote this directory: a link must not make seal hash another file.
            if !f.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let file = f.file_name().to_string_lossy().into_owned();
            if let Some((n, v)) = wheel_name_version(&file) {
                lines.push(format!(
                    "{n}=={v} --hash=sha256:{}",
                    sha256_file(&f.path())?
                ));
            }
        }
    }
    std::fs::write(d.input.join("requirements.txt"), lines.join("\n") + "\n")?;

    // 2. Wheels: network to the index only, nothing built or imported.
    eprintln!("seal: [1/2] downloading wheels (network: index only; no package code runs)");
    ctx.networked("downloading", &|c: &Ctx<'_>| {
        let d = &c.dirs;
        let mut what = vec![
            "--find-links".to_string(),
            c.at(&d.built, BUILT_MOUNT),
            "-r".into(),
            format!("{}/requirements.txt", c.at(&d.input, INPUT_MOUNT)),
        ];
        for extra in &c.args.extra_index_urls {
            what.extend(["--extra-index-url".to_string(), extra.clone()]);
        }
        if locked {
            what.extend(strings(&["--require-hashes", "--no-deps"]));
        }
        (
            c.pip_download(&c.at(&d.wheels, WHEELS_MOUNT), &what),
            vec![
                c.ro(&d.input, INPUT_MOUNT),
                c.rw(&d.wheels, WHEELS_MOUNT),
                c.ro(&d.built, BUILT_MOUNT),
            ],
        )
    })?;

    if !args.extra_index_urls.is_empty() {
        report_shadowing(&ctx, &args.extra_index_urls)?;
    }

    let (n, bytes) = std::fs::read_dir(&d.wheels)?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .fold((0u64, 0u64), |(n, b), m| (n + 1, b + m.len()));
    eprintln!(
        "seal: downloaded {n} packages ({})",
        seal_sandbox::export::human(bytes)
    );
    // 3. Install: no network; the environment under construction is the only writable place.
    eprintln!("seal: [2/2] installing {n} packages (no network)");
    let uv = match args.installer.unwrap_or_default() {
        Installer::Pip => None,
        Installer::Uv => Some(match find_uv(&d.cache) {
            Some(p) => p,
            None => fetch_uv(&ctx)?,
        }),
        Installer::Auto => find_uv(&d.cache),
    };
    eprintln!(
        "seal: installer: {}",
        uv.as_ref()
            .map(|p| format!("uv ({})", p.display()))
            .unwrap_or_else(|| "pip".into())
    );
    ctx.offline("installing", ModeChanges::Restricted, &|c: &Ctx<'_>| {
        install_step(c, uv.as_deref(), locked)
    })?;

    link_project_sources(&d.env, &project, &python)?;
    let findings = persistence_scan::scan(&d.env);
    if args.lock || locked {
        let lock = lock_from_artifacts(&d.wheels, &sdists, &python, &index)?;
        if let Some(old) = reqs.locked() {
            let key = |p: &LockedPackage| (p.kind.clone(), p.file.clone(), p.sha256.clone());
            let mut a: Vec<_> = old.packages.iter().map(key).collect();
            let mut b: Vec<_> = lock.packages.iter().map(key).collect();
            a.sort();
            b.sort();
            if a != b {
                bail!("the downloaded artifacts differ from seal.lock; the previous environment is unchanged");
            }
        }
        if args.lock {
            let tmp_lock = tmp.dir.join("seal.lock");
            std::fs::write(&tmp_lock, lock.to_toml())?;
            std::fs::rename(&tmp_lock, project.lock_file())
                .with_context(|| format!("writing {}", project.lock_file().display()))?;
            eprintln!(
                "seal: wrote {} ({} artifacts)",
                project.lock_file().display(),
                lock.packages.len()
            );
        }
    }
    swap_into_place(&d.env, &project)?;
    project::record_base_interpreter(&project, &python.executable)?;
    let count = std::fs::read_dir(&d.wheels).map(|d| d.count()).unwrap_or(0);
    eprintln!(
        "seal: installed {count} packages into {}{}",
        project.env_dir().display(),
        if sdists.is_empty() {
            String::new()
        } else {
            format!(" ({} built from source, offline)", sdists.len())
        }
    );
    for f in &findings {
        eprintln!("seal: finding: {} {}: {}", f.kind, f.path, f.detail);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls() {
        assert_eq!(
            parse_url("https://pypi.org/simple").unwrap(),
            ("https".into(), "pypi.org".into(), 443)
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080/simple/").unwrap(),
            ("http".into(), "127.0.0.1".into(), 8080)
        );
        assert!(parse_url("ftp://x/simple").is_err());
        assert!(parse_url("https://user:pw@host/simple").is_err());
        assert!(parse_url("pypi.org").is_err());
    }

    #[test]
    fn allowlist_includes_pypi_file_host_and_extras() {
        let a = allowed_hosts(PYPI_SIMPLE, &["mirror.example:8443".into()]).unwrap();
        assert_eq!(
            a,
            vec![
                ("pypi.org".into(), 443),
                (PYPI_FILES.into(), 443),
                ("mirror.example".into(), 8443)
            ]
        );
        assert!(allowed_hosts(PYPI_SIMPLE, &["a/b".into()]).is_err());
    }

    #[test]
    fn sdist_specs_follow_pins() {
        let lines = vec![
            "foo-bar==1.2 ; python_version>'3'".to_string(),
            "baz>=2".to_string(),
        ];
        assert_eq!(
            sdist_specs(&["foo_bar".into(), "baz".into()], &lines),
            vec!["foo_bar==1.2".to_string(), "baz".to_string()]
        );
        assert_eq!(normalize("Foo__Bar.baz"), "foo-bar-baz");
    }

    #[test]
    fn build_requirements_must_be_plain() {
        assert!(is_plain_requirement("setuptools>=61.0"));
        assert!(is_plain_requirement("wheel; python_version >= '3.8'"));
        for bad in [
            "helper\n--no-binary=:all:",
            "helper\r--x",
            "--index-url=http://x",
            "x @ http://y",
            "",
            "a\u{7f}",
        ] {
            assert!(!is_plain_requirement(bad), "{bad:?}");
        }
    }

    #[test]
    fn wheel_names() {
        assert_eq!(
            wheel_name_version("six-1.16.0-py2.py3-none-any.whl"),
            Some(("six".into(), "1.16.0".into()))
        );
        assert_eq!(wheel_name_version("x.tar.gz"), None);
    }
}
