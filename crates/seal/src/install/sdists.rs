//! Source distributions the user allowed (`--allow-sdist`): fetched with their build
//! requirements, then built offline in a sandbox of their own.

use anyhow::{bail, Context, Result};
use seal_sandbox::ModeChanges;

use super::lock::normalize;
use super::{fallback, Ctx, BUILD_DEPS_MOUNT, BUILT_MOUNT, INPUT_MOUNT, SDISTS_MOUNT, WORK_MOUNT};

#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct SdistInfo {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) file: String,
    pub(super) sha256: String,
    #[serde(default)]
    pub(super) build_requires: Vec<String>,
}

/// A requirement that can only be a name, extras, version specifiers and a marker: printable
/// ASCII on one line, no option, no URL or direct reference.
pub(super) fn is_plain_requirement(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 200
        && r.chars().all(|c| (' '..='~').contains(&c))
        && !r.trim_start().starts_with('-')
        && !r.contains('@')
        && !r.contains("://")
}

/// Fetcher specs for `--allow-sdist NAME`: pinned to the version the requirements pin, if any.
pub(super) fn sdist_specs(names: &[String], lines: &[String]) -> Vec<String> {
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

/// Source archives: fetch them (no code runs), then build wheels with no network.
pub(super) fn build_sdists(ctx: &Ctx<'_>, specs: &[String]) -> Result<Vec<SdistInfo>> {
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

pub(super) const FETCH_SDISTS: &str = include_str!("fetch_sdists.py");

#[cfg(test)]
mod tests {
    use super::*;

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
}
