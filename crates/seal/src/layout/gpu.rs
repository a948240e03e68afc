//! `seal run --gpu`: what a GPU program needs of the host, found on this host. Nothing here
//! widens the rest of the sandbox: no network, the same files, Landlock and seccomp in force.
//!
//! - Device nodes: NVIDIA's (/dev/nvidia0..N, nvidiactl, nvidia-uvm, nvidia-uvm-tools,
//!   nvidia-modeset, /dev/nvidia-caps/*) and the DRM render nodes (/dev/dri/renderD*) of other
//!   vendors, never the modesetting /dev/dri/card* nodes. They are bound into the sandbox's
//!   /dev, the only place where device nodes work (every other mount is nodev).
//! - Driver libraries: the NVIDIA user-space driver (libcuda, libnvidia-*, ...) as listed by
//!   `ldconfig -p`; under /usr or /lib they are already visible, anywhere else they are bound
//!   read-only at their own paths.
//! - Vendor files outside /usr: ICD lists in /etc/vulkan, /etc/OpenCL, /etc/glvnd, read-only.
//! - /sys, read-only: the PCI device tree (/sys/bus/pci, /sys/devices/pci*), /sys/module/nvidia*,
//!   /sys/class/drm and the NUMA nodes, which CUDA, NVML and ROCm read to find the devices.
//!   /proc/driver/nvidia needs nothing: the sandbox's own /proc shows it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use seal_sandbox::{Access, Mount};

/// What `--gpu` adds to a run.
#[derive(Debug, Default)]
pub struct GpuView {
    /// Device nodes (paths under /dev), for the sandbox's /dev.
    pub devices: Vec<PathBuf>,
    /// Read-only binds (libraries, vendor files, /sys entries).
    pub mounts: Vec<Mount>,
}

/// NVIDIA's device nodes other than the numbered GPUs.
const NVIDIA_NODES: &[&str] = &[
    "nvidiactl",
    "nvidia-uvm",
    "nvidia-uvm-tools",
    "nvidia-modeset",
];

/// Libraries of NVIDIA's user-space driver (not the CUDA toolkit, which comes with the
/// program's own packages).
const DRIVER_LIBRARIES: &[&str] = &[
    "libcuda.so",
    "libcudadebugger.so",
    "libnvidia-",
    "libnvcuvid.so",
    "libnvoptix.so",
    "libEGL_nvidia.so",
    "libGLX_nvidia.so",
    "libGLESv1_CM_nvidia.so",
    "libGLESv2_nvidia.so",
];

const VENDOR_ETC: &[&str] = &["/etc/vulkan", "/etc/OpenCL", "/etc/glvnd"];

/// The GPU view of the host whose root is `root` ("/" except in tests), with `ldconfig`'s
/// listing. An error, saying what was looked for, when there is no GPU device at all.
pub fn discover(root: &Path, ldconfig_listing: &str) -> Result<GpuView> {
    let devices = device_nodes(root);
    if devices.is_empty() {
        bail!(
            "--gpu: this machine has no GPU device seal can give a sandbox (looked for /dev/nvidia0.., \
             /dev/nvidiactl, /dev/nvidia-uvm and /dev/dri/renderD*); is the driver loaded (nvidia-smi, \
             or `modprobe nvidia-uvm` for /dev/nvidia-uvm)?"
        );
    }
    let mut mounts = Vec::new();
    for lib in driver_libraries(ldconfig_listing) {
        if !visible_already(&lib) && root.join(rel(&lib)).exists() {
            mounts.push(read_only(lib));
        }
    }
    let sys = root.join("sys");
    let mut sys_dirs: Vec<PathBuf> = ["bus/pci", "class/drm", "devices/system/node"]
        .iter()
        .map(|d| Path::new("/sys").join(d))
        .collect();
    sys_dirs.extend(
        names_in(&sys.join("devices"), |n| n.starts_with("pci"))
            .map(|n| Path::new("/sys/devices").join(n)),
    );
    sys_dirs.extend(
        names_in(&sys.join("module"), |n| n.starts_with("nvidia"))
            .map(|n| Path::new("/sys/module").join(n)),
    );
    let vendor = VENDOR_ETC.iter().map(PathBuf::from);
    for p in sys_dirs.into_iter().chain(vendor) {
        if root.join(rel(&p)).exists() {
            mounts.push(read_only(p));
        }
    }
    Ok(GpuView { devices, mounts })
}

/// `/dev/...` paths of the GPU device nodes under `root`, sorted. Only character devices count
/// (a symbolic link to one counts: it is followed).
fn device_nodes(root: &Path) -> Vec<PathBuf> {
    let dev = root.join("dev");
    let gpu_node = |n: &str| {
        NVIDIA_NODES.contains(&n)
            || n.strip_prefix("nvidia")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut found: Vec<PathBuf> = names_in(&dev, gpu_node)
        .map(|n| PathBuf::from("/dev").join(n))
        .collect();
    found.extend(
        names_in(&dev.join("nvidia-caps"), |_| true)
            .map(|n| PathBuf::from("/dev/nvidia-caps").join(n)),
    );
    found.extend(
        names_in(&dev.join("dri"), |n| n.starts_with("renderD"))
            .map(|n| PathBuf::from("/dev/dri").join(n)),
    );
    found.retain(|p| is_char_device(&root.join(rel(p))));
    found.sort();
    found
}

fn is_char_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

/// Names in `dir` that `keep` accepts (none when `dir` cannot be read).
fn names_in(dir: &Path, keep: impl Fn(&str) -> bool) -> impl Iterator<Item = String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names.into_iter()
}

/// The driver's libraries in an `ldconfig -p` listing
/// (`\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1`).
pub fn driver_libraries(listing: &str) -> Vec<PathBuf> {
    let mut libs: Vec<PathBuf> = listing
        .lines()
        .filter_map(|l| {
            let (name, path) = l.trim().split_once(" => ")?;
            let name = name.split_whitespace().next()?;
            DRIVER_LIBRARIES
                .iter()
                .any(|p| name.starts_with(p))
                .then(|| PathBuf::from(path.trim()))
        })
        .filter(|p| p.is_absolute())
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

/// The system view already shows /usr and the top-level library directories.
fn visible_already(p: &Path) -> bool {
    ["/usr", "/lib", "/lib32", "/lib64", "/libx32"]
        .iter()
        .any(|d| p.starts_with(d))
}

fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

fn read_only(p: PathBuf) -> Mount {
    Mount::Bind {
        src: p.clone(),
        dst: p,
        access: Access::ReadOnly,
    }
}

/// `ldconfig -p` of this host; empty when it cannot be run (the libraries under /usr are still
/// visible then).
pub fn ldconfig_listing() -> String {
    ["/usr/sbin/ldconfig", "/sbin/ldconfig"]
        .iter()
        .find(|p| Path::new(p).exists())
        .and_then(|p| std::process::Command::new(p).arg("-p").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A stand-in host: its "device nodes" are symbolic links to /dev/null, a real character
    /// device, since creating device nodes needs privileges these tests do not assume.
    fn fake_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "dev/dri",
            "dev/nvidia-caps",
            "sys/bus/pci/devices",
            "sys/devices/pci0000:00",
            "sys/devices/system/node",
            "sys/module/nvidia",
            "sys/module/snd",
            "opt/nvidia/lib",
            "etc/vulkan/icd.d",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for n in [
            "nvidia0",
            "nvidia1",
            "nvidiactl",
            "nvidia-uvm",
            "nvidia-uvm-tools",
            "nvidia-modeset",
            "dri/renderD128",
            "dri/card0",
            "nvidia-caps/nvidia-cap1",
            "sda",
            "nvidiafoo",
        ] {
            symlink("/dev/null", r.join("dev").join(n)).unwrap();
        }
        // Not a device: a regular file with a GPU's name is never bound.
        std::fs::write(r.join("dev/nvidia2"), "").unwrap();
        std::fs::write(r.join("opt/nvidia/lib/libcuda.so.1"), "").unwrap();
        root
    }

    const LISTING: &str = "1234 libs found in cache `/etc/ld.so.cache'
\tlibcuda.so.1 (libc6,x86-64) => /opt/nvidia/lib/libcuda.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
\tlibnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /gone/libnvidia-ptxjitcompiler.so.1
";

    #[test]
    fn stand_in_devices_libraries_and_sys_entries_are_found() {
        eprintln!(
            "NOTE: this checks the --gpu layout on stand-in files only; whether CUDA works in \
             it needs a GPU host: run scripts/gpu-check.sh there"
        );
        let root = fake_root();
        let v = discover(root.path(), LISTING).unwrap();
        let devs: Vec<&str> = v.devices.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            devs,
            [
                "/dev/dri/renderD128",
                "/dev/nvidia-caps/nvidia-cap1",
                "/dev/nvidia-modeset",
                "/dev/nvidia-uvm",
                "/dev/nvidia-uvm-tools",
                "/dev/nvidia0",
                "/dev/nvidia1",
                "/dev/nvidiactl",
            ]
        );
        let binds: Vec<(&str, Access)> = v
            .mounts
            .iter()
            .map(|m| match m {
                Mount::Bind { src, dst, access } => {
                    assert_eq!(src, dst);
                    (dst.to_str().unwrap(), *access)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            binds,
            [
                // Outside /usr and /lib, and present: bound. The one under /usr is visible
                // already; the missing one is skipped.
                ("/opt/nvidia/lib/libcuda.so.1", Access::ReadOnly),
                ("/sys/bus/pci", Access::ReadOnly),
                ("/sys/devices/system/node", Access::ReadOnly),
                ("/sys/devices/pci0000:00", Access::ReadOnly),
                ("/sys/module/nvidia", Access::ReadOnly),
                ("/etc/vulkan", Access::ReadOnly),
            ]
        );
    }

    #[test]
    fn no_gpu_is_an_error_naming_what_was_looked_for() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("dev/dri")).unwrap();
        symlink("/dev/null", root.path().join("dev/dri/card0")).unwrap();
        let e = discover(root.path(), "").unwrap_err().to_string();
        assert!(
            e.starts_with("--gpu: this machine has no GPU device"),
            "{e}"
        );
        assert!(e.contains("/dev/dri/renderD*"), "{e}");
    }

    #[test]
    fn only_driver_libraries_are_taken_from_the_listing() {
        assert_eq!(
            driver_libraries(LISTING),
            [
                PathBuf::from("/gone/libnvidia-ptxjitcompiler.so.1"),
                PathBuf::from("/opt/nvidia/lib/libcuda.so.1"),
                PathBuf::from("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"),
            ]
        );
    }
}
