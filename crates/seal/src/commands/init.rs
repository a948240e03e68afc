//! `seal init`: the starter policy.

use crate::{policy, project};

/// `seal init`: write the starter policy, never over an existing one.
pub fn run(project: Option<std::path::PathBuf>) -> anyhow::Result<i32> {
    use std::io::Write;
    let dir = project.unwrap_or_else(|| ".".into());
    project::check_not_home(&dir.canonicalize()?)?;
    let path = dir.join("seal.toml");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (seal init never replaces a policy)",
                path.display()
            )
        })?;
    f.write_all(policy::STARTER.as_bytes())?;
    eprintln!("seal: wrote {}", path.display());
    Ok(0)
}
