//! Distribution: the Debian package and the PyPI wheel each install a seal that isolates.
//!
//! - deb: scripts/build-deb.sh packs the binary under test; dpkg installs it into a throwaway
//!   root with an administrative directory of its own (maintainer scripts run outside a chroot
//!   with DPKG_ROOT set, so the postinst must leave this host's AppArmor alone) and purges it
//!   again. The installed /usr/bin/seal runs `seal demo` as root and as uid 65534.
//! - wheel: scripts/build-wheel.sh builds it with maturin (from PyPI, pinned; skipped, loudly,
//!   with SEAL_TEST_NO_PYPI=1) in a cargo target directory of its own, so that the
//!   target/release/seal the other tests run is never replaced under them. pip installs it into
//!   a fresh venv with no index, and the venv's `seal` runs `seal demo` as root and uid 65534.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::cli::*;
use support::set_mode;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs `cmd` and panics with its output unless it succeeds.
fn ok(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed:\n{}", text(&o));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The last line a build script printed: the path of what it built.
fn built(o: &Output) -> PathBuf {
    PathBuf::from(stdout(o).lines().last().unwrap_or_default().trim())
}

/// A fresh directory any uid can traverse (uid 65534 runs what is installed in it).
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    dir
}

/// `seal demo` by `bin` as each user of the run: it must show the isolation in force.
fn demo_isolates(bin: &Path, cwd: &Path) {
    for uid in users() {
        assert_demo_isolates(&seal_output(
            bin,
            uid,
            cwd,
            &["demo", "--python", "/usr/bin/python3"],
        ));
    }
}

#[test]
fn the_deb_installs_a_working_seal_and_purges_cleanly() {
    let dir = shared_dir();
    let out = dir.path().join("out");
    let deb = built(&ok(Command::new("bash")
        .arg(format!("{ROOT}/scripts/build-deb.sh"))
        .arg(env!("CARGO_BIN_EXE_seal"))
        .arg(&out)));
    let version = env!("CARGO_PKG_VERSION");
    let arch = stdout(&ok(Command::new("dpkg").arg("--print-architecture")));
    assert!(
        deb.ends_with(format!("seal_{version}_{}.deb", arch.trim())),
        "{}",
        deb.display()
    );

    let field = |name: &str| {
        stdout(&ok(Command::new("dpkg-deb")
            .args(["--field"])
            .arg(&deb)
            .arg(name)))
        .trim()
        .to_string()
    };
    assert_eq!(field("Package"), "seal");
    assert_eq!(field("Version"), version);
    assert!(
        field("Depends").contains("libc6 (>= 2."),
        "{}",
        field("Depends")
    );
    let conffiles = stdout(&ok(Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .arg("conffiles")));
    assert_eq!(conffiles, "/etc/apparmor.d/seal\n");

    let mut contents: Vec<String> = stdout(&ok(Command::new("dpkg-deb").arg("-c").arg(&deb)))
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    contents.sort();
    assert_eq!(
        contents,
        [
            "./etc/apparmor.d/seal",
            "./usr/bin/seal",
            "./usr/share/doc/seal/README.md.gz",
            "./usr/share/doc/seal/copyright",
        ]
    );

    // A throwaway root: dpkg's database and the installed files all live in it.
    let root = dir.path().join("root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        fs::create_dir_all(admin.join(d)).unwrap();
    }
    fs::write(admin.join("status"), "").unwrap();
    // Every directory down to the installed binary must be traversable by uid 65534.
    set_mode(&root, 0o755);
    let fake = dir.path().join("fakebin");
    fs::create_dir(&fake).unwrap();
    let calls = dir.path().join("apparmor_parser.calls");
    let parser = fake.join("apparmor_parser");
    fs::write(
        &parser,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    set_mode(&parser, 0o755);
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "--force-depends"])
            .args(args)
            // A fake apparmor_parser first on PATH records any attempt to load a profile into
            // this host's kernel, which a postinst under DPKG_ROOT must never make.
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", fake.display()),
            );
        if !is_root() {
            c.arg("--force-not-root");
        }
        ok(&mut c)
    };

    dpkg(&["-i", deb.to_str().unwrap()]);
    let status = stdout(&ok(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f=${Status} ${Version}", "seal"])));
    assert_eq!(status, format!("install ok installed {version}"));
    assert!(
        !calls.exists(),
        "the postinst loaded a profile into this host's kernel"
    );

    let profile = fs::read_to_string(root.join("etc/apparmor.d/seal")).unwrap();
    assert!(
        profile.contains("\nprofile seal /usr/bin/seal flags=(unconfined) {\n  userns,\n"),
        "{profile}"
    );
    let installed = root.join("usr/bin/seal");
    let v = stdout(&ok(Command::new(&installed).arg("--version")));
    assert_eq!(v.trim(), format!("seal {version}"));
    demo_isolates(&installed, dir.path());

    dpkg(&["--purge", "seal"]);
    for gone in ["usr/bin/seal", "etc/apparmor.d/seal", "usr/share/doc/seal"] {
        assert!(!root.join(gone).exists(), "{gone} is left after purge");
    }
}

#[test]
fn the_wheel_installs_a_working_seal_with_pip() {
    if std::env::var_os("SEAL_TEST_NO_PYPI").is_some() {
        eprintln!(
            "!!! SKIPPED the_wheel_installs_a_working_seal_with_pip: SEAL_TEST_NO_PYPI is set \
             (maturin comes from PyPI)"
        );
        return;
    }
    let dir = shared_dir();
    let target = Path::new(ROOT).join("target/packaging/cargo");
    let wheel = built(&ok(Command::new("bash")
        .arg(format!("{ROOT}/scripts/build-wheel.sh"))
        .arg(dir.path().join("wheels"))
        .arg("--offline")
        .env("CARGO_TARGET_DIR", &target)));
    let version = env!("CARGO_PKG_VERSION");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("seal_cli-{version}-py3-none-manylinux_2_"))
            && name.ends_with("_x86_64.whl"),
        "{name}"
    );

    let venv = dir.path().join("venv");
    ok(Command::new("/usr/bin/python3")
        .args(["-m", "venv"])
        .arg(&venv));
    ok(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--no-index", "--disable-pip-version-check"])
        .arg(&wheel));
    let seal = venv.join("bin/seal");
    let v = stdout(&ok(Command::new(&seal).arg("--version")));
    assert_eq!(v.trim(), format!("seal {version}"));
    demo_isolates(&seal, dir.path());
    ok(Command::new(venv.join("bin/pip")).args(["uninstall", "-q", "-y", "seal-cli"]));
    assert!(!seal.exists(), "pip uninstall left {}", seal.display());
}
