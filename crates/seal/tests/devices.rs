//! `--device PATH` and `--gpu`: host character devices in the sandbox's /dev, usable there
//! (every other mount is nodev), in both engines, and nothing but character devices under /dev.
//! This host has no GPU: `--gpu` is checked for its error here, its layout on stand-in files by
//! the unit tests of `layout/gpu.rs`; whether CUDA works needs a GPU host (scripts/gpu-check.sh).

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use support::isolation::probes::Mode;
use support::isolation::*;

const OPEN: &str = r#"
attempt("open", lambda: os.close(os.open(A["dev"], os.O_RDWR)))
"#;

/// A character device that is not in the sandbox's own /dev, that every user may open
/// read-write, and whose opening does nothing by itself: /dev/fuse (no file system is mounted
/// without a mount call) or /dev/net/tun (no interface exists without an ioctl).
fn harmless_device() -> Option<&'static str> {
    ["/dev/fuse", "/dev/net/tun"].into_iter().find(|p| {
        std::fs::metadata(p).is_ok_and(|m| {
            m.file_type().is_char_device() && m.permissions().mode() & 0o006 == 0o006
        })
    })
}

fn device_or_loud_skip() -> Option<&'static str> {
    let d = harmless_device();
    if d.is_none() {
        eprintln!(
            "SKIPPED: this machine has neither /dev/fuse nor /dev/net/tun open to every user; \
             the --device test needs one of them"
        );
    }
    d
}

fn device_is_usable_only_when_given(mode: Mode, missing: &str) {
    let Some(dev) = device_or_loud_skip() else {
        return;
    };
    each_variant(|v| {
        let env = TestEnv::new(v, "device");
        let probe = env.probe("open", OPEN);
        let args = jobj(&[("dev", jstr(dev))]);
        let out = mode.run_ok(&env, &probe, &args, &["--device", dev]);
        mode.assert_mode(&out);
        out.probe().expect_eq("open", "OK");
        mode.run_ok(&env, &probe, &args, &[])
            .probe()
            .expect_eq("open", missing);
    });
}

#[test]
fn a_given_device_is_usable_and_absent_otherwise() {
    device_is_usable_only_when_given(Mode::Namespaces, "ENOENT");
}

#[test]
fn a_given_device_is_granted_in_the_fallback_too() {
    device_is_usable_only_when_given(Mode::Fallback, "EACCES");
}

#[test]
fn only_character_devices_under_dev_are_accepted() {
    each_variant(|v| {
        let env = TestEnv::new(v, "device-bad");
        let mut cases = vec![
            ("/etc/passwd", "a device must be a path under /dev"),
            ("/dev/../etc/passwd", "a device must be a path under /dev"),
            ("/dev/seal-no-such-device", "no such device on this machine"),
            ("/dev/shm", "not a character device"),
        ];
        // A block device, only looked at (stat), never opened.
        let block = ["/dev/loop0", "/dev/sda", "/dev/vda"]
            .into_iter()
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device()));
        if let Some(b) = block {
            cases.push((b, "not a character device"));
        }
        for (path, why) in cases {
            let out = env.seal_run(&["--device", path], &["true"]);
            out.expect_failure();
            assert!(
                out.stderr.contains(why) && out.stderr.lines().count() == 1,
                "{path}: {}",
                out.describe()
            );
        }
    });
}

#[test]
fn gpu_without_a_gpu_is_one_clear_error() {
    let has_gpu = Path::new("/dev/nvidiactl").exists()
        || std::fs::read_dir("/dev/dri").is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        });
    if has_gpu {
        eprintln!("SKIPPED: this machine has a GPU; run scripts/gpu-check.sh for the --gpu check");
        return;
    }
    each_variant(|v| {
        let env = TestEnv::new(v, "gpu");
        let out = env.seal_run(&["--gpu"], &["true"]);
        out.expect_failure();
        assert!(
            out.stderr
                .starts_with("seal: --gpu: this machine has no GPU device")
                && out.stderr.lines().count() == 1,
            "{}",
            out.describe()
        );
    });
}
