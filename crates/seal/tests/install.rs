//! `seal install`: the environment is built by sandboxes that reach only the package index and
//! see none of the user's files, from wheels only, swapped in atomically, optionally pinned by
//! seal.lock; `seal run` then uses it with no network.
//!
//! Every test runs as root and as uid 65534 (see `support::install`) against a PEP 503 index
//! served by the test on 127.0.0.1, with wheels built by the test. Sinks listen on host loopback
//! only. The one exception is `real_pypi_end_to_end`, which installs a tiny wheel from the real
//! PyPI (skip it with SEAL_TEST_NO_PYPI=1). `uv_installer_path` serves uv's real wheel from the
//! local index; the host's own pip downloads that wheel from PyPI once (`uv_wheel`, cached under
//! the cargo target directory): seal itself still talks only to the local index.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::install::*;

// ---------------------------------------------------------------------------------------------
// Packages

/// alpha 1.0 (depends on beta, has a console script) and beta 2.0, published on `index`.
fn benign(index: &PyIndex) -> (Artifact, Artifact) {
    let alpha = index.wheel(&alpha_spec("1.0"));
    let beta =
        index.wheel(&WheelSpec::new("beta", "2.0").file("beta/__init__.py", "VERSION = '2.0'\n"));
    index.publish("alpha", &[&alpha]);
    index.publish("beta", &[&beta]);
    (alpha, beta)
}

fn alpha_spec(version: &str) -> WheelSpec {
    WheelSpec::new("alpha", version)
        .file(
            "alpha/__init__.py",
            &format!(
                "import beta\nVERSION = '{version}'\n\
                 def main():\n    print('alpha-cli', VERSION, 'beta', beta.VERSION)\n"
            ),
        )
        .requires("beta")
        .entry_points("[console_scripts]\nalpha-cli = alpha:main\n")
}

/// `import alpha` in `seal run`, returning alpha's version.
fn sealed_alpha_version(env: &TestEnv) -> String {
    let out = env.run(&[
        "python",
        "-c",
        "import alpha; print('ALPHA', alpha.VERSION)",
    ]);
    out.expect_success();
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("ALPHA "))
        .unwrap_or_else(|| panic!("no ALPHA line\n{}", out.describe()))
        .to_string()
}

fn env_json(env: &TestEnv) -> serde_json::Value {
    let out = env.seal(&["env", "--json"]).output();
    out.expect_success();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("seal env --json is not JSON: {e}\n{}", out.describe()))
}

fn env_packages(env: &TestEnv) -> Vec<(String, String)> {
    let j = env_json(env);
    let mut v: Vec<(String, String)> = j["packages"]
        .as_array()
        .unwrap_or_else(|| panic!("no packages array in {j}"))
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// After installing `alpha` (which depends on `beta`) from `benign`: each wheel was fetched
/// exactly once, no temporary install directory is left, and the environment holds both.
fn assert_benign_fetched_once(env: &TestEnv, index: &PyIndex, artifacts: [&Artifact; 2]) {
    for a in artifacts {
        assert_eq!(
            index.hits(&format!("/files/{}", a.file)),
            1,
            "{} not fetched exactly once:\n{}",
            a.file,
            index.describe_requests()
        );
    }
    assert_no_tmp_install(env, "after a successful install");
    assert_eq!(
        env_packages(env),
        vec![
            ("alpha".into(), "1.0".into()),
            ("beta".into(), "2.0".into())
        ]
    );
}

fn assert_no_tmp_install(env: &TestEnv, when: &str) {
    let left = tmp_install_dirs(&env.project);
    assert!(
        left.is_empty(),
        "{when}: temporary install directories left behind in .seal: {left:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. A malicious .pth hook: installed (and reported), then triggered by `seal run`

/// The payload of `zzz_evilpkg.pth` (`import evilpkg_hook; evilpkg_hook.run()`): what real
/// .pth malware does at every interpreter start. It logs each attempt's result (errno name or
/// "OK") as one JSON line on stderr.
const HOOK: &str = include_str!("probes/install/hook.py");

const PTH_FILES: &[&str] = &[".ssh/id_rsa", ".aws/credentials", ".netrc", ".pypirc"];
const PTH_ENV: &[&str] = &["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"];
const NET_REFUSED: &[&str] = &["ECONNREFUSED", "ENETUNREACH", "EPERM", "EACCES"];

/// Publish evilpkg 1.0 on `index`: a wheel whose `zzz_evilpkg.pth` runs HOOK (marker
/// `m<nonce>`, aimed at `tcp` and `dns`) at every interpreter start.
fn publish_pth_hook(env: &TestEnv, index: &PyIndex, tcp: &Sink, dns: &Sink) {
    let cfg = serde_json::json!({
        "marker": format!("m{}", env.nonce),
        "tcp_port": tcp.port,
        "dns_port": dns.port,
        "project": env.project,
        "host_home": env.home,
        "files": PTH_FILES,
        "env": PTH_ENV,
    });
    let hook = HOOK.replace("__CFG__", &serde_json::to_string(&cfg.to_string()).unwrap());
    let evil = index.wheel(
        &WheelSpec::new("evilpkg", "1.0")
            .file("evilpkg/__init__.py", "")
            .file("evilpkg_hook.py", &hook)
            .file(
                "zzz_evilpkg.pth",
                "import evilpkg_hook; evilpkg_hook.run()\n",
            ),
    );
    index.publish("evilpkg", &[&evil]);
}

/// Positive control: the .pth files installed in `env`'s environment, processed by
/// /usr/bin/python3 on the host (same user, environment, working directory).
fn run_pth_on_host(env: &TestEnv) -> Output {
    let sp = site_packages(&env.env_dir());
    let ctl = env
        .host(
            PYTHON,
            &[
                "-I",
                "-c",
                &format!("import site; site.addsitedir({:?})", sp.to_str().unwrap()),
            ],
        )
        .output();
    ctl.expect_success();
    ctl
}

fn pth_log(out: &Output) -> BTreeMap<String, String> {
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("SEAL-PTH-LOG "))
        .unwrap_or_else(|| {
            panic!(
                "the .pth payload did not run (no SEAL-PTH-LOG line)\n{}",
                out.describe()
            )
        });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad payload log {line:?}: {e}"))
}

fn expect_log(log: &BTreeMap<String, String>, key: &str, allowed: &[&str], out: &Output) {
    let v = log
        .get(key)
        .unwrap_or_else(|| panic!("payload log has no {key:?}: {log:#?}\n{}", out.describe()));
    assert!(
        allowed.contains(&v.as_str()),
        "{key}: expected one of {allowed:?}, got {v:?}\nwhole log: {log:#?}\n{}",
        out.describe()
    );
}

/// The hook read none of the fake HOME's PTH_FILES, through `~` or through the host's path
/// (`read_abs` ended in one of `read_abs`), and saw none of the PTH_ENV variables.
fn expect_log_saw_no_secrets(log: &BTreeMap<String, String>, read_abs: &[&str], out: &Output) {
    for rel in PTH_FILES {
        expect_log(log, &format!("read_home:{rel}"), &["ENOENT", "EACCES"], out);
        expect_log(log, &format!("read_abs:{rel}"), read_abs, out);
    }
    for n in PTH_ENV {
        expect_log(log, &format!("env:{n}"), &["absent"], out);
    }
}

/// Whether `sink` receives `needle` within 10 s (the positive controls).
fn sink_gets(sink: &Sink, needle: &str) -> bool {
    wait_until(Duration::from_secs(10), || sink.received().contains(needle))
}

/// Positive control: `tcp` received the fake HOME's ~/.ssh/id_rsa and $AWS_SECRET_ACCESS_KEY.
fn assert_tcp_sink_got_secrets(env: &TestEnv, tcp: &Sink) {
    assert!(
        sink_gets(tcp, &env.canary_env_value("AWS_SECRET_ACCESS_KEY"))
            && sink_gets(tcp, env.canary_file_content(".ssh/id_rsa").trim()),
        "positive control: the TCP sink did not get the secrets: {:?}",
        tcp.received()
    );
}

#[test]
fn malicious_pth_is_reported_and_contained_at_run_time() {
    each_variant(|v| {
        let mut env = TestEnv::new(v, "pth");
        let index = PyIndex::start(&env.dir.join("index"));
        let tcp = Sink::tcp_concurrent();
        let proxy = Sink::tcp_concurrent();
        let dns = Sink::udp_dns();
        let marker = format!("m{}", env.nonce);
        publish_pth_hook(&env, &index, &tcp, &dns);

        // Install: succeeds, and names the hook.
        let out = env.install(&index.url(), &["evilpkg"]);
        out.expect_success();
        env.assert_no_canary(&out);
        let findings = out.stderr_lines("seal: finding: ");
        assert!(
            findings
                .iter()
                .any(|l| l.starts_with("seal: finding: pth-code ") && l.contains("zzz_evilpkg.pth")),
            "install did not report the .pth hook as a pth-code finding\n{}",
            out.describe()
        );
        let sp = site_packages(&env.env_dir());
        assert!(
            sp.join("zzz_evilpkg.pth").is_file(),
            "the .pth was not installed"
        );
        // Installing ran no package code: nothing reached the sinks.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            (tcp.hits(), proxy.hits(), dns.hits()),
            (0, 0, 0),
            "install reached a sink"
        );

        // `seal env` and `seal env --json` show it.
        let text = env.seal(&["env"]).output();
        text.expect_success();
        assert!(
            text.stdout
                .lines()
                .any(|l| l.contains("pth-code") && l.contains("zzz_evilpkg.pth")),
            "seal env does not list the pth-code finding\n{}",
            text.describe()
        );
        let j = env_json(&env);
        let listed = j["findings"].as_array().is_some_and(|f| {
            f.iter().any(|x| {
                x["kind"] == "pth-code"
                    && x["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("site-packages/zzz_evilpkg.pth"))
            })
        });
        assert!(listed, "seal env --json does not list the finding: {j}");

        // Trigger: any interpreter start in the environment runs the hook.
        let project_before = snapshot(&env.project);
        env.set_env("HTTPS_PROXY", &format!("http://127.0.0.1:{}", proxy.port));
        let out = env.run(&["python", "-c", "pass"]);
        out.expect_success();
        env.assert_no_canary(&out);
        let log = pth_log(&out);
        expect_log_saw_no_secrets(&log, &["ENOENT", "EACCES"], &out);
        expect_log(&log, "tcp_direct", NET_REFUSED, &out);
        expect_log(&log, "proxy_env", &["unset"], &out);
        expect_log(&log, "proxy_3128", NET_REFUSED, &out);
        expect_log(
            &log,
            "dns_send",
            &["OK", "ECONNREFUSED", "ENETUNREACH", "EPERM", "EACCES"],
            &out,
        );
        expect_log(
            &log,
            "dns_recv",
            &["ECONNREFUSED", "ENETUNREACH", "TIMEOUT", "not sent"],
            &out,
        );
        expect_log(&log, "write_project", &["EROFS", "EACCES"], &out);
        // The host's file is checked below (assert_home_intact); inside, the path may exist
        // only as mount-point scaffolding of the sandbox's private root, where a write lands
        // in that tmpfs.
        expect_log(
            &log,
            "write_bashrc",
            &["EROFS", "EACCES", "ENOENT", "OK"],
            &out,
        );
        expect_log(&log, "write_site_packages", &["EROFS", "EACCES"], &out);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            (tcp.hits(), proxy.hits(), dns.hits()),
            (0, 0, 0),
            "a sink was reached from seal run: tcp {:?} proxy {:?} dns {:?}",
            tcp.received(),
            proxy.received(),
            dns.received()
        );
        assert_same_snapshot(&project_before, &snapshot(&env.project), "the project tree");
        env.assert_home_intact();

        // Positive control: the same installed .pth processed by /usr/bin/python3 on the host
        // (same user, environment, working directory) reaches every sink.
        let ctl = run_pth_on_host(&env);
        let clog = pth_log(&ctl);
        for k in [
            "tcp_direct",
            "proxy_via_env",
            "dns_send",
            "dns_recv",
            "write_project",
        ] {
            expect_log(&clog, k, &["OK"], &ctl);
        }
        expect_log(&clog, "read_home:.ssh/id_rsa", &["OK"], &ctl);
        expect_log(&clog, "env:AWS_SECRET_ACCESS_KEY", &["present"], &ctl);
        assert_tcp_sink_got_secrets(&env, &tcp);
        assert!(
            sink_gets(&proxy, "POST http://exfil.invalid/collect") && sink_gets(&proxy, &marker),
            "positive control: the proxy sink got {:?}",
            proxy.received()
        );
        assert!(
            sink_gets(&dns, &marker),
            "positive control: the DNS stub got {:?}",
            dns.received()
        );
        assert!(
            env.project.join(format!("PWNED-{marker}")).exists(),
            "positive control: the payload could not write into the project"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 2. The install phase sees none of the user's files; sdists are never fetched

#[test]
fn install_phase_sees_no_user_files_or_credentials() {
    each_variant(|v| {
        let mut env = TestEnv::new(v, "nosee");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let port = index.port;
        let tag = env.tag.clone();
        // Credentials and configuration pip itself would pick up from HOME and the environment,
        // all pointing at this index: if pip in the sandbox saw any of them, the index would
        // get a request carrying the canary.
        let creds = [
            format!("netrcuser:{tag}-netrc"),
            format!("confuser:{tag}-pipconf"),
            format!("envuser:{tag}-pipenv"),
        ];
        env.write_home_file(
            ".netrc",
            &format!("machine 127.0.0.1 login netrcuser password {tag}-netrc\n"),
        );
        let conf = format!(
            "[global]\nextra-index-url = http://confuser:{tag}-pipconf@127.0.0.1:{port}/extra-conf/simple\n"
        );
        env.write_home_file(".config/pip/pip.conf", &conf);
        env.write_home_file(".pip/pip.conf", &conf);
        env.set_env(
            "PIP_EXTRA_INDEX_URL",
            &format!("http://envuser:{tag}-pipenv@127.0.0.1:{port}/extra-env/simple"),
        );
        env.set_env(
            "PIP_FIND_LINKS",
            &format!("http://127.0.0.1:{port}/find-links-{tag}/"),
        );
        // Project files, among them the requirement file given with -r.
        let project_files = ["requirements.txt", ".env", "secret_model.py"];
        env.write_owned(
            &env.project.join("requirements.txt"),
            &format!("alpha  # pinned for {tag}\n"),
            0o644,
        );
        env.write_owned(
            &env.project.join(".env"),
            &format!("SECRET={tag}-dotenv\n"),
            0o600,
        );
        env.write_owned(
            &env.project.join("secret_model.py"),
            &format!("KEY = '{tag}-source'\n"),
            0o644,
        );

        let out = env.install(&index.url(), &["-r", "requirements.txt"]);
        out.expect_success();
        env.assert_no_canary(&out);
        assert_eq!(sealed_alpha_version(&env), "1.0");

        let leaks = |reqs: &[Request]| -> Vec<String> {
            reqs.iter()
                .filter(|r| {
                    let head = r.head.to_ascii_lowercase();
                    head.contains(&tag.to_ascii_lowercase())
                        || head.contains("authorization:")
                        || r.path.starts_with("/extra-")
                        || r.path.starts_with("/find-links")
                        || creds.iter().any(|c| r.head.contains(&base64(c.as_bytes())))
                })
                .map(|r| r.head.clone())
                .collect()
        };
        let seen = index.requests();
        assert!(
            seen.iter().any(|r| r.path.contains("/files/alpha-")),
            "the install did not fetch from the index:\n{}",
            index.describe_requests()
        );
        let leaked = leaks(&seen);
        assert!(
            leaked.is_empty(),
            "the index received the user's credentials/config from the install sandbox:\n{leaked:#?}"
        );

        // The environment holds no copy of any project file.
        let env_dir = env.env_dir();
        for rel in walk(&env_dir) {
            let p = env_dir.join(&rel);
            let name = rel.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !project_files.contains(&name.as_str()),
                ".seal/env contains a project file name: {}",
                rel.display()
            );
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
                let data = fs::read(&p).unwrap();
                assert!(
                    !String::from_utf8_lossy(&data).contains(&tag),
                    ".seal/env/{} contains a canary",
                    rel.display()
                );
            }
        }

        // Positive control: plain pip on the host, same user and environment, does hand the
        // credentials to the index.
        let before = seen.len();
        let dl = env.home.join("dl");
        env.mkdir_owned(&dl, 0o755);
        let ctl = env
            .host(
                PYTHON,
                &[
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--disable-pip-version-check",
                    "--dest",
                    dl.to_str().unwrap(),
                    "--index-url",
                    &index.url(),
                    "alpha",
                ],
            )
            .output();
        let after = index.requests();
        let ctl_leaks = leaks(&after[before..]);
        assert!(
            !ctl_leaks.is_empty(),
            "positive control: host pip sent nothing recognisable to the index\nrequests:\n{}\n{}",
            index.describe_requests(),
            ctl.describe()
        );
    });
}

#[test]
fn sdist_only_package_is_refused_and_never_downloaded() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sdist");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let gamma = index.sdist(
            "gamma",
            "1.0",
            "raise SystemExit('seal-test: the sdist build code of gamma ran')\n",
        );
        index.publish("gamma", &[&gamma]);
        env.install(&index.url(), &["alpha"]).expect_success();
        let env_before = snapshot(&env.env_dir());

        let out = env.install(&index.url(), &["gamma"]);
        out.expect_failure();
        assert!(
            out.stderr.lines().any(|l| l.starts_with("seal: ")),
            "no seal: message\n{}",
            out.describe()
        );
        assert!(
            index.hits("/simple/gamma/") >= 1,
            "the index page of gamma was not even looked at:\n{}",
            index.describe_requests()
        );
        assert_eq!(
            index.hits(".tar.gz"),
            0,
            "the sdist was downloaded:\n{}",
            index.describe_requests()
        );
        assert_same_snapshot(&env_before, &snapshot(&env.env_dir()), ".seal/env");
        assert_eq!(sealed_alpha_version(&env), "1.0");
        assert_no_tmp_install(&env, "after the failed install");
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Benign packages with dependencies

#[test]
fn benign_packages_with_dependencies_install_and_import() {
    each_variant(|v| {
        let env = TestEnv::new(v, "benign");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        let out = env.install(&index.url(), &["alpha"]);
        out.expect_success();
        assert!(
            out.stderr_lines("seal: finding").is_empty(),
            "benign packages produced findings\n{}",
            out.describe()
        );
        assert_benign_fetched_once(&env, &index, [&alpha, &beta]);

        let requests_before = index.requests().len();
        let connections_before = index.connections();
        let out = env.run(&[
            "python",
            "-c",
            "import alpha, beta, sys; print('OUT', alpha.VERSION, beta.VERSION, sys.prefix, sys.executable)",
        ]);
        out.expect_success();
        assert!(
            out.stdout
                .contains("OUT 1.0 2.0 /seal/env /seal/env/bin/python"),
            "{}",
            out.describe()
        );
        // The console script's shebang, written at install time, is valid at run time.
        expect_alpha_cli(&env.run(&["alpha-cli"]));
        assert_eq!(
            index.requests().len(),
            requests_before,
            "seal run talked to the index"
        );
        assert_eq!(
            index.connections(),
            connections_before,
            "seal run connected to the index"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 4. An interrupted install leaves the previous environment in place

#[test]
fn killed_install_keeps_the_old_environment() {
    each_variant(|v| {
        let env = TestEnv::new(v, "kill");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha1, beta) = benign(&index);
        env.install(&index.url(), &["alpha"]).expect_success();
        let env_before = snapshot(&env.env_dir());
        let ino_before = fs::metadata(env.env_dir()).unwrap().ino();

        // alpha 2.0 appears; every response is slow.
        let alpha2 = index.wheel(&alpha_spec("2.0"));
        index.publish("alpha", &[&alpha1, &alpha2]);
        index.set_delay(Some(("/", Duration::from_secs(3))));
        let start = index.requests().len();
        let mut running = env
            .seal(&[
                "install",
                "--python",
                PYTHON,
                "--index-url",
                &index.url(),
                "alpha==2.0",
            ])
            .spawn();
        let reached = wait_until(Duration::from_secs(120), || {
            index.requests()[start..]
                .iter()
                .any(|r| r.path.starts_with("/files/"))
                || running.exited()
        });
        assert!(
            reached && !running.exited(),
            "the second install did not get to downloading a file (or ended early)\n{}\nrequests:\n{}",
            running.stderr_so_far(),
            index.describe_requests()
        );
        let pid = running.pid();
        running.signal(libc::SIGKILL);
        let out = running.finish();
        assert_eq!(out.code(), 128 + libc::SIGKILL, "{}", out.describe());
        index.set_delay(None);

        let stale = format!("tmp-install-{pid}-");
        assert!(
            tmp_install_dirs(&env.project)
                .iter()
                .any(|n| n.starts_with(&stale)),
            "no {stale}* in .seal: the install was not killed mid-way ({:?})",
            tmp_install_dirs(&env.project)
        );
        assert_same_snapshot(
            &env_before,
            &snapshot(&env.env_dir()),
            ".seal/env after the kill",
        );
        assert_eq!(fs::metadata(env.env_dir()).unwrap().ino(), ino_before);
        assert_eq!(sealed_alpha_version(&env), "1.0");

        // The next successful install replaces the environment and sweeps the stale directory.
        let out = env.install(&index.url(), &["alpha==2.0"]);
        out.expect_success();
        assert_eq!(sealed_alpha_version(&env), "2.0");
        assert_no_tmp_install(&env, "after the next successful install");
        let _ = beta;
    });
}

// ---------------------------------------------------------------------------------------------
// 5. seal.lock

fn read_lock(project: &Path) -> (toml::Table, Vec<(String, String, String, String)>) {
    let text = fs::read_to_string(project.join("seal.lock")).expect("seal.lock written");
    let t: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("seal.lock: {e}\n{text}"));
    let mut pkgs: Vec<(String, String, String, String)> = t["package"]
        .as_array()
        .unwrap_or_else(|| panic!("seal.lock has no [[package]]\n{text}"))
        .iter()
        .map(|p| {
            let s = |k: &str| {
                p.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| panic!("[[package]] without {k}\n{text}"))
                    .to_string()
            };
            (s("name"), s("version"), s("file"), s("sha256"))
        })
        .collect();
    pkgs.sort();
    (t, pkgs)
}

#[test]
fn lock_pins_artifacts_and_refuses_tampered_ones() {
    each_variant(|v| {
        let env = TestEnv::new(v, "lock");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        let out = env.install(&index.url(), &["--lock", "alpha"]);
        out.expect_success();
        let (table, pkgs) = read_lock(&env.project);
        assert_eq!(table["version"].as_integer(), Some(1));
        assert_eq!(table["index"].as_str(), Some(index.url().as_str()));
        assert!(table["python"]
            .as_str()
            .is_some_and(|p| p.starts_with("3.")));
        let expected: Vec<(String, String, String, String)> = vec![
            (
                "alpha".into(),
                "1.0".into(),
                alpha.file.clone(),
                alpha.sha256.clone(),
            ),
            (
                "beta".into(),
                "2.0".into(),
                beta.file.clone(),
                beta.sha256.clone(),
            ),
        ];
        assert_eq!(
            pkgs, expected,
            "seal.lock does not pin exactly the served artifacts"
        );
        let lock_bytes = fs::read(env.project.join("seal.lock")).unwrap();
        let installed = installed_files(&env.env_dir());

        // Recreate from the lock alone.
        env.seal(&["env", "remove"]).output().expect_success();
        assert!(!env.env_dir().exists());
        let before = index.requests().len();
        let out = env.seal(&["install", "--python", PYTHON]).output();
        out.expect_success();
        let fetched: Vec<String> = index.requests()[before..]
            .iter()
            .filter(|r| r.path.starts_with("/files/"))
            .map(|r| r.path.clone())
            .collect();
        for a in [&alpha, &beta] {
            assert!(
                fetched.contains(&format!("/files/{}", a.file)),
                "install from seal.lock did not fetch {}: {fetched:?}",
                a.file
            );
        }
        assert_eq!(
            fs::read(env.project.join("seal.lock")).unwrap(),
            lock_bytes,
            "seal.lock changed"
        );
        assert_same_snapshot(
            &installed,
            &installed_files(&env.env_dir()),
            "the recreated environment",
        );
        assert_eq!(sealed_alpha_version(&env), "1.0");

        // A compromised index serves different bytes under the same name (and a matching
        // #sha256 on its page): the install from the lock must refuse them.
        let env_before = snapshot(&env.env_dir());
        let tampered =
            index.wheel(&alpha_spec("1.0").file("alpha/backdoor.py", "print('backdoor')\n"));
        assert_eq!(tampered.file, alpha.file);
        assert_ne!(tampered.sha256, alpha.sha256);
        index.publish("alpha", &[&tampered]);
        let before = index.requests().len();
        let out = env.seal(&["install", "--python", PYTHON]).output();
        out.expect_failure();
        assert!(
            index.requests()[before..]
                .iter()
                .any(|r| r.path == format!("/files/{}", alpha.file)),
            "the tampered wheel was never requested (cached?):\n{}",
            index.describe_requests()
        );
        assert!(
            out.stderr.lines().any(|l| l.starts_with("seal: ")),
            "no seal: message\n{}",
            out.describe()
        );
        assert!(
            out.stderr.to_ascii_lowercase().contains("hash"),
            "the failure does not mention the hash mismatch\n{}",
            out.describe()
        );
        assert_same_snapshot(
            &env_before,
            &snapshot(&env.env_dir()),
            ".seal/env after the refused install",
        );
        let out = env.run(&["python", "-c", "import alpha.backdoor"]);
        assert_ne!(
            out.code(),
            0,
            "the tampered wheel got installed\n{}",
            out.describe()
        );
        assert_eq!(sealed_alpha_version(&env), "1.0");
        assert_eq!(fs::read(env.project.join("seal.lock")).unwrap(), lock_bytes);
        assert_no_tmp_install(&env, "after the refused install");
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Requirement validation

/// Run `check` on every case, catching its failure: a failed case is noted, the next one starts
/// from a clean project (no .seal), and in the end the test fails naming every failed case.
fn each_case<C>(env: &TestEnv, cases: &[C], what: &str, check: impl Fn(&C)) {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case))) {
            failures.push(panic_message(&*e));
            let _ = fs::remove_dir_all(env.project.join(".seal"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {what} were not refused:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n=====\n")
    );
}

/// Every `args` must be refused before anything is fetched: exit 125, one line on stderr.
fn expect_refused_before_fetching(env: &TestEnv, index: &PyIndex, args: &[&str], what: &str) {
    let connections = index.connections();
    let out = env.install(&index.url(), args);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        out.code() == 125 && lines.len() == 1 && lines[0].starts_with("seal: "),
        "{what}: expected exit 125 and one `seal: ...` line\n{}\nindex requests:\n{}",
        out.describe(),
        index.describe_requests()
    );
    assert_eq!(
        index.connections(),
        connections,
        "{what}: the index was contacted:\n{}",
        index.describe_requests()
    );
    assert!(
        !env.env_dir().exists(),
        "{what}: an environment was created"
    );
    assert_no_tmp_install(env, what);
}

#[test]
fn pip_options_and_direct_references_in_requirements_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "reqs");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let cases: &[(&str, &str)] = &[
            (
                "index-url.txt",
                "alpha\n--index-url http://evil.invalid/simple\n",
            ),
            ("editable.txt", "alpha\n-e .\n"),
            ("vcs.txt", "alpha\npkg @ git+https://evil.invalid/pkg.git\n"),
        ];
        for (name, content) in cases {
            env.write_owned(&env.project.join(name), content, 0o644);
            expect_refused_before_fetching(&env, &index, &["-r", name], &format!("-r {name}"));
        }
        expect_refused_before_fetching(
            &env,
            &index,
            &["pkg @ git+https://evil.invalid/pkg.git"],
            "a VCS argument",
        );
        expect_refused_before_fetching(&env, &index, &["--", "-e ."], "an -e argument");
    });
}

/// Other spellings of a direct reference (PEP 508 allows no space around `@`; pip joins lines
/// ending in a backslash). The URL points at this index's own host, which the proxy allows, so
/// only the requirement check stands between the line and the download.
#[test]
fn direct_reference_spellings_are_refused() {
    each_variant(|v| {
        let env = TestEnv::new(v, "direct");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let hidden = index.wheel(&WheelSpec::new("hidden", "1.0").file("hidden.py", "X = 1\n"));
        let url = format!("http://127.0.0.1:{}/files/{}", index.port, hidden.file);
        let cases = [
            ("nospace.txt", format!("hidden@ {url}\n")),
            ("tab.txt", format!("hidden @\t{url}\n")),
            ("continued.txt", format!("hidden \\\n@ {url}\n")),
            ("extras.txt", format!("hidden[x]@ {url}\n")),
        ];
        each_case(&env, &cases, "spellings", |(name, content)| {
            env.write_owned(&env.project.join(name), content, 0o644);
            expect_refused_before_fetching(
                &env,
                &index,
                &["-r", name],
                &format!("-r {name} ({content:?})"),
            );
        });
    });
}

// ---------------------------------------------------------------------------------------------
// 7. The proxy allowlist

/// `name` 1.0, a wheel served by `other`, linked from `name`'s page on `index` as
/// `http://HOST:PORT/files/FILE` (`host` and `other`'s port).
fn link_wheel_elsewhere(index: &PyIndex, other: &PyIndex, host: &str, name: &str) -> Artifact {
    let wheel = other.wheel(&WheelSpec::new(name, "1.0").file(&format!("{name}.py"), "X = 1\n"));
    index.page(
        name,
        &[(
            format!("http://{host}:{}/files/{}", other.port, wheel.file),
            &wheel,
        )],
    );
    wheel
}

/// `out`, an install of a wheel linked on `target` (served by `other`), failed because seal's
/// proxy refused `target`, and said so; `other` was never reached. `ctx` starts the messages.
#[track_caller]
fn assert_refused_by_proxy(out: &Output, other: &PyIndex, target: &str, ctx: &str) {
    out.expect_failure();
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("seal: proxy refused ") && l.contains(target)),
        "{ctx}no `seal: proxy refused ... {target}` line\n{}",
        out.describe()
    );
    assert_eq!(
        other.connections(),
        0,
        "{ctx}the other host was reached:\n{}",
        other.describe_requests()
    );
}

#[test]
fn wheel_linked_on_another_host_is_refused_by_the_proxy() {
    each_variant(|v| {
        let env = TestEnv::new(v, "allow");
        let index = PyIndex::start(&env.dir.join("index"));
        let other = PyIndex::start(&env.dir.join("other"));
        benign(&index);
        env.install(&index.url(), &["alpha"]).expect_success();
        let env_before = snapshot(&env.env_dir());

        // delta's page (on the index) links its wheel on another host name / another port.
        link_wheel_elsewhere(&index, &other, "localhost", "delta");
        let eps = link_wheel_elsewhere(&index, &other, "127.0.0.1", "epsilon");

        for (pkg, host) in [("delta", "localhost"), ("epsilon", "127.0.0.1")] {
            let out = env.install(&index.url(), &[pkg]);
            let target = format!("{host}:{}", other.port);
            assert_refused_by_proxy(&out, &other, &target, &format!("{pkg}: "));
            assert!(index.hits(&format!("/simple/{pkg}/")) >= 1);
            assert_same_snapshot(&env_before, &snapshot(&env.env_dir()), ".seal/env");
            assert_no_tmp_install(&env, pkg);
        }
        assert_eq!(sealed_alpha_version(&env), "1.0");

        // Positive control: allowing that host:port explicitly makes the same install work.
        let allow = format!("127.0.0.1:{}", other.port);
        let out = env.install(&index.url(), &["--allow-host", &allow, "epsilon"]);
        out.expect_success();
        assert!(other.hits(&format!("/files/{}", eps.file)) >= 1);
        let out = env.run(&["python", "-c", "import epsilon; print('EPS', epsilon.X)"]);
        out.expect_success();
        assert!(out.stdout.contains("EPS 1"), "{}", out.describe());
    });
}

// ---------------------------------------------------------------------------------------------
// 8. The real PyPI, through the proxy

#[test]
fn real_pypi_end_to_end() {
    if skip_without_pypi("real_pypi_end_to_end") {
        return;
    }
    each_variant(|v| {
        let mut env = TestEnv::new(v, "pypi");
        // A proxy or CA bundle this machine needs to reach PyPI is seal's business to honour.
        env.pass_host_env(PROXY_ENV);
        env.pass_host_env(NO_PROXY_ENV);
        let out = env
            .seal(&["install", "--python", PYTHON, "--lock", "six"])
            .output();
        assert_eq!(
            out.code(),
            0,
            "installing six from the real PyPI failed (is PyPI reachable? set SEAL_TEST_NO_PYPI=1 \
             to skip)\n{}",
            out.describe()
        );
        env.assert_no_canary(&out);
        let (_, pkgs) = read_lock(&env.project);
        assert!(
            pkgs.iter()
                .any(|(n, _, f, s)| n == "six" && f.ends_with(".whl") && s.len() == 64),
            "seal.lock: {pkgs:?}"
        );
        let out = env.run(&[
            "python",
            "-c",
            "import six, sys; print('SIX', six.__version__, sys.prefix)",
        ]);
        out.expect_success();
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("SIX ") && l.ends_with(" /seal/env")),
            "{}",
            out.describe()
        );
        // The same from seal.lock in the Landlock + seccomp fallback: TLS to PyPI through a
        // stream seal's proxy hands in over the connection channel, hashes enforced.
        let out = env
            .seal(&[
                "install",
                "--isolation",
                "landlock",
                "-q",
                "--python",
                PYTHON,
            ])
            .output();
        out.expect_success();
        env.assert_no_canary(&out);
        let out = env.run(&["python", "-c", "import six; print('SIX', six.__version__)"]);
        out.expect_success();
        assert!(out.stdout.contains("SIX "), "{}", out.describe());
    });
}

// ---------------------------------------------------------------------------------------------
// 9. Source archives: fetched with no code running, built with no network

/// Path prefix the probe backend requests from the index whenever its module is imported
/// (directly and through any proxy it can find): a request for it in the index's log means
/// backend code ran while the network was reachable.
const BACKEND_RAN: &str = "/seal-test-backend-imported/";

/// An in-tree PEP 517 backend (`backend.py`) whose build_wheel is hostile. At import time it
/// records that it ran and tries to tell the index (directly, through $HTTPS_PROXY and through
/// 127.0.0.1:3128, the fetch step's proxy port). build_wheel then probes: the fake HOME's
/// canary files, the canary variables, the TCP sink, the DNS stub, 127.0.0.1:3128 and a write
/// into the project; it prints its log (errno name or "OK" per attempt) as one JSON line on
/// stderr and writes a valid wheel carrying the same log as `<name>/probe_log.json`.
const SDIST_BACKEND: &str = include_str!("probes/install/sdist_backend.py");

/// pyproject.toml of an sdist with the in-tree backend above and the given build requirements.
fn intree_pyproject(requires: &[&str]) -> String {
    let reqs: Vec<String> = requires
        .iter()
        // A JSON string is a valid TOML basic string (same escapes).
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    format!(
        "[build-system]\nrequires = [{}]\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
        reqs.join(", ")
    )
}

const SDIST_FILES: &[&str] = &[".ssh/id_rsa", ".aws/credentials", ".netrc", ".pypirc"];

/// Publish `name` 1.0 as an sdist only: the probe backend, `requires` as build requirements.
fn publish_probe_sdist(
    env: &TestEnv,
    index: &PyIndex,
    name: &str,
    requires: &[&str],
    tcp: &Sink,
    dns: &Sink,
) -> Artifact {
    let cfg = serde_json::json!({
        "marker": format!("m{}", env.nonce),
        "name": name,
        "version": "1.0",
        "backend_ran": BACKEND_RAN,
        "index_port": index.port,
        "tcp_port": tcp.port,
        "dns_port": dns.port,
        "project": env.project,
        "host_home": env.home,
        "files": SDIST_FILES,
        "env": CANARY_ENV,
    });
    let backend =
        SDIST_BACKEND.replace("__CFG__", &serde_json::to_string(&cfg.to_string()).unwrap());
    let sdist = index.sdist_with(
        name,
        "1.0",
        &[
            ("pyproject.toml", &intree_pyproject(requires)),
            ("backend.py", &backend),
        ],
    );
    index.publish(name, &[&sdist]);
    sdist
}

/// The probe log of the installed package `name` (read from its probe_log.json).
fn installed_probe_log(env: &TestEnv, name: &str) -> BTreeMap<String, String> {
    let p = site_packages(&env.env_dir())
        .join(name)
        .join("probe_log.json");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "no probe log in the installed package ({}): {e}",
            p.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad probe log {text:?}: {e}"))
}

fn expect_probe(log: &BTreeMap<String, String>, key: &str, allowed: &[&str], what: &str) {
    let v = log
        .get(key)
        .unwrap_or_else(|| panic!("{what}: probe log has no {key:?}: {log:#?}"));
    assert!(
        allowed.contains(&v.as_str()),
        "{what}: {key}: expected one of {allowed:?}, got {v:?}\nwhole log: {log:#?}"
    );
}

/// The probe ran in the offline build sandbox: it saw nothing of the user and reached nothing.
fn assert_build_contained(log: &BTreeMap<String, String>, what: &str) {
    for rel in SDIST_FILES {
        for k in ["read_home", "read_abs"] {
            expect_probe(log, &format!("{k}:{rel}"), &["ENOENT", "EACCES"], what);
        }
    }
    for n in CANARY_ENV {
        expect_probe(log, &format!("env:{n}"), &["absent"], what);
    }
    // Built with no proxy to talk to, and nothing listening on the fetch step's proxy port.
    expect_probe(log, "env:HTTPS_PROXY", &["unset"], what);
    expect_probe(log, "proxy_env", &["unset"], what);
    expect_probe(log, "import:proxy_env", &["unset"], what);
    expect_probe(log, "proxy_3128", NET_REFUSED, what);
    expect_probe(log, "import:index_via_3128", NET_REFUSED, what);
    expect_probe(log, "import:index_direct", NET_REFUSED, what);
    expect_probe(log, "tcp_sink", NET_REFUSED, what);
    expect_probe(
        log,
        "dns_send",
        &["OK", "ECONNREFUSED", "ENETUNREACH", "EPERM", "EACCES"],
        what,
    );
    expect_probe(
        log,
        "dns_recv",
        &["ECONNREFUSED", "ENETUNREACH", "TIMEOUT", "not sent"],
        what,
    );
    expect_probe(log, "write_project", &["EROFS", "EACCES", "ENOENT"], what);
    expect_probe(log, "write_cache", &["EROFS", "EACCES", "ENOENT"], what);
    // The fallback makes chmod a no-op that answers success; the host file's mode is checked
    // with assert_home_intact.
    expect_probe(
        log,
        "chmod_home",
        &["ENOENT", "EACCES", "EPERM", "OK"],
        what,
    );
    // The host's file is checked with assert_home_intact; inside, a write may land in the
    // sandbox's private /tmp.
    expect_probe(
        log,
        "write_bashrc",
        &["EROFS", "EACCES", "ENOENT", "OK"],
        what,
    );
}

/// Everything of the project except what seal install itself writes (.seal/, seal.lock).
fn project_user_files(project: &Path) -> BTreeMap<String, String> {
    snapshot(project)
        .into_iter()
        .filter(|(k, _)| !(k == ".seal" || k.starts_with(".seal/") || k == "seal.lock"))
        .collect()
}

fn assert_built_offline(out: &Output) {
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("seal: installed ")
                && l.ends_with("(1 built from source, offline)")),
        "no `seal: installed ... (1 built from source, offline)` line\n{}",
        out.describe()
    );
}

#[test]
fn sdist_is_fetched_without_running_and_built_offline() {
    each_variant(|v| {
        let env = TestEnv::new(v, "sdistbuild");
        let index = PyIndex::start(&env.dir.join("index"));
        let tcp = Sink::tcp_concurrent();
        let dns = Sink::udp_dns();
        let marker = format!("m{}", env.nonce);
        let sdist = publish_probe_sdist(&env, &index, "probepkg", &[], &tcp, &dns);
        env.write_owned(&env.project.join("main.py"), "print('hi')\n", 0o644);
        let project_before = project_user_files(&env.project);

        let out = env.install(
            &index.url(),
            &["--lock", "--allow-sdist", "probepkg", "probepkg"],
        );
        out.expect_success();
        env.assert_no_canary(&out);
        assert_built_offline(&out);
        assert_eq!(
            index.hits(&format!("/files/{}", sdist.file)),
            1,
            "the sdist was not downloaded exactly once:\n{}",
            index.describe_requests()
        );
        // The backend was imported only where no network exists: its import-time request
        // never reached the index.
        assert_eq!(
            index.hits(BACKEND_RAN),
            0,
            "backend code ran while the index was reachable:\n{}",
            index.describe_requests()
        );
        let log = installed_probe_log(&env, "probepkg");
        assert_build_contained(&log, "the offline build");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            (tcp.hits(), dns.hits()),
            (0, 0),
            "the build reached a sink: tcp {:?} dns {:?}",
            tcp.received(),
            dns.received()
        );
        assert_same_snapshot(
            &project_before,
            &project_user_files(&env.project),
            "the project tree",
        );
        env.assert_home_intact();
        let out = env.run(&[
            "python",
            "-c",
            "import probepkg; print('PROBE', probepkg.BUILT_BY)",
        ]);
        out.expect_success();
        assert!(
            out.stdout
                .contains(&format!("PROBE seal-test probe backend {marker}")),
            "{}",
            out.describe()
        );

        // seal.lock pins the source archive itself (not the locally built wheel).
        let text = fs::read_to_string(env.project.join("seal.lock")).expect("seal.lock written");
        let table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("seal.lock: {e}\n{text}"));
        let entries: Vec<&toml::Value> = table["package"]
            .as_array()
            .unwrap_or_else(|| panic!("seal.lock has no [[package]]\n{text}"))
            .iter()
            .filter(|p| p.get("name").and_then(|n| n.as_str()) == Some("probepkg"))
            .collect();
        assert_eq!(entries.len(), 1, "seal.lock:\n{text}");
        let s = |k: &str| {
            entries[0]
                .get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
        };
        assert_eq!(
            (s("kind"), s("version"), s("file"), s("sha256")),
            ("sdist", "1.0", sdist.file.as_str(), sdist.sha256.as_str()),
            "seal.lock does not pin the served sdist:\n{text}"
        );
        let lock_bytes = fs::read(env.project.join("seal.lock")).unwrap();

        // From the lock alone: fetched again, rebuilt offline.
        env.seal(&["env", "remove"]).output().expect_success();
        assert!(!env.env_dir().exists());
        let before = index.requests().len();
        let out = env.seal(&["install", "--python", PYTHON]).output();
        out.expect_success();
        env.assert_no_canary(&out);
        assert_built_offline(&out);
        assert!(
            index.requests()[before..]
                .iter()
                .any(|r| r.path == format!("/files/{}", sdist.file)),
            "the install from seal.lock did not fetch the sdist:\n{}",
            index.describe_requests()
        );
        assert_eq!(index.hits(BACKEND_RAN), 0, "{}", index.describe_requests());
        let log2 = installed_probe_log(&env, "probepkg");
        assert_build_contained(&log2, "the rebuild from seal.lock");
        assert_eq!(
            fs::read(env.project.join("seal.lock")).unwrap(),
            lock_bytes,
            "seal.lock changed"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            (tcp.hits(), dns.hits()),
            (0, 0),
            "the rebuild reached a sink"
        );
        assert_same_snapshot(
            &project_before,
            &project_user_files(&env.project),
            "the project tree",
        );
        env.assert_home_intact();

        // Positive control: the same backend's build_wheel run by /usr/bin/python3 on the host
        // (same user, environment and HOME) reads the canaries and reaches every sink.
        let ctl_dir = env.dir.join("control");
        env.mkdir_owned(&ctl_dir, 0o755);
        let wheel_dir = ctl_dir.join("wheels");
        env.mkdir_owned(&wheel_dir, 0o755);
        env.host(
            PYTHON,
            &[
                "-I",
                "-S",
                "-c",
                "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])",
                sdist.path.to_str().unwrap(),
                ctl_dir.to_str().unwrap(),
            ],
        )
        .output()
        .expect_success();
        let src = ctl_dir.join("probepkg-1.0");
        let ctl = env
            .host(
                PYTHON,
                &[
                    "-I",
                    "-c",
                    "import sys; sys.path.insert(0, '.'); import backend; \
                     print('BUILT', backend.build_wheel(sys.argv[1]))",
                    wheel_dir.to_str().unwrap(),
                ],
            )
            .cwd(&src)
            .output();
        ctl.expect_success();
        let line = ctl
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("SEAL-SDIST-PROBE "))
            .unwrap_or_else(|| panic!("positive control: no probe log\n{}", ctl.describe()));
        let clog: BTreeMap<String, String> = serde_json::from_str(line).unwrap();
        for k in [
            "read_home:.ssh/id_rsa",
            "read_abs:.aws/credentials",
            "tcp_sink",
            "dns_send",
            "dns_recv",
            "write_project",
            "import:index_direct",
        ] {
            expect_probe(&clog, k, &["OK"], "positive control");
        }
        expect_probe(
            &clog,
            "env:AWS_SECRET_ACCESS_KEY",
            &["present"],
            "positive control",
        );
        assert!(
            wheel_dir.join("probepkg-1.0-py3-none-any.whl").is_file(),
            "positive control: no wheel"
        );
        assert_tcp_sink_got_secrets(&env, &tcp);
        assert!(
            sink_gets(&dns, &marker),
            "positive control: the DNS stub got {:?}",
            dns.received()
        );
        assert!(
            index.hits(BACKEND_RAN) >= 1,
            "positive control: the import-time request did not reach the index:\n{}",
            index.describe_requests()
        );
        assert!(
            env.project.join(format!("PWNED-{marker}")).exists(),
            "positive control: the probe could not write into the project"
        );
    });
}

#[test]
fn sdist_build_requirements_cannot_smuggle_options() {
    each_variant(|v| {
        let env = TestEnv::new(v, "smuggle");
        let index = PyIndex::start(&env.dir.join("index"));
        let evil = PyIndex::start(&env.dir.join("evil"));
        let tcp = Sink::tcp_concurrent();
        let dns = Sink::udp_dns();
        // Served by the index itself (the proxy allows it): only seal's check stands between a
        // smuggled option and a request for it.
        let own_evil = format!("http://127.0.0.1:{}/evil/simple", index.port);
        // A build dependency with only a source archive: if an option made pip accept sdists
        // for build dependencies, pip would run its backend in the networked download step.
        publish_probe_sdist(&env, &index, "helper", &[], &tcp, &dns);
        let cases: Vec<(&str, String)> = vec![
            (
                "smugglea",
                format!("--index-url=http://127.0.0.1:{}/evil", evil.port),
            ),
            ("smuggleb", format!("--extra-index-url={own_evil}")),
            ("smugglec", "helper\n--no-binary=:all:".to_string()),
            ("smuggled", "helper\r--no-binary=:all:".to_string()),
            ("smugglee", "helper\u{2028}--no-binary=:all:".to_string()),
        ];
        each_case(
            &env,
            &cases,
            "smuggled build requirements",
            |(name, req)| {
                let sdist = publish_probe_sdist(&env, &index, name, &[req.as_str()], &tcp, &dns);
                let what = format!("{name}: build requirement {req:?}");
                let before = index.requests().len();
                let out = env.install(&index.url(), &["--allow-sdist", name, name]);
                let hits = |needle: &str| {
                    index.requests()[before..]
                        .iter()
                        .filter(|r| r.path.contains(needle))
                        .count()
                };
                let ctx = || {
                    format!(
                        "{}\nindex requests:\n{}",
                        out.describe(),
                        index.describe_requests()
                    )
                };
                assert!(
                    hits(&format!("/files/{}", sdist.file)) >= 1,
                    "{what}: the sdist was never fetched (the test did not get to the check)\n{}",
                    ctx()
                );
                assert_eq!(
                    evil.connections(),
                    0,
                    "{what}: the second server was reached:\n{}\n{}",
                    evil.describe_requests(),
                    ctx()
                );
                assert_eq!(
                    hits("/evil/"),
                    0,
                    "{what}: the smuggled index was asked\n{}",
                    ctx()
                );
                assert_eq!(
                    hits(BACKEND_RAN),
                    0,
                    "{what}: backend code of a build dependency ran in the networked download \
                     step (it reached the index through the proxy)\n{}",
                    ctx()
                );
                assert_eq!(
                    hits("/files/helper-"),
                    0,
                    "{what}: the build dependency's sdist was downloaded\n{}",
                    ctx()
                );
                out.expect_failure();
                // The message quotes the requirement (its first line, for the split ones).
                let quoted = req.split(['\n', '\r', '\u{2028}']).next().unwrap();
                assert!(
                    out.stderr.lines().any(|l| l.starts_with("seal: ")
                        && l.contains("build requirement")
                        && l.contains(name)
                        && l.contains(quoted)),
                    "{what}: no `seal: ...` line naming the refused build requirement\n{}",
                    out.describe()
                );
                assert!(
                    !env.env_dir().exists(),
                    "{what}: an environment was created"
                );
                assert_no_tmp_install(&env, &what);
            },
        );
        assert_eq!((tcp.hits(), dns.hits()), (0, 0), "a sink was reached");
    });
}

// ---------------------------------------------------------------------------------------------
// 10. The installers

/// The benign alpha/beta set is installed and works under `seal run`.
fn assert_benign_installed(env: &TestEnv, index: &PyIndex, alpha: &Artifact, beta: &Artifact) {
    for a in [alpha, beta] {
        assert!(
            index.hits(&format!("/files/{}", a.file)) >= 1,
            "{} not fetched:\n{}",
            a.file,
            index.describe_requests()
        );
    }
    assert_eq!(
        env_packages(env),
        vec![
            ("alpha".into(), "1.0".into()),
            ("beta".into(), "2.0".into())
        ]
    );
    let out = env.run(&[
        "python",
        "-c",
        "import alpha, beta, sys; print('OUT', alpha.VERSION, beta.VERSION, sys.prefix)",
    ]);
    out.expect_success();
    assert!(
        out.stdout.contains("OUT 1.0 2.0 /seal/env"),
        "{}",
        out.describe()
    );
    expect_alpha_cli(&env.run(&["alpha-cli"]));
}

/// `out` is a run of alpha's console script, which worked and found beta.
#[track_caller]
fn expect_alpha_cli(out: &Output) {
    out.expect_success();
    assert!(
        out.stdout.contains("alpha-cli 1.0 beta 2.0"),
        "{}",
        out.describe()
    );
}

/// alpha's console script names the environment's interpreter at /seal/env, where the
/// sandbox mounts it.
#[track_caller]
fn assert_alpha_cli_shebang(env: &TestEnv) {
    let script = fs::read_to_string(env.env_dir().join("bin").join("alpha-cli")).unwrap();
    assert!(script.starts_with("#!/seal/env/bin/python\n"), "{script:?}");
}

/// An empty XDG_CACHE_HOME of `env`'s own (`dir/xdg-cache`, where seal keeps the uv it
/// fetches), set in its environment.
fn own_xdg_cache(env: &mut TestEnv) -> PathBuf {
    let cache = env.dir.join("xdg-cache");
    env.mkdir_owned(&cache, 0o755);
    env.set_env("XDG_CACHE_HOME", cache.to_str().unwrap());
    cache
}

fn installer_line(out: &Output) -> String {
    let lines = out.stderr_lines("seal: installer: ");
    assert_eq!(
        lines.len(),
        1,
        "expected one `seal: installer:` line\n{}",
        out.describe()
    );
    lines[0].to_string()
}

#[test]
fn pip_installer_path() {
    each_variant(|v| {
        let mut env = TestEnv::new(v, "pip");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        // seal's cache holds a "uv" that is an ELF binary failing every call (/bin/false):
        // `auto` would pick it, an explicit `--installer pip` must not.
        let cache = own_xdg_cache(&mut env);
        for d in ["seal", "seal/uv"] {
            env.mkdir_owned(&cache.join(d), 0o755);
        }
        let fake_uv = cache.join("seal/uv/uv");
        copy_executable(Path::new("/bin/false"), &fake_uv);
        set_mode(&fake_uv, 0o755);
        env.chown_to_user(&fake_uv);

        let out = env.install(&index.url(), &["--installer", "pip", "alpha"]);
        out.expect_success();
        assert_eq!(installer_line(&out), "seal: installer: pip");
        assert_no_tmp_install(&env, "after a successful install");
        assert_benign_installed(&env, &index, &alpha, &beta);

        // Control: `--installer auto` takes the cached "uv", which fails; the environment
        // installed by pip stays.
        let out = env.install(&index.url(), &["--installer", "auto", "alpha"]);
        assert_eq!(
            installer_line(&out),
            format!("seal: installer: uv ({})", fake_uv.display()),
            "control: auto did not pick the cached uv\n{}",
            out.describe()
        );
        out.expect_failure();
        assert_no_tmp_install(&env, "after the failed install");
        assert_benign_installed(&env, &index, &alpha, &beta);
    });
}

#[test]
fn uv_installer_path() {
    let Some(wheel) = uv_wheel() else {
        return;
    };
    let on_path = uv_on_host_path();
    if let Some(p) = &on_path {
        eprintln!(
            "{}\n",
            bang_frame(&format!(
                "!!! uv_installer_path: {} is on seal's PATH: seal uses it, so fetching uv\n\
                 !!! through the index is NOT tested on this machine.",
                p.display()
            ))
        );
    }
    each_variant(|v| {
        let mut env = TestEnv::new(v, "uv");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        let uv = index.add_file(&wheel);
        index.publish("uv", &[&uv]);
        let cache = own_xdg_cache(&mut env);
        let cached_uv = cache.join("seal").join("uv").join("uv");

        let out = env.install(&index.url(), &["--verbose", "--installer", "uv", "alpha"]);
        out.expect_success();
        env.assert_no_canary(&out);
        let line = installer_line(&out);
        match &on_path {
            None => {
                assert_eq!(
                    line,
                    format!("seal: installer: uv ({})", cached_uv.display()),
                    "{}",
                    out.describe()
                );
                assert_eq!(
                    index.hits(&format!("/files/{}", uv.file)),
                    1,
                    "uv's wheel was not fetched from the index exactly once:\n{}",
                    index.describe_requests()
                );
                // Through seal's proxy (the fetch sandbox has no other way out).
                assert!(
                    out.stderr
                        .lines()
                        .any(|l| l.starts_with("seal: proxy allowed ")
                            && l.contains(&format!("127.0.0.1:{}/files/{}", index.port, uv.file))),
                    "no `seal: proxy allowed ... {}` line\n{}",
                    uv.file,
                    out.describe()
                );
                assert!(cached_uv.is_file(), "uv is not in seal's cache");
            }
            Some(p) => assert!(line.starts_with("seal: installer: uv ("), "{line} ({p:?})"),
        }
        assert_no_tmp_install(&env, "after a successful install");
        assert_benign_installed(&env, &index, &alpha, &beta);

        // Fetched once: the next install uses the cached binary.
        let out = env.install(&index.url(), &["--installer", "uv", "alpha"]);
        out.expect_success();
        assert!(
            installer_line(&out).starts_with("seal: installer: uv ("),
            "{}",
            out.describe()
        );
        if on_path.is_none() {
            assert_eq!(
                index.hits(&format!("/files/{}", uv.file)),
                1,
                "uv was fetched again:\n{}",
                index.describe_requests()
            );
        }
        assert_benign_installed(&env, &index, &alpha, &beta);
    });
}

// ---------------------------------------------------------------------------------------------
// A realistic project, from `seal init` to green tests

/// pyproject with dependencies, a package of its own in src/, tests run with `seal exec
/// pytest`: the project's package is importable in the run phase although the install phase
/// never sees the project (it only writes the path of src/ into the environment). Talks to the
/// real PyPI (pytest and its dependencies), like real_pypi_end_to_end.
#[test]
fn realistic_project_from_init_to_green_tests() {
    if skip_without_pypi("realistic_project_from_init_to_green_tests") {
        return;
    }
    each_variant(|v| {
        let mut env = TestEnv::new(v, "e2e");
        env.pass_host_env(PROXY_ENV);
        env.pass_host_env(NO_PROXY_ENV);
        let p = env.project.clone();
        env.write_owned(
            &p.join("pyproject.toml"),
            "[project]\nname = \"shapes\"\nversion = \"0.1\"\ndependencies = [\"pytest\"]\n",
            0o644,
        );
        env.mkdir_owned(&p.join("src"), 0o755);
        env.mkdir_owned(&p.join("src/shapes"), 0o755);
        env.write_owned(
            &p.join("src/shapes/__init__.py"),
            "def area(w, h):\n    return w * h\n",
            0o644,
        );
        env.mkdir_owned(&p.join("tests"), 0o755);
        env.write_owned(
            &p.join("tests/test_area.py"),
            "import shapes\n\ndef test_area():\n    assert shapes.area(2, 3) == 6\n",
            0o644,
        );
        env.seal(&["init"]).output().expect_success();
        let out = env.seal(&["install", "--python", PYTHON]).output();
        assert_eq!(
            out.code(),
            0,
            "installing pytest from the real PyPI failed (set SEAL_TEST_NO_PYPI=1 to skip)\n{}",
            out.describe()
        );
        let out = env
            .seal(&["exec", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .output();
        out.expect_success();
        assert!(out.stdout.contains("1 passed"), "{}", out.describe());
        // The environment holds the path of src/, not a copy of the project.
        let installed = installed_files(&env.env_dir());
        assert!(
            !installed.keys().any(|k| k.contains("shapes")),
            "project files were copied into the environment: {:?}",
            installed
                .keys()
                .filter(|k| k.contains("shapes"))
                .collect::<Vec<_>>()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// 11. The Landlock + seccomp fallback (hosts without user namespaces)
//
// `--isolation landlock` asks for the fallback explicitly (this host has user namespaces);
// `fallback_is_chosen_where_user_namespaces_are_blocked` takes them away with
// tests/support/no_userns.py and lets auto mode find out.

/// `seal install --isolation landlock -q --python /usr/bin/python3 --index-url URL ARGS`.
fn install_fallback(env: &TestEnv, index_url: &str, args: &[&str]) -> Output {
    env.seal(&[
        "install",
        "--isolation",
        "landlock",
        "-q",
        "--python",
        PYTHON,
        "--index-url",
        index_url,
    ])
    .args(args)
    .output()
}

/// `seal run --isolation landlock -q -- PROGRAM...`.
fn run_fallback(env: &TestEnv, program: &[&str]) -> Output {
    env.seal(&["run", "--isolation", "landlock", "-q", "--"])
        .args(program)
        .output()
}

/// Every file of `dir` whose bytes contain `needle` (relative paths).
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|rel| {
            let p = dir.join(rel);
            fs::symlink_metadata(&p).is_ok_and(|m| m.is_file())
                && fs::read(&p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
        })
        .map(|rel| rel.to_string_lossy().into_owned())
        .collect()
}

/// An environment's files for comparison between two installs: bytecode only by name (its
/// header holds the source's modification time, which differs between any two installs).
fn comparable_env(env: &Path) -> BTreeMap<String, String> {
    snapshot(env)
        .into_iter()
        .map(|(k, v)| {
            if k.ends_with(".pyc") {
                (k, "bytecode".to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

#[test]
fn fallback_install_builds_the_same_working_environment() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbenv");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        let out = install_fallback(&env, &index.url(), &["alpha"]);
        out.expect_success();
        env.assert_no_canary(&out);
        assert!(
            out.stderr_lines("seal: warning").is_empty(),
            "-q with an explicit --isolation landlock prints no warning\n{}",
            out.describe()
        );
        assert_benign_fetched_once(&env, &index, [&alpha, &beta]);
        // Built at a temporary host path, relocated to /seal/env: no trace of that path.
        let script = env.env_dir().join("bin").join("alpha-cli");
        let text = fs::read_to_string(&script).unwrap();
        assert!(
            text.starts_with("#!/seal/env/bin/python\n"),
            "console script: {text:?}"
        );
        assert_ne!(
            fs::metadata(&script).unwrap().mode() & 0o111,
            0,
            "the console script is not executable"
        );
        let leftovers = files_containing(&env.env_dir(), "tmp-install-");
        assert!(
            leftovers.is_empty(),
            "files naming the temporary install path: {leftovers:?}"
        );
        let pyc = files_containing(&env.env_dir(), "/seal/env/lib/python");
        assert!(
            pyc.iter().any(|p| p.ends_with(".pyc")),
            "no bytecode names its source at /seal/env: {pyc:?}"
        );

        // The environment works in both modes.
        let out = run_fallback(
            &env,
            &[
                "python",
                "-c",
                "import alpha, beta; print('OUT', alpha.VERSION, beta.VERSION)",
            ],
        );
        out.expect_success();
        assert!(out.stdout.contains("OUT 1.0 2.0"), "{}", out.describe());
        expect_alpha_cli(
            &env.seal(&["exec", "--isolation", "landlock", "-q", "alpha-cli"])
                .output(),
        );
        expect_alpha_cli(&env.run(&["alpha-cli"]));

        // The same install with namespaces, in another project, gives the same files.
        let ns = TestEnv::new(v, "fbenv-ns");
        ns.install(&index.url(), &["alpha"]).expect_success();
        let (a, b) = (
            comparable_env(&env.env_dir()),
            comparable_env(&ns.env_dir()),
        );
        assert_same_snapshot(
            &b,
            &a,
            "the fallback-built environment (vs the namespace-built)",
        );
    });
}

#[test]
fn fallback_proxy_refuses_another_host() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fballow");
        let index = PyIndex::start(&env.dir.join("index"));
        let other = PyIndex::start(&env.dir.join("other"));
        benign(&index);
        install_fallback(&env, &index.url(), &["alpha"]).expect_success();
        let env_before = snapshot(&env.env_dir());
        // epsilon's page (on the index) links its wheel on another port of 127.0.0.1.
        let eps = link_wheel_elsewhere(&index, &other, "127.0.0.1", "epsilon");

        let out = install_fallback(&env, &index.url(), &["epsilon"]);
        let target = format!("127.0.0.1:{}", other.port);
        assert_refused_by_proxy(&out, &other, &target, "");
        assert!(index.hits("/simple/epsilon/") >= 1);
        assert_same_snapshot(&env_before, &snapshot(&env.env_dir()), ".seal/env");
        assert_no_tmp_install(&env, "after the refused install");

        // Positive control: allowing that host:port makes the same install work.
        let out = install_fallback(&env, &index.url(), &["--allow-host", &target, "epsilon"]);
        out.expect_success();
        assert!(other.hits(&format!("/files/{}", eps.file)) >= 1);
        let out = run_fallback(
            &env,
            &["python", "-c", "import epsilon; print('EPS', epsilon.X)"],
        );
        out.expect_success();
        assert!(out.stdout.contains("EPS 1"), "{}", out.describe());
    });
}

#[test]
fn fallback_setup_time_code_is_contained() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbsdist");
        let index = PyIndex::start(&env.dir.join("index"));
        let tcp = Sink::tcp_concurrent();
        let dns = Sink::udp_dns();
        publish_probe_sdist(&env, &index, "probepkg", &[], &tcp, &dns);
        env.write_owned(&env.project.join("main.py"), "print('hi')\n", 0o644);
        let project_before = project_user_files(&env.project);

        let out = install_fallback(
            &env,
            &index.url(),
            &["--allow-sdist", "probepkg", "probepkg"],
        );
        out.expect_success();
        env.assert_no_canary(&out);
        assert_built_offline(&out);
        let log = installed_probe_log(&env, "probepkg");
        assert_build_contained(&log, "fallback build");
        // No socket at all in the fallback, and the build sees neither HOME nor the cache.
        for k in ["tcp_sink", "proxy_3128", "import:index_direct", "dns_send"] {
            expect_probe(&log, k, &["EACCES"], "fallback build");
        }
        expect_probe(&log, "write_cache", &["EACCES"], "fallback build");
        // chmod is a no-op there: it answers success and changes nothing.
        expect_probe(&log, "chmod_home", &["OK"], "fallback build");
        env.assert_home_intact();
        assert_same_snapshot(
            &project_before,
            &project_user_files(&env.project),
            "the project's files",
        );
        assert_eq!(index.hits(BACKEND_RAN), 0, "{}", index.describe_requests());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!((tcp.hits(), dns.hits()), (0, 0), "a sink was reached");
        let out = run_fallback(
            &env,
            &["python", "-c", "import probepkg; print(probepkg.BUILT_BY)"],
        );
        out.expect_success();
        assert!(
            out.stdout.contains("seal-test probe backend"),
            "{}",
            out.describe()
        );
    });
}

#[test]
fn fallback_pth_hook_is_inert_at_install_and_contained_at_run() {
    each_variant(|v| {
        let env = TestEnv::new(v, "fbpth");
        let index = PyIndex::start(&env.dir.join("index"));
        let tcp = Sink::tcp_concurrent();
        let dns = Sink::udp_dns();
        publish_pth_hook(&env, &index, &tcp, &dns);

        let out = install_fallback(&env, &index.url(), &["evilpkg"]);
        out.expect_success();
        env.assert_no_canary(&out);
        assert!(
            !out.stderr.contains("SEAL-PTH-LOG"),
            "the hook ran during the install\n{}",
            out.describe()
        );
        assert!(
            out.stderr_lines("seal: finding: pth-code ")
                .iter()
                .any(|l| l.contains("zzz_evilpkg.pth")),
            "{}",
            out.describe()
        );

        let project_before = snapshot(&env.project);
        let out = run_fallback(&env, &["python", "-c", "pass"]);
        out.expect_success();
        env.assert_no_canary(&out);
        let log = pth_log(&out);
        expect_log_saw_no_secrets(&log, &["EACCES"], &out);
        for k in ["tcp_direct", "proxy_3128", "dns_send"] {
            expect_log(&log, k, &["EACCES"], &out);
        }
        for k in ["write_project", "write_bashrc", "write_site_packages"] {
            expect_log(&log, k, &["EACCES"], &out);
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!((tcp.hits(), dns.hits()), (0, 0), "a sink was reached");
        assert_same_snapshot(&project_before, &snapshot(&env.project), "the project tree");
        env.assert_home_intact();

        // Positive control: the installed hook, processed by the host's interpreter, reaches
        // the TCP sink.
        let ctl = run_pth_on_host(&env);
        expect_log(&pth_log(&ctl), "tcp_direct", &["OK"], &ctl);
    });
}

#[test]
fn fallback_is_chosen_where_user_namespaces_are_blocked() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("no_userns.py filters x86_64 system calls only: skipped");
        return;
    }
    each_variant(|v| {
        let env = TestEnv::new(v, "fbauto");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let blocker = no_userns_wrapper();
        let blocked = |args: &[&str]| -> Output {
            env.host(
                PYTHON,
                &[blocker.to_str().unwrap(), v.seal.to_str().unwrap()],
            )
            .args(args)
            .output()
        };
        let url = index.url();
        let install = ["install", "--python", PYTHON, "--index-url", &url];

        // Control: with the namespaces refused, --isolation namespaces fails in one line and
        // leaves nothing behind.
        let out = blocked(&[&install[..], &["--isolation", "namespaces", "alpha"]].concat());
        out.expect_failure();
        let seal_lines = out.stderr_lines("seal: ");
        assert!(
            seal_lines.last().is_some_and(|l| !l.contains('\n')),
            "{}",
            out.describe()
        );
        assert!(!env.env_dir().exists(), "an environment was created");
        assert_no_tmp_install(&env, "after the refused install");

        // auto (the default): the first sandbox fails, the probe says why, the fallback runs
        // the whole install with one warning. -q does not silence it (not asked for).
        let out = blocked(&[&install[..], &["-q", "alpha"]].concat());
        out.expect_success();
        let warnings = out.stderr_lines("seal: warning: degraded isolation");
        assert_eq!(warnings.len(), 1, "{}", out.describe());
        assert!(
            warnings[0].contains("user namespaces are unavailable"),
            "{}",
            out.describe()
        );
        assert_no_tmp_install(&env, "after the install");
        assert_alpha_cli_shebang(&env);
        expect_alpha_cli(&blocked(&["exec", "alpha-cli"]));
        // With namespaces back, the same environment serves the namespace mode.
        assert_eq!(sealed_alpha_version(&env), "1.0");
    });
}

#[test]
fn fallback_uv_installer() {
    let Some(wheel) = uv_wheel() else {
        return;
    };
    each_variant(|v| {
        let mut env = TestEnv::new(v, "fbuv");
        let index = PyIndex::start(&env.dir.join("index"));
        let (alpha, beta) = benign(&index);
        let uv = index.add_file(&wheel);
        index.publish("uv", &[&uv]);
        own_xdg_cache(&mut env);

        let out = install_fallback(&env, &index.url(), &["--installer", "uv", "alpha"]);
        out.expect_success();
        env.assert_no_canary(&out);
        assert!(
            installer_line(&out).starts_with("seal: installer: uv ("),
            "{}",
            out.describe()
        );
        assert_no_tmp_install(&env, "after a successful install");
        assert_alpha_cli_shebang(&env);
        let leftovers = files_containing(&env.env_dir(), "tmp-install-");
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_benign_installed(&env, &index, &alpha, &beta);
        expect_alpha_cli(
            &env.seal(&["exec", "--isolation", "landlock", "-q", "alpha-cli"])
                .output(),
        );
    });
}

#[test]
fn names_served_by_two_indexes_are_reported_in_both_modes() {
    each_variant(|v| {
        for mode in ["namespaces", "landlock"] {
            let env = TestEnv::new(v, &format!("shadow-{mode}"));
            let index = PyIndex::start(&env.dir.join("index"));
            let extra = PyIndex::start(&env.dir.join("extra"));
            benign(&index);
            // Another index serves a higher beta: pip takes it, seal names the confusion.
            let beta3 = extra.wheel(
                &WheelSpec::new("beta", "3.0").file("beta/__init__.py", "VERSION = '3.0'\n"),
            );
            extra.publish("beta", &[&beta3]);
            let out = env
                .seal(&[
                    "install",
                    "--isolation",
                    mode,
                    "-q",
                    "--python",
                    PYTHON,
                    "--index-url",
                    &index.url(),
                    "--extra-index-url",
                    &extra.url(),
                    "alpha",
                ])
                .output();
            out.expect_success();
            let warnings =
                out.stderr_lines("seal: warning: dependency confusion: beta is served by");
            assert_eq!(warnings.len(), 1, "[{mode}]\n{}", out.describe());
            assert!(
                warnings[0].contains(&index.url()) && warnings[0].contains(&extra.url()),
                "[{mode}] {}",
                warnings[0]
            );
            assert!(
                out.stderr_lines("seal: warning: dependency confusion: alpha")
                    .is_empty(),
                "[{mode}] alpha is served by one index only\n{}",
                out.describe()
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// pip in the environment

/// Without `--seed` the environment has no pip, like uv's; with it pip is put in offline from
/// the interpreter's own ensurepip wheel (nothing fetched for it), and works at run time.
#[test]
fn seed_puts_pip_into_the_environment_offline() {
    let python = Path::new(PYTHON);
    let version = String::from_utf8(
        std::process::Command::new(python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let ensurepip = Path::new("/usr/lib")
        .join(format!("python{}", version.trim()))
        .join("ensurepip/__init__.py");
    if !ensurepip.exists() || fs::read_dir("/usr/share/python-wheels").is_err() {
        loud(&bang_frame(&format!(
            "!!! SKIPPED seed_puts_pip_into_the_environment_offline: {PYTHON} has no ensurepip\n\
             !!! with Debian's pip wheel (.ci/run installs python3-venv)"
        )));
        return;
    }
    each_variant(|v| {
        let env = TestEnv::new(v, "seed");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        let pip_version = ["python", "-m", "pip", "--version"];

        env.install(&index.url(), &["alpha"]).expect_success();
        let out = env.run(&pip_version);
        assert!(
            !out.status.success() && out.stderr.contains("No module named pip"),
            "an unseeded environment has pip\n{}",
            out.describe()
        );

        let before = index.requests().len();
        env.install(&index.url(), &["--seed", "alpha"])
            .expect_success();
        let out = env.run(&pip_version);
        out.expect_success();
        assert!(
            out.stdout.contains("/seal/env/lib/"),
            "pip is not the environment's own\n{}",
            out.describe()
        );
        assert!(
            !index.paths()[before..].iter().any(|p| p.contains("/pip")),
            "--seed fetched pip from the index: {:?}",
            index.paths()
        );
        assert_eq!(sealed_alpha_version(&env), "1.0");
    });
}

/// A plain `seal install` in a project with only a requirements.txt installs from it, and
/// says so, as pip users expect.
#[test]
fn plain_install_uses_the_projects_requirements_txt() {
    each_variant(|v| {
        let env = TestEnv::new(v, "plain-reqs");
        let index = PyIndex::start(&env.dir.join("index"));
        benign(&index);
        env.write_owned(&env.project.join("requirements.txt"), "alpha\n", 0o644);
        let out = env.install(&index.url(), &[]);
        out.expect_success();
        assert!(
            out.stderr.contains("installing from ") && out.stderr.contains("requirements.txt"),
            "seal did not say it used requirements.txt\n{}",
            out.describe()
        );
        assert_eq!(sealed_alpha_version(&env), "1.0");
    });
}

/// alpha (needing beta), beta, and gamma on the index.
fn benign_and_gamma(index: &PyIndex) {
    benign(index);
    let gamma = index.wheel(&WheelSpec::new("gamma", "1.0").file("gamma/__init__.py", ""));
    index.publish("gamma", &[&gamma]);
}

fn names(env: &TestEnv) -> Vec<String> {
    env_packages(env).into_iter().map(|(n, _)| n).collect()
}

/// `seal add` / `seal remove` change requirements.txt and rebuild the environment from all of
/// it (additive, as `uv add` is); a failed add or a remove of an undeclared name leaves the
/// file and the environment as they were.
#[test]
fn add_and_remove_change_requirements_txt_and_the_environment() {
    each_variant(|v| {
        let env = TestEnv::new(v, "add-remove");
        let index = PyIndex::start(&env.dir.join("index"));
        benign_and_gamma(&index);
        let reqs = env.project.join("requirements.txt");
        env.write_owned(&reqs, "# ours\nalpha\n", 0o644);
        let seal = |cmd: &str, pkgs: &[&str]| {
            env.seal(&[cmd, "--python", PYTHON, "--index-url", &index.url()])
                .args(pkgs)
                .output()
        };

        let out = seal("add", &["gamma"]);
        out.expect_success();
        assert!(
            out.stderr.contains("seal: added gamma (") && out.stderr.contains("requirements.txt)"),
            "{}",
            out.describe()
        );
        assert_eq!(
            std::fs::read_to_string(&reqs).unwrap(),
            "# ours\nalpha\ngamma\n"
        );
        assert_eq!(names(&env), ["alpha", "beta", "gamma"]);

        seal("remove", &["Alpha"]).expect_success();
        assert_eq!(std::fs::read_to_string(&reqs).unwrap(), "# ours\ngamma\n");
        assert_eq!(names(&env), ["gamma"], "alpha's dependency must go with it");

        for (cmd, pkg, why) in [
            (
                "remove",
                "alpha",
                "alpha is not among the requirements declared in",
            ),
            (
                "add",
                "no-such-package",
                "the previous environment is unchanged",
            ),
            ("remove", "gamma", "no requirement"),
        ] {
            let out = seal(cmd, &[pkg]);
            out.expect_failure();
            assert!(out.stderr.contains(why), "{cmd} {pkg}: {}", out.describe());
            assert_eq!(
                std::fs::read_to_string(&reqs).unwrap(),
                "# ours\ngamma\n",
                "{cmd} {pkg} changed the file"
            );
            assert_eq!(
                names(&env),
                ["gamma"],
                "{cmd} {pkg} changed the environment"
            );
        }
    });
}

/// In a project that declares its dependencies in pyproject.toml and has a seal.lock, `seal add`
/// edits [project].dependencies keeping the file's comments and layout, and writes seal.lock
/// anew, which a plain `seal install` then installs from.
#[test]
fn add_edits_pyproject_in_place_and_rewrites_the_lock() {
    each_variant(|v| {
        let env = TestEnv::new(v, "add-pyproject");
        let index = PyIndex::start(&env.dir.join("index"));
        benign_and_gamma(&index);
        let pyproject = env.project.join("pyproject.toml");
        env.write_owned(
            &pyproject,
            "# the project\n[project]\nname = \"demo\"  # kept\nversion = \"0.1\"\ndependencies = [\n    \"alpha\",  # the app\n]\n\n[tool.other]\nkey = 1\n",
            0o644,
        );
        env.install(&index.url(), &["--lock"]).expect_success();
        let lock = env.project.join("seal.lock");
        assert!(!std::fs::read_to_string(&lock).unwrap().contains("gamma"));

        let out = env
            .seal(&[
                "add",
                "--python",
                PYTHON,
                "--index-url",
                &index.url(),
                "gamma",
            ])
            .output();
        out.expect_success();
        assert!(
            out.stderr.contains("seal.lock rewritten"),
            "{}",
            out.describe()
        );
        let text = std::fs::read_to_string(&pyproject).unwrap();
        assert!(
            text.starts_with("# the project\n[project]\nname = \"demo\"  # kept\n")
                && text
                    .contains("dependencies = [\n    \"alpha\",  # the app\n    \"gamma\",\n]\n")
                && text.ends_with("[tool.other]\nkey = 1\n"),
            "{text}"
        );
        assert!(std::fs::read_to_string(&lock)
            .unwrap()
            .contains("name = \"gamma\""));
        assert_eq!(names(&env), ["alpha", "beta", "gamma"]);

        let out = env.install(&index.url(), &[]);
        out.expect_success();
        assert!(
            out.stderr.contains("installing from seal.lock"),
            "{}",
            out.describe()
        );
        assert_eq!(names(&env), ["alpha", "beta", "gamma"]);
    });
}
