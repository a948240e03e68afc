//! `seal env`: what the project's environment holds, and `seal env remove`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::cli::{EnvAction, EnvArgs};
use crate::install::persistence_scan;
use crate::project;

fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

/// Installed distributions: (name, version) from `*.dist-info` directories.
fn packages(env: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(pys) = std::fs::read_dir(env.join(lib)) else {
            continue;
        };
        for py in pys.flatten() {
            let Ok(entries) = std::fs::read_dir(py.path().join("site-packages")) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".dist-info") {
                    if let Some((n, v)) = stem.rsplit_once('-') {
                        out.push((n.to_string(), v.to_string()));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn run(args: EnvArgs) -> Result<i32> {
    let project = project::locate(args.project.as_deref())?;
    let env = project.env_dir();
    if let Some(EnvAction::Remove) = args.action {
        if !project.has_env() {
            bail!("no environment at {}", env.display());
        }
        std::fs::remove_dir_all(&env).with_context(|| format!("removing {}", env.display()))?;
        eprintln!("seal: removed {}", env.display());
        return Ok(0);
    }
    if !project.has_env() {
        bail!(
            "no environment for {} (looked for {}); create one with `seal install`",
            project.root.display(),
            env.display()
        );
    }
    let base = project::env_base_interpreter(&env);
    let pkgs = packages(&env);
    let size = dir_size(&env);
    let lock = std::fs::read(project.lock_file())
        .ok()
        .map(|b| format!("{:x}", Sha256::digest(&b)));
    let findings = persistence_scan::scan(&env);
    if args.json {
        let v = serde_json::json!({
            "environment": env,
            "python": base,
            "packages": pkgs.iter().map(|(n, v)| serde_json::json!({"name": n, "version": v})).collect::<Vec<_>>(),
            "size_bytes": size,
            "lock_sha256": lock,
            "findings": findings,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!("environment  {}", env.display());
    println!(
        "python       {}",
        base.map(|b| b.display().to_string())
            .unwrap_or_else(|| "unknown".into())
    );
    println!("size         {:.1} MiB", size as f64 / (1 << 20) as f64);
    println!(
        "lock         {}",
        lock.map(|d| format!("seal.lock sha256 {d}"))
            .unwrap_or_else(|| "none (seal install --lock writes one)".into())
    );
    println!("packages     {}", pkgs.len());
    for (n, v) in &pkgs {
        println!("  {n} {v}");
    }
    if findings.is_empty() {
        println!(
            "findings     none (no .pth code, no startup hooks, nothing outside site-packages/bin)"
        );
    } else {
        println!("findings     {}", findings.len());
        for f in &findings {
            println!("  {} {}: {}", f.kind, f.path, f.detail);
        }
    }
    Ok(0)
}
