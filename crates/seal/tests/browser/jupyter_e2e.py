#!/usr/bin/env python3
"""Real-browser end-to-end driver for JupyterLab (plain, or behind `seal jupyter`).

Stdlib only: it speaks the W3C WebDriver JSON protocol to chromedriver over HTTP (urllib), so
the test needs no selenium and nothing from PyPI on the host.

Sub-commands (see --help of each):

  write-notebook PATH --cell SRC [--cell SRC ...]   write an nbformat 4.5 notebook
  run --url URL --token T --notebook NAME.ipynb ... open it in JupyterLab, run all cells,
                                                    compare outputs, screenshot, JSON result
  check-refused --url URL                           load URL without a token, report what the
                                                    browser sees (login page / 403 / the lab)
  netns-check                                       exit 0 iff this process sees only `lo`

`run` and `check-refused` may start the server themselves (`--server 'CMD'`), so the whole
thing is one process tree inside one network namespace.

Exit status: 0 success, 1 mismatch (an expectation failed, or the lab was reachable in
check-refused), 2 infrastructure error (browser/driver/server did not start, timeouts, not in
a loopback-only network namespace). The last line on stdout is always one JSON object.

NETWORK SAFETY: Chromium talks to Google on its own (component updates, safe browsing,
variations, ...). The browser must only ever reach loopback, so this script refuses to start
it unless its network namespace has no interface but `lo`. The caller creates that namespace:

    unshare --net -- sh -c 'ip link set lo up && exec python3 jupyter_e2e.py run ...'
"""

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

EXIT_OK, EXIT_MISMATCH, EXIT_INFRA = 0, 1, 2
T0 = time.monotonic()


class InfraError(Exception):
    """The test could not be carried out (exit 2)."""


class Mismatch(Exception):
    """The test ran and an expectation failed (exit 1)."""


def log(msg):
    print(f"[e2e {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class Deadline:
    """One overall time budget; every wait is bounded by what is left of it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, what):
        if self.left() <= 0:
            raise InfraError(f"overall timeout while {what}")


# ---------------------------------------------------------------------------------------------
# Network safety


def loopback_only_problem():
    """None if this process's network namespace has only `lo`, and it is up; else why not.

    socket.if_nameindex() asks the kernel (netlink) about the *current* namespace. (Not
    /sys/class/net: sysfs shows the namespace of whoever mounted it, i.e. the host's.)
    """
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"]:
        return (
            f"network interfaces {names}: refusing to start a browser outside a loopback-only "
            "network namespace (run under: unshare --net -- sh -c 'ip link set lo up && exec ...')"
        )
    # lo down: even 127.0.0.1 is unreachable and everything would time out confusingly.
    try:
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            socket.create_connection(srv.getsockname(), timeout=2).close()
    except OSError as e:
        return f"loopback is not usable ({e}); run 'ip link set lo up' first"
    return None


def require_loopback_only():
    problem = loopback_only_problem()
    if problem:
        raise InfraError(problem)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Processes: everything we start runs in its own session (process group), so one killpg ends
# it with all its children; Chromium's processes are also found by their unique profile path.


def start_process(argv, log_path, env=None):
    logf = open(log_path, "ab")
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    finally:
        logf.close()


def proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: parse after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def live_pids(match):
    """Pids of live (non-zombie) processes whose (state, ppid, pgrp) satisfies match."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(entry)
            if st and st[0] not in "ZX" and match(st):
                out.append(int(entry))
    return out


def stop_process(proc, grace=5.0):
    """SIGTERM the process group; SIGKILL it once `grace` seconds passed without the *whole
    group* exiting (the leader may be a `sh -c` that dies at once while the real server is
    still shutting its kernels down). Never raises."""
    if proc is None:
        return
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        except OSError as e:
            log(f"killpg({pgid}, {sig.name}): {e}")
        end = time.monotonic() + wait
        while time.monotonic() < end:
            proc.poll()  # reap the leader
            if proc.returncode is not None and not live_pids(lambda st: st[2] == pgid):
                return
            time.sleep(0.05)


def become_subreaper():
    """prctl(PR_SET_CHILD_SUBREAPER): orphans of what we start (the server's grandchildren,
    Chromium helpers whose parent died) are re-parented to us instead of init, so
    reap_descendants() can kill and reap every one of them before we exit."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def children_of(pid):
    return live_pids(lambda st: st[1] == pid)


def reap_descendants(timeout=10.0):
    """SIGKILL every live child (as subreaper: every live descendant ends up a child) and reap
    them all. Returns the pids that had to be killed."""
    killed = []
    end = time.monotonic() + timeout
    while True:
        for pid in children_of(os.getpid()):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    name = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
            except OSError:
                name = "?"
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(f"{pid} {name}")
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return killed  # no children left at all
        if time.monotonic() > end:
            log(f"children still present after {timeout}s: {children_of(os.getpid())}")
            return killed
        time.sleep(0.05)


def kill_matching(marker):
    """SIGKILL every process whose command line contains `marker` (our unique profile path):
    a Chromium process that left chromedriver's process group must not outlive the test."""
    me = os.getpid()
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except OSError:
                pass
    return killed


# ---------------------------------------------------------------------------------------------
# Minimal W3C WebDriver client


class WebDriverError(Exception):
    def __init__(self, error, message):
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


def http_json(method, url, body=None, timeout=30.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
    except urllib.error.HTTPError as e:  # WebDriver errors come as 4xx/5xx with a JSON body
        payload = e.read()
    try:
        value = json.loads(payload or b"{}").get("value")
    except ValueError:
        raise InfraError(f"{method} {url}: not JSON: {payload[:200]!r}")
    if isinstance(value, dict) and "error" in value:
        raise WebDriverError(value["error"], str(value.get("message", ""))[:2000])
    return value


class ChromeDriver:
    """A chromedriver process on 127.0.0.1 (or an already-running one: `port` given)."""

    def __init__(self, binary, port, log_path, verbose):
        self.proc = None
        self.port = port
        if port is None:
            self.port = free_port()
            # No --allowed-ips: the default only accepts local connections (an *empty*
            # --allowed-ips= would allow everyone).
            argv = [binary, f"--port={self.port}", f"--log-path={log_path}"]
            if verbose:
                argv.append("--verbose")
            log(f"starting {shlex.join(argv)}")
            self.proc = start_process(argv, log_path + ".stdout")
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, deadline):
        while True:
            deadline.check("waiting for chromedriver")
            if self.proc is not None and self.proc.poll() is not None:
                raise InfraError(f"chromedriver exited with status {self.proc.returncode}")
            try:
                if http_json("GET", self.url + "/status", timeout=2).get("ready"):
                    return
            except (OSError, InfraError, WebDriverError):
                pass
            time.sleep(0.1)

    def stop(self):
        stop_process(self.proc, grace=3.0)


class Session:
    def __init__(self, driver, capabilities, timeout):
        value = http_json(
            "POST", driver.url + "/session", {"capabilities": capabilities}, timeout=timeout
        )
        self.base = f"{driver.url}/session/{value['sessionId']}"
        self.capabilities = value.get("capabilities", {})

    def cmd(self, method, path, body=None, timeout=30.0):
        return http_json(method, self.base + path, body, timeout=timeout)

    def set_timeouts(self, script_ms, page_load_ms):
        self.cmd("POST", "/timeouts", {"script": script_ms, "pageLoad": page_load_ms, "implicit": 0})

    def navigate(self, url, timeout):
        self.cmd("POST", "/url", {"url": url}, timeout=timeout)

    def js(self, script, *args, timeout=30.0):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)}, timeout)

    def set_cookie(self, url, name, value):
        """Store a cookie for `url` through the DevTools protocol: no request reaches `url`."""
        self.cmd("POST", "/goog/cdp/execute",
                 {"cmd": "Network.setCookie", "params": {"url": url, "name": name, "value": value}})

    def find(self, xpath):
        els = self.cmd("POST", "/elements", {"using": "xpath", "value": xpath})
        return [next(iter(e.values())) for e in els]

    def click(self, element_id):
        self.cmd("POST", f"/element/{element_id}/click", {})

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot", timeout=60))
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        http_json("DELETE", self.base, timeout=10)


# ---------------------------------------------------------------------------------------------
# Chromium


def find_binary(env_name, candidates):
    explicit = os.environ.get(env_name)
    if explicit:
        return explicit
    for c in candidates:
        path = c if os.path.isabs(c) else shutil.which(c)
        if path and os.access(path, os.X_OK):
            return path
    raise InfraError(f"none of {candidates} found (install chromium chromium-driver, or set {env_name})")


def chromium_args(profile, sandbox, window):
    args = [
        "--headless=new",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        # Keep Chromium quiet on the network. The network namespace is what actually
        # guarantees nothing leaves loopback; these just stop it from trying.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--no-pings",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        "--safebrowsing-disable-auto-update",
        "--disable-features=OptimizationHints,Translate,MediaRouter,AutofillServerCommunication,"
        "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
        # No name resolution at all: a stray hostname fails at once instead of trying DNS.
        # The rule also catches IP literals, hence the explicit loopback exclusions (seal jupyter
        # serves on a loopback address of its own, 127.A.B.C).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*",
        "--password-store=basic",
        "--use-mock-keychain",
        # Headless, no GPU in CI; software rendering is enough for a screenshot.
        "--disable-gpu",
        # /dev/shm can be small in containers; Chromium then crashes on large tabs.
        "--disable-dev-shm-usage",
    ]
    if not sandbox:
        # Chromium refuses to run as root with its sandbox on. Acceptable here only because
        # the page it renders is our own test server's, inside a loopback-only namespace.
        args.append("--no-sandbox")
    return args


class Browser:
    """chromedriver + one headless Chromium session; close() always leaves nothing behind."""

    def __init__(self, opts, deadline, workdir):
        self.driver = None
        self.session = None
        self.profile = tempfile.mkdtemp(prefix="seal-e2e-profile-", dir=workdir)
        self.timings = {}
        try:
            self._start(opts, deadline, workdir)
        except BaseException:
            self.close()  # the caller never gets this object: do not leak chromedriver
            raise

    def _start(self, opts, deadline, workdir):
        sandbox = opts.sandbox == "on" or (opts.sandbox == "auto" and os.geteuid() != 0)
        self.sandbox = sandbox
        chrome = find_binary(
            "SEAL_E2E_CHROMIUM",
            # Debian's /usr/bin/chromium is a shell wrapper that adds flags of its own
            # (--enable-remote-extensions, API keys) and breaks when /dev/shm is mounted
            # twice; the real binary is in /usr/lib/chromium.
            ["/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"],
        )
        chromedriver = find_binary("SEAL_E2E_CHROMEDRIVER", ["chromedriver"])
        t = time.monotonic()
        self.driver = ChromeDriver(
            chromedriver, opts.chromedriver_port, os.path.join(workdir, "chromedriver.log"),
            opts.verbose,
        )
        self.driver.wait_ready(deadline)
        self.timings["chromedriver_start"] = round(time.monotonic() - t, 2)
        def caps(sandbox):
            return {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": False,
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": chrome,
                        "args": chromium_args(self.profile, sandbox, opts.window),
                        # Keep the "controlled by automated software" bar off the screenshot.
                        "excludeSwitches": ["enable-automation"],
                    },
                }
            }

        t = time.monotonic()
        while True:
            log(f"starting {chrome} (sandbox {'on' if sandbox else 'off'})")
            try:
                self.session = Session(
                    self.driver, caps(sandbox), timeout=max(5.0, min(60.0, deadline.left()))
                )
                break
            except WebDriverError as e:
                first = e.message.splitlines()[0]
                if sandbox and opts.sandbox == "auto":
                    # Chromium's sandbox needs unprivileged user namespaces (Debian ships no
                    # setuid chrome-sandbox); where there are none, run without and say so.
                    log(f"browser did not start with its sandbox ({first}); retrying without")
                    sandbox = self.sandbox = False
                    continue
                raise InfraError(f"browser did not start: {first} (details: rerun with -v "
                                 "--log-dir DIR and read DIR/chromedriver.log)") from e
        self.timings["browser_start"] = round(time.monotonic() - t, 2)
        self.version = self.session.capabilities.get("browserVersion")
        self.session.set_timeouts(script_ms=30000, page_load_ms=60000)
        # Make every JupyterLab page set window.jupyterapp, whatever the server's
        # --LabApp.expose_app_in_browser, so `seal jupyter` needs no test-only option.
        try:
            self.session.cmd("POST", "/goog/cdp/execute", {
                "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": JS_EXPOSE_APP}})
            self.exposes_app = True
        except WebDriverError as e:
            log(f"cannot inject the expose-app script ({e}); relying on the server's "
                "--LabApp.expose_app_in_browser=True")
            self.exposes_app = False

    def close(self):
        """Quit the session, stop chromedriver, kill stragglers, remove the profile."""
        if self.session is not None:
            try:
                self.session.quit()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                log(f"quitting the WebDriver session: {e}")
            self.session = None
        if self.driver is not None:
            self.driver.stop()
            self.driver = None
        killed = kill_matching(self.profile)
        if killed:
            log(f"killed leftover browser processes {killed}")
        shutil.rmtree(self.profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The server under test (optional: `--server CMD`)


URL_IN_LOG = re.compile(r"https?://127\.\d+\.\d+\.\d+:\d+/\S*")


class Server:
    """A server started by us (`sh -c CMD`) in our network namespace; its URL and token are
    either given or read from the first http://127.A.B.C:PORT/...token=... line it prints."""

    def __init__(self, cmd, log_path):
        self.log_path = log_path
        log(f"starting server: {cmd}")
        self.proc = start_process(["/bin/sh", "-c", cmd], log_path)

    def announced_url(self):
        try:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return None
        for m in URL_IN_LOG.finditer(text):
            # Jupyter logs a token it was given as "token=..."; only a real one will do.
            if re.search(r"[?&]token=[A-Za-z0-9_-]+", m.group(0)):
                return m.group(0)
        return None

    def check_alive(self):
        if self.proc.poll() is not None:
            raise InfraError(f"server exited with status {self.proc.returncode}; see {self.log_path}")

    def stop(self):
        stop_process(self.proc, grace=10.0)


def wait_http(url, deadline, server=None):
    """Wait until `url` gives any HTTP answer (a 403 or a redirect counts: it is up)."""
    opener = urllib.request.build_opener(NoRedirect)
    while True:
        deadline.check(f"waiting for {redact(url)} to answer")
        if server:
            server.check_alive()
        try:
            opener.open(url, timeout=3).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def resolve_url(opts, server, deadline):
    """(base URL, token): from the options, or announced by the server."""
    if opts.url:
        return opts.url.rstrip("/"), getattr(opts, "token", None)
    if not server:
        raise InfraError("--url is required unless --server prints it")
    while True:
        deadline.check("waiting for the server to print its URL")
        server.check_alive()
        announced = server.announced_url()
        if announced:
            u = urllib.parse.urlsplit(announced)
            token = urllib.parse.parse_qs(u.query).get("token", [None])[0]
            return f"{u.scheme}://{u.netloc}", getattr(opts, "token", None) or token
        time.sleep(0.2)


def redact(text, token=None):
    text = re.sub(r"(token=)[^&\s]+", r"\1***", text)
    return text.replace(token, "***") if token else text


# ---------------------------------------------------------------------------------------------
# JupyterLab, seen from the page, through window.jupyterapp (JS_EXPOSE_APP makes the page set
# it; a server started with --LabApp.expose_app_in_browser=True sets it anyway). The JS is
# synchronous and polled from Python: a wait that times out then still reports the last
# state it saw, which is what one needs to debug CI.

# Runs in every new document before its own scripts. JupyterLab's bundle sets
# window.jupyterapp iff PageConfig.getOption('exposeAppInBrowser') is "true", and PageConfig
# parses the JSON of <script id="jupyter-config-data"> on first use, after the HTML is parsed.
# So: patch that JSON as soon as the parser has inserted it completely (JSON.parse succeeds).
JS_EXPOSE_APP = r"""
(() => {
  const patch = () => {
    const el = document.getElementById('jupyter-config-data');
    if (!el) return false;
    try {
      const cfg = JSON.parse(el.textContent);
      cfg.exposeAppInBrowser = true;
      el.textContent = JSON.stringify(cfg);
      return true;
    } catch (e) { return false; }   // text not complete yet: wait for the next mutation
  };
  const obs = new MutationObserver(() => { if (patch()) obs.disconnect(); });
  obs.observe(document, {childList: true, subtree: true, characterData: true});
})();
"""

JS_STATE = r"""
const path = arguments[0];
const st = {readyState: document.readyState, title: document.title, href: location.href};
st.dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.slice(0, 300));
const app = window.jupyterapp;
if (!app) { st.phase = document.getElementById('jupyter-config-data') ? 'lab-loading' : 'no-lab'; return st; }
st.version = app.version;
let panel = null;
for (const w of app.shell.widgets('main')) {
  if (w.context && w.context.path === path && w.content && w.sessionContext) { panel = w; break; }
}
if (!panel) { st.phase = 'no-notebook'; return st; }
const sc = panel.sessionContext;
const k = sc.session ? sc.session.kernel : null;
st.contextReady = panel.context.isReady;
st.sessionReady = sc.isReady;
st.kernelDisplay = sc.kernelDisplayStatus;
st.kernel = k ? {name: k.name, status: k.status, connection: k.connectionStatus} : null;
const text = o => Array.isArray(o) ? o.join('') : (o == null ? '' : String(o));
st.cells = panel.content.widgets.map(c => {
  const m = c.model;
  const cell = {type: m.type, source: m.sharedModel.getSource()};
  if (m.type !== 'code') return cell;
  cell.count = m.executionCount == null ? null : m.executionCount;
  cell.running = m.executionState === 'running';   // JupyterLab >= 4.1
  cell.outputs = m.outputs.toJSON().map(o => {
    if (o.output_type === 'stream') return {type: 'stream', name: o.name, text: text(o.text)};
    if (o.output_type === 'error') return {type: 'error', text: o.ename + ': ' + o.evalue};
    const d = o.data || {};
    return {type: o.output_type, text: text(d['text/plain'])};
  });
  // What the user sees. textContent, not innerText: it does not depend on layout, and
  // JupyterLab's windowed notebook skips layout of cells out of view.
  const nodes = c.node.querySelectorAll('.jp-OutputArea-output');
  cell.dom = Array.from(nodes).map(n => n.textContent).join('\n');
  return cell;
});
st.run = window.__sealE2ERun || null;
st.phase = 'notebook';
return st;
"""

JS_RUN_ALL_COMMAND = r"""
const path = arguments[0];
const app = window.jupyterapp;
let panel = null;
for (const w of app.shell.widgets('main')) { if (w.context && w.context.path === path) panel = w; }
app.shell.activateById(panel.id);   // run-all-cells acts on the current notebook
window.__sealE2ERun = {state: 'running'};
app.commands.execute('notebook:run-all-cells').then(
  r => { window.__sealE2ERun = {state: 'done', result: r === undefined ? null : r}; },
  e => { window.__sealE2ERun = {state: 'failed', error: String(e)}; });
return true;
"""

JS_PAGE = r"""
const cfg = document.getElementById('jupyter-config-data');
const nav = performance.getEntriesByType('navigation')[0];
return {
  href: location.href, title: document.title, readyState: document.readyState,
  status: nav && nav.responseStatus ? nav.responseStatus : null,
  lab_page: !!cfg, lab_app: !!window.jupyterapp,
  login_form: !!document.querySelector('input[type=password], input[name=password]'),
  text: (document.body ? document.body.innerText : '').slice(0, 4000),
};
"""


def timeout_hint(state):
    if state.get("phase") == "lab-loading" and state.get("readyState") == "complete":
        return (" (a JupyterLab page whose window.jupyterapp never appeared: the lab failed to "
                "start, or exposeAppInBrowser is off and the injection failed)")
    return ""


def poll(session, path, deadline, what, done, on_state=None, interval=0.25, budget=None):
    """Poll JS_STATE until done(state); log phase changes; InfraError on timeout."""
    end = time.monotonic() + (budget if budget is not None else deadline.left())
    last_summary = None
    state = None
    while True:
        try:
            state = session.js(JS_STATE, path)
        except WebDriverError as e:
            # e.g. the page is navigating (JS context destroyed): try again.
            state = {"phase": "js-error", "error": e.message[:200]}
        summary = summarize(state)
        if summary != last_summary:
            log(f"{what}: {summary}")
            last_summary = summary
        if on_state:
            on_state(state)
        if done(state):
            return state
        if time.monotonic() > end or deadline.left() <= 0:
            raise InfraError(f"timeout while {what}{timeout_hint(state)}; "
                             f"last state: {json.dumps(state)[:1500]}")
        time.sleep(interval)


def summarize(st):
    parts = [st.get("phase", "?")]
    if st.get("kernel"):
        k = st["kernel"]
        parts.append(f"kernel {k['name']} {k['status']}/{k['connection']}")
    elif st.get("phase") == "notebook":
        parts.append(f"kernel: {st.get('kernelDisplay')}")
    if st.get("cells"):
        code = [c for c in st["cells"] if c["type"] == "code"]
        parts.append("counts " + ",".join(str(c.get("count")) for c in code))
    if st.get("run"):
        parts.append(f"run {st['run'].get('state')}")
    if st.get("dialogs"):
        parts.append(f"dialog {st['dialogs'][0][:80]!r}")
    return "; ".join(parts)


class Dialogs:
    """Modal dialogs. 'Select Kernel' (the notebook names no kernel, or an unknown one) is
    accepted, as a user would. Any other dialog ('Cannot open: Could not find path', 'Kernel
    died', ...) that stays up for `patience` seconds ends the test at once with its text,
    instead of waiting for the overall timeout."""

    def __init__(self, session, patience=3.0):
        self.session = session
        self.patience = patience
        self.first_seen = {}

    def __call__(self, state):
        now = time.monotonic()
        shown = state.get("dialogs") or []
        self.first_seen = {t: self.first_seen.get(t, now) for t in shown}
        for text in shown:
            if "Select Kernel" in text:
                for el in self.session.find(
                    "//div[contains(@class,'jp-Dialog')]//button[contains(@class,'jp-mod-accept')]"
                ):
                    log(f"accepting dialog: {text[:200]!r}")
                    try:
                        self.session.click(el)
                    except WebDriverError as e:
                        log(f"clicking the dialog button: {e}")
            elif now - self.first_seen[text] > self.patience:
                raise InfraError(f"JupyterLab shows a dialog: {' / '.join(text.splitlines())[:500]}")


def kernel_idle(st):
    k = st.get("kernel")
    return bool(k) and k["status"] == "idle" and k["connection"] == "connected"


def run_via_menu(session):
    """Run > Run All Cells, clicked like a user would (exercises the real menus)."""
    for xpath in (
        "//li[contains(@class,'lm-MenuBar-item')][.//div[normalize-space()='Run']]",
        "//li[contains(@class,'lm-Menu-item')][.//div[normalize-space()='Run All Cells']]",
    ):
        found = session.find(xpath)
        if not found:
            raise InfraError(f"menu entry not found: {xpath}")
        session.click(found[0])
        time.sleep(0.3)


# ---------------------------------------------------------------------------------------------
# Expectations


def load_expectations(spec):
    """--expect: JSON (or @file). A list (one entry per code cell, in order) or an object
    {"1": ..., "3": ...} keyed by the 1-based index among code cells. An entry is null (no
    check), a string (the output must contain it) or an object with any of:
      contains / not_contains: string or list of strings (searched in the output text plus
        the error line "EName: value" if the cell raised)
      equals: the whole output text (stdout/stderr/results, not the error), whitespace-trimmed
      regex: re.search must match (same text as contains)
      error: true if the cell is expected to raise (default: any error output fails)
      executed: false if the cell must *not* run (JupyterLab stops at the first error)
    Code cells without an entry must still run, without error."""
    if not spec:
        return {}
    if spec.startswith("@"):
        with open(spec[1:]) as f:
            spec = f.read()
    raw = json.loads(spec)
    if isinstance(raw, list):
        items = {i + 1: v for i, v in enumerate(raw)}
    elif isinstance(raw, dict):
        items = {int(k): v for k, v in raw.items()}
    else:
        raise ValueError("--expect must be a JSON list or object")
    out = {}
    for i, v in items.items():
        if v is None:
            continue
        if isinstance(v, str):
            v = {"contains": v}
        unknown = set(v) - {"contains", "not_contains", "equals", "regex", "error", "executed"}
        if unknown:
            raise ValueError(f"--expect cell {i}: unknown keys {sorted(unknown)}")
        out[i] = v
    return out


def as_list(v):
    return [] if v is None else [v] if isinstance(v, str) else list(v)


def check_cell(cell, exp):
    """Problems (strings) of one code cell against its expectation."""
    problems = []
    text = cell["text"]
    # contains / not_contains / regex also see the error line ("ZeroDivisionError: ...").
    seen = text + (f"\n{cell['error']}" if cell["error"] else "")
    if exp.get("executed", True) is False:
        if cell["execution_count"] is not None or text:
            problems.append("executed, expected not to be")
        return problems
    if cell["execution_count"] is None:
        problems.append("not executed")
    if cell["error"] and not exp.get("error"):
        problems.append(f"raised {cell['error']}")
    if exp.get("error") and not cell["error"]:
        problems.append("expected an error, none raised")
    for s in as_list(exp.get("contains")):
        if s not in seen:
            problems.append(f"output lacks {s!r}")
    for s in as_list(exp.get("not_contains")):
        if s in seen:
            problems.append(f"output contains {s!r}")
    if "equals" in exp and text.strip() != exp["equals"].strip():
        problems.append(f"output is not {exp['equals']!r}")
    if "regex" in exp and not re.search(exp["regex"], seen):
        problems.append(f"output does not match /{exp['regex']}/")
    return problems


# ---------------------------------------------------------------------------------------------
# Sub-commands


def cmd_write_notebook(opts):
    cells = list(opts.cell or [])
    if opts.cells_json:
        cells += json.loads(opts.cells_json)
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        # Naming the kernel lets JupyterLab start it without a 'Select Kernel' dialog.
        "metadata": {
            "kernelspec": {"name": opts.kernel, "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "id": f"cell-{i}",
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
    }
    with open(opts.path, "w") as f:
        json.dump(nb, f, indent=1)
        f.write("\n")
    print(json.dumps({"ok": True, "mode": "write-notebook", "path": opts.path, "cells": len(cells)}))
    return EXIT_OK


def cmd_run(opts, ctx):
    expectations = load_expectations(opts.expect)
    deadline = ctx["deadline"]
    url, token = resolve_url(opts, ctx.get("server"), deadline)
    ctx["result"].update(url=url)
    if not token:
        raise InfraError("no token: give --token (or a --server that prints one)")
    wait_http(url + "/", deadline, ctx.get("server"))
    ctx["timings"]["server_ready"] = round(time.monotonic() - T0, 2)

    browser = ctx["open_browser"]()
    s = browser.session
    # Cookies as other local web services would have left them, and one of the lab's own as the
    # control that the page's document.cookie is read at all.
    planted = {"seal_e2e_own": url + "/"}
    for i, other in enumerate(opts.foreign_cookie or []):
        planted[f"seal_e2e_foreign{i}"] = other
    for name, where in planted.items():
        s.set_cookie(where, name, "1")
    path = opts.notebook
    quoted = urllib.parse.quote(path)
    # ?reset: ignore any saved workspace layout, so earlier runs cannot interfere.
    lab_url = f"{url}/lab/tree/{quoted}?reset&token={urllib.parse.quote(token)}"
    log(f"opening {redact(lab_url, token)}")
    t = time.monotonic()
    try:
        s.navigate(lab_url, timeout=max(5.0, deadline.left()))
    except WebDriverError as e:
        raise InfraError(f"could not load the lab: {e.message.splitlines()[0]}") from e

    dialogs = Dialogs(s)

    def lab_up(st):
        if st.get("phase") == "no-lab" and st.get("readyState") == "complete":
            raise InfraError(f"not a JupyterLab page (title {st.get('title')!r}, at "
                             f"{redact(st.get('href', '?'), token)}): wrong token or URL?")
        return st.get("phase") == "notebook" and st.get("contextReady")

    st = poll(s, path, deadline, "loading the lab", lab_up, dialogs)
    ctx["result"]["jupyterlab_version"] = st.get("version")
    names = {c.split("=", 1)[0].strip() for c in (s.js("return document.cookie") or "").split(";")}
    ctx["result"]["page_cookies"] = sorted(n for n in names if n.startswith("seal_e2e_"))
    if "seal_e2e_own" not in names:
        raise InfraError("the page's own planted cookie is not in document.cookie: cannot check "
                         "the foreign ones")
    seen = sorted(n for n in names if n.startswith("seal_e2e_foreign"))
    if seen:
        raise Mismatch(f"the page sees cookies of other local origins: "
                       f"{[planted[n] for n in seen]}")
    ctx["timings"]["lab_load"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    poll(s, path, deadline, "starting the kernel", kernel_idle, dialogs)
    ctx["timings"]["kernel_ready"] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    before = [c.get("count") for c in st["cells"] if c["type"] == "code"]
    if opts.run_via == "menu":
        run_via_menu(s)
    else:
        s.js(JS_RUN_ALL_COMMAND, path)

    # Done when: the run-all promise settled (command mode) or every code cell has a new
    # execution count (menu mode; a cell that raises stops the rest, so also: the kernel has
    # been idle with no cell running for a while), the kernel is idle, and the outputs did
    # not change between two polls (outputs arrive on a different channel than the reply).
    seen = {"prev": None, "idle_since": None}

    def finished(st):
        if st.get("phase") != "notebook":
            return False
        code = [c for c in st["cells"] if c["type"] == "code"]
        idle = kernel_idle(st) and not any(c.get("running") for c in code)
        seen["idle_since"] = (seen["idle_since"] or time.monotonic()) if idle else None
        if opts.run_via == "menu":
            counts = [c.get("count") for c in code]
            progressed = all(c is not None for c in counts) and counts != before
            settled = progressed or (
                counts != before and seen["idle_since"] and time.monotonic() - seen["idle_since"] > 3
            )
        else:
            settled = (st.get("run") or {}).get("state") in ("done", "failed")
        snapshot = json.dumps(code)
        stable = snapshot == seen["prev"]
        seen["prev"] = snapshot
        return settled and idle and stable

    st = poll(s, path, deadline, "running all cells", finished, dialogs,
              budget=opts.run_timeout)
    ctx["timings"]["run"] = round(time.monotonic() - t, 2)
    if (st.get("run") or {}).get("state") == "failed":
        log(f"run-all-cells command failed: {st['run'].get('error')}")

    cells = []
    for i, c in enumerate((c for c in st["cells"] if c["type"] == "code"), start=1):
        errors = [o["text"] for o in c["outputs"] if o["type"] == "error"]
        cell = {
            "index": i,
            "source": c["source"],
            "execution_count": c["count"],
            "text": "".join(o["text"] for o in c["outputs"] if o["type"] != "error"),
            "error": errors[0] if errors else None,
            "dom_text": c["dom"],
        }
        cell["problems"] = check_cell(cell, expectations.get(i, {}))
        cells.append(cell)
    ctx["result"]["cells"] = cells
    missing = sorted(set(expectations) - {c["index"] for c in cells})
    bad = [c for c in cells if c["problems"]]
    if missing or bad:
        lines = [f"cell {c['index']} ({c['source'][:60]!r}): {'; '.join(c['problems'])}; "
                 f"output {c['text'][:200]!r}" for c in bad]
        if missing:
            lines.append(f"expectations for cells {missing}, the notebook has {len(cells)} code cells")
        raise Mismatch("\n".join(lines))
    return EXIT_OK


def cmd_check_refused(opts, ctx):
    deadline = ctx["deadline"]
    url, _ = resolve_url(opts, ctx.get("server"), deadline)
    target = url + (opts.path or "")
    ctx["result"].update(url=target)
    wait_http(target, deadline, ctx.get("server"))
    browser = ctx["open_browser"]()
    s = browser.session
    log(f"opening {redact(target)} without a token")
    try:
        s.navigate(target, timeout=max(5.0, deadline.left()))
    except WebDriverError as e:
        raise InfraError(f"page did not load: {e.message.splitlines()[0]}") from e
    # The lab page boots its JS after 'load'; give it a moment to prove it is *not* the lab.
    end = time.monotonic() + opts.settle
    while True:
        page = s.js(JS_PAGE)
        if page["lab_app"] or time.monotonic() > end or deadline.left() <= 0:
            break
        time.sleep(0.25)
    ctx["result"]["page"] = page
    problems = []
    if page["lab_page"] or page["lab_app"]:
        problems.append("the JupyterLab application was served without a token")
    if opts.expect_status is not None and page["status"] != opts.expect_status:
        problems.append(f"HTTP status {page['status']}, expected {opts.expect_status}")
    for s_ in opts.expect_text or []:
        if s_ not in page["text"]:
            problems.append(f"page text lacks {s_!r}")
    if problems:
        raise Mismatch("; ".join(problems))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Driver: one place that owns every resource and releases it whatever happens.


def with_browser(opts, body):
    workdir = tempfile.mkdtemp(prefix="seal-e2e-")
    ctx = {"deadline": Deadline(opts.timeout), "timings": {}, "result": {"mode": opts.mode}}
    result = ctx["result"]
    browser = None
    server = None
    code = EXIT_INFRA
    keep_logs = bool(opts.log_dir)

    def open_browser():
        nonlocal browser
        browser = Browser(opts, ctx["deadline"], workdir)
        ctx["timings"].update(browser.timings)
        result["browser"] = {"version": browser.version, "sandbox": browser.sandbox}
        return browser

    ctx["open_browser"] = open_browser

    # SIGTERM/SIGINT/SIGHUP from the caller, and the hard backstop alarm, become exceptions,
    # so the finally below still quits the browser and kills the server.
    def on_signal(signum, _frame):
        raise InfraError(f"received {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, on_signal)
    signal.alarm(int(opts.timeout) + 30)

    become_subreaper()
    try:
        require_loopback_only()
        if opts.server:
            server = Server(opts.server, os.path.join(workdir, "server.log"))
            ctx["server"] = server
        code = body(opts, ctx)
    except Mismatch as e:
        code = EXIT_MISMATCH
        result["error"] = str(e)
        log(f"MISMATCH:\n{e}")
    except (InfraError, WebDriverError, OSError, ValueError) as e:
        code = EXIT_INFRA
        result["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, InfraError) else str(e)
        log(f"INFRA ERROR: {result['error']}")
    except Exception as e:  # noqa: BLE001 - a bug here is still not a test failure of seal
        code = EXIT_INFRA
        result["error"] = f"internal error: {type(e).__name__}: {e}"
        log(f"INTERNAL ERROR:\n{traceback.format_exc()}")
    finally:
        signal.alarm(0)
        # From here on, ignore further termination requests: cleanup is short and bounded.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if browser is not None and browser.session is not None and opts.screenshot:
            try:
                browser.session.screenshot(opts.screenshot)
                result["screenshot"] = opts.screenshot
            except Exception as e:  # noqa: BLE001
                log(f"screenshot failed: {e}")
                if code == EXIT_OK:
                    code = EXIT_INFRA
                    result["error"] = f"screenshot failed: {e}"
        if browser is not None:
            browser.close()
        if server is not None:
            server.stop()
        stragglers = reap_descendants()
        if stragglers:
            log(f"killed leftover processes {stragglers}")
        ctx["timings"]["total"] = round(time.monotonic() - T0, 2)
        result["timings"] = ctx["timings"]
        result["ok"] = code == EXIT_OK
        result["exit"] = code
        if code != EXIT_OK or keep_logs:
            dest = opts.log_dir or workdir
            if dest != workdir:
                os.makedirs(dest, exist_ok=True)
                for name in os.listdir(workdir):
                    if name.endswith(".log") or name.endswith(".stdout"):
                        shutil.copy(os.path.join(workdir, name), dest)
            result["logs"] = dest
            if server is not None and code != EXIT_OK:
                tail_log(os.path.join(workdir, "server.log"))
        if code == EXIT_OK or opts.log_dir or not os.listdir(workdir):
            shutil.rmtree(workdir, ignore_errors=True)
            if result.get("logs") == workdir:
                del result["logs"]
        print(json.dumps(result, default=str), flush=True)
    return code


def tail_log(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            tail = f.readlines()[-lines:]
    except OSError:
        return
    log(f"last lines of {path}:\n" + "".join("    " + l for l in tail))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)

    w = sub.add_parser("write-notebook", help="write an .ipynb whose code cells are the given sources")
    w.add_argument("path")
    w.add_argument("--cell", action="append", help="source of one code cell (repeatable, in order)")
    w.add_argument("--cells-json", help="JSON list of cell sources (appended after --cell)")
    w.add_argument("--kernel", default="python3", help="kernelspec name (default python3)")

    def common(sp):
        sp.add_argument("--url", help="server base URL, e.g. http://127.0.0.1:8899 (default: "
                        "the first http://127.A.B.C:PORT/...token=... line --server prints)")
        sp.add_argument("--server", help="shell command starting the server inside this network "
                        "namespace; stopped (process group SIGTERM, then SIGKILL) at the end")
        sp.add_argument("--screenshot", help="save a PNG of the page here (also on failure)")
        sp.add_argument("--timeout", type=float, default=240, help="overall seconds (default 240)")
        sp.add_argument("--chromedriver-port", type=int,
                        help="use a chromedriver already listening on 127.0.0.1:PORT")
        sp.add_argument("--sandbox", choices=["auto", "on", "off"], default="auto",
                        help="Chromium's own sandbox; auto: off as root (Chromium refuses), else on")
        sp.add_argument("--window", default="1280,900", help="window size W,H")
        sp.add_argument("--log-dir", help="keep chromedriver/server logs here (default: kept in a "
                        "temporary directory only on failure)")
        sp.add_argument("-v", "--verbose", action="store_true", help="verbose chromedriver log")

    r = sub.add_parser("run", help="open a notebook in JupyterLab, run all cells, check outputs")
    common(r)
    r.add_argument("--token", help="the server's token (default: from --server's output)")
    r.add_argument("--notebook", required=True, help="notebook path relative to the server root")
    r.add_argument("--expect", help="expected outputs, JSON or @file (see load_expectations)")
    r.add_argument("--run-via", choices=["command", "menu"], default="command",
                   help="command: jupyterapp.commands.execute('notebook:run-all-cells'); "
                   "menu: click Run > Run All Cells")
    r.add_argument("--run-timeout", type=float, default=120, help="seconds for the cells to run")
    r.add_argument("--foreign-cookie", action="append", metavar="URL",
                   help="store a cookie for URL (as another local service would) before opening "
                   "the lab; fail if the lab's page sees it (repeatable)")

    c = sub.add_parser("check-refused", help="load the URL without a token; pass iff the lab is not served")
    common(c)
    c.add_argument("--path", default="/lab", help="path appended to --url (default /lab)")
    c.add_argument("--expect-status", type=int, help="also require this HTTP status of the final page")
    c.add_argument("--expect-text", action="append", help="also require this text on the page")
    c.add_argument("--settle", type=float, default=3.0,
                   help="seconds to wait after load for the lab app to (not) appear")

    sub.add_parser("netns-check", help="exit 0 iff only loopback is visible")

    opts = p.parse_args(argv)
    if opts.mode == "write-notebook":
        return cmd_write_notebook(opts)
    if opts.mode == "netns-check":
        problem = loopback_only_problem()
        print(json.dumps({"ok": problem is None, "mode": "netns-check", "error": problem}))
        return EXIT_OK if problem is None else EXIT_INFRA
    body = cmd_run if opts.mode == "run" else cmd_check_refused
    return with_browser(opts, body)


if __name__ == "__main__":
    sys.exit(main())
