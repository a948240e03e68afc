//! Snapshots of what people read: `--help`, a policy error, `seal env --json`. A change to any
//! of them shows up in review as a snapshot diff.

use std::path::Path;
use std::process::Command;

fn seal(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_seal"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("help", vec!["--help"]),
        ("run_help", vec!["run", "--help"]),
        ("install_help", vec!["install", "--help"]),
        ("env_help", vec!["env", "--help"]),
        ("doctor_help", vec!["doctor", "--help"]),
    ] {
        let o = seal(dir.path(), &args);
        assert_eq!(o.status.code(), Some(0));
        insta::assert_snapshot!(name, String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn policy_error_has_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seal.toml"),
        "[run]\nout = [\"results\"]\ntypo_key = true\n",
    )
    .unwrap();
    let o = seal(
        dir.path(),
        &["run", "--python", "/usr/bin/python3", "--", "/bin/true"],
    );
    assert_eq!(o.status.code(), Some(125));
    let real = dir.path().canonicalize().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).replace(&real.display().to_string(), "[PROJECT]");
    insta::assert_snapshot!("policy_error", err);
}

#[test]
fn env_json() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".seal/env");
    let made = Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&env)
        .status()
        .unwrap();
    assert!(made.success());
    // What `seal install` records next to the environment: the interpreter it used.
    let base = std::fs::canonicalize("/usr/bin/python3").unwrap();
    std::fs::write(
        dir.path().join(".seal/interpreter"),
        format!("{}\n", base.display()),
    )
    .unwrap();
    let site = std::fs::read_dir(env.join("lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::create_dir_all(site.join("demo-1.2.3.dist-info")).unwrap();
    std::fs::write(
        site.join("demo-1.2.3.dist-info/METADATA"),
        "Name: demo\nVersion: 1.2.3\n",
    )
    .unwrap();
    std::fs::write(site.join("demo.pth"), "import os\n").unwrap();
    let o = seal(dir.path(), &["env", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Machine-specific values: where the project is, the interpreter, the size.
    v["environment"] = "[ENV]".into();
    v["python"] = "[PYTHON]".into();
    v["size_bytes"] = 0.into();
    let text = serde_json::to_string_pretty(&v).unwrap().replace(
        &site.strip_prefix(&env).unwrap().display().to_string(),
        "[SITE]",
    );
    insta::assert_snapshot!("env_json", text);
}
