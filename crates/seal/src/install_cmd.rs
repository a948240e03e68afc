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

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use seal_sandbox::{Access, HandoffRequest, LandlockMode, Limits, Mount, Spec, Status};
use sha2::{Digest, Sha256};

use crate::cli::InstallArgs;
use crate::persistence_scan;
use crate::project::{self, Project, ENV_MOUNT};
use crate::python::{self, Interpreter};
use crate::requirements::{self, Lock, LockedPackage, Requirements};
use crate::run_layout;

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
    let mut env = run_layout::base_environment(python, false);
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

fn ro(src: &Path, dst: &str) -> Mount {
    Mount::Bind {
        src: src.to_path_buf(),
        dst: dst.into(),
        access: Access::ReadOnly,
    }
}

fn rw(src: &Path, dst: &str) -> Mount {
    Mount::Bind {
        src: src.to_path_buf(),
        dst: dst.into(),
        access: Access::ReadWrite,
    }
}

const GIB: u64 = 1 << 30;

fn install_spec(
    python: &Interpreter,
    argv: Vec<String>,
    env: Vec<(OsString, OsString)>,
    extra_mounts: Vec<Mount>,
    timeout: Duration,
) -> Spec {
    let mut mounts = run_layout::base_mounts(python, 2 * GIB);
    mounts.extend(extra_mounts);
    run_layout::spec(
        argv.into_iter().map(OsString::from).collect(),
        env,
        // The private /tmp: every install sandbox has it, none sees the project.
        "/tmp".into(),
        mounts,
        Limits {
            timeout: Some(timeout),
            memory_bytes: Some(seal_sandbox::host_memory_bytes() / 2).filter(|&m| m > 0),
            ..Limits::default()
        },
        LandlockMode::BestEffort,
    )
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

struct TempState {
    dir: PathBuf,
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Remove temporary install directories of installs that died (their pid is gone).
fn sweep_stale(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("tmp-install-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
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
}

const WORK_MOUNT: &str = "/seal/work";
const SDISTS_MOUNT: &str = "/seal/sdists";
const BUILD_DEPS_MOUNT: &str = "/seal/build-deps";
const BUILT_MOUNT: &str = "/seal/built";

/// Shared settings of the steps.
struct Ctx<'a> {
    args: &'a InstallArgs,
    python: &'a Interpreter,
    index: &'a str,
    allowed: &'a [(String, u16)],
    ca: Option<PathBuf>,
    dirs: Dirs,
}

impl Ctx<'_> {
    fn py(&self) -> String {
        self.python.executable.to_string_lossy().into_owned()
    }

    /// Run `argv` with network only to the index, through the host-side proxy.
    fn networked(&self, what: &str, argv: Vec<String>, mut mounts: Vec<Mount>) -> Result<()> {
        mounts.push(rw(&self.dirs.cache, CACHE_MOUNT));
        if let Some(ca) = &self.ca {
            mounts.push(Mount::Bind {
                src: ca.clone(),
                dst: ca.clone(),
                access: Access::ReadOnly,
            });
        }
        let mut spec = install_spec(
            self.python,
            argv,
            pip_environment(self.python, self.ca.as_deref(), true),
            mounts,
            self.args.timeout.unwrap_or(DEFAULT_TIMEOUT),
        );
        spec.handoff = HandoffRequest {
            listen_ports: vec![PROXY_PORT],
            ..Default::default()
        };
        let policy = crate::index_proxy::policy(self.allowed)?;
        let (outcome, proxy) = seal_sandbox::run_with(&spec, |started| {
            started
                .listeners
                .into_iter()
                .next()
                .map(|(_, listener)| seal_net::start(listener, policy))
        })?;
        let decisions = match proxy {
            Some(Ok(handle)) => handle.decisions(),
            Some(Err(e)) => bail!("cannot start the index proxy: {e}"),
            None => bail!("the install sandbox did not hand over its proxy listener"),
        };
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
        check(what, outcome.status)
    }

    /// Run `argv` with no network at all.
    fn offline(&self, what: &str, argv: Vec<String>, mounts: Vec<Mount>) -> Result<()> {
        let spec = install_spec(
            self.python,
            argv,
            pip_environment(self.python, None, false),
            mounts,
            self.args.timeout.unwrap_or(DEFAULT_TIMEOUT),
        );
        check(what, seal_sandbox::run(&spec)?.status)
    }

    /// `pip download` of wheels only (nothing is built or imported) from the index into
    /// `dest`, through seal's cache; `what` is the rest of the command line.
    fn pip_download(&self, dest: &str, what: &[String]) -> Vec<String> {
        let mut argv = vec![
            self.py(),
            "-m".into(),
            "pip".into(),
            "download".into(),
            "--only-binary=:all:".into(),
            "--dest".into(),
            dest.into(),
            "--index-url".into(),
            self.index.to_string(),
            "--cache-dir".into(),
            CACHE_MOUNT.into(),
        ];
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
    let py = ctx.py();
    let mut fetcher = format!(
        "\"{py}\" -I -S {INPUT_MOUNT}/fetch_sdists.py '{}' {SDISTS_MOUNT} {WORK_MOUNT}/build-requirements.txt",
        ctx.index
    );
    for s in specs {
        fetcher.push_str(&format!(" '{}'", s.replace('\'', "")));
    }
    ctx.networked(
        "downloading source archives",
        vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("{fetcher} > {WORK_MOUNT}/sdists.json"),
        ],
        vec![
            ro(&d.input, INPUT_MOUNT),
            rw(&d.work, WORK_MOUNT),
            rw(&d.sdists, SDISTS_MOUNT),
        ],
    )?;
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
        let argv = ctx.pip_download(
            BUILD_DEPS_MOUNT,
            &["-r".into(), format!("{WORK_MOUNT}/build-requirements.txt")],
        );
        ctx.networked(
            "downloading build requirements",
            argv,
            vec![ro(&d.work, WORK_MOUNT), rw(&d.build_deps, BUILD_DEPS_MOUNT)],
        )?;
    }
    // Third-party build code runs here: no network, and only /seal/built is writable.
    let mut argv = vec![
        ctx.py(),
        "-m".into(),
        "pip".into(),
        "wheel".into(),
        "--no-index".into(),
        "--find-links".into(),
        BUILD_DEPS_MOUNT.into(),
        "--no-deps".into(),
        "--no-cache-dir".into(),
        "--wheel-dir".into(),
        BUILT_MOUNT.into(),
    ];
    for i in &infos {
        argv.push(format!("{SDISTS_MOUNT}/{}", i.file));
    }
    ctx.quiet(&mut argv);
    ctx.offline(
        "building source archives (offline)",
        argv,
        vec![
            ro(&d.sdists, SDISTS_MOUNT),
            ro(&d.build_deps, BUILD_DEPS_MOUNT),
            rw(&d.built, BUILT_MOUNT),
        ],
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
    let mut argv = vec![
        ctx.py(),
        "-I".into(),
        "-S".into(),
        format!("{INPUT_MOUNT}/shadow_check.py"),
        ctx.index.to_string(),
    ];
    argv.extend(extra.iter().cloned());
    argv.push("--".into());
    argv.extend(names);
    let out = format!("{WORK_MOUNT}/shadowed.txt");
    let script = argv
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(" > {out}");
    ctx.networked(
        "checking the indexes for shadowed names",
        vec!["/bin/sh".into(), "-c".into(), script],
        vec![ro(&d.input, INPUT_MOUNT), rw(&d.work, WORK_MOUNT)],
    )?;
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
    let argv = ctx.pip_download(&format!("{WORK_MOUNT}/uv"), &strings(&["--no-deps", "uv"]));
    eprintln!(
        "seal: fetching uv from {} (once; kept in {})",
        ctx.index,
        uv_cache(&d.cache).display()
    );
    ctx.networked("downloading uv", argv, vec![rw(&d.work, WORK_MOUNT)])?;
    let target = uv_cache(&d.cache);
    let target_dir = target
        .parent()
        .expect("cache path has a parent")
        .to_path_buf();
    std::fs::create_dir_all(&target_dir)?;
    let unpack = "import glob, os, sys, zipfile\n\
w = glob.glob('/seal/work/uv/uv-*.whl')\n\
z = zipfile.ZipFile(w[0])\n\
name = [n for n in z.namelist() if n.endswith('.data/scripts/uv')][0]\n\
open('/seal/tools/uv.new', 'wb').write(z.read(name))\n\
os.chmod('/seal/tools/uv.new', 0o755)\n\
os.rename('/seal/tools/uv.new', '/seal/tools/uv')\n";
    ctx.offline(
        "unpacking uv",
        vec![
            ctx.py(),
            "-I".into(),
            "-S".into(),
            "-c".into(),
            unpack.into(),
        ],
        vec![ro(&d.work, WORK_MOUNT), rw(&target_dir, TOOLS_MOUNT)],
    )?;
    Ok(target)
}

pub fn install(mut args: InstallArgs) -> Result<i32> {
    let project = project::locate(args.project.as_deref())?;
    project::check_not_home(&project.root)?;
    // The project's policy fills in what the command line leaves out.
    let policy = crate::policy::load(&project)?;
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
    args.index_url = args.index_url.or(pol.index_url);
    args.installer = args.installer.or(pol.installer);
    args.timeout = args.timeout.or_else(|| {
        pol.timeout
            .as_deref()
            .and_then(|t| crate::cli::parse_duration(t).ok())
    });
    args.python = args.python.or(policy.python);
    let reqs: Requirements = requirements::gather(
        &args.packages,
        &args.requirements,
        &pol.requirements,
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
    sweep_stale(&state);
    let tmp = TempState {
        dir: state.join(format!("tmp-install-{}", std::process::id())),
    };
    let dirs = Dirs {
        input: tmp.dir.join("input"),
        work: tmp.dir.join("work"),
        wheels: tmp.dir.join("wheels"),
        sdists: tmp.dir.join("sdists"),
        build_deps: tmp.dir.join("build-deps"),
        built: tmp.dir.join("built"),
        env: tmp.dir.join("env"),
        cache: cache_dir(&project),
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
    let ctx = Ctx {
        args: &args,
        python: &python,
        index: &index,
        allowed: &allowed,
        ca: host_ca_bundle(),
        dirs,
    };
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
    let mut what = vec![
        "--find-links".to_string(),
        BUILT_MOUNT.into(),
        "-r".into(),
        format!("{INPUT_MOUNT}/requirements.txt"),
    ];
    for extra in &args.extra_index_urls {
        what.extend(["--extra-index-url".to_string(), extra.clone()]);
    }
    if locked {
        what.extend(strings(&["--require-hashes", "--no-deps"]));
    }
    let fetch = ctx.pip_download(WHEELS_MOUNT, &what);
    ctx.networked(
        "downloading",
        fetch,
        vec![
            ro(&d.input, INPUT_MOUNT),
            rw(&d.wheels, WHEELS_MOUNT),
            ro(&d.built, BUILT_MOUNT),
        ],
    )?;

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
    let uv = match args.installer.as_deref().unwrap_or("auto") {
        "pip" => None,
        "uv" => Some(match find_uv(&d.cache) {
            Some(p) => p,
            None => fetch_uv(&ctx)?,
        }),
        _ => find_uv(&d.cache),
    };
    let py = ctx.py();
    let req = format!("{INPUT_MOUNT}/requirements.txt");
    let mut installer = match &uv {
        Some(_) => format!(
            "{TOOLS_MOUNT}/uv pip install --python {ENV_MOUNT}/bin/python --offline --no-index \
             --find-links {WHEELS_MOUNT} --only-binary :all:"
        ),
        None => format!(
            "\"{py}\" -m pip --python {ENV_MOUNT}/bin/python install --no-index --find-links {WHEELS_MOUNT} \
             --only-binary=:all: --no-cache-dir --no-warn-script-location"
        ),
    };
    if locked {
        installer.push_str(&format!(" -r {req} --require-hashes --no-deps"));
    } else if uv.is_some() {
        installer.push_str(&format!(" -r {req}"));
    } else {
        // The download step resolved the set already: install exactly those files, without
        // resolving again (pip's resolver is most of its time).
        installer.push_str(&format!(" --no-deps {WHEELS_MOUNT}/*.whl"));
    }
    if !args.verbose && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        installer.push_str(" --quiet");
    }
    let mut mounts = vec![
        ro(&d.input, INPUT_MOUNT),
        ro(&d.wheels, WHEELS_MOUNT),
        rw(&d.env, ENV_MOUNT),
    ];
    if let Some(uv) = &uv {
        mounts.push(Mount::Bind {
            src: uv.clone(),
            dst: PathBuf::from(TOOLS_MOUNT).join("uv"),
            access: Access::ReadOnly,
        });
    }
    eprintln!(
        "seal: installer: {}",
        uv.as_ref()
            .map(|p| format!("uv ({})", p.display()))
            .unwrap_or_else(|| "pip".into())
    );
    ctx.offline(
        "installing",
        vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("\"{py}\" -m venv --without-pip {ENV_MOUNT} && {installer}"),
        ],
        mounts,
    )?;

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
