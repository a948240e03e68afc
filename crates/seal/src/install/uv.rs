//! uv, when the installer is uv: found in seal's cache or fetched (as a hash-checked wheel,
//! through the same index-only proxy) and unpacked without running it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use seal_sandbox::ModeChanges;

use super::steps::strings;
use super::{Ctx, WORK_MOUNT};

pub(super) const TOOLS_MOUNT: &str = "/seal/tools";

pub(super) fn is_elf(p: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head == b"\x7fELF")
}

pub(super) fn uv_cache(cache: &Path) -> PathBuf {
    cache.parent().unwrap_or(cache).join("uv").join("uv")
}

/// uv on PATH (a real binary, not a shim) or in seal's cache.
pub(super) fn find_uv(cache: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("uv"))
        .filter_map(|p| p.canonicalize().ok())
        .chain(std::iter::once(uv_cache(cache)))
        .find(|p| p.is_file() && is_elf(p))
}

const UNPACK_UV: &str = include_str!("unpack_uv.py");

/// Fetch uv's wheel from the index through the sandboxed path (hash checked by pip against
/// the index) and unpack its binary into seal's cache, offline.
pub(super) fn fetch_uv(ctx: &Ctx<'_>) -> Result<PathBuf> {
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
    ctx.offline("unpacking uv", ModeChanges::Restricted, &|c: &Ctx<'_>| {
        (
            vec![
                c.py(),
                "-I".into(),
                "-S".into(),
                "-c".into(),
                UNPACK_UV.into(),
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
