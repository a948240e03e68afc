//! `seal jupyter`: a Jupyter server in the run-phase sandbox, published on one host loopback
//! port through seal's bridge.
//!
//! The server and its kernels get the run phase's isolation (no network, no host files but
//! the project and --in data), the notebook directory writable with its protected names
//! read-only, and a random token that never appears on a command line (it is passed in the
//! environment, which other users cannot read through /proc).

use std::ffi::OsString;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::JupyterArgs;
use crate::commands::run::{self as run_cmd, Extras};
use crate::project::{self, ENV_MOUNT};
use crate::publish::{self, Publish};

/// The server's port inside: the sandbox has its own loopback, so a fixed port cannot clash.
const INNER_PORT: u16 = 8888;
/// Host ports tried when --port is not given, like Jupyter's own port retries.
const HOST_PORTS: std::ops::Range<u16> = 8888..8988;
/// Jupyter with many extensions can take a while to import on a cold cache.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Random bytes from the kernel.
fn random<const N: usize>(what: &str) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .with_context(|| format!("cannot read /dev/urandom for {what}"))?;
    Ok(bytes)
}

/// 32 random bytes, as hex.
fn token() -> Result<String> {
    Ok(random::<32>("the token")?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Where the browser reaches the server: the address the user or the policy names, else a
/// loopback address of this run's own (see `publish::private_loopback`), else 127.0.0.1 where
/// that cannot work (WSL 2 forwards only localhost to Windows; a host whose loopback does not
/// route all of 127.0.0.0/8).
fn browser_address(
    cli: Option<IpAddr>,
    policy: &crate::policy::Policy,
) -> Result<(IpAddr, &'static str)> {
    let named = crate::settings::named_publish_addr(cli, &policy.run);
    if let Some(a) = named {
        // The run checks it again and warns about a non-loopback one: refuse here only what it
        // would refuse, before a URL is made from it.
        if a.is_unspecified() {
            publish::address(named)?;
        }
        return Ok((a, ""));
    }
    let shared = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if remote_session(|k| std::env::var_os(k)) {
        return Ok((
            shared,
            "a remote session: port forwarding (ssh -L, VS Code, dev containers) reaches 127.0.0.1 only, so this page shares cookies with the other web services on that host; --publish-addr 127.A.B.C avoids it where the browser can reach that address",
        ));
    }
    if publish::only_localhost_reaches_this_host() {
        return Ok((
            shared,
            "WSL forwards only 127.0.0.1 to Windows, so this page shares cookies with your other local web services",
        ));
    }
    let own = IpAddr::V4(publish::private_loopback(random::<3>("an address")?));
    match TcpListener::bind((own, 0)) {
        Ok(_) => Ok((
            own,
            "an address of its own: no cookies or storage shared with other local web services",
        )),
        Err(e) => Ok((
            shared,
            if e.kind() == std::io::ErrorKind::AddrNotAvailable {
                "this host's loopback is 127.0.0.1 alone, so this page shares cookies with your other local web services"
            } else {
                "no address of its own could be bound, so this page shares cookies with your other local web services"
            },
        )),
    }
}

/// Whether seal runs in a session the browser reaches by port forwarding (SSH, VS Code Remote,
/// dev containers, Codespaces): those forward to the remote's 127.0.0.1 or localhost.
fn remote_session(var: impl Fn(&str) -> Option<OsString>) -> bool {
    [
        "SSH_CONNECTION",
        "SSH_CLIENT",
        "SSH_TTY",
        "REMOTE_CONTAINERS",
        "CODESPACES",
    ]
    .iter()
    .any(|k| var(k).is_some_and(|v| !v.is_empty()))
}

/// Which server the environment has: JupyterLab, else the classic Notebook.
fn server_module(env: &std::path::Path) -> Option<(&'static str, &'static str)> {
    let bin = env.join("bin");
    if bin.join("jupyter-lab").is_file() {
        Some(("jupyterlab", "lab"))
    } else if bin.join("jupyter-notebook").is_file() {
        Some(("notebook", "tree"))
    } else {
        None
    }
}

fn free_host_port(addr: IpAddr, taken: &[u16]) -> Result<u16> {
    HOST_PORTS
        .clone()
        .filter(|p| !taken.contains(p))
        .find(|&p| TcpListener::bind((addr, p)).is_ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no free port in {}-{} on {addr}; choose one with --port",
                HOST_PORTS.start,
                HOST_PORTS.end - 1
            )
        })
}

pub fn run(args: JupyterArgs) -> Result<i32> {
    let JupyterArgs {
        mut sandbox,
        port,
        notebook_dir,
        no_browser,
        jupyter_args,
    } = args;
    let open_browser = !no_browser && has_display();
    let project_dir = sandbox
        .project
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let project = project::locate(Some(&project_dir))?;
    if !project.has_env() {
        bail!(
            "seal jupyter needs Jupyter in the project's environment, and {} has none: run `seal install jupyterlab`",
            project.root.display()
        );
    }
    let Some((module, landing)) = server_module(&project.env_dir()) else {
        bail!(
            "the environment of {} has neither JupyterLab nor Notebook: run `seal install jupyterlab`",
            project.root.display()
        );
    };
    let policy = crate::policy::load(&project)?;
    let (addr, origin_note) = browser_address(sandbox.publish_addr, &policy)?;
    // The run binds exactly the address the URL names.
    sandbox.publish_addr = Some(addr);
    let taken: Vec<u16> = crate::settings::publishes(&sandbox.publishes, &policy.run)
        .iter()
        .map(|p| p.host_port)
        .collect();
    if let Some(p) = port.filter(|p| taken.contains(p)) {
        bail!("--port {p} is also a published port (--publish or the policy's run.publish)");
    }
    let host_port = match port {
        Some(p) => p,
        None => free_host_port(addr, &taken)?,
    };
    let notebooks = notebook_dir.unwrap_or_else(|| project.root.clone());
    let notebooks_abs = std::fs::create_dir_all(&notebooks)
        .and_then(|()| notebooks.canonicalize())
        .with_context(|| format!("--notebook-dir {}", notebooks.display()))?;
    let token = token()?;

    let mut command: Vec<OsString> = vec![
        format!("{ENV_MOUNT}/bin/python").into(),
        "-m".into(),
        module.into(),
        "--no-browser".into(),
        "--ip=127.0.0.1".into(),
        format!("--port={INNER_PORT}").into(),
        "--ServerApp.port_retries=0".into(),
        format!("--ServerApp.root_dir={}", notebooks_abs.display()).into(),
        // Jupyter prints its own links with the inner port; point them at the host's.
        format!(
            "--ServerApp.custom_display_url=http://{}/",
            publish::host_and_port(addr, host_port)
        )
        .into(),
    ];
    command.extend(jupyter_args);

    let url = format!(
        "http://{}/{landing}?token={token}",
        publish::host_and_port(addr, host_port)
    );
    let extras = Extras {
        notebook_dir: Some(notebooks_abs),
        env: vec![
            ("JUPYTER_TOKEN".into(), token),
            // Runtime and config live in the sandbox's private tmpfs, never the host's.
            ("JUPYTER_RUNTIME_DIR".into(), "/tmp/jupyter-runtime".into()),
            (
                "JUPYTER_CONFIG_DIR".into(),
                format!("{}/.jupyter", crate::layout::SANDBOX_HOME),
            ),
        ],
        publishes: vec![Publish {
            host_port,
            port: INNER_PORT,
        }],
        on_start: Some(Box::new(move |connector, _addr| {
            if publish::wait_ready(&connector, INNER_PORT, READY_TIMEOUT) {
                eprintln!("\nseal: Jupyter is ready in the sandbox (no network, project writable):\nseal:     {url}");
                if !origin_note.is_empty() {
                    eprintln!("seal: ({origin_note})");
                }
                eprintln!();
                if open_browser {
                    open_in_browser(&url);
                }
            } else {
                eprintln!(
                    "seal: the Jupyter server did not start listening within {}s",
                    READY_TIMEOUT.as_secs()
                );
            }
        })),
    };
    run_cmd::run_extended(sandbox, command, extras)
}

/// A graphical session: worth opening a browser in.
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// Open the URL in the user's browser (on the host: it is the user's own browser) without
/// putting the token on a command line, which every user can read: like Jupyter itself, hand
/// the browser a private redirect file instead, removed once the browser had time to read it.
fn open_in_browser(url: &str) {
    use std::io::Write;
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={url}\"></head>\
         <body><a href=\"{url}\">Open Jupyter</a></body></html>\n"
    );
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let file = tempfile::Builder::new()
        .prefix("seal-jupyter-")
        .suffix(".html")
        .tempfile_in(dir);
    let Ok(mut file) = file else {
        return;
    };
    if file.write_all(html.as_bytes()).is_err() {
        return;
    }
    let path = file.into_temp_path();
    let opened = std::process::Command::new("xdg-open")
        .arg(&*path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if opened.is_err() {
        eprintln!("seal: could not start xdg-open; open the URL above yourself");
        return;
    }
    std::thread::sleep(Duration::from_secs(30));
    drop(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_sessions_are_recognised() {
        let none = |_: &str| None;
        assert!(!remote_session(none));
        for k in [
            "SSH_CONNECTION",
            "SSH_TTY",
            "REMOTE_CONTAINERS",
            "CODESPACES",
        ] {
            assert!(
                remote_session(|v: &str| (v == k).then(|| "1".into())),
                "{k}"
            );
        }
        assert!(!remote_session(
            |v: &str| (v == "SSH_TTY").then(OsString::new)
        ));
    }
}
