//! `seal demo`: run one harmless probe twice, once directly and once in the sandbox, and
//! show side by side what each could reach. Needs no project, environment or network.

use std::net::TcpListener;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cli::DemoArgs;
use crate::layout;
use crate::python;

/// The probe only reads, lists, connects to seal's own loopback listener and creates one file
/// in the demo's temporary project; it prints one `name<TAB>result` line per check.
const PROBE: &str = r#"
import errno, os, socket, sys
port, home, project = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def check(name, fn):
    try:
        print(f"{name}\t{fn()}")
    except OSError as e:
        print(f"{name}\tblocked ({errno.errorcode.get(e.errno, e.errno)})")
def home_listing():
    names = sorted(os.listdir(home))
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    count = f"{len(names)} entries" if len(names) != 1 else "1 entry"
    return f"{count}: {shown}" if names else "empty"
def shadow():
    open("/etc/shadow", "rb").close()
    return "readable"
def loopback():
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    return "connected"
def interfaces():
    return ", ".join(n for _, n in socket.if_nameindex())
def processes():
    return f"{sum(p.isdigit() for p in os.listdir('/proc'))} visible"
def secret_env():
    return "visible" if "SEAL_DEMO_SECRET" in os.environ else "not visible"
def write_project():
    p = os.path.join(project, "written-by-probe")
    open(p, "x").close()
    os.unlink(p)
    return "writable"
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return "?"
check("your home directory", home_listing)
check("/etc/shadow", shadow)
check("a service on host 127.0.0.1", loopback)
check("network interfaces", interfaces)
check("processes", processes)
check("secret in the environment", secret_env)
check("write the project directory", write_project)
check("hostname", socket.gethostname)
check("uid", lambda: str(os.getuid()))
check("capabilities (CapEff)", lambda: status("CapEff"))
check("no_new_privs", lambda: status("NoNewPrivs"))
check("seccomp mode", lambda: status("Seccomp"))
"#;

fn parse(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn run(args: DemoArgs) -> Result<i32> {
    let python = python::discover(args.python.as_deref())?;
    let listener =
        TcpListener::bind("127.0.0.1:0").context("opening the demo's loopback listener")?;
    let port = listener.local_addr()?.port().to_string();
    let project = tempfile_dir()?;
    let probe = project.join("probe.py");
    std::fs::write(&probe, PROBE)?;
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    let secret = ("SEAL_DEMO_SECRET", "demo-canary-value");

    // Without seal: the same interpreter, isolated from site-packages so nothing but the probe runs.
    let direct = Command::new(&python.executable)
        .args(["-I", "-S"])
        .arg(&probe)
        .args([&port, &home, &project.display().to_string()])
        .env(secret.0, secret.1)
        .current_dir(&project)
        .output()
        .context("running the probe without seal")?;
    if !direct.status.success() {
        bail!(
            "the probe failed without seal: {}",
            String::from_utf8_lossy(&direct.stderr)
        );
    }

    let me = std::env::current_exe()?;
    let sandboxed = Command::new(me)
        .args(["run", "--python"])
        .arg(&python.executable)
        .arg("--project")
        .arg(&project)
        .arg("--")
        .arg(python.executable.as_os_str())
        .arg(&probe)
        .args([&port, &home, &project.display().to_string()])
        .env(secret.0, secret.1)
        .output()
        .context("running the probe in seal")?;
    let _ = std::fs::remove_dir_all(&project);
    drop(listener);
    if !sandboxed.status.success() {
        bail!(
            "the probe failed inside seal: {}",
            String::from_utf8_lossy(&sandboxed.stderr).trim()
        );
    }

    let before = parse(&String::from_utf8_lossy(&direct.stdout));
    let after = parse(&String::from_utf8_lossy(&sandboxed.stdout));
    println!(
        "seal demo: one probe, run directly and inside `seal run` (as uid {})",
        current_uid()
    );
    println!("interpreter: {}\n", python.executable.display());
    println!(
        "{:<30} {:<44} inside seal",
        "what the probe tried", "without seal"
    );
    println!(
        "{:<30} {:<44} {}",
        "-".repeat(28),
        "-".repeat(42),
        "-".repeat(32)
    );
    for (name, without) in &before {
        let with = after
            .iter()
            .find(|(k, _)| k == name)
            .map_or("(no answer)", |(_, v)| v.as_str());
        println!("{name:<30} {without:<44} {with}");
    }
    println!(
        "\nInside seal the program also runs as uid {} with a private /tmp and HOME, no network but its own loopback,\n\
         and every process dies with it. Try: seal run -v -- python3 -c 'print(1)'",
        layout::SANDBOX_UID
    );
    Ok(0)
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A fresh temporary project directory for the probe (never the user's own files), under a
/// random name: a `seal-demo-<pid>` left by a killed demo (PIDs are reused) or made by another
/// user sharing /tmp must not stop this one.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = std::env::temp_dir();
    let base = tempfile::Builder::new()
        .prefix("seal-demo-")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir_in(&tmp)
        .with_context(|| format!("creating a directory in {}", tmp.display()))?
        .keep();
    Ok(base)
}
