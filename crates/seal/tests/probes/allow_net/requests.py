# What a program run with --allow-net localhost:PORT can reach. Every address is on loopback:
# "localhost" and 127.0.0.1 resolve to the host's loopback only through seal's proxy; the
# refused name is in .invalid, which no resolver answers.
import ssl
import urllib.error
import urllib.request

ORIGIN, SINK = A["origin"], A["sink"]
PROXY = os.environ.get("HTTPS_PROXY", "")
put("https_proxy", PROXY)
put("no_proxy", os.environ.get("NO_PROXY", "unset"))


def fetch(url, data=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return "HTTP%d" % e.code
    except urllib.error.URLError as e:
        return ename(e.reason)


attempt("named_get", fetch, "http://localhost:%d/get-%s" % (ORIGIN, A["marker"]))
attempt("named_post", fetch, "http://localhost:%d/post" % ORIGIN, ("body-" + A["marker"]).encode())
attempt("other_name", fetch, "http://not-allowed.invalid:%d/" % ORIGIN)
# 127.0.0.1 is in NO_PROXY: a request for it stays on the sandbox's own loopback ...
attempt("literal_direct", fetch, "http://127.0.0.1:%d/" % SINK)


def to_proxy(request):
    """Sends one raw request to the proxy; returns the socket and the answer's status."""
    host, port = PROXY.rsplit("/", 1)[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.split(b" ")[1].decode() if b" " in head else "none"


def connect_via_proxy(target):
    return to_proxy("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target))


# ... and through the proxy it is refused: a literal must be named exactly.
attempt("literal_via_proxy", lambda: "HTTP" + to_proxy(
    "GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % SINK)[1])


def client_hello(name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tunnel_with_sni(name):
    s, status = connect_via_proxy("localhost:%d" % ORIGIN)
    if status != "200":
        return "CONNECT" + status
    s.sendall(client_hello(name))
    # The proxy closes a tunnel whose ClientHello names another host.
    return "CLOSED" if s.recv(100) == b"" else "OPEN"


attempt("sni_mismatch", tunnel_with_sni, "evil.invalid")
attempt("connect_other_port", lambda: "CONNECT" + connect_via_proxy("localhost:%d" % SINK)[1])
attempt("connect_literal", lambda: "CONNECT" + connect_via_proxy("127.0.0.1:%d" % SINK)[1])
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.settimeout(5)
attempt("raw_tcp", raw.connect, ("127.0.0.1", SINK))
