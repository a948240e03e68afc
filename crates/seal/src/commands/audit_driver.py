# seal audit's driver, run inside the run-phase sandbox (no network, none of the user's files)
# with the environment's interpreter as `python -I -S audit_driver.py main SITE_PACKAGES`.
# Standard library only.
#
# The main process runs no package code. It plants decoys in the sandbox's private HOME, maps
# every installed file to its distribution (RECORD), then starts one child for the start-up
# hooks (.pth files, processed by site.addsitedir) and one child per top-level module of each
# distribution (imported without .pth processing). Each child installs a Python audit hook
# before any package code runs and writes one JSON line per event of interest to a pipe (the
# descriptor named last on its command line): opens outside the interpreter and the
# environment, connects, name lookups, datagrams, processes started, signals, native libraries
# loaded, URL requests. The event is attributed
# to the innermost frame whose file belongs to a distribution (for a .pth line, the .pth file
# itself); an event no frame explains is marked unattributed. The result is one JSON object
# on stdout, which only this process writes (it is not dumpable, so children of the same uid
# cannot reach its descriptors through /proc).
import json
import os
import select
import subprocess
import sys
import time

IMPORT_TIMEOUT = 20
# A package can make events in a loop; past this many per package only a count is kept.
MAX_PER_PACKAGE = 200
DECOYS = {
    ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nseal-audit-decoy\n-----END OPENSSH PRIVATE KEY-----\n",
    ".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nseal-audit-decoy\n-----END OPENSSH PRIVATE KEY-----\n",
    ".aws/credentials": "[default]\naws_access_key_id = AKIASEALAUDITDECOY\naws_secret_access_key = seal-audit-decoy\n",
    ".netrc": "machine example.com login decoy password seal-audit-decoy\n",
    ".pypirc": "[pypi]\nusername = __token__\npassword = pypi-seal-audit-decoy\n",
    ".git-credentials": "https://decoy:seal-audit-decoy@example.com\n",
    ".kube/config": "apiVersion: v1\nkind: Config\nusers: []\n",
    ".docker/config.json": "{\"auths\": {}}\n",
    ".config/gcloud/application_default_credentials.json": "{}\n",
    ".config/google-chrome/Default/Login Data": "",
    ".mozilla/firefox/profiles.ini": "[Profile0]\nPath=decoy\n",
}
DECOY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIASEALAUDITDECOY",
    "AWS_SECRET_ACCESS_KEY": "seal-audit-decoy",
    "GITHUB_TOKEN": "ghp_sealauditdecoy",
    "OPENAI_API_KEY": "sk-seal-audit-decoy",
}
# Opening these is what every interpreter does; it is not reported.
QUIET_PREFIXES = ("/usr/", "/lib/", "/lib64/", "/seal/", "/proc/self/", "/dev/null",
                  "/dev/urandom", "/dev/random", "/etc/ld.so.cache", "/etc/localtime")


def home():
    return os.path.expanduser("~")


def distributions(site):
    """{realpath of each installed file: distribution}, {distribution: (version, [modules])}."""
    files, dists = {}, {}
    for entry in sorted(os.listdir(site)):
        if not entry.endswith(".dist-info"):
            continue
        info = os.path.join(site, entry)
        name, version = entry[:-len(".dist-info")], ""
        try:
            with open(os.path.join(info, "METADATA"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("Name:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("Version:"):
                        version = line.split(":", 1)[1].strip()
                    elif not line.strip():
                        break
        except OSError:
            pass
        modules = set()
        try:
            with open(os.path.join(info, "RECORD"), encoding="utf-8", errors="replace") as f:
                for row in f:
                    path = row.rsplit(",", 2)[0].strip('"')
                    full = os.path.realpath(os.path.join(site, path))
                    files[full] = name
                    first = path.split("/", 1)[0]
                    if path.startswith("..") or first.endswith(".dist-info") or first == "__pycache__":
                        continue
                    if "/" in path and path.endswith(".py"):
                        modules.add(first)
                    elif "/" not in path and path.endswith(".py"):
                        modules.add(path[:-3])
                    elif "/" not in path and (path.endswith(".so") or path.endswith(".pyd")):
                        modules.add(path.split(".", 1)[0])
        except OSError:
            pass
        dists[name] = (version, sorted(modules))
    return files, dists


def install_hook(site, out_fd, during):
    """The audit hook of a child: every event of interest as one JSON line on out_fd."""
    files, _ = distributions(site)
    own = os.path.realpath(__file__)
    quiet = QUIET_PREFIXES + tuple(
        os.path.join(os.path.realpath(p), "") for p in (sys.base_prefix, sys.prefix, site))
    decoys = {os.path.join(home(), d): d for d in DECOYS}

    def owner(frame):
        while frame is not None:
            fn = frame.f_code.co_filename
            if fn != own:
                dist = files.get(os.path.realpath(fn)) if fn.startswith("/") else None
                if dist:
                    return dist, True
                if frame.f_code.co_name == "addpackage" and "name" in frame.f_locals:
                    pth = os.path.realpath(os.path.join(frame.f_locals.get("sitedir", site),
                                                        frame.f_locals["name"]))
                    if pth in files:
                        return files[pth], True
            frame = frame.f_back
        return during, False

    def emit(kind, detail, decoy=False):
        dist, attributed = owner(sys._getframe(2))
        line = json.dumps({"dist": dist, "kind": kind, "detail": detail,
                           "decoy": decoy, "attributed": attributed}) + "\n"
        try:
            os.write(out_fd, line.encode())
        except OSError:
            pass

    def shown(path):
        h = home()
        return "~" + path[len(h):] if path.startswith(h + "/") else path

    busy = []

    def hook(event, args):
        if busy:
            return
        busy.append(1)
        try:
            if event == "open":
                path, mode, flags = args
                if not isinstance(path, (str, bytes)):
                    return
                if isinstance(path, bytes):
                    path = path.decode(errors="replace")
                path = os.path.abspath(path)
                if path.startswith(quiet) or path == own:
                    return
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                    (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
                if writes and path.startswith(("/tmp/", "/dev/shm/")):
                    return
                emit("writes" if writes else "reads", shown(path), path in decoys)
            elif event == "socket.connect":
                emit("connects to", fmt_addr(args[1]))
            elif event == "socket.sendto":
                emit("sends a datagram to", fmt_addr(args[1]))
            elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
                emit("resolves", str(args[0]))
            elif event == "subprocess.Popen":
                emit("runs", " ".join(map(str, args[1])) if args[1] else str(args[0]))
            elif event == "os.system":
                emit("runs", "sh -c " + str(args[0]))
            elif event in ("os.exec", "os.posix_spawn", "os.spawn"):
                emit("runs", " ".join(map(str, args[1])) if len(args) > 1 else str(args[0]))
            elif event in ("os.kill", "os.killpg"):
                emit("sends a signal to", "pid %s (signal %s)" % (args[0], args[1]))
            elif event == "ctypes.dlopen":
                emit("loads the native library", str(args[0]))
            elif event == "urllib.Request":
                emit("requests", str(args[0]))
        except Exception:
            pass
        finally:
            busy.pop()

    sys.addaudithook(hook)


def fmt_addr(a):
    if isinstance(a, tuple) and len(a) >= 2:
        return "%s:%s" % (a[0], a[1])
    return str(a)


def child(mode, site, dist, module, out_fd):
    import importlib
    install_hook(site, out_fd, dist)
    if mode == "pth":
        import site as site_module
        site_module.addsitedir(site)
    else:
        sys.path.append(site)
        importlib.import_module(module)


def not_dumpable():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def run_child(args, env):
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-I", "-S", os.path.realpath(__file__)] + args + [str(w)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, pass_fds=(w,), env=env)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + IMPORT_TIMEOUT
    timed_out = False
    # Until every holder of the pipe is gone (the child, and anything it started that kept
    # the pipe), or the time is up.
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            timed_out = p.poll() is None
            p.kill()
            break
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    try:
        err = p.communicate(timeout=5)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        err = b""
    events = []
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    tail = err.decode(errors="replace").strip().splitlines()[-1:] if p.returncode else []
    return events, timed_out, p.returncode, tail, p.pid


def main(site):
    not_dumpable()
    for rel, text in DECOYS.items():
        p = os.path.join(home(), rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    env = dict(os.environ)
    env.update(DECOY_ENV)
    _, dists = distributions(site)
    report = {"packages": {n: {"version": v, "modules": m, "behaviour": [], "problems": []}
                           for n, (v, m) in dists.items()},
              "unattributed": [],
              # pid of each child: [distribution ("" for the .pth child), what it did]. seal
              # attributes the network calls it saw natively to the child they came from.
              "processes": {}}

    def record(events, during):
        for e in events:
            entry = {k: e[k] for k in ("kind", "detail", "decoy")}
            entry["when"] = during
            target = report["packages"].get(e["dist"])
            if target is None:
                report["unattributed"].append(entry)
                continue
            if not e["attributed"]:
                entry["attributed"] = False
            if entry in target["behaviour"]:
                continue
            if len(target["behaviour"]) >= MAX_PER_PACKAGE:
                target["dropped"] = target.get("dropped", 0) + 1
                continue
            target["behaviour"].append(entry)

    events, timed_out, code, tail, pid = run_child(["pth", site, "", ""], env)
    report["processes"][str(pid)] = ["", "interpreter start via .pth"]
    record(events, "interpreter start via .pth")
    if timed_out or code:
        report["startup_problem"] = "timed out" if timed_out else "exit %s: %s" % (code, " ".join(tail))
    for name, (_, modules) in dists.items():
        for m in modules:
            events, timed_out, code, tail, pid = run_child(["import", site, name, m], env)
            report["processes"][str(pid)] = [name, "import " + m]
            record(events, "import " + m)
            pkg = report["packages"][name]
            if timed_out:
                pkg["problems"].append("import %s took longer than %ds" % (m, IMPORT_TIMEOUT))
            elif code:
                pkg["problems"].append("import %s failed: %s" % (m, " ".join(tail)))
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "main":
        main(sys.argv[2])
    else:
        child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
