//! The project's declared requirements, as `seal add` and `seal remove` change them: which file
//! holds them (the one a plain `seal install` reads), and the edit itself. pyproject.toml is
//! edited in place with its formatting and comments kept; requirements.txt line by line.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::requirements::check_line;
use crate::project::Project;

/// Where the project declares its requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Declared {
    /// `[project].dependencies` of this pyproject.toml.
    Pyproject(PathBuf),
    /// A requirements file (created by `seal add` when the project has none).
    RequirementsFile(PathBuf),
}

impl Declared {
    pub fn path(&self) -> &Path {
        match self {
            Declared::Pyproject(p) | Declared::RequirementsFile(p) => p,
        }
    }

    /// How seal names it to the user.
    pub fn describe(&self) -> String {
        match self {
            Declared::Pyproject(p) => format!("{} [project].dependencies", p.display()),
            Declared::RequirementsFile(p) => p.display().to_string(),
        }
    }
}

/// The file a plain `seal install` would read, in the same order: the policy's first
/// requirement file; pyproject.toml when it declares dependencies; requirements.txt; a
/// pyproject.toml with a [project] table; else a new requirements.txt.
pub fn locate(project: &Project, policy_files: &[PathBuf]) -> Result<Declared> {
    if let Some(f) = policy_files.first() {
        return Ok(Declared::RequirementsFile(f.clone()));
    }
    let pyproject = project.root.join("pyproject.toml");
    let doc = match std::fs::read_to_string(&pyproject) {
        Ok(text) => Some(parse(&pyproject, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", pyproject.display())),
    };
    let has_project = doc.as_ref().is_some_and(|d| d.get("project").is_some());
    let has_deps = doc
        .as_ref()
        .and_then(|d| d.get("project"))
        .and_then(|p| p.get("dependencies"))
        .is_some();
    let requirements_txt = project.root.join("requirements.txt");
    Ok(if has_deps {
        Declared::Pyproject(pyproject)
    } else if requirements_txt.is_file() {
        Declared::RequirementsFile(requirements_txt)
    } else if has_project {
        Declared::Pyproject(pyproject)
    } else {
        Declared::RequirementsFile(requirements_txt)
    })
}

fn parse(path: &Path, text: &str) -> Result<toml_edit::DocumentMut> {
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        let msg = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        anyhow!("{}: {msg}", path.display())
    })
}

/// A distribution name as PEP 503 compares them: lower case, runs of `-_.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The normalized name a requirement line starts with (`Requests[socks]>=2` -> `requests`).
pub fn name_of(line: &str) -> Option<String> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = &line[..end];
    (!name.is_empty()).then(|| normalize(name))
}

/// The change `seal add` / `seal remove` makes.
pub enum Change<'a> {
    /// Requirement specifiers; one whose name is declared already replaces that entry.
    Add(&'a [String]),
    /// Names; each must be declared.
    Remove(&'a [String]),
}

/// The file's new text after `change` (the file need not exist for an add).
pub fn edit(declared: &Declared, change: &Change<'_>) -> Result<String> {
    let old = match std::fs::read_to_string(declared.path()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", declared.path().display())),
    };
    let new = match declared {
        Declared::Pyproject(p) => edit_pyproject(p, &old, change)?,
        Declared::RequirementsFile(_) => edit_requirements(&old, change)?,
    };
    if let Change::Remove(names) = change {
        // Whatever was named must have been there: a typo never passes as done.
        let before = declared_names(declared, &old)?;
        for n in names.iter() {
            if !before.contains(&normalize(n)) {
                bail!(
                    "{n} is not among the requirements declared in {}",
                    declared.describe()
                );
            }
        }
    }
    Ok(new)
}

/// Each specifier checked like a command-line argument of `seal install`, with its name.
fn checked(specs: &[String]) -> Result<Vec<(String, String)>> {
    specs
        .iter()
        .map(|s| {
            let line = check_line(s, "argument", false)?
                .ok_or_else(|| anyhow!("{s:?}: not a requirement"))?;
            let name = name_of(&line).ok_or_else(|| anyhow!("{s:?}: no package name"))?;
            Ok((name, line))
        })
        .collect()
}

pub fn declared_names(declared: &Declared, text: &str) -> Result<Vec<String>> {
    Ok(match declared {
        Declared::Pyproject(p) => dependencies(&parse(p, text)?)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(name_of)
                    .collect()
            })
            .unwrap_or_default(),
        Declared::RequirementsFile(_) => text.lines().filter_map(|l| name_of(l.trim())).collect(),
    })
}

fn dependencies(doc: &toml_edit::DocumentMut) -> Option<&toml_edit::Array> {
    doc.get("project")?.get("dependencies")?.as_array()
}

fn edit_pyproject(path: &Path, text: &str, change: &Change<'_>) -> Result<String> {
    let mut doc = parse(path, text)?;
    let project = doc
        .entry("project")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| anyhow!("{}: [project] is not a table", path.display()))?;
    let deps = project
        .entry("dependencies")
        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or_else(|| {
            anyhow!(
                "{}: [project].dependencies must be a list of strings",
                path.display()
            )
        })?;
    match change {
        Change::Add(specs) => {
            for (name, line) in checked(specs)? {
                let at = deps
                    .iter()
                    .position(|v| v.as_str().and_then(name_of).as_deref() == Some(&name));
                match at {
                    Some(i) => {
                        deps.replace(i, line.as_str());
                    }
                    None => push_keeping_layout(deps, &line),
                }
            }
        }
        Change::Remove(names) => {
            let names: Vec<String> = names.iter().map(|n| normalize(n)).collect();
            deps.retain(|v| {
                !v.as_str()
                    .and_then(name_of)
                    .is_some_and(|n| names.contains(&n))
            });
        }
    }
    Ok(doc.to_string())
}

/// Appends `line`; in an array written one entry per line, on a line of its own with the same
/// indentation, so that a comment after the last entry stays with that entry.
fn push_keeping_layout(deps: &mut toml_edit::Array, line: &str) {
    let prefix_of = |v: &toml_edit::Value| {
        v.decor()
            .prefix()
            .and_then(|p| p.as_str())
            .map(str::to_string)
    };
    let indent = deps
        .iter()
        .filter_map(prefix_of)
        .find_map(|p| p.rfind('\n').map(|i| p[i + 1..].to_string()));
    let Some(indent) = indent else {
        deps.push(line);
        return;
    };
    let trailing = deps.trailing().as_str().unwrap_or("").to_string();
    let (after_last, before_close) = match trailing.rfind('\n') {
        Some(i) => (trailing[..i].to_string(), trailing[i..].to_string()),
        None => (trailing.clone(), "\n".to_string()),
    };
    let mut v = toml_edit::Value::from(line);
    v.decor_mut().set_prefix(format!("{after_last}\n{indent}"));
    deps.push_formatted(v);
    deps.set_trailing(before_close);
    deps.set_trailing_comma(true);
}

fn edit_requirements(text: &str, change: &Change<'_>) -> Result<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match change {
        Change::Add(specs) => {
            for (name, line) in checked(specs)? {
                match lines
                    .iter()
                    .position(|l| name_of(l.trim()).as_deref() == Some(&name))
                {
                    Some(i) => lines[i] = line,
                    None => lines.push(line),
                }
            }
        }
        Change::Remove(names) => {
            let names: Vec<String> = names.iter().map(|n| normalize(n)).collect();
            lines.retain(|l| !name_of(l.trim()).is_some_and(|n| names.contains(&n)));
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// Replaces `path`'s contents all at once (a temporary file beside it, renamed over it), so an
/// interrupted write never leaves half a file.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".seal-edit-")
        .tempfile_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.write_all(text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path)
        .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_compare_as_pep_503_says() {
        assert_eq!(normalize("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(
            name_of("Requests[socks]>=2 ; python_version>'3'").as_deref(),
            Some("requests")
        );
        assert_eq!(name_of("# comment"), None);
    }

    #[test]
    fn requirements_txt_keeps_comments_and_replaces_a_declared_name() {
        let d = Declared::RequirementsFile("requirements.txt".into());
        let old = "# ours\nrequests>=2\nsix\n";
        let new =
            edit_requirements(old, &Change::Add(&specs(&["Requests==2.32", "rich"]))).unwrap();
        assert_eq!(new, "# ours\nRequests==2.32\nsix\nrich\n");
        let new = edit_requirements(&new, &Change::Remove(&specs(&["SIX"]))).unwrap();
        assert_eq!(new, "# ours\nRequests==2.32\nrich\n");
        assert_eq!(declared_names(&d, &new).unwrap(), ["requests", "rich"]);
    }

    #[test]
    fn pyproject_keeps_its_formatting() {
        let p = Path::new("pyproject.toml");
        let old = "# top comment\n[project]\nname = \"demo\"  # the name\ndependencies = [\n    \"requests>=2\",  # http\n]\n\n[tool.other]\nx = 1\n";
        let new = edit_pyproject(p, old, &Change::Add(&specs(&["rich"]))).unwrap();
        assert!(
            new.starts_with("# top comment\n[project]\nname = \"demo\"  # the name\n"),
            "{new}"
        );
        assert!(
            new.contains("dependencies = [\n    \"requests>=2\",  # http\n    \"rich\",\n]\n"),
            "{new}"
        );
        assert!(new.ends_with("[tool.other]\nx = 1\n"), "{new}");
        let new = edit_pyproject(p, &new, &Change::Remove(&specs(&["requests"]))).unwrap();
        assert!(!new.contains("requests"), "{new}");
        assert!(new.contains("\"rich\""), "{new}");
        let created = edit_pyproject(
            p,
            "[project]\nname = \"x\"\n",
            &Change::Add(&specs(&["six"])),
        )
        .unwrap();
        assert_eq!(
            created,
            "[project]\nname = \"x\"\ndependencies = [\"six\"]\n"
        );
    }

    #[test]
    fn bad_specifiers_are_refused() {
        for bad in [
            "--index-url=https://x/simple",
            "pkg @ https://127.0.0.1:1/x.whl",
            "./local",
            ">=2",
        ] {
            assert!(
                edit_requirements("", &Change::Add(&specs(&[bad]))).is_err(),
                "{bad}"
            );
        }
    }
}
