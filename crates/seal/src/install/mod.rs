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
//!
//! This file is the pipeline in order ([`install`]); each part has its own module: `steps`
//! (what a step sees and where it runs), `requirements` (what to install, seal.lock), `lock`
//! (the lock made from the downloads), `sdists` (allowed source builds), `uv` (fetching uv),
//! `env_swap` (the atomic swap into `.seal/env`), `persistence_scan` (startup hooks found in the
//! new environment) and `index_proxy` (the host-side proxy's configuration).

mod declared;
pub use declared::write_atomically;
mod env_swap;
pub mod fallback;
pub mod index_proxy;
mod lock;
pub mod persistence_scan;
pub mod requirements;
mod sdists;
mod steps;
mod uv;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use seal_sandbox::{ModeChanges, Mount};

use crate::allow_net::NetTarget;
use crate::cli::{AddArgs, InstallArgs, InstallOptions, Installer, RemoveArgs};
use crate::isolation;
use crate::project::{self, Project};
use crate::python::{self, Interpreter};
use declared::Change;
use env_swap::{swap_into_place, TempState};
use lock::{lock_from_artifacts, sha256_file, wheel_name_version};
use requirements::{Lock, LockedPackage, Requirements};
use sdists::{build_sdists, sdist_specs};
use steps::{install_step, strings};
use uv::{fetch_uv, find_uv};

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
fn allowed_hosts(index: &str, extra: &[NetTarget]) -> Result<Vec<(String, u16)>> {
    let (_, host, port) = parse_url(index)?;
    let mut v = vec![(host.clone(), port)];
    if host == "pypi.org" {
        v.push((PYPI_FILES.to_string(), 443));
    }
    v.extend(extra.iter().map(|t| (t.host.clone(), t.port)));
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

impl Dirs {
    /// The install's directories under its temporary directory `tmp` (and the project's
    /// cache), created, with real paths: the fallback grants and names them as they are.
    fn create(tmp: &Path, project: &Project) -> Result<Dirs> {
        let dirs = Dirs {
            input: tmp.join("input"),
            work: tmp.join("work"),
            wheels: tmp.join("wheels"),
            sdists: tmp.join("sdists"),
            build_deps: tmp.join("build-deps"),
            built: tmp.join("built"),
            env: tmp.join("env"),
            cache: cache_dir(project),
            scripts: tmp.join("scripts"),
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
        Ok(Dirs {
            cache: dirs
                .cache
                .canonicalize()
                .with_context(|| format!("{}", dirs.cache.display()))?,
            ..dirs
        })
    }
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
/// Wheels built from allowed sdists have no hash in the lock: `NAME==VERSION --hash=...`
/// lines pinning them to what was just built.
fn pins_of_built_wheels(built: &Path) -> Result<Vec<String>> {
    let mut pins = Vec::new();
    for f in std::fs::read_dir(built)?.flatten() {
        // Build code wrote this directory: a link must not make seal hash another file.
        if !f.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let file = f.file_name().to_string_lossy().into_owned();
        if let Some((n, v)) = wheel_name_version(&file) {
            pins.push(format!(
                "{n}=={v} --hash=sha256:{}",
                sha256_file(&f.path())?
            ));
        }
    }
    Ok(pins)
}

/// The download step: network to the index only, nothing built or imported.
fn download_wheels(ctx: &Ctx<'_>, locked: bool) -> Result<()> {
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
    })
}

/// uv (its path) or pip (None), as `--installer` asks; reported either way.
fn choose_installer(ctx: &Ctx<'_>) -> Result<Option<PathBuf>> {
    let cache = &ctx.dirs.cache;
    let uv = match ctx.args.installer.unwrap_or_default() {
        Installer::Pip => None,
        Installer::Uv => Some(match find_uv(cache) {
            Some(p) => p,
            None => fetch_uv(ctx)?,
        }),
        Installer::Auto => find_uv(cache),
    };
    eprintln!(
        "seal: installer: {}",
        uv.as_ref()
            .map(|p| format!("uv ({})", p.display()))
            .unwrap_or_else(|| "pip".into())
    );
    Ok(uv)
}

/// A recreated environment must consist of exactly the locked artifacts; `--lock` writes the
/// new lock atomically (beside, then renamed).
fn check_or_write_lock(
    lock: &Lock,
    old: Option<&Lock>,
    write: bool,
    tmp: &Path,
    project: &Project,
) -> Result<()> {
    if let Some(old) = old {
        let key = |p: &LockedPackage| (p.kind.clone(), p.file.clone(), p.sha256.clone());
        let mut a: Vec<_> = old.packages.iter().map(key).collect();
        let mut b: Vec<_> = lock.packages.iter().map(key).collect();
        a.sort();
        b.sort();
        if a != b {
            bail!("the downloaded artifacts differ from seal.lock; the previous environment is unchanged");
        }
    }
    if write {
        let tmp_lock = tmp.join("seal.lock");
        std::fs::write(&tmp_lock, lock.to_toml())?;
        std::fs::rename(&tmp_lock, project.lock_file())
            .with_context(|| format!("writing {}", project.lock_file().display()))?;
        eprintln!(
            "seal: wrote {} ({} artifacts)",
            project.lock_file().display(),
            lock.packages.len()
        );
    }
    Ok(())
}

/// `seal add`: the packages join the declared requirements, then the environment is rebuilt.
pub fn add(args: AddArgs) -> Result<i32> {
    change_declared(args.with, Change::Add(&args.packages))
}

/// `seal remove`: the packages leave the declared requirements, then the environment is rebuilt.
pub fn remove(args: RemoveArgs) -> Result<i32> {
    change_declared(args.with, Change::Remove(&args.packages))
}

/// Edits the declared requirements and runs a plain install from them under the same rules
/// (resolving anew, and writing seal.lock anew where there was one). The file keeps its old
/// contents unless the new environment was built.
fn change_declared(with: InstallOptions, change: Change<'_>) -> Result<i32> {
    let project = project::locate(with.project.as_deref())?;
    project::check_not_home(&project.root)?;
    let policy = crate::policy::load(&project)?;
    let target = declared::locate(&project, &policy.install.requirements)?;
    let old = match std::fs::read_to_string(target.path()) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.path().display())),
    };
    let new = declared::edit(&target, &change)?;
    if declared::declared_names(&target, &new)?.is_empty() {
        bail!(
            "that would leave {} with no requirement, and seal install with nothing to install;              `seal env remove` deletes the environment",
            target.describe()
        );
    }
    let had_lock = project.lock_file().is_file();
    declared::write_atomically(target.path(), &new)?;
    let args = InstallArgs {
        lock: had_lock,
        relock: true,
        with,
        ..InstallArgs::default()
    };
    let result = install(args);
    if !matches!(result, Ok(0)) {
        let restored = match &old {
            Some(text) => declared::write_atomically(target.path(), text),
            None => std::fs::remove_file(target.path()).map_err(Into::into),
        };
        if let Err(e) = restored {
            eprintln!(
                "seal: could not put back {}: {e:#}",
                target.path().display()
            );
        }
        return result;
    }
    let (verb, what) = match change {
        Change::Add(p) => ("added", p.join(", ")),
        Change::Remove(p) => ("removed", p.join(", ")),
    };
    let lock_note = if had_lock {
        "; seal.lock rewritten"
    } else {
        ""
    };
    eprintln!("seal: {verb} {what} ({}){lock_note}", target.describe());
    Ok(0)
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
        args.relock,
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
    if args.seed && !python::can_seed_pip(&python) {
        bail!(
            "--seed: {} has no ensurepip with a pip wheel to seed the environment from (Debian/Ubuntu: apt install python3-venv); drop --seed, or list pip among the packages",
            python.executable.display()
        );
    }
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
    let dirs = Dirs::create(&tmp_dir, &project)?;
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
        isolation::Degraded::requested().warn(args.quiet);
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
        lines.extend(pins_of_built_wheels(&d.built)?);
    }
    std::fs::write(d.input.join("requirements.txt"), lines.join("\n") + "\n")?;

    // 2. Wheels: network to the index only, nothing built or imported.
    eprintln!("seal: [1/2] downloading wheels (network: index only; no package code runs)");
    download_wheels(&ctx, locked)?;

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
    let uv = choose_installer(&ctx)?;
    ctx.offline("installing", ModeChanges::Restricted, &|c: &Ctx<'_>| {
        install_step(c, uv.as_deref(), locked)
    })?;

    link_project_sources(&d.env, &project, &python)?;
    let findings = persistence_scan::scan(&d.env);
    if args.lock || locked {
        let lock = lock_from_artifacts(&d.wheels, &sdists, &python, &index)?;
        check_or_write_lock(&lock, reqs.locked(), args.lock, &tmp.dir, &project)?;
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
    if args.audit {
        crate::commands::audit::run(crate::cli::AuditArgs {
            project: Some(project.root.clone()),
            json: false,
            isolation: args.isolation,
        })?;
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
        let mirror = "mirror.example:8443".parse().unwrap();
        let a = allowed_hosts(PYPI_SIMPLE, &[mirror]).unwrap();
        assert_eq!(
            a,
            vec![
                ("pypi.org".into(), 443),
                (PYPI_FILES.into(), 443),
                ("mirror.example".into(), 8443)
            ]
        );
    }
}
