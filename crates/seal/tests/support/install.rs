//! Support of the `seal install` integration tests (tests/install.rs), on top of [`super`].
//!
//! * Every isolation test runs as root and as uid 65534 ([`each_variant`]); not running as root,
//!   only the current uid runs and the skip is printed loudly.
//! * [`TestEnv`]: a [`TestHome`] (a fake HOME full of canaries, files and environment variables
//!   set on the seal process, and a project inside it, owned by the variant's user) with the
//!   install commands.
//! * [`PyIndex`]: a PEP 503 index served by a small HTTP server thread on 127.0.0.1:0 from a
//!   test directory. It records every request (request line and headers), can delay responses
//!   and serves whatever bytes are on disk (tampering = rewriting a file). Wheels and sdists are
//!   built locally with Python's zipfile/tarfile (`python3 -I -S`, no network).
//! * [`Sink`]: listeners on host loopback that record what reaches
//!   them.
//!
//! * [`uv_wheel`]: uv's real wheel, downloaded once by the host's pip and cached.
//!
//! Nothing here talks to anything but 127.0.0.0/8, except [`uv_wheel`]'s one-time download of
//! uv from PyPI by the host's own pip (never by seal; SEAL_TEST_NO_PYPI=1 skips it).
//!
//! `SEAL_TEST_KEEP=1` keeps the temporary directories; `SEAL_TEST_VARIANTS=root` or `=uid65534`
//! runs one variant only.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use super::*;

/// How long a command's stdout and stderr may stay open after it ended.
pub const INSTALL_PIPE_GRACE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Small utilities

pub fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

pub fn sha256_file(p: &Path) -> String {
    sha256_hex(&fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
}

/// Standard base64 (for recognising HTTP Basic credentials on the wire).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// relative path -> "dir MODE" / "file MODE SHA256" / "link TARGET" for everything under `root`.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for rel in walk(root) {
        let p = root.join(&rel);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = meta.mode() & 0o7777;
        let v = if meta.file_type().is_symlink() {
            format!("link {}", fs::read_link(&p).unwrap().display())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else if meta.is_file() {
            format!("file {mode:o} {}", sha256_file(&p))
        } else {
            format!("special {mode:o}")
        };
        out.insert(rel.to_string_lossy().into_owned(), v);
    }
    out
}

pub fn assert_same_snapshot(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    if before == after {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diff.push(format!("  removed {k} ({v})")),
            Some(w) if w != v => diff.push(format!("  changed {k}: {v} -> {w}")),
            _ => {}
        }
    }
    for (k, v) in after {
        if !before.contains_key(k) {
            diff.push(format!("  added   {k} ({v})"));
        }
    }
    panic!("{what} changed:\n{}", diff.join("\n"));
}

/// Names of `.seal/tmp-install-*` directories of a project.
pub fn tmp_install_dirs(project: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(project.join(".seal"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("tmp-install-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The site-packages directory of a venv.
pub fn site_packages(env: &Path) -> PathBuf {
    let lib = env.join("lib");
    let entries = fs::read_dir(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
    for e in entries.flatten() {
        let sp = e.path().join("site-packages");
        if e.file_name().to_string_lossy().starts_with("python") && sp.is_dir() {
            return sp;
        }
    }
    panic!("no site-packages under {}", lib.display());
}

/// Snapshot of an environment's installed files, without bytecode caches (compiled at install
/// time, their headers carry timestamps) and pip's per-install bookkeeping (REQUESTED marks
/// what was named directly, which differs between `pkg` and a lock naming every artifact;
/// RECORD lists those files).
pub fn installed_files(env: &Path) -> BTreeMap<String, String> {
    snapshot(env)
        .into_iter()
        .filter(|(k, _)| {
            let bookkeeping = ["REQUESTED", "RECORD", "INSTALLER", "direct_url.json"]
                .iter()
                .any(|f| k.ends_with(&format!(".dist-info/{f}")));
            !k.contains("__pycache__") && !k.ends_with(".pyc") && !bookkeeping
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The per-test environment

/// A [`TestHome`] and the commands of the install tests; its fields are the home's.
pub struct TestEnv {
    base: TestHome,
}

derefs_to_test_home!(TestEnv);

impl TestEnv {
    pub fn new(v: &Variant, name: &str) -> TestEnv {
        TestEnv {
            base: TestHome::new(v, name),
        }
    }

    fn command(&self, program: &Path, label: &str) -> Run {
        Run::new(
            self.v.command(program, &self.env, &self.project),
            format!("[{}] {label}", self.v.name),
            DEADLINE,
        )
        .pipe_grace(INSTALL_PIPE_GRACE)
    }

    /// `seal ARGS` as the variant's user, in the project, with the test environment.
    pub fn seal(&self, args: &[&str]) -> Run {
        self.command(&self.v.seal, "seal").args(args)
    }

    /// `seal install --python /usr/bin/python3 --index-url URL ARGS`.
    pub fn install(&self, index_url: &str, args: &[&str]) -> Output {
        self.seal(&["install", "--python", PYTHON, "--index-url", index_url])
            .args(args)
            .output()
    }

    /// `seal run -- PROGRAM...` (the project's environment is used automatically).
    pub fn run(&self, program: &[&str]) -> Output {
        self.seal(&["run", "--"]).args(program).output()
    }

    /// A host program (no seal), same user, environment and working directory.
    pub fn host(&self, program: &str, args: &[&str]) -> Run {
        self.command(Path::new(program), program).args(args)
    }

    pub fn env_dir(&self) -> PathBuf {
        self.project.join(".seal").join("env")
    }
}

// ---------------------------------------------------------------------------------------------
// The local package index

/// One request the index server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path without query (origin-form, also when the request came in absolute-form).
    pub path: String,
    /// The whole request head (request line and headers) as received.
    pub head: String,
}

#[derive(Default)]
struct ServerState {
    log: Mutex<Vec<Request>>,
    /// (path substring, delay) applied before responding.
    delay: Mutex<Option<(String, Duration)>>,
    connections: AtomicUsize,
}

/// A built artifact on the index.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub file: String,
    pub path: PathBuf,
    pub sha256: String,
}

#[derive(Default, Clone)]
pub struct WheelSpec {
    pub name: String,
    pub version: String,
    /// (path inside the wheel, content)
    pub files: Vec<(String, String)>,
    /// (path inside the wheel, bytes in base64): compiled extensions.
    pub binary_files: Vec<(String, String)>,
    pub requires: Vec<String>,
    pub entry_points: Option<String>,
}

impl WheelSpec {
    pub fn new(name: &str, version: &str) -> WheelSpec {
        WheelSpec {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }
    }

    pub fn file(mut self, path: &str, content: &str) -> WheelSpec {
        self.files.push((path.into(), content.into()));
        self
    }

    pub fn binary_file(mut self, path: &str, content: &[u8]) -> WheelSpec {
        self.binary_files.push((path.into(), base64(content)));
        self
    }

    pub fn requires(mut self, req: &str) -> WheelSpec {
        self.requires.push(req.into());
        self
    }

    pub fn entry_points(mut self, text: &str) -> WheelSpec {
        self.entry_points = Some(text.into());
        self
    }
}

const BUILDER: &str = include_str!("install/builder.py");

/// A PEP 503 index (`/simple/<name>/`, files under `/files/`) served over plain HTTP on
/// 127.0.0.1:0 by a thread of the test.
pub struct PyIndex {
    pub root: PathBuf,
    pub port: u16,
    build_dir: PathBuf,
    state: Arc<ServerState>,
    stop: Arc<AtomicBool>,
}

impl PyIndex {
    pub fn start(dir: &Path) -> PyIndex {
        let root = dir.join("docroot");
        let build_dir = dir.join("build");
        fs::create_dir_all(root.join("simple")).unwrap();
        fs::create_dir_all(root.join("files")).unwrap();
        fs::create_dir_all(&build_dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ServerState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, rt) = (state.clone(), stop.clone(), root.clone());
        thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        st.connections.fetch_add(1, Ordering::SeqCst);
                        let (st, rt) = (st.clone(), rt.clone());
                        thread::spawn(move || serve(conn, &st, &rt));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        PyIndex {
            root,
            port,
            build_dir,
            state,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }

    /// TCP connections accepted (even ones that never sent a full request).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn describe_requests(&self) -> String {
        self.requests()
            .iter()
            .map(|r| format!("  {} {}", r.method, r.path))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Delay every response whose path contains `pattern` by `d` (None: no delay).
    pub fn set_delay(&self, delay: Option<(&str, Duration)>) {
        *self.state.delay.lock().unwrap() = delay.map(|(p, d)| (p.to_string(), d));
    }

    fn build(&self, spec: serde_json::Value, file: &str) -> Artifact {
        let script = self.build_dir.join("builder.py");
        if !script.exists() {
            fs::write(&script, BUILDER).unwrap();
        }
        let out = self.root.join("files").join(file);
        let mut spec = spec;
        spec["out"] = serde_json::Value::String(out.to_str().unwrap().into());
        let spec_path = self.build_dir.join(format!("{file}.json"));
        fs::write(&spec_path, spec.to_string()).unwrap();
        let o = Command::new(PYTHON)
            .args(["-I", "-S"])
            .arg(&script)
            .arg(&spec_path)
            .env_clear()
            .env("PATH", HOST_PATH)
            .output()
            .expect("running the wheel builder");
        assert!(
            o.status.success(),
            "building {file} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Artifact {
            file: file.into(),
            sha256: sha256_file(&out),
            path: out,
        }
    }

    /// Build a pure-Python wheel into `/files/` (not yet linked from any page).
    pub fn wheel(&self, spec: &WheelSpec) -> Artifact {
        let file = format!(
            "{}-{}-py3-none-any.whl",
            spec.name.replace('-', "_"),
            spec.version
        );
        self.build(
            serde_json::json!({
                "kind": "wheel",
                "name": spec.name,
                "version": spec.version,
                "files": spec.files,
                "binary_files": spec.binary_files,
                "requires": spec.requires,
                "entry_points": spec.entry_points,
            }),
            &file,
        )
    }

    /// Build a source archive `name-version.tar.gz` with the given setup.py.
    pub fn sdist(&self, name: &str, version: &str, setup_py: &str) -> Artifact {
        self.build(
            serde_json::json!({"kind": "sdist", "name": name, "version": version, "setup_py": setup_py}),
            &format!("{name}-{version}.tar.gz"),
        )
    }

    /// Build a source archive `name-version.tar.gz` holding PKG-INFO and `files` (path inside
    /// the `name-version/` directory, content): e.g. a pyproject.toml with an in-tree backend.
    pub fn sdist_with(&self, name: &str, version: &str, files: &[(&str, &str)]) -> Artifact {
        self.build(
            serde_json::json!({"kind": "sdist", "name": name, "version": version, "files": files}),
            &format!("{name}-{version}.tar.gz"),
        )
    }

    /// Copy a file built elsewhere (e.g. a real wheel downloaded once) into `/files/`.
    pub fn add_file(&self, src: &Path) -> Artifact {
        let file = src
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let out = self.root.join("files").join(&file);
        fs::copy(src, &out).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        Artifact {
            sha256: sha256_file(&out),
            file,
            path: out,
        }
    }

    /// Write `/simple/<name>/index.html` linking `links` (href, artifact); the href gets the
    /// artifact's `#sha256=` fragment.
    pub fn page(&self, name: &str, links: &[(String, &Artifact)]) {
        let dir = self.root.join("simple").join(name);
        fs::create_dir_all(&dir).unwrap();
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"></head><body>\n",
        );
        for (href, a) in links {
            html.push_str(&format!(
                "<a href=\"{href}#sha256={}\">{}</a><br/>\n",
                a.sha256, a.file
            ));
        }
        html.push_str("</body></html>\n");
        fs::write(dir.join("index.html"), html).unwrap();
    }

    /// Link artifacts from their project page at `/files/<file>` on this server.
    pub fn publish(&self, name: &str, arts: &[&Artifact]) {
        let links: Vec<(String, &Artifact)> = arts
            .iter()
            .map(|a| (format!("/files/{}", a.file), *a))
            .collect();
        self.page(name, &links);
    }

    /// Requests whose path contains `needle`.
    pub fn hits(&self, needle: &str) -> usize {
        self.paths().iter().filter(|p| p.contains(needle)).count()
    }
}

impl Drop for PyIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut conn: TcpStream, st: &ServerState, root: &Path) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    if method.is_empty() {
        return;
    }
    // Absolute-form (from a proxy) or origin-form.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string()),
        None => target.clone(),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    st.log.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        head,
    });
    let delay = st.delay.lock().unwrap().clone();
    if let Some((pat, d)) = delay {
        if path.contains(&pat) {
            thread::sleep(d);
        }
    }
    let (status, ctype, body) = lookup(root, &path, &method);
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(&body);
    }
    let _ = conn.write_all(&resp);
    let _ = conn.flush();
}

fn lookup(root: &Path, path: &str, method: &str) -> (&'static str, &'static str, Vec<u8>) {
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", "text/plain", b"no\n".to_vec());
    }
    if path.split('/').any(|c| c == "..") {
        return ("404 Not Found", "text/plain", b"not found\n".to_vec());
    }
    let mut p = root.join(path.trim_start_matches('/'));
    if p.is_dir() {
        // pip asks for /simple/<name>/; the bare form is served the same.
        p = p.join("index.html");
    }
    match fs::read(&p) {
        Ok(body) => {
            let ctype = if p.extension().is_some_and(|e| e == "html") {
                "text/html"
            } else {
                "application/octet-stream"
            };
            ("200 OK", ctype, body)
        }
        Err(_) => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    }
}

// ---------------------------------------------------------------------------------------------
// The real PyPI

/// SEAL_TEST_NO_PYPI=1: nothing may talk to the real PyPI.
fn no_pypi() -> bool {
    std::env::var("SEAL_TEST_NO_PYPI").as_deref() == Ok("1")
}

/// For a test that installs from the real PyPI: with SEAL_TEST_NO_PYPI=1, say loudly that
/// `test` is skipped and return true.
pub fn skip_without_pypi(test: &str) -> bool {
    if !no_pypi() {
        return false;
    }
    eprintln!(
        "{}\n",
        bang_frame(&format!("!!! {test} SKIPPED: SEAL_TEST_NO_PYPI=1"))
    );
    true
}

/// What this machine may need to reach PyPI (its proxy and CA bundle), which seal must honour:
/// for [`TestEnv::pass_host_env`].
pub const PROXY_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
];
/// The hosts this machine reaches without its proxy.
pub const NO_PROXY_ENV: &[&str] = &["NO_PROXY", "no_proxy"];

// ---------------------------------------------------------------------------------------------
// The real uv wheel, fetched once by the host (not by seal)

fn find_uv_wheel(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| n.starts_with("uv-") && n.ends_with(".whl"))
        })
}

/// uv's wheel for this host, downloaded once from PyPI by the host's own pip (`pip download
/// --only-binary=:all: --no-deps uv`, the test process's environment: its proxy and CA bundle)
/// and kept under the cargo target directory, so later runs do not download it again. The
/// tests serve it from a local index: seal itself never talks to PyPI for it.
///
/// With no cached copy: a failed download panics, unless SEAL_TEST_NO_PYPI=1, which returns
/// None after a loud notice.
pub fn uv_wheel() -> Option<PathBuf> {
    static WHEEL: OnceLock<Option<PathBuf>> = OnceLock::new();
    WHEEL
        .get_or_init(|| {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seal-install-tests");
            let dir = base.join("uv-wheel");
            if let Some(w) = find_uv_wheel(&dir) {
                return Some(w);
            }
            if no_pypi() {
                eprintln!(
                    "{}\n",
                    bang_frame(&format!(
                        "!!! the uv installer test is SKIPPED: SEAL_TEST_NO_PYPI=1 and no uv wheel is\n\
                         !!! cached in {} (the host downloads it once from PyPI).",
                        dir.display()
                    ))
                );
                return None;
            }
            fs::create_dir_all(&base).expect("creating the test cache directory");
            let tmp = base.join(format!(
                "uv-wheel.partial-{}-{}",
                std::process::id(),
                random_hex(4)
            ));
            fs::create_dir(&tmp).expect("creating the download directory");
            let o = Command::new(PYTHON)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--only-binary=:all:",
                    "--no-deps",
                    "--dest",
                ])
                .arg(&tmp)
                .arg("uv")
                .current_dir(&tmp)
                .stdin(Stdio::null())
                .output()
                .expect("running the host's pip");
            if !o.status.success() || find_uv_wheel(&tmp).is_none() {
                let _ = fs::remove_dir_all(&tmp);
                panic!(
                    "the host could not download uv's wheel from PyPI (needed once, then cached in \
                     {}); set SEAL_TEST_NO_PYPI=1 to skip the uv installer test\n--- pip exit \
                     {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                    dir.display(),
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            // Another test process may have won the race: then its copy is used.
            if fs::rename(&tmp, &dir).is_err() {
                let _ = fs::remove_dir_all(&tmp);
            }
            Some(find_uv_wheel(&dir).expect("the cached uv wheel"))
        })
        .clone()
}

/// A uv binary on the PATH seal's commands get ([`HOST_PATH`]): seal would use it instead of
/// fetching uv.
pub fn uv_on_host_path() -> Option<PathBuf> {
    std::env::split_paths(HOST_PATH)
        .map(|d| d.join("uv"))
        .find(|p| p.is_file())
}
