#!/bin/sh
# What a published port costs: the same Python http.server reached directly on host loopback
# and through `seal run --publish` (seal's HTTP bridge + the connector into the sandbox).
# Prints median request latency (keep-alive, 1 KiB file), the latency of a fresh connection per
# request, and the throughput of a 64 MiB download, with ratios. Loopback only.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p seal
SEAL=$PWD/target/release/seal
DIR=$(mktemp -d)
trap 'kill $BARE $SEALED 2>/dev/null; rm -rf "$DIR"' EXIT
head -c 1024 /dev/urandom > "$DIR/small"
head -c 67108864 /dev/urandom > "$DIR/big"
cd "$DIR"
/usr/bin/python3 -m http.server 18081 --bind 127.0.0.1 >/dev/null 2>&1 & BARE=$!
"$SEAL" run --python /usr/bin/python3 --publish 18082:8000 -- python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 & SEALED=$!
/usr/bin/python3 - <<'PY'
import http.client, statistics, time, socket

def wait(port):
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/small"); r = c.getresponse(); r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"port {port} never answered")

def keepalive(port, n=400):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for _ in range(n):
        t = time.perf_counter(); c.request("GET", "/small"); c.getresponse().read()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1e3

def fresh(port, n=200):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/small"); c.getresponse().read(); c.close()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1e3

def throughput(port, n=5):
    out = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        t = time.perf_counter(); c.request("GET", "/big"); size = len(c.getresponse().read())
        out.append(size / (time.perf_counter() - t) / 2**20)
    return statistics.median(out)

for p in (18081, 18082):
    wait(p)
rows = [("keep-alive request, median ms", keepalive), ("new connection per request, median ms", fresh),
        ("64 MiB download, median MiB/s", throughput)]
print(f"{'':40} {'direct':>10} {'--publish':>10} {'ratio':>7}")
for name, f in rows:
    a, b = f(18081), f(18082)
    print(f"{name:40} {a:10.2f} {b:10.2f} {b / a:7.2f}")
PY
