//! Where a project's seal state lives: `.seal/env` (the environment), `seal.lock`.
//!
//! The environment is found from the project directory upwards, like `.venv`, and is mounted
//! at one fixed path inside every sandbox ([`ENV_MOUNT`]) so that console-script shebangs
//! written at install time stay valid at run time.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The environment's path inside every sandbox.
pub const ENV_MOUNT: &str = "/seal/env";
pub const STATE_DIR: &str = ".seal";
pub const ENV_DIR: &str = "env";
pub const LOCK_FILE: &str = "seal.lock";

pub struct Project {
    pub root: PathBuf,
}

impl Project {
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }
    pub fn env_dir(&self) -> PathBuf {
        self.state_dir().join(ENV_DIR)
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }
    pub fn has_env(&self) -> bool {
        self.env_dir().join("pyvenv.cfg").is_file()
    }
}

/// The user's home directory, resolved, when HOME names one.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .and_then(|h| PathBuf::from(h).canonicalize().ok())
}

/// Refuse `/` and any directory that contains the user's home: exposing it as "the project"
/// would hand over far more than a project.
pub fn check_not_home(dir: &Path) -> Result<()> {
    if dir == Path::new("/") {
        bail!(
            "refusing to use / as the project directory: cd into a project or pass --project DIR"
        );
    }
    if let Some(home) = home_dir() {
        if home.starts_with(dir) {
            bail!(
                "refusing to expose {} as the project: it is (or contains) your home directory; \
                 cd into a project directory or pass --project DIR",
                dir.display()
            );
        }
    }
    Ok(())
}

/// The project for `dir` (default: the current directory): the nearest ancestor holding
/// `.seal/env`, `seal.lock` or `pyproject.toml`, else `dir` itself.
pub fn locate(dir: Option<&Path>) -> Result<Project> {
    let start = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("current directory")?,
    };
    let start = start
        .canonicalize()
        .with_context(|| format!("project directory {}", start.display()))?;
    let home = home_dir();
    let mut cur = Some(start.as_path());
    while let Some(d) = cur {
        // Never climb into the home directory itself or above it.
        if home.as_deref().is_some_and(|h| h.starts_with(d)) || d == Path::new("/") {
            break;
        }
        let p = Project {
            root: d.to_path_buf(),
        };
        if p.has_env() || p.lock_file().is_file() || d.join("pyproject.toml").is_file() {
            return Ok(p);
        }
        cur = d.parent();
    }
    Ok(Project { root: start })
}

/// Where seal records the interpreter an environment was built with: next to the
/// environment, never inside it. Everything inside `env/` was written by package installers
/// and must never decide what seal executes on the host (a wheel can ship a `pyvenv.cfg`
/// whose `home` names a script of its own).
const INTERPRETER_RECORD: &str = "interpreter";

/// Record (atomically) the base interpreter of the environment just swapped into place.
pub fn record_base_interpreter(project: &Project, executable: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = project.state_dir();
    let dst = dir.join(INTERPRETER_RECORD);
    let text = executable
        .to_str()
        .context("the interpreter's path is not valid UTF-8")?;
    // A random temporary name: concurrent installs (another PID namespace may use this PID)
    // never write the same file.
    tempfile::Builder::new()
        .prefix(&format!(".{INTERPRETER_RECORD}."))
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(&dir)
        .and_then(|mut f| {
            f.write_all(format!("{text}\n").as_bytes())?;
            f.persist(&dst).map(drop).map_err(|e| e.error)
        })
        .with_context(|| format!("writing {}", dst.display()))
}

/// The base interpreter seal recorded when it built the environment `env`. Environments
/// without a record (built by an older seal) get none: the caller asks for a reinstall rather
/// than trusting the environment's own `pyvenv.cfg`.
pub fn env_base_interpreter(env: &Path) -> Option<PathBuf> {
    let record = env.parent()?.join(INTERPRETER_RECORD);
    let text = std::fs::read_to_string(record).ok()?;
    let exe = PathBuf::from(text.trim_end_matches('\n'));
    // Host-written, but checked anyway: an absolute path outside the environment.
    (exe.is_absolute() && !exe.starts_with(env)).then_some(exe)
}
