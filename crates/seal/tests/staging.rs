//! Data in and out: `--in`, `--in-copy`, staged `--out` (copy-back), `--out-live`.
//!
//! The sandboxed program is hostile: it plants, in its output, everything that could hurt the
//! host once copied (links out of the directory, special files, setuid bits, terminal-control
//! names, huge files, too many files). Each test runs as root and as uid 65534 (see
//! `support::staging`), and each hostile probe is also run WITHOUT seal (the positive
//! control), proving that the probe really does plant what the test expects seal to refuse.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::staging::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The `outputs[]` entry of the --json report for `dest`.
fn json_output(out: &Output, dest: &Path) -> serde_json::Value {
    let j = out.json();
    let outputs = j["outputs"]
        .as_array()
        .unwrap_or_else(|| panic!("--json report has no outputs array\n{}", out.describe()));
    outputs
        .iter()
        .find(|o| o["destination"].as_str() == dest.to_str())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "--json report has no output for {}\n{}",
                dest.display(),
                out.describe()
            )
        })
}

/// (path, reason) of every refusal reported in --json for `dest`; also checks that each one
/// was printed on stderr as `seal: --out DIR: refused PATH: REASON`.
fn refusals(out: &Output, dest: &Path) -> Vec<(String, String)> {
    let o = json_output(out, dest);
    let list: Vec<(String, String)> = o["refused"]
        .as_array()
        .unwrap_or_else(|| panic!("outputs[].refused is not an array\n{}", out.describe()))
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default().to_string(),
                r["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (path, reason) in &list {
        let line = format!("seal: --out {}: refused {path}: {reason}", dest.display());
        assert!(
            out.stderr.lines().any(|l| l == line),
            "refusal of {path:?} is in --json but not printed on stderr as {line:?}\n{}",
            out.describe()
        );
        assert!(
            !reason.trim().is_empty(),
            "refusal of {path:?} has no reason"
        );
    }
    list
}

/// Assert one refusal matching `pred` is reported, with a reason containing one of `needles`
/// (case-insensitive).
fn expect_refused(
    list: &[(String, String)],
    label: &str,
    pred: impl Fn(&str) -> bool,
    needles: &[&str],
    out: &Output,
) {
    let found: Vec<&(String, String)> = list.iter().filter(|(p, _)| pred(p)).collect();
    assert!(
        !found.is_empty(),
        "{label}: expected a refusal on stderr and in --json; refusals were {list:#?}\n{}",
        out.describe()
    );
    let (path, reason) = found[0];
    let r = reason.to_lowercase();
    assert!(
        needles.iter().any(|n| r.contains(&n.to_lowercase())),
        "{label}: refusal of {path:?} has reason {reason:?}, expected it to mention one of {needles:?}"
    );
}

fn absent(p: &Path, what: &str) {
    assert!(
        fs::symlink_metadata(p).is_err(),
        "{what}: {} must not exist on the host, but it does ({:?})",
        p.display(),
        fs::symlink_metadata(p).map(|m| m.file_type())
    );
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("reading {} on the host: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn no_incoming(dir: &Path, what: &str) {
    let left = incoming_leftovers(dir);
    assert!(
        left.is_empty(),
        "{what}: copy-back left {left:?} in {}",
        dir.display()
    );
}

/// `seal run --json FLAGS --out OUT -- python3 PROBE '{"out": OUT}'`, OUT being `env.out`.
fn seal_out_probe(env: &Env, flags: &[&str], probe: &Path) -> Output {
    let dest = env.out.to_str().unwrap();
    let args = serde_json::json!({"out": env.out}).to_string();
    env.seal_probe(
        &[&["--json"], flags, &["--out", dest]].concat(),
        probe,
        &args,
    )
    .output()
}

fn sha_etc_passwd() -> (u64, u64) {
    let m = fs::metadata("/etc/passwd").unwrap();
    (fnv(&fs::read("/etc/passwd").unwrap()), m.mtime() as u64)
}

// ---------------------------------------------------------------------------------------------
// The hostile output probe

const PLANT: &str = include_str!("probes/staging/plant.py");

/// What the host may receive from PLANT (everything else must be refused).
const PLANT_ALLOWED: &[&str] = &[
    "result.txt",
    "nested",
    "nested/deeper",
    "nested/deeper/data.csv",
    "nested/internal_up",
    "bin",
    "bin/blob.bin",
    "internal_link",
    "hl_pair",
    "sub",
    "exec.sh",
    "suid.bin",
    "sgid.bin",
    "sticky.bin",
    "private.txt",
    "readonly.txt",
    "userexec.bin",
    "weird_dir",
    "weird_dir/inside.txt",
];
const MODE_FILES: &[&str] = &[
    "exec.sh",
    "suid.bin",
    "sgid.bin",
    "sticky.bin",
    "private.txt",
    "readonly.txt",
    "userexec.bin",
];

struct PlantSetup {
    probe: PathBuf,
    in_dir: PathBuf,
    in_file: PathBuf,
    blob: Vec<u8>,
    text: String,
    csv: String,
}

fn plant_setup(env: &Env) -> PlantSetup {
    let in_dir = env.dir.join("data");
    env.mkdir(&in_dir, 0o755);
    let in_file = in_dir.join("blob.bin");
    let mut blob: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    blob.extend(random_bytes(64 * 1024));
    env.write(&in_file, &blob, 0o644);
    PlantSetup {
        probe: env.probe("plant", PLANT),
        in_dir,
        in_file,
        blob,
        text: format!("legitimate result {}\nline two\n", env.nonce),
        csv: "a,b\n1,2\n".repeat(1000),
    }
}

fn plant_args(env: &Env, s: &PlantSetup, out: &Path, control: bool) -> String {
    serde_json::json!({
        "out": out,
        "in_file": s.in_file,
        "proj_file": s.probe,
        "canary": env.canary,
        "nonce": env.nonce,
        "sparse": 10 * GIB,
        "text": s.text,
        "csv": s.csv,
        "control": control,
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The hostile program's output: legitimate results arrive intact, everything dangerous is
/// refused, reported (stderr and --json) and absent on the host; nothing outside DIR changes.
#[test]
fn staged_output_refuses_everything_dangerous_and_keeps_results() {
    each_variant(|v| {
        let env = Env::new(v, "plant");
        let s = plant_setup(&env);

        // Positive control: without seal, the same probe plants everything on the host.
        let control = env.dir.join("control");
        env.mkdir(&control, 0o755);
        let c = env.direct(&s.probe, &plant_args(&env, &s, &control, true));
        c.expect_code(0);
        let cp = c.probe();
        cp.expect_eq("done", "yes");
        for k in [
            "legit",
            "link_canary",
            "link_passwd",
            "link_rel_escape",
            "link_dir",
            "hardlink_from_in",
            "hardlink_from_project",
            "fifo",
            "socket",
            "name_newline",
            "name_esc",
            "name_badutf8",
        ] {
            cp.expect_eq(k, "OK");
        }
        let lm = |n: &str| fs::symlink_metadata(control.join(n)).unwrap();
        assert_eq!(
            fs::read_link(control.join("canary_link")).unwrap(),
            env.canary
        );
        assert_eq!(
            read(&control.join("canary_link")),
            env.canary_content.as_bytes()
        );
        assert!(lm("passwd_link").file_type().is_symlink());
        assert!(lm("fifo").file_type().is_fifo());
        assert!(lm("sock").file_type().is_socket());
        assert!(
            lm("suid.bin").mode() & 0o4000 != 0,
            "control: setuid bit not set"
        );
        assert!(lm("exec.sh").mode() & 0o111 != 0);
        assert!(lm("hl_from_in").nlink() >= 2, "control: hard link not made");
        assert_eq!(lm("huge.sparse").len(), 10 * GIB);
        let odd = dir_names(&control)
            .into_iter()
            .filter(|n| {
                n.to_str()
                    .map_or(true, |s| s.chars().any(|c| c.is_control()))
            })
            .count();
        assert_eq!(odd, 3, "control: the three bad names were not created");
        fs::remove_file(control.join("huge.sparse")).unwrap();

        // The sealed run.
        let passwd_before = sha_etc_passwd();
        let before = snapshot(&env.dir, &[&env.out]);
        let out = env
            .seal_probe(
                &[
                    "--json",
                    "--in",
                    s.in_dir.to_str().unwrap(),
                    "--out",
                    env.out.to_str().unwrap(),
                    "--out-quota",
                    "1G",
                ],
                &s.probe,
                &plant_args(&env, &s, &env.out, false),
            )
            .output();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");

        // Inside: the plants succeed (the staging area is an ordinary file system), except
        // hard links across mounts and writes to inputs.
        for k in [
            "legit",
            "link_canary",
            "link_passwd",
            "link_rel_escape",
            "link_rel_escape_nested",
            "link_dir",
            "link_internal",
            "fifo",
            "socket",
            "name_newline",
            "name_esc",
            "name_badutf8",
            "weird_dir",
        ] {
            p.expect_eq(k, "OK");
        }
        p.expect_eq("sparse", &(10 * GIB).to_string());
        p.expect_in("hardlink_from_in", &["EXDEV", "EPERM"]);
        p.expect_in("hardlink_from_project", &["EXDEV", "EPERM"]);
        p.expect_in("in_write", &["EROFS", "EACCES", "EPERM"]);
        // seccomp refuses set-id modes even in the private staging area (first layer); the
        // copy-back strips what is left (sticky, exec bits) as the second.
        p.expect_eq("mode_suid.bin", "EPERM");
        p.expect_eq("mode_sgid.bin", "EPERM");

        // Legitimate results arrive intact.
        let o = &env.out;
        assert_eq!(read(&o.join("result.txt")), s.text.as_bytes());
        assert_eq!(read(&o.join("nested/deeper/data.csv")), s.csv.as_bytes());
        assert_eq!(
            read(&o.join("bin/blob.bin")),
            s.blob,
            "binary result corrupted"
        );
        assert_eq!(
            fs::read_link(o.join("internal_link")).expect("internal link not copied"),
            Path::new("result.txt")
        );
        assert_eq!(
            fs::read_link(o.join("nested/internal_up")).expect("internal link not copied"),
            Path::new("../result.txt")
        );
        assert_eq!(read(&o.join("internal_link")), s.text.as_bytes());

        // Hard-linked pair inside: independent regular files on the host.
        if p.get("hardlink_pair") == "OK" {
            let a = fs::symlink_metadata(o.join("result.txt")).unwrap();
            let b = fs::symlink_metadata(o.join("hl_pair")).expect("hl_pair not copied");
            assert!(a.is_file() && b.is_file());
            assert_ne!(a.ino(), b.ino(), "a hard link was created on the host");
            assert_eq!((a.nlink(), b.nlink()), (1, 1), "hard links on the host");
            assert_eq!(read(&o.join("hl_pair")), s.text.as_bytes());
        }
        for p_rel in walk(o) {
            let m = fs::symlink_metadata(o.join(&p_rel)).unwrap();
            if m.is_file() {
                assert_eq!(m.nlink(), 1, "{}: hard link on the host", p_rel.display());
            }
        }

        // Modes: no setuid/setgid/sticky, no exec bits (no --keep-exec).
        for f in MODE_FILES {
            let m = mode(&o.join(f));
            assert_eq!(m & 0o7000, 0, "{f}: special bits kept on the host: {m:o}");
            assert_eq!(
                m & 0o111,
                0,
                "{f}: exec bits kept without --keep-exec: {m:o}"
            );
            assert_eq!(
                read(&o.join(f)),
                format!("#!/bin/sh\necho {f}\n").as_bytes(),
                "{f}: content"
            );
        }
        let dm = mode(&o.join("weird_dir"));
        assert_eq!(dm & 0o7000, 0, "weird_dir: special bits kept: {dm:o}");
        assert_eq!(
            dm & 0o002,
            0,
            "weird_dir: world-writable on the host: {dm:o}"
        );
        assert_eq!(read(&o.join("weird_dir/inside.txt")), b"in a weird dir");

        // Nothing else arrived.
        let allowed: BTreeSet<PathBuf> = PLANT_ALLOWED.iter().map(PathBuf::from).collect();
        let got: Vec<PathBuf> = walk(o);
        let extra: Vec<&PathBuf> = got.iter().filter(|r| !allowed.contains(*r)).collect();
        assert!(
            extra.is_empty(),
            "unexpected entries reached the host: {extra:?}\n{}",
            out.describe()
        );
        for n in dir_names(o) {
            let b = n.as_bytes();
            assert!(
                std::str::from_utf8(b).is_ok() && !b.iter().any(|c| *c < 0x20 || *c == 0x7f),
                "a bad name reached the host: {n:?}"
            );
        }
        for bad in [
            "canary_link",
            "passwd_link",
            "rel_escape",
            "sub/rel_escape_nested",
            "dir_link",
            "fifo",
            "sock",
            "devnode",
            "huge.sparse",
            "hl_from_in",
            "hl_from_project",
        ] {
            absent(&o.join(bad), bad);
        }

        // Each refusal is reported, on stderr and in --json, with a reason.
        let list = refusals(&out, o);
        let is = |name: &'static str| move |p: &str| p == name;
        let link = &["link"][..];
        expect_refused(
            &list,
            "link to the ~/.ssh canary",
            is("canary_link"),
            link,
            &out,
        );
        expect_refused(&list, "link to /etc/passwd", is("passwd_link"), link, &out);
        expect_refused(&list, "relative link out", is("rel_escape"), link, &out);
        expect_refused(
            &list,
            "nested relative link out",
            is("sub/rel_escape_nested"),
            link,
            &out,
        );
        expect_refused(
            &list,
            "link to a host directory",
            is("dir_link"),
            link,
            &out,
        );
        expect_refused(&list, "FIFO", is("fifo"), &["fifo", "pipe"], &out);
        expect_refused(&list, "socket", is("sock"), &["socket"], &out);
        expect_refused(
            &list,
            "10 GiB sparse file over --out-quota 1G",
            is("huge.sparse"),
            &["quota"],
            &out,
        );
        let bad_name =
            |start: &'static str| move |p: &str| p.starts_with(start) && p.ends_with("name.txt");
        let name_reasons = &["control", "utf-8", "utf8", "name"][..];
        expect_refused(
            &list,
            "name with a newline",
            bad_name("nl"),
            name_reasons,
            &out,
        );
        expect_refused(&list, "name with ESC", bad_name("esc"), name_reasons, &out);
        expect_refused(
            &list,
            "invalid UTF-8 name",
            bad_name("bad"),
            name_reasons,
            &out,
        );
        if p.opt("mknod") == Some("OK") {
            expect_refused(&list, "device node", is("devnode"), &["device"], &out);
        }
        // Escaped: no raw control character reaches the terminal.
        for (path, _) in &list {
            assert!(
                !path.chars().any(|c| c.is_control()),
                "refused path printed unescaped: {path:?}"
            );
        }
        assert!(
            !out.stderr_raw.contains(&0x1b),
            "a raw ESC byte was printed on stderr\n{}",
            out.describe()
        );

        // The report.
        let j = out.json();
        assert_eq!(j["exit_code"], 0);
        assert_eq!(j["timed_out"], false);
        let jo = json_output(&out, o);
        assert!(jo["aborted"].is_null(), "aborted: {}", jo["aborted"]);
        assert!(
            jo["files"].as_u64().unwrap_or(0) >= 10,
            "files: {}",
            jo["files"]
        );
        assert!(
            jo["links"].as_u64().unwrap_or(0) >= 2,
            "links: {}",
            jo["links"]
        );

        // Nothing outside DIR changed.
        env.canary_intact();
        assert_eq!(sha_etc_passwd(), passwd_before, "/etc/passwd changed");
        assert_same_snapshot(&before, &snapshot(&env.dir, &[&env.out]), "plant");
        absent(
            &env.dir.join(format!("ESCAPE-{}", env.nonce)),
            "relative escape",
        );
        absent(
            &env.home.join(format!("ESCAPE2-{}", env.nonce)),
            "relative escape",
        );
        no_incoming(o, "plant");
    });
}

const MODES_PROBE: &str = include_str!("probes/staging/modes_probe.py");

/// `--keep-exec` keeps exec bits (never setuid/setgid/sticky); `--out-links refuse` refuses
/// even links that stay inside DIR.
#[test]
fn keep_exec_keeps_exec_bits_only_and_links_refuse_refuses_all_links() {
    each_variant(|v| {
        let env = Env::new(v, "keepexec");
        let probe = env.probe("modes", MODES_PROBE);
        let out = seal_out_probe(&env, &["--keep-exec", "--out-links", "refuse"], &probe);
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        // seccomp refuses set-id modes even in the private staging area (first layer); the
        // copy-back strips what is left (sticky, exec bits) as the second.
        p.expect_eq("mode_suid.bin", "EPERM");
        p.expect_eq("mode_sgid.bin", "EPERM");
        p.expect_eq("link_internal", "OK");
        let o = &env.out;
        for f in ["exec.sh", "sticky.bin", "userexec.bin"] {
            let m = mode(&o.join(f));
            assert_eq!(
                m & 0o7000,
                0,
                "{f}: special bits kept with --keep-exec: {m:o}"
            );
            assert_eq!(
                m & 0o100,
                0o100,
                "{f}: owner exec bit dropped with --keep-exec: {m:o}"
            );
            assert_eq!(read(&o.join(f)), format!("content of {f}").as_bytes());
        }
        assert_eq!(mode(&o.join("exec.sh")) & 0o111, 0o111);
        assert_eq!(
            mode(&o.join("userexec.bin")) & 0o111,
            0o110,
            "--keep-exec added exec bits the file did not have"
        );
        assert_eq!(
            mode(&o.join("private.txt")) & 0o111,
            0,
            "private.txt became executable"
        );
        assert_eq!(
            mode(&o.join("private.txt")) & 0o007,
            0,
            "private.txt became world-readable"
        );

        absent(&o.join("internal_link"), "--out-links refuse");
        absent(&o.join("d/up"), "--out-links refuse");
        let list = refusals(&out, o);
        expect_refused(
            &list,
            "internal link",
            |p| p == "internal_link",
            &["link"],
            &out,
        );
        expect_refused(
            &list,
            "internal link in a dir",
            |p| p == "d/up",
            &["link"],
            &out,
        );
        no_incoming(o, "keep-exec");

        // Without --keep-exec (same probe, fresh directory): no exec bits at all.
        let o2 = env.home.join("out2");
        env.mkdir(&o2, 0o755);
        let args2 = serde_json::json!({"out": o2}).to_string();
        let out2 = env
            .seal_probe(&["--out", o2.to_str().unwrap()], &probe, &args2)
            .output();
        out2.expect_code(0);
        for f in [
            "exec.sh",
            "suid.bin",
            "sgid.bin",
            "sticky.bin",
            "userexec.bin",
        ] {
            let m = mode(&o2.join(f));
            assert_eq!(
                m & 0o7111,
                0,
                "{f}: exec/special bits kept without --keep-exec: {m:o}"
            );
        }
        // Default policy: internal links are copied.
        assert_eq!(
            fs::read_link(o2.join("internal_link")).expect("internal link not copied"),
            Path::new("exec.sh")
        );
    });
}

const OVERWRITE_PROBE: &str = include_str!("probes/staging/overwrite_probe.py");

/// Existing host files are never replaced without --overwrite; with it, they are, but links
/// already in DIR are never followed out of it.
#[test]
fn existing_host_files_are_kept_unless_overwrite() {
    each_variant(|v| {
        let env = Env::new(v, "overwrite");
        let o = env.out.clone();
        let outside = env.dir.join("outside");
        env.mkdir(&outside, 0o755);
        env.write(&outside.join("secret.txt"), b"OUTSIDE", 0o644);
        let original = format!("ORIGINAL-{}", env.nonce);
        env.write(&o.join("keep.txt"), original.as_bytes(), 0o644);
        env.mkdir(&o.join("olddir"), 0o755);
        env.write(&o.join("olddir/old.txt"), b"OLD", 0o644);
        // Links already in DIR (say, from an earlier --out-live run) pointing out of it.
        std::os::unix::fs::symlink(&outside, o.join("trapdir")).unwrap();
        env.chown_to_user(&o.join("trapdir"));
        std::os::unix::fs::symlink(outside.join("secret.txt"), o.join("trapfile")).unwrap();
        env.chown_to_user(&o.join("trapfile"));

        let probe = env.probe("overwrite", OVERWRITE_PROBE);

        // 1. Without --overwrite.
        let before = snapshot(&env.dir, &[&o]);
        let out = seal_out_probe(&env, &[], &probe);
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        p.expect_eq("staging_empty", "True");
        assert_eq!(
            read(&o.join("keep.txt")),
            original.as_bytes(),
            "keep.txt overwritten"
        );
        assert_eq!(
            read(&o.join("olddir/old.txt")),
            b"OLD",
            "olddir/old.txt overwritten"
        );
        assert_eq!(read(&o.join("new.txt")), b"NEW FILE");
        assert_eq!(read(&o.join("olddir/added.txt")), b"ADDED");
        let list = refusals(&out, &o);
        let exists = &["already exists on the host"][..];
        expect_refused(&list, "keep.txt", |p| p == "keep.txt", exists, &out);
        expect_refused(
            &list,
            "olddir/old.txt",
            |p| p == "olddir/old.txt",
            exists,
            &out,
        );
        expect_refused(
            &list,
            "trapfile (a link on the host)",
            |p| p == "trapfile",
            &["exists"],
            &out,
        );
        expect_refused(
            &list,
            "trapdir (a link on the host)",
            |p| p.starts_with("trapdir"),
            &["exist"],
            &out,
        );
        assert!(fs::symlink_metadata(o.join("trapdir"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::symlink_metadata(o.join("trapfile"))
            .unwrap()
            .file_type()
            .is_symlink());
        absent(&outside.join("payload.txt"), "written through a host link");
        assert_eq!(read(&outside.join("secret.txt")), b"OUTSIDE");
        assert_same_snapshot(&before, &snapshot(&env.dir, &[&o]), "no --overwrite");
        no_incoming(&o, "no --overwrite");

        // 2. With --overwrite.
        let out = seal_out_probe(&env, &["--overwrite"], &probe);
        out.expect_code(0);
        assert_eq!(
            read(&o.join("keep.txt")),
            b"NEW",
            "--overwrite did not replace keep.txt"
        );
        assert_eq!(read(&o.join("olddir/old.txt")), b"REPLACED");
        assert_eq!(read(&o.join("new.txt")), b"NEW FILE");
        let list = refusals(&out, &o);
        assert!(
            !list
                .iter()
                .any(|(p, _)| p == "keep.txt" || p == "olddir/old.txt"),
            "--overwrite still refused: {list:?}"
        );
        // The host link `trapfile` is replaced by the file or refused, never written through.
        let tf = fs::symlink_metadata(o.join("trapfile")).unwrap();
        if tf.file_type().is_symlink() {
            expect_refused(
                &list,
                "trapfile",
                |p| p == "trapfile",
                &["exist", "link"],
                &out,
            );
        } else {
            assert!(tf.is_file());
            assert_eq!(read(&o.join("trapfile")), b"TRAP");
        }
        assert!(fs::symlink_metadata(o.join("trapdir"))
            .unwrap()
            .file_type()
            .is_symlink());
        absent(
            &outside.join("payload.txt"),
            "--overwrite wrote through a host link",
        );
        assert_eq!(
            read(&outside.join("secret.txt")),
            b"OUTSIDE",
            "written through a link"
        );
        assert_same_snapshot(&before, &snapshot(&env.dir, &[&o]), "--overwrite");
        no_incoming(&o, "--overwrite");
    });
}

const QUOTA_PROBE: &str = include_str!("probes/staging/quota_probe.py");

/// Files each under --out-quota but together over it: nothing is copied, the report says
/// "output quota exceeded", and a successful program's exit becomes 125.
#[test]
fn total_quota_breach_copies_nothing() {
    each_variant(|v| {
        let env = Env::new(v, "quota");
        let o = env.out.clone();
        env.write(&o.join("pre.txt"), b"PRE-EXISTING", 0o644);
        let probe = env.probe("quota", QUOTA_PROBE);
        let dest = o.to_str().unwrap();
        for (exit, expected) in [(0, 125), (3, 3)] {
            let before = snapshot(&o, &[]);
            let args = serde_json::json!({"out": o, "exit": exit}).to_string();
            let out = env
                .seal_probe(
                    &["--json", "--out-quota", "1M", "--out", dest],
                    &probe,
                    &args,
                )
                .output();
            let p = out.probe();
            p.expect_eq("done", "yes");
            assert!(
                p.num("total") > MIB,
                "the probe did not exceed the quota (total {})",
                p.num("total")
            );
            out.expect_code(expected);
            assert!(
                out.stderr.contains("output quota exceeded"),
                "no 'output quota exceeded' message\n{}",
                out.describe()
            );
            let jo = json_output(&out, &o);
            assert!(
                jo["aborted"]
                    .as_str()
                    .is_some_and(|a| a.contains("output quota exceeded")),
                "--json outputs[].aborted: {}",
                jo["aborted"]
            );
            assert_eq!(out.json()["exit_code"], expected);
            assert_same_snapshot(&before, &snapshot(&o, &[]), "quota breach: DIR changed");
            assert_eq!(dir_names(&o), vec![std::ffi::OsString::from("pre.txt")]);
            no_incoming(&o, "quota breach");
        }
    });
}

const FILL_PROBE: &str = include_str!("probes/staging/fill_probe.py");

/// The staging area itself is capped at --out-quota: real data beyond it fails with ENOSPC
/// inside, and the host never receives more than the quota.
#[test]
fn staging_area_is_capped_at_the_quota() {
    each_variant(|v| {
        let env = Env::new(v, "stagecap");
        let probe = env.probe("fill", FILL_PROBE);
        let out = seal_out_probe(&env, &["--out-quota", "1M"], &probe);
        let p = out.probe();
        p.expect_eq("done", "yes");
        p.expect_in("error", &["ENOSPC", "EDQUOT", "EFBIG"]);
        let total: u64 = walk(&env.out)
            .iter()
            .filter_map(|r| fs::symlink_metadata(env.out.join(r)).ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        assert!(
            total <= MIB,
            "the host received {total} bytes > --out-quota 1M"
        );
        no_incoming(&env.out, "stagecap");
    });
}

const MANY_FILES_PROBE: &str = include_str!("probes/staging/many_files_probe.py");

/// --out-max-files 5 against 20 files: the program may fail with ENOSPC (inode limit of the
/// staging area) or seal may refuse the lot; either way the host gets at most 5.
#[test]
fn file_count_quota() {
    each_variant(|v| {
        let env = Env::new(v, "maxfiles");
        let probe = env.probe("many", MANY_FILES_PROBE);
        let out = seal_out_probe(&env, &["--out-max-files", "5"], &probe);
        let p = out.probe();
        p.expect_eq("done", "yes");
        let created = p.num("created");
        let on_host = walk(&env.out).len();
        assert!(
            on_host <= 5,
            "the host received {on_host} entries with --out-max-files 5\n{}",
            out.describe()
        );
        if created > 5 {
            assert!(
                out.stderr.contains("output quota exceeded"),
                "{created} files created inside but no quota message\n{}",
                out.describe()
            );
            assert_eq!(on_host, 0, "quota exceeded, yet files were copied");
        } else {
            p.expect_in("error", &["ENOSPC", "EDQUOT"]);
            assert_eq!(
                on_host as u64, created,
                "the files that fit were not copied"
            );
        }
        no_incoming(&env.out, "maxfiles");
    });
}

const TIMEOUT_PROBE: &str = include_str!("probes/staging/timeout_probe.py");

/// A run killed by --timeout: DIR receives what the program wrote before the kill (or
/// nothing), never a truncated copy, and no `.seal-incoming-*` directory remains.
#[test]
fn timeout_kill_leaves_complete_files_or_nothing() {
    each_variant(|v| {
        let env = Env::new(v, "timeoutcopy");
        let probe = env.probe("grow", TIMEOUT_PROBE);
        // How long a staged run that writes one complete file takes here (seal start, Python
        // start, the write, the copy-back): the timeout must cover it, or the test races the
        // program's start (it did under TCG on a loaded host).
        let warmup = env.probe(
            "warmup",
            "write(os.path.join(A['out'], 'warmup.bin'), b'w' * 2**20)\n",
        );
        let startup = seal_out_probe(&env, &[], &warmup);
        startup.expect_code(0);
        fs::remove_file(env.out.join("warmup.bin")).unwrap();
        let timeout = format!("{}s", timeout_after_startup(&v.name, startup.elapsed, 2));
        let out = seal_out_probe(&env, &["--timeout", &timeout], &probe);
        out.expect_code(124);
        assert!(out.stderr.contains("--timeout"), "{}", out.describe());
        assert_eq!(out.json()["timed_out"], true);
        let p = out.probe();
        p.expect_eq("complete", "done");
        let reported = p.num("growing");
        let pattern: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let is_prefix = |data: &[u8]| data.chunks(pattern.len()).all(|c| c == &pattern[..c.len()]);
        let complete = env.out.join("complete.bin");
        if fs::symlink_metadata(&complete).is_ok() {
            let d = read(&complete);
            assert_eq!(d.len() as u64, MIB, "complete.bin copied partially");
            assert!(is_prefix(&d), "complete.bin content differs");
        }
        let growing = env.out.join("growing.bin");
        if fs::symlink_metadata(&growing).is_ok() {
            let d = read(&growing);
            assert!(
                d.len() as u64 >= reported,
                "growing.bin has {} bytes on the host, the program had written {reported}",
                d.len()
            );
            assert!(
                is_prefix(&d),
                "growing.bin content is not what the program wrote"
            );
        }
        no_incoming(&env.out, "timeout");
    });
}

const MANY_MIB_PROBE: &str = include_str!("probes/staging/many_mib_probe.py");

/// SIGKILL of seal in the middle of a copy-back: what is in DIR is complete, the partial copy
/// stays hidden in `.seal-incoming-<pid>-<random>`, and the next run into DIR removes that leftover.
#[test]
fn sigkill_during_copy_back_never_exposes_partial_files() {
    each_variant(|v| {
        let env = Env::new(v, "sigkill");
        let probe = env.probe("manymib", MANY_MIB_PROBE);
        let dest = env.out.to_str().unwrap();
        let mut tested = false;
        for (attempt, n) in [(1, 200u64), (2, 400), (3, 800)] {
            let args = serde_json::json!({"out": env.out, "n": n}).to_string();
            let mut running = env.seal_probe(&["--out", dest], &probe, &args).spawn();
            // Kill seal as soon as anything appears in DIR (copy-back has started).
            let start = Instant::now();
            let mut seen = false;
            while start.elapsed() < Duration::from_secs(120) && !running.exited() {
                if !dir_names(&env.out).is_empty() {
                    running.kill(libc::SIGKILL);
                    seen = true;
                    break;
                }
                thread::sleep(Duration::from_micros(200));
            }
            let out = running.finish();
            if !seen || out.code() != 128 + libc::SIGKILL {
                eprintln!(
                    "[{}] attempt {attempt}: copy-back finished before it could be killed; retrying bigger",
                    v.name
                );
                for n in dir_names(&env.out) {
                    let p = env.out.join(n);
                    let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
                }
                continue;
            }
            tested = true;
            // Whatever is in DIR (outside the incoming directory) is a complete file.
            for name in dir_names(&env.out) {
                if is_incoming(name.as_bytes()) {
                    continue;
                }
                let s = name.to_str().unwrap().to_string();
                let i: usize = s
                    .strip_prefix("part")
                    .and_then(|r| r.strip_suffix(".bin"))
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected entry {s:?} in DIR"));
                let d = read(&env.out.join(&name));
                assert_eq!(
                    d.len() as u64,
                    MIB,
                    "{s}: partial file exposed in DIR after SIGKILL"
                );
                assert!(
                    d.chunks(8).all(|c| c == format!("{i:08}").as_bytes()),
                    "{s}: corrupted"
                );
            }
            // The next run into DIR sweeps the leftover of the dead run.
            let out = env
                .seal()
                .args(&["--out", dest, "--", "python3", "-c", "pass"])
                .output();
            out.expect_code(0);
            no_incoming(&env.out, "the run after a SIGKILLed copy-back");
            break;
        }
        if !tested {
            loud(&format!(
                "!!! [{}] sigkill_during_copy_back: could not catch seal during copy-back in 3 \
                 attempts; the mid-copy kill was NOT tested",
                v.name
            ));
        }
    });
}

const RACE_PROBE: &str = include_str!("probes/staging/race_probe.py");

/// A background process still rewriting DIR when the program exits does not outlive seal
/// and cannot slip a link in while seal copies.
#[test]
fn copy_back_starts_after_every_sandbox_process_is_gone() {
    each_variant(|v| {
        let env = Env::new(v, "race");
        let probe = env.probe("race", RACE_PROBE);
        let marker = format!("RACEMARK{}", env.nonce);
        let args =
            serde_json::json!({"out": env.out, "canary": env.canary, "m": marker}).to_string();
        let out = env
            .seal_probe(
                &["--json", "--out", env.out.to_str().unwrap()],
                &probe,
                &args,
            )
            .output();
        out.expect_code(0);
        assert_procs_gone(&marker, Duration::from_secs(10), "race");
        let r = env.out.join("race");
        let list = refusals(&out, &env.out);
        match fs::symlink_metadata(&r) {
            Ok(m) => {
                assert!(m.is_file(), "race: a {:?} reached the host", m.file_type());
                assert_eq!(read(&r), b"regular");
            }
            Err(_) => expect_refused(&list, "race link", |p| p == "race", &["link"], &out),
        }
        for rel in walk(&env.out) {
            let m = fs::symlink_metadata(env.out.join(&rel)).unwrap();
            assert!(
                m.is_file(),
                "race: {} is a {:?} on the host",
                rel.display(),
                m.file_type()
            );
        }
        // Reading it again later: the background writer is dead.
        let first = fs::symlink_metadata(&r)
            .ok()
            .map(|m| (m.ino(), m.mtime_nsec()));
        thread::sleep(Duration::from_millis(300));
        let second = fs::symlink_metadata(&r)
            .ok()
            .map(|m| (m.ino(), m.mtime_nsec()));
        assert_eq!(first, second, "DIR still changes after seal returned");
        env.canary_intact();
        no_incoming(&env.out, "race");
    });
}

const INCOPY_PROBE: &str = include_str!("probes/staging/incopy_probe.py");

/// --in-copy: the program may change its copy; the host original is untouched; host changes
/// made while the program runs are not seen (it is a snapshot).
#[test]
fn in_copy_is_a_private_snapshot() {
    each_variant(|v| {
        let env = Env::new(v, "incopy");
        let data = env.dir.join("incopy");
        env.mkdir(&data, 0o755);
        env.write(&data.join("a.txt"), b"ORIGINAL", 0o644);
        env.mkdir(&data.join("sub"), 0o755);
        env.write(&data.join("sub/b.txt"), b"B", 0o644);
        let sig = env.dir.join("sig");
        env.mkdir(&sig, 0o755);
        let probe = env.probe("incopy", INCOPY_PROBE);
        let args = serde_json::json!({"copy": data, "sig": sig}).to_string();
        let mut running = env
            .seal_probe(
                &[
                    "--in-copy",
                    data.to_str().unwrap(),
                    "--in",
                    sig.to_str().unwrap(),
                ],
                &probe,
                &args,
            )
            .spawn();
        running.wait_for_stdout("PROBE\tready\tyes", Duration::from_secs(60));
        // The program changed its copy: the host original is untouched.
        assert_eq!(
            read(&data.join("a.txt")),
            b"ORIGINAL",
            "--in-copy changed the original"
        );
        absent(&data.join("new.txt"), "--in-copy created on the host");
        assert_eq!(
            read(&data.join("sub/b.txt")),
            b"B",
            "--in-copy deleted on the host"
        );
        // Host changes during the run are not visible inside.
        env.write(&data.join("a.txt"), b"HOST-CHANGED", 0o644);
        env.write(&data.join("late.txt"), b"LATE", 0o644);
        env.write(&sig.join("go"), b"", 0o644);
        let out = running.finish();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("sees_original", "ORIGINAL");
        p.expect_eq("modify", "OK");
        p.expect_eq("create", "OK");
        p.expect_eq("delete", "OK");
        p.expect_eq("go_seen", "True");
        p.expect_eq("after_a", "MODIFIED");
        p.expect_eq("after_late", "False");
        assert_eq!(read(&data.join("a.txt")), b"HOST-CHANGED");
        absent(&data.join("new.txt"), "--in-copy created on the host");
    });
}

const LIVE_PROBE: &str = include_str!("probes/staging/live_probe.py");

/// --out-live: writes land on the host at once; symbolic links on it are not followed inside
/// (nosymfollow: ELOOP).
#[test]
fn out_live_does_not_follow_symlinks_inside() {
    each_variant(|v| {
        let env = Env::new(v, "live");
        let probe = env.probe("live", LIVE_PROBE);

        let control = env.dir.join("control");
        env.mkdir(&control, 0o755);
        let c = env.direct(&probe, &serde_json::json!({"live": control}).to_string());
        c.expect_code(0);
        let cp = c.probe();
        cp.expect_eq("open_rel", "T");

        let live = env.home.join("live");
        env.mkdir(&live, 0o755);
        let out = env
            .seal_probe(
                &["--out-live", live.to_str().unwrap()],
                &probe,
                &serde_json::json!({"live": live}).to_string(),
            )
            .output();
        out.expect_code(0);
        let p = out.probe();
        p.expect_eq("done", "yes");
        p.expect_eq("write", "OK");
        p.expect_eq("mk_rel", "OK");
        p.expect_eq("readlink", "target.txt");
        p.expect_eq("open_rel", "ELOOP");
        p.expect_eq("open_abs", "ELOOP");
        assert_eq!(read(&live.join("target.txt")), b"T");
        assert!(fs::symlink_metadata(live.join("rel_link"))
            .unwrap()
            .file_type()
            .is_symlink());
        env.canary_intact();
    });
}

const LIVE_SETUID_PROBE: &str = include_str!("probes/staging/live_setuid_probe.py");

/// --out-live is nosuid inside, but the files stay on the host: a program must not be able
/// to leave a setuid/setgid executable there (run by root, it would be a setuid-root binary
/// on the host, owned by root, that any user reaching the directory could execute).
#[test]
fn out_live_cannot_plant_setuid_executables_on_the_host() {
    each_variant(|v| {
        let env = Env::new(v, "livesuid");
        let probe = env.probe("livesuid", LIVE_SETUID_PROBE);

        let control = env.dir.join("control");
        env.mkdir(&control, 0o755);
        let args = |d: &Path| serde_json::json!({"live": d, "exe": "/usr/bin/id"}).to_string();
        let c = env.direct(&probe, &args(&control));
        c.expect_code(0);
        assert!(
            mode(&control.join("planted")) & 0o4000 != 0,
            "positive control: chmod 6755 did not set the setuid bit"
        );
        fs::remove_file(control.join("planted")).unwrap();

        let live = env.home.join("live");
        env.mkdir(&live, 0o755);
        let out = env
            .seal_probe(
                &["--out-live", live.to_str().unwrap()],
                &probe,
                &args(&live),
            )
            .output();
        out.expect_code(0);
        out.probe().expect_eq("done", "yes");
        let planted = live.join("planted");
        let m = fs::symlink_metadata(&planted).expect("planted file");
        let bits = m.mode() & 0o7777;
        // Remove it before asserting: never leave a setuid binary behind.
        let _ = fs::remove_file(&planted);
        assert_eq!(
            bits & 0o6000,
            0,
            "a sandboxed program left a set-id executable (mode {bits:o}, owner uid {}) in the \
             host's --out-live directory\n{}",
            m.uid(),
            out.describe()
        );
    });
}

const REPORT_PROBE: &str = include_str!("probes/staging/report_probe.py");

/// The report counts what reached the host: a file refused because it already exists there
/// is not also counted as copied.
#[test]
fn report_counts_only_what_reached_the_host() {
    each_variant(|v| {
        let env = Env::new(v, "report");
        let o = env.out.clone();
        env.write(&o.join("keep.txt"), b"ORIGINAL", 0o644);
        std::os::unix::fs::symlink("keep.txt", o.join("keep_link")).unwrap();
        env.chown_to_user(&o.join("keep_link"));
        let probe = env.probe("report", REPORT_PROBE);
        let out = seal_out_probe(&env, &["-v"], &probe);
        out.expect_code(0);
        out.probe().expect_eq("done", "yes");
        assert_eq!(read(&o.join("keep.txt")), b"ORIGINAL");
        assert_eq!(read(&o.join("new.txt")), b"NEW FILE");
        assert_eq!(
            fs::read_link(o.join("keep_link")).unwrap(),
            Path::new("keep.txt")
        );
        let list = refusals(&out, &o);
        expect_refused(
            &list,
            "keep.txt",
            |p| p == "keep.txt",
            &["already exists on the host"],
            &out,
        );
        expect_refused(
            &list,
            "keep_link",
            |p| p == "keep_link",
            &["already exists on the host"],
            &out,
        );
        let jo = json_output(&out, &o);
        assert_eq!(
            (
                jo["files"].as_u64(),
                jo["links"].as_u64(),
                jo["bytes"].as_u64()
            ),
            (Some(1), Some(0), Some(8)),
            "--json counts: only new.txt (8 bytes) reached the host, keep.txt and keep_link \
             were refused\n{}",
            out.describe()
        );
    });
}

const UNREADABLE_PROBE: &str = include_str!("probes/staging/unreadable_probe.py");

/// Entries the program made unreadable (mode 000 files and directories) are copied or
/// refused on their own; they never make the legitimate results disappear.
#[test]
fn unreadable_entries_do_not_lose_the_other_results() {
    each_variant(|v| {
        let env = Env::new(v, "unreadable");
        let probe = env.probe("unreadable", UNREADABLE_PROBE);
        let out = seal_out_probe(&env, &[], &probe);
        let p = out.probe();
        p.expect_eq("done", "yes");
        for k in ["result", "locked_file", "locked_dir", "wonly_dir"] {
            p.expect_eq(k, "OK");
        }
        let jo = json_output(&out, &env.out);
        assert!(
            jo["aborted"].is_null(),
            "one unreadable entry aborted the whole copy-back: {}\n{}",
            jo["aborted"],
            out.describe()
        );
        out.expect_code(0);
        assert_eq!(
            fs::read(env.out.join("result.txt")).ok().as_deref(),
            Some(&b"important result"[..]),
            "the legitimate result was lost\n{}",
            out.describe()
        );
        let list = refusals(&out, &env.out);
        for name in ["locked.txt", "lockeddir", "writeonlydir"] {
            let p = env.out.join(name);
            if fs::symlink_metadata(&p).is_err() {
                expect_refused(&list, name, |r| r.starts_with(name), &[""], &out);
            }
        }
        no_incoming(&env.out, "unreadable");
    });
}
