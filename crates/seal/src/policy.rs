//! The project's policy file: `seal.toml` at the project root, or `[tool.seal]` in
//! pyproject.toml (one schema). Command-line flags override it. Unknown keys and bad values are
//! errors naming the file, line and column.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::project::Project;
use crate::publish::Publish;
use crate::values::{Size, Timeout};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Base interpreter for run and install.
    pub python: Option<PathBuf>,
    #[serde(default)]
    pub install: InstallPolicy,
    #[serde(default)]
    pub run: RunPolicy,
    #[serde(default)]
    pub limits: LimitsPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallPolicy {
    #[serde(default)]
    pub requirements: Vec<PathBuf>,
    pub index_url: Option<String>,
    #[serde(default)]
    pub extra_index_urls: Vec<String>,
    #[serde(default)]
    pub allow_hosts: Vec<crate::allow_net::NetTarget>,
    #[serde(default)]
    pub allow_sdist: Vec<String>,
    pub installer: Option<crate::cli::Installer>,
    pub timeout: Option<Timeout>,
    /// Put pip into the environment (`--seed`).
    pub seed: Option<bool>,
    /// Audit the environment after each install (`--audit`).
    pub audit: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPolicy {
    #[serde(rename = "in", default)]
    pub inputs: Vec<PathBuf>,
    #[serde(default)]
    pub in_copy: Vec<PathBuf>,
    #[serde(default)]
    pub out: Vec<PathBuf>,
    #[serde(default)]
    pub out_live: Vec<PathBuf>,
    #[serde(default)]
    pub share: Vec<PathBuf>,
    #[serde(default)]
    pub pass_env: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub out_quota: Option<Size>,
    pub out_max_files: Option<u64>,
    pub out_links: Option<crate::cli::OutLinks>,
    /// "[HOSTPORT:]PORT" entries, like --publish.
    #[serde(default)]
    pub publish: Vec<Publish>,
    pub publish_addr: Option<IpAddr>,
    /// "HOST[:PORT]" entries, like --allow-net.
    #[serde(default)]
    pub allow_net: Vec<crate::allow_net::NetTarget>,
    pub gpu: Option<bool>,
    #[serde(default)]
    pub devices: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsPolicy {
    pub memory: Option<Size>,
    pub cpus: Option<f64>,
    pub pids: Option<u64>,
    pub timeout: Option<Timeout>,
    pub disk: Option<Size>,
}

/// "file:line:column: message" from a TOML error, on one line; "file:line:column: table.key:
/// message" when the error is about a value, so that the key is named even where the value's
/// parser does not know it.
fn located(file: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            match key_of_value_at(before) {
                Some(key) => anyhow::anyhow!("{}:{line}:{col}: {key}: {msg}", file.display()),
                None => anyhow::anyhow!("{}:{line}:{col}: {msg}", file.display()),
            }
        }
        None => anyhow::anyhow!("{}: {msg}", file.display()),
    }
}

/// The dotted key whose value starts where `before` ends ("limits.memory"), if the error points
/// at a value of a `key = value` line; None when it points at a key or a table header.
fn key_of_value_at(before: &str) -> Option<String> {
    let (earlier, line) = before.rsplit_once('\n').unwrap_or(("", before));
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = earlier.lines().rev().map(str::trim).find_map(|l| {
        let inner = l.strip_prefix('[')?.split(']').next()?;
        Some(inner.trim_matches('[').trim())
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

fn parse(file: &Path, text: &str) -> Result<Policy> {
    let policy: Policy = toml::from_str(text).map_err(|e| located(file, text, &e))?;
    policy.validate(file)?;
    Ok(policy)
}

impl Policy {
    fn validate(&self, file: &Path) -> Result<()> {
        let l = &self.limits;
        if self.run.out_max_files == Some(0) {
            bail!("{}: run.out_max_files: expected at least 1", file.display());
        }
        if l.pids.is_some_and(|p| p == 0 || p > 4_000_000) {
            bail!("{}: limits.pids: expected 1 to 4000000", file.display());
        }
        if l.cpus.is_some_and(|c| !(0.01..=4096.0).contains(&c)) {
            bail!(
                "{}: limits.cpus: expected a number of CPUs such as 1, 2 or 0.5",
                file.display()
            );
        }
        Ok(())
    }

    /// Make relative paths relative to the project root.
    fn anchor(mut self, root: &Path) -> Policy {
        let fix = |v: &mut Vec<PathBuf>| {
            for p in v.iter_mut() {
                if p.is_relative() {
                    *p = root.join(&*p);
                }
            }
        };
        fix(&mut self.install.requirements);
        fix(&mut self.run.inputs);
        fix(&mut self.run.in_copy);
        fix(&mut self.run.out);
        fix(&mut self.run.out_live);
        fix(&mut self.run.share);
        self
    }
}

/// The policy of `project`: seal.toml, else [tool.seal] of pyproject.toml, else empty.
pub fn load(project: &Project) -> Result<Policy> {
    let seal_toml = project.root.join("seal.toml");
    if let Ok(text) = std::fs::read_to_string(&seal_toml) {
        return Ok(parse(&seal_toml, &text)?.anchor(&project.root));
    }
    let pyproject = project.root.join("pyproject.toml");
    let Ok(text) = std::fs::read_to_string(&pyproject) else {
        return Ok(Policy::default());
    };
    // Parsed as a whole so that errors inside [tool.seal] point into pyproject.toml itself;
    // every other table is left to its own tools.
    #[derive(Deserialize)]
    struct PyProject {
        tool: Option<Tools>,
    }
    #[derive(Deserialize)]
    struct Tools {
        seal: Option<Policy>,
    }
    let doc: PyProject = toml::from_str(&text).map_err(|e| located(&pyproject, &text, &e))?;
    match doc.tool.and_then(|t| t.seal) {
        Some(policy) => {
            policy.validate(&pyproject)?;
            Ok(policy.anchor(&project.root))
        }
        None => Ok(Policy::default()),
    }
}

/// The starter file `seal init` writes: every key, commented, with its default.
pub const STARTER: &str = r#"# seal.toml: how seal runs and installs this project. Command-line flags override it.
# Paths are relative to this file's directory. Remove the leading # to set a key.

# Base interpreter (default: the first python3 on PATH).
# python = "/usr/bin/python3"

[install]
# Requirement files used by a plain `seal install` when there is no seal.lock
# (default: [project].dependencies of pyproject.toml).
# requirements = ["requirements.txt"]
# index_url = "https://pypi.org/simple"
# extra_index_urls = []          # names served by several indexes are reported
# allow_hosts = []               # more hosts the download step may reach, HOST[:PORT]
# allow_sdist = []               # packages that may be built from source, offline
# installer = "auto"             # auto (uv when available), uv, pip
# timeout = "30m"                # for each of the download and install steps
# seed = false                   # also put pip into the environment (offline, from ensurepip)
# audit = false                  # run seal audit on the environment after each install

[run]
# in = ["data"]                  # read-only at their own paths
# in_copy = []                   # private writable snapshots
# out = ["results"]              # staged outputs, copied back safely after the run
# out_live = []                  # direct read-write outputs
# share = []                     # read-write shares (explicit opt-in)
# pass_env = []                  # variables copied from your environment
# env = { MPLBACKEND = "Agg" }   # variables set inside
# out_quota = "2G"               # size quota of each staged out
# out_max_files = 100000
# out_links = "internal"         # internal (links staying inside out) or refuse
# publish = ["8000"]             # [HOSTPORT:]PORT forwarded from 127.0.0.1 (HTTP, Host/Origin checked)
# publish_addr = "127.0.0.1"     # another address makes published ports reachable from other machines
# allow_net = []                 # HOST[:PORT] the program may reach through seal's proxy (*.NAME: subdomains)
# gpu = false                    # the machine's GPUs (device nodes, driver libraries, /sys entries)
# devices = []                   # host character devices put into /dev, e.g. "/dev/ttyUSB0"

[limits]
# memory = "4G"                  # default: half of this machine's memory
# cpus = 2
# pids = 1024
# timeout = "1h"
# disk = "1G"                    # size of /tmp, HOME, /dev/shm, each in_copy
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_file_parses_and_is_empty() {
        let p = parse(Path::new("seal.toml"), STARTER).unwrap();
        assert!(p.python.is_none() && p.run.out.is_empty() && p.limits.pids.is_none());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse(Path::new("seal.toml"), "[run]\nout = [\"r\"]\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("seal.toml:3:1: unknown field `bogus`"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse(Path::new("seal.toml"), "[limits]\npids = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("seal.toml:2:8: "), "{e}");
        let e = parse(Path::new("seal.toml"), "[limits]\nmemory = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.memory"), "{e}");
        assert!(e.starts_with("seal.toml:2:10: limits.memory: "), "{e}");
        let e = parse(Path::new("seal.toml"), "[run]\npublish = [\"80:x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("seal.toml:2:11: run.publish: "), "{e}");
        assert_eq!(
            key_of_value_at("[tool.seal.limits]\n# c = 1\nmemory = ").as_deref(),
            Some("tool.seal.limits.memory")
        );
        assert_eq!(key_of_value_at("[run]\nbogus"), None);
    }

    #[test]
    fn values_are_typed_once() {
        let p = parse(
            Path::new("seal.toml"),
            "[run]\npublish = [\"9000:8000\"]\npublish_addr = \"127.0.0.2\"\nout_quota = \"2G\"\n[limits]\ntimeout = \"90s\"\n",
        )
        .unwrap();
        assert_eq!(
            p.run.publish,
            vec![Publish {
                host_port: 9000,
                port: 8000
            }]
        );
        assert_eq!(p.run.publish_addr, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(p.run.out_quota, Some(Size(2 << 30)));
        assert_eq!(
            p.limits.timeout,
            Some(Timeout(std::time::Duration::from_secs(90)))
        );
    }

    #[test]
    fn choices_are_parsed_once_and_unknown_ones_are_errors() {
        let p = parse(
            Path::new("seal.toml"),
            "[install]\ninstaller = \"pip\"\n[run]\nout_links = \"refuse\"\n",
        )
        .unwrap();
        assert_eq!(p.install.installer, Some(crate::cli::Installer::Pip));
        assert_eq!(p.run.out_links, Some(crate::cli::OutLinks::Refuse));
        for (text, at) in [
            ("[install]\ninstaller = \"conda\"\n", "seal.toml:2:13: "),
            ("[run]\nout_links = \"follow\"\n", "seal.toml:2:13: "),
        ] {
            let e = parse(Path::new("seal.toml"), text).unwrap_err().to_string();
            assert!(e.starts_with(at) && e.contains("unknown variant"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn values_and_relative_paths() {
        let p = parse(
            Path::new("seal.toml"),
            "python = \"/usr/bin/python3\"\n[run]\nin = [\"data\"]\nenv = { A = \"b\" }\n[limits]\ncpus = 2\n",
        )
        .unwrap()
        .anchor(Path::new("/proj"));
        assert_eq!(p.run.inputs, vec![PathBuf::from("/proj/data")]);
        assert_eq!(p.run.env.get("A").map(String::as_str), Some("b"));
        assert_eq!(p.limits.cpus, Some(2.0));
    }
}
