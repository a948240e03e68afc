//! The run phase's view of the world, as a sandbox spec: the system files an interpreter
//! needs (read-only), the project (read-only), inputs (read-only), outputs (writable), a private
//! HOME and /tmp, and nothing else of the host.

pub mod fallback_scratch;
pub mod gpu;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use seal_sandbox::{Access, LandlockMode, Limits, Mount, Network, Spec};

use crate::project::{self, ENV_MOUNT};
use crate::python::Interpreter;

pub const SANDBOX_USER: &str = "sandbox";
pub const SANDBOX_UID: u32 = 1000;
pub const SANDBOX_GID: u32 = 1000;
pub const SANDBOX_HOME: &str = "/home/sandbox";
pub const SANDBOX_HOSTNAME: &str = "sandbox";
/// Generated links `python`, `python3`, `python3.X` to the chosen interpreter.
pub const SEAL_BIN: &str = "/seal/bin";

const MIB: u64 = 1 << 20;

/// Host environment variables that describe the user's terminal and locale, never secrets.
const ENV_ALLOWLIST: &[&str] = &["LANG", "LANGUAGE", "TERM", "COLORTERM", "TZ", "NO_COLOR"];

/// System configuration from /etc that programs need. Everything else of /etc (passwd,
/// shadow, pip.conf, ssh config, ...) stays invisible. Small files are copied (cheaper than a
/// mount); directories are bound read-only.
const ETC_FILES: &[&str] = &[
    "ld.so.cache",
    "localtime",
    "protocols",
    "services",
    "mime.types",
    "gai.conf",
    // Which system this is: platform.freedesktop_os_release(), pip's vendored `distro` (for
    // its User-Agent), which expects content or ENOENT; in the fallback, where the host's
    // files are there, anything else would be EACCES and stop pip.
    "os-release",
    "debian_version",
    "armbian-release",
];
/// The CPU numbering of the host (copies, read once): glibc's get_nprocs, hwloc and OpenMP
/// runtimes read them to size thread pools. Nothing else of /sys is visible: no device, no
/// cgroup, no frequency or power reading.
const CPU_FILES: &[&str] = &[
    "/sys/devices/system/cpu/online",
    "/sys/devices/system/cpu/possible",
    "/sys/devices/system/cpu/present",
];
const ETC_DIRS: &[&str] = &["ssl", "pki", "alternatives"];

#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    pub command: Vec<OsString>,
    pub project: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// The project's environment (host path), mounted read-only at /seal/env.
    pub env_dir: Option<PathBuf>,
    pub input_copies: Vec<PathBuf>,
    pub outputs: Vec<PathBuf>,
    pub live_outputs: Vec<PathBuf>,
    pub out_quota: u64,
    pub out_max_files: u64,
    pub memory: Option<u64>,
    /// --memory was given: worth a cgroup for a whole-sandbox limit.
    pub memory_explicit: bool,
    /// --pids (or the policy's pids) was given: its enforcement is worth a warning when it
    /// fails; the default limit's shows in -v.
    pub pids_explicit: bool,
    pub cpus: Option<f64>,
    pub disk: u64,
    pub shares: Vec<PathBuf>,
    pub set_env: Vec<(String, String)>,
    pub pass_env: Vec<String>,
    pub timeout: Option<Duration>,
    pub pids: Option<u64>,
    pub landlock_required: bool,
    /// Bound read-write (Jupyter's notebook directory) except for [`PROTECTED`] names.
    pub notebook_dir: Option<PathBuf>,
    /// Hosts reachable through seal's proxy (`--allow-net`); empty: no network at all.
    pub allow_net: Vec<crate::allow_net::NetTarget>,
    /// Host character devices put into /dev (`--device`).
    pub devices: Vec<PathBuf>,
    /// `--gpu`: the GPU devices, driver libraries and /sys entries found on this host.
    pub gpu: bool,
}

/// Names in a writable notebook directory that stay read-only: seal's own environment and
/// policy (a run must not widen the next one), and files that tools on the host execute or
/// obey (git hooks and config, direnv, editors' task files, build scripts). Names that do not
/// exist yet cannot be covered without creating them on the host; after the run seal warns
/// about every one created or changed at any depth (see notebook_review.rs).
pub const PROTECTED: &[&str] = &[
    ".seal",
    "seal.toml",
    "seal.lock",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    ".git",
    ".gitmodules",
    ".envrc",
    ".env",
    ".vscode",
    ".idea",
    "Makefile",
    ".pre-commit-config.yaml",
    "tox.ini",
    "noxfile.py",
];

/// The writable notebook directory, if any, as a real path.
pub fn notebook_dir(req: &RunRequest) -> Result<Option<PathBuf>> {
    req.notebook_dir
        .as_deref()
        .map(|d| output_dir(d, "--notebook-dir"))
        .transpose()
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    abs.canonicalize()
        .with_context(|| format!("{}", p.display()))
}

/// Create an output directory if needed and return its real path. Refuses the project's own
/// ancestors and the home directory, which would hand over more than an output.
fn output_dir(p: &Path, flag: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(p)
        .with_context(|| format!("{flag} {}: cannot create it", p.display()))?;
    let path = absolute(p)?;
    if !path.is_dir() {
        bail!("{flag} {}: not a directory", p.display());
    }
    if path == Path::new("/") || project::home_dir().is_some_and(|h| h.starts_with(&path)) {
        bail!(
            "{flag} {}: refusing to use / or a directory containing your home as an output",
            p.display()
        );
    }
    Ok(path)
}

fn system_mounts(python: &Interpreter) -> Vec<Mount> {
    let mut m = vec![Mount::Bind {
        src: "/usr".into(),
        dst: "/usr".into(),
        access: Access::ReadOnly,
    }];
    // Merged-/usr hosts have /bin -> usr/bin etc.; older layouts have real directories.
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(top);
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&host) {
                    m.push(Mount::Symlink { target, dst: host });
                }
            }
            Ok(meta) if meta.is_dir() => m.push(Mount::Bind {
                src: host.clone(),
                dst: host,
                access: Access::ReadOnly,
            }),
            _ => {}
        }
    }
    for f in ETC_FILES {
        let p = Path::new("/etc").join(f);
        m.push(Mount::CopyIfExists {
            src: p.clone(),
            dst: p,
        });
    }
    for f in CPU_FILES {
        m.push(Mount::CopyIfExists {
            src: f.into(),
            dst: f.into(),
        });
    }
    for d in ETC_DIRS {
        let p = Path::new("/etc").join(d);
        m.push(Mount::BindIfExists {
            src: p.clone(),
            dst: p,
        });
    }
    // Debian's interpreter imports a sitecustomize that lives in /etc/pythonX.Y.
    let etc_python = PathBuf::from(format!("/etc/python{}", python.version));
    m.push(Mount::BindIfExists {
        src: etc_python.clone(),
        dst: etc_python,
    });
    if !python.prefix.starts_with("/usr") {
        m.push(Mount::Bind {
            src: python.prefix.clone(),
            dst: python.prefix.clone(),
            access: Access::ReadOnly,
        });
    }
    for name in [
        String::from("python"),
        "python3".into(),
        format!("python{}", python.version),
    ] {
        m.push(Mount::Symlink {
            target: python.executable.clone(),
            dst: Path::new(SEAL_BIN).join(name),
        });
    }
    m
}

fn generated_etc() -> Vec<Mount> {
    let file = |name: &str, contents: String| Mount::File {
        dst: Path::new("/etc").join(name),
        contents: contents.into_bytes(),
        mode: 0o644,
    };
    vec![
        file(
            "passwd",
            format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\n\
                 {SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_GID}:seal sandbox:{SANDBOX_HOME}:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            ),
        ),
        file(
            "group",
            format!("root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_GID}:\nnogroup:x:65534:\n"),
        ),
        file(
            "hosts",
            format!("127.0.0.1\tlocalhost {SANDBOX_HOSTNAME}\n::1\tlocalhost ip6-localhost\n"),
        ),
        file("hostname", format!("{SANDBOX_HOSTNAME}\n")),
        file(
            "nsswitch.conf",
            "passwd: files\ngroup: files\nhosts: files\n".into(),
        ),
    ]
}

/// Every sandbox's PATH, in one order: the environment's programs (`env_bin`), seal's own
/// interpreter links (`seal_bin`: the namespace mode's /seal/bin), the base interpreter's
/// directory when it is not the system's, then the system's directories.
pub(crate) fn search_path(python: &Interpreter, env_bin: Option<&Path>, seal_bin: bool) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(b) = env_bin {
        dirs.push(b.display().to_string());
    }
    if seal_bin {
        dirs.push(SEAL_BIN.to_string());
    }
    if !python.prefix.starts_with("/usr") {
        dirs.push(python.prefix.join("bin").display().to_string());
    }
    dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    dirs.join(":")
}

/// The environment every sandbox starts from: a PATH of the sandbox's own directories, the
/// private HOME and TMPDIR, and the host's locale and terminal settings (never secrets).
pub(crate) fn base_environment(python: &Interpreter, with_env: bool) -> Vec<(OsString, OsString)> {
    let env_bin = Path::new(ENV_MOUNT).join("bin");
    let path = search_path(python, with_env.then_some(env_bin.as_path()), true);
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path.into()),
        ("HOME".into(), SANDBOX_HOME.into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("USER".into(), SANDBOX_USER.into()),
        ("LOGNAME".into(), SANDBOX_USER.into()),
    ];
    for (k, v) in std::env::vars_os() {
        let ks = k.to_string_lossy();
        if ENV_ALLOWLIST.contains(&ks.as_ref()) || ks.starts_with("LC_") {
            env.push((k, v));
        }
    }
    env
}

fn environment(python: &Interpreter, req: &RunRequest) -> Result<Vec<(OsString, OsString)>> {
    let mut env = base_environment(python, req.env_dir.is_some());
    let mut set = |k: OsString, v: OsString| {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    };
    // Before the user's own variables, so an explicit --env NO_PROXY=... wins.
    if !req.allow_net.is_empty() {
        for (k, v) in crate::allow_net::environment(&req.allow_net) {
            set(k, v);
        }
    }
    for name in &req.pass_env {
        let v = std::env::var_os(name)
            .with_context(|| format!("--pass-env {name}: {name} is not set in your environment"))?;
        set(name.into(), v);
    }
    for (k, v) in &req.set_env {
        set(k.into(), v.into());
    }
    Ok(env)
}

/// Host Unix sockets listening at paths inside the directories the sandbox sees. A read-only
/// bind does not stop connect(2) on a socket file, and Landlock cannot restrict it on this
/// kernel generation, so each one is covered with an unusable node: an ssh-agent, IDE or database socket kept in a project stays unreachable.
/// Found from the host's table of bound sockets (/proc/net/unix), not by walking the tree;
/// sockets bound after the sandbox starts are not covered (see the README).
fn mask_host_sockets(mounts: &[Mount]) -> Vec<Mount> {
    use std::os::unix::fs::FileTypeExt;
    let exposed: Vec<&Path> = mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Bind { src, .. } if src != Path::new("/usr") => Some(src.as_path()),
            _ => None,
        })
        .collect();
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for line in table.lines().skip(1) {
        let Some(path) = line
            .split_whitespace()
            .nth(7)
            .filter(|p| p.starts_with('/'))
        else {
            continue;
        };
        let path = Path::new(path);
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let is_socket = std::fs::symlink_metadata(&real).is_ok_and(|m| m.file_type().is_socket());
        if is_socket && exposed.iter().any(|d| real.starts_with(d)) && !out.contains(&real) {
            out.push(real);
        }
    }
    out.into_iter().map(|dst| Mount::Mask { dst }).collect()
}

/// What every sandbox sees: the system files the interpreter needs, generated /etc, its own
/// /proc and /dev, private /tmp and HOME of `disk` bytes each.
pub(crate) fn base_mounts(python: &Interpreter, disk: u64) -> Vec<Mount> {
    let mut mounts = system_mounts(python);
    mounts.extend(generated_etc());
    mounts.push(Mount::Proc {
        dst: "/proc".into(),
    });
    mounts.push(Mount::Dev {
        dst: "/dev".into(),
        shm_size_bytes: disk,
        devices: vec![],
    });
    mounts.push(Mount::Tmpfs {
        dst: "/tmp".into(),
        mode: 0o1777,
        size_bytes: disk,
    });
    mounts.push(Mount::Tmpfs {
        dst: SANDBOX_HOME.into(),
        mode: 0o700,
        size_bytes: disk,
    });
    mounts
}

/// A spec with seal's fixed identity and defaults around the given parts.
pub(crate) fn spec(
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    mounts: Vec<Mount>,
    limits: Limits,
    landlock: LandlockMode,
) -> Spec {
    Spec {
        argv,
        env,
        cwd,
        hostname: SANDBOX_HOSTNAME.into(),
        uid: SANDBOX_UID,
        gid: SANDBOX_GID,
        root_size_bytes: 4 * MIB,
        mounts,
        network: Network::LoopbackOnly,
        handoff: Default::default(),
        limits,
        landlock,
    }
}

fn limits(req: &RunRequest) -> Limits {
    Limits {
        pids: req.pids,
        timeout: req.timeout,
        memory_bytes: req.memory,
        memory_cgroup: req.memory_explicit,
        cpus: req.cpus,
        ..Limits::default()
    }
}

/// What the user gave the run, in both engines: inputs (read-only), input copies, staged and
/// live outputs, shares. Each host path may be exposed once: as an input, a copy, an output or
/// a share.
fn user_mounts(req: &RunRequest) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    let mut seen: Vec<(PathBuf, &'static str)> = Vec::new();
    let mut claim = |path: &Path, flag: &'static str| -> Result<()> {
        if let Some((_, other)) = seen.iter().find(|(p, _)| p == path) {
            bail!(
                "{} is given as both {other} and {flag}; choose one",
                path.display()
            );
        }
        seen.push((path.to_path_buf(), flag));
        Ok(())
    };
    let bind = |path: PathBuf, access: Access| Mount::Bind {
        src: path.clone(),
        dst: path,
        access,
    };
    for p in &req.inputs {
        let path = absolute(p).with_context(|| format!("--in {}", p.display()))?;
        claim(&path, "--in")?;
        mounts.push(bind(path, Access::ReadOnly));
    }
    for p in &req.input_copies {
        let path = absolute(p).with_context(|| format!("--in-copy {}", p.display()))?;
        if !path.is_dir() {
            bail!(
                "--in-copy {}: not a directory (give a single file with --in, read-only)",
                p.display()
            );
        }
        claim(&path, "--in-copy")?;
        mounts.push(Mount::CopyTree {
            src: path.clone(),
            dst: path,
            size_bytes: req.disk,
        });
    }
    for p in &req.outputs {
        let path = output_dir(p, "--out")?;
        claim(&path, "--out")?;
        mounts.push(Mount::Staging {
            dst: path,
            size_bytes: req.out_quota,
            max_files: req.out_max_files,
        });
    }
    for p in &req.live_outputs {
        let path = output_dir(p, "--out-live")?;
        claim(&path, "--out-live")?;
        mounts.push(bind(path, Access::ReadWriteNoSymlinks));
    }
    for p in &req.shares {
        let path = absolute(p).with_context(|| format!("--share {}", p.display()))?;
        claim(&path, "--share")?;
        mounts.push(bind(path, Access::ReadWrite));
    }
    Ok(mounts)
}

/// The host devices a run asked for (`--device`, and `--gpu`'s), with `--gpu`'s other mounts.
fn hardware(req: &RunRequest) -> Result<(Vec<PathBuf>, Vec<Mount>)> {
    let mut devices = Vec::new();
    for p in &req.devices {
        devices.push(check_device(p)?);
    }
    let mut mounts = Vec::new();
    if req.gpu {
        let view = gpu::discover(Path::new("/"), &gpu::ldconfig_listing())?;
        devices.extend(view.devices);
        mounts.extend(view.mounts);
    }
    devices.sort();
    devices.dedup();
    Ok((devices, mounts))
}

/// A `--device` path: a character device under /dev.
fn check_device(p: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    seal_sandbox::device_under_dev(p).map_err(|e| anyhow::anyhow!("--device {e}"))?;
    let Ok(meta) = std::fs::metadata(p) else {
        bail!("--device {}: no such device on this machine", p.display());
    };
    if !meta.file_type().is_char_device() {
        bail!(
            "--device {}: not a character device (block devices and files are never given to a sandbox; use --in or --share for files)",
            p.display()
        );
    }
    Ok(p.to_path_buf())
}

/// Puts `devices` into the sandbox's /dev.
fn attach_devices(mounts: &mut [Mount], devices: Vec<PathBuf>) {
    for m in mounts.iter_mut() {
        if let Mount::Dev { devices: d, .. } = m {
            *d = devices;
            return;
        }
    }
}

/// Translate a `seal run` request into the sandbox spec.
pub fn build(python: &Interpreter, req: &RunRequest) -> Result<Spec> {
    let project = absolute(&req.project).context("project directory")?;
    project::check_not_home(&project)?;

    let mut mounts = base_mounts(python, req.disk);
    if let Some(env) = &req.env_dir {
        mounts.push(Mount::Bind {
            src: env.clone(),
            dst: ENV_MOUNT.into(),
            access: Access::ReadOnly,
        });
    }
    let notebooks = notebook_dir(req)?;
    if notebooks.as_ref() != Some(&project) {
        mounts.push(Mount::Bind {
            src: project.clone(),
            dst: project.clone(),
            access: Access::ReadOnly,
        });
    }
    if let Some(dir) = &notebooks {
        mounts.push(Mount::Bind {
            src: dir.clone(),
            dst: dir.clone(),
            access: Access::ReadWrite,
        });
        for name in PROTECTED {
            let p = dir.join(name);
            // Not followed: a link planted earlier must not pull another file in.
            if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.file_type().is_symlink()) {
                mounts.push(Mount::Bind {
                    src: p.clone(),
                    dst: p,
                    access: Access::ReadOnly,
                });
            }
        }
    }

    mounts.extend(user_mounts(req)?);
    let (devices, gpu_mounts) = hardware(req)?;
    attach_devices(&mut mounts, devices);
    mounts.extend(gpu_mounts);
    mounts.extend(mask_host_sockets(&mounts));

    Ok(spec(
        req.command.clone(),
        environment(python, req)?,
        project,
        mounts,
        limits(req),
        if req.landlock_required {
            LandlockMode::Required
        } else {
            LandlockMode::BestEffort
        },
    ))
}

/// The run phase without namespaces (the Landlock + seccomp fallback): the same view where
/// the host allows it, expressed as grants on host paths. What needs a file system of its own
/// is refused with a one-line reason instead of being weakened: staged outputs, input copies
/// and published ports. HOME and TMPDIR are private directories under `scratch`.
pub fn build_fallback(python: &Interpreter, req: &RunRequest, scratch: &Path) -> Result<Spec> {
    // Without a mount namespace a path resolves to the host's file and nothing else: Landlock
    // can allow or deny it but cannot redirect it to a private copy, so a staged output or an
    // input copy at the directory's own path cannot be had. Refused with what to run instead.
    let why = "user namespaces are unavailable here, and only a mount namespace can show the \
               program a private directory at that path";
    if let Some(p) = req.outputs.first() {
        bail!(
            "staged --out {p} needs a mount namespace ({why}); make user namespaces work (`seal doctor` \
             shows how) or use --out-live {p} (the program writes there directly, limited by Landlock, \
             with no copy-back checks)",
            p = p.display()
        );
    }
    if let Some(p) = req.input_copies.first() {
        bail!(
            "--in-copy {p} needs a mount namespace ({why}); make user namespaces work (`seal doctor` \
             shows how) or use --in {p} (read-only) and let the program copy what it changes into \
             its TMPDIR",
            p = p.display()
        );
    }
    if req.notebook_dir.is_some() {
        bail!("seal jupyter needs a network namespace of its own, and user namespaces are unavailable here (see `seal doctor`)");
    }
    let project = absolute(&req.project).context("project directory")?;
    project::check_not_home(&project)?;
    let home = scratch.join("home");
    let tmp = scratch.join("tmp");
    // Private to the user, as the namespace mode's tmpfs HOME and /tmp are: the scratch
    // directory lives in the host's /tmp, and directories are otherwise created with the
    // umask's mode (0755 under the usual 022), which lets every local user read what the
    // program writes there.
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{}", scratch.display()))?;
        for d in [&home, &tmp] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(d)
                .with_context(|| format!("{}", d.display()))?;
        }
    }
    // The interpreter links of /seal/bin and the generated /etc files need a root of their own.
    let mut mounts: Vec<Mount> = system_mounts(python)
        .into_iter()
        .filter(|m| !m.dst().starts_with(SEAL_BIN))
        .collect();
    mounts.push(Mount::Proc {
        dst: "/proc".into(),
    });
    mounts.push(Mount::Dev {
        dst: "/dev".into(),
        shm_size_bytes: req.disk,
        devices: vec![],
    });
    for d in [&home, &tmp] {
        mounts.push(Mount::Tmpfs {
            dst: d.clone(),
            mode: 0o700,
            size_bytes: req.disk,
        });
    }
    let bind = |path: PathBuf, access: Access| Mount::Bind {
        src: path.clone(),
        dst: path,
        access,
    };
    mounts.push(bind(project.clone(), Access::ReadOnly));
    if let Some(env) = &req.env_dir {
        mounts.push(bind(absolute(env)?, Access::ReadOnly));
    }
    // Staged outputs and input copies were refused above.
    mounts.extend(user_mounts(req)?);
    let (devices, gpu_mounts) = hardware(req)?;
    attach_devices(&mut mounts, devices);
    mounts.extend(gpu_mounts);
    // The host's /proc is not granted here; the NVIDIA driver's own entries are read by CUDA.
    let nvidia_proc = Path::new("/proc/driver/nvidia");
    if req.gpu && nvidia_proc.exists() {
        mounts.push(bind(nvidia_proc.into(), Access::ReadOnly));
    }

    let mut env = environment(python, req)?;
    let env_bin = match &req.env_dir {
        Some(e) => Some(absolute(e)?.join("bin")),
        None => None,
    };
    let path = search_path(python, env_bin.as_deref(), false);
    for (k, v) in [
        ("PATH", path),
        ("HOME", home.display().to_string()),
        ("TMPDIR", tmp.display().to_string()),
    ] {
        // A --env or --pass-env of the same name still wins.
        let user_set =
            req.set_env.iter().any(|(n, _)| n == k) || req.pass_env.iter().any(|n| n == k);
        if !user_set {
            env.retain(|(n, _)| n != k);
            env.push((k.into(), v.into()));
        }
    }
    let command = fallback_command(&req.command, req.env_dir.as_deref())?;
    Ok(spec(
        command,
        env,
        project,
        mounts,
        limits(req),
        // The engine refuses to run without Landlock at all; what the kernel's ABI lacks is
        // listed as not enforced (older kernels such as Ubuntu 24.04's must still work).
        if req.landlock_required {
            LandlockMode::Required
        } else {
            LandlockMode::BestEffort
        },
    ))
}

/// Programs of the environment are named by their path inside the namespace sandbox
/// (/seal/env/bin/...); without one they run from the environment's host path, and console
/// scripts through its interpreter, since their `#!` line names the inside path.
fn fallback_command(command: &[OsString], env_dir: Option<&Path>) -> Result<Vec<OsString>> {
    let Some(first) = command.first() else {
        return Ok(Vec::new());
    };
    let inside_bin = Path::new(ENV_MOUNT).join("bin");
    let Ok(name) = Path::new(first).strip_prefix(&inside_bin) else {
        return Ok(command.to_vec());
    };
    let env = absolute(env_dir.context("no environment for a program of /seal/env")?)?;
    let host = env.join("bin").join(name);
    let mut out: Vec<OsString> = Vec::new();
    if !name.to_string_lossy().starts_with("python") {
        out.push(env.join("bin").join("python").into_os_string());
    }
    out.push(host.into_os_string());
    out.extend(command.iter().skip(1).cloned());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(prefix: &str) -> Interpreter {
        Interpreter {
            executable: Path::new(prefix).join("bin/python3.12"),
            prefix: prefix.into(),
            version: "3.12".into(),
        }
    }

    #[test]
    fn one_path_order_for_every_sandbox() {
        let system = interpreter("/usr");
        let own = interpreter("/opt/py");
        assert_eq!(
            search_path(&system, Some(Path::new("/seal/env/bin")), true),
            format!("/seal/env/bin:{SEAL_BIN}:/usr/local/bin:/usr/bin:/bin")
        );
        assert_eq!(
            search_path(&own, Some(Path::new("/p/.seal/env/bin")), false),
            "/p/.seal/env/bin:/opt/py/bin:/usr/local/bin:/usr/bin:/bin"
        );
        assert_eq!(
            search_path(&own, None, false),
            "/opt/py/bin:/usr/local/bin:/usr/bin:/bin"
        );
    }

    #[test]
    fn a_host_path_is_exposed_once_in_both_engines() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let req = RunRequest {
            command: vec!["true".into()],
            project: dir.path().into(),
            inputs: vec![data.clone()],
            env_dir: None,
            input_copies: vec![],
            outputs: vec![],
            live_outputs: vec![],
            out_quota: 1,
            out_max_files: 1,
            memory: None,
            memory_explicit: false,
            pids_explicit: false,
            cpus: None,
            disk: 1,
            shares: vec![data],
            set_env: vec![],
            pass_env: vec![],
            timeout: None,
            pids: None,
            landlock_required: false,
            notebook_dir: None,
            allow_net: vec![],
            devices: vec![],
            gpu: false,
        };
        let e = user_mounts(&req).unwrap_err().to_string();
        assert!(e.contains("given as both --in and --share"), "{e}");
    }
}
