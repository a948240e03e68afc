#!/bin/sh
# Proves jupyter_e2e.py against a plain (unsandboxed) JupyterLab, as root and as uid 65534.
# Needs root, chromium + chromium-driver + iproute2, and a venv with jupyterlab:
#
#   /usr/bin/python3 -m venv /tmp/e2e-venv && /tmp/e2e-venv/bin/pip install jupyterlab
#   sh crates/seal/tests/browser/selftest_plain_jupyter.sh /tmp/e2e-venv
#
# Each variant runs in a fresh network namespace holding only `lo`: the server, chromedriver
# and Chromium all live there, so the browser can reach nothing but loopback.
set -eu
VENV=${1:?usage: $0 VENV_WITH_JUPYTERLAB}
HERE=$(cd "$(dirname "$0")" && pwd)
DRIVER=$HERE/jupyter_e2e.py
PORT=8899
OUT=$(mktemp -d /tmp/seal-e2e-selftest.XXXXXX)
chmod 755 "$OUT"
echo secret > "$OUT/canary.txt"
chmod 644 "$OUT/canary.txt"

# $1 = variant name, $2 = uid to run as (0 or 65534)
variant() {
    name=$1 uid=$2
    D=$OUT/$name
    mkdir -p "$D/home" "$D/nb"
    /usr/bin/python3 "$DRIVER" write-notebook "$D/nb/probe.ipynb" \
        --cell 'print(2+2)' \
        --cell 'import socket
try:
    socket.create_connection(("127.0.0.1", 9), timeout=3).close()
    print("OK")
except OSError as e:
    print("REFUSED", type(e).__name__)' \
        --cell "import socket
socket.create_connection(('127.0.0.1', $PORT), timeout=3).close()
print('OK')" \
        --cell "try:
    open('$OUT/canary.txt').close()
    print('FOUND')
except OSError as e:
    print('NOT FOUND', type(e).__name__)" >/dev/null
    chown -R "$uid:$uid" "$D"
    chmod 700 "$D"
    drop=""
    allow_root="--allow-root"
    if [ "$uid" != 0 ]; then
        drop="setpriv --reuid=$uid --regid=$uid --clear-groups"
        allow_root=""
    fi
    # Root creates the namespace and brings lo up; everything after that runs as $uid with
    # HOME, XDG and Jupyter directories inside $D (owned by $uid). The server's token is
    # fixed; its URL is given explicitly.
    unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
        $drop env -i PATH=/usr/bin:/bin HOME="$D/home" TMPDIR="$D" \
        XDG_CONFIG_HOME="$D/home/.config" XDG_CACHE_HOME="$D/home/.cache" \
        XDG_DATA_HOME="$D/home/.local/share" XDG_RUNTIME_DIR="$D/home/run" \
        JUPYTER_CONFIG_DIR="$D/home/jcfg" JUPYTER_DATA_DIR="$D/home/jdata" \
        JUPYTER_RUNTIME_DIR="$D/home/jrun" IPYTHONDIR="$D/home/ipython" \
        /usr/bin/python3 "$DRIVER" run \
        --server "$VENV/bin/jupyter lab --no-browser $allow_root --ServerApp.ip=127.0.0.1 --port=$PORT --ServerApp.port_retries=0 --IdentityProvider.token=abc --ServerApp.root_dir=$D/nb" \
        --url "http://127.0.0.1:$PORT" --token abc --notebook probe.ipynb \
        --screenshot "$D/screenshot.png" \
        --expect '[{"equals": "4"}, "REFUSED", {"equals": "OK"}, {"equals": "FOUND"}]' \
        > "$OUT/$name.json"
    printf '%s: %s\n' "$name" "$(cat "$OUT/$name.json")"   # not echo: dash expands \n
    unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
        $drop env -i PATH=/usr/bin:/bin HOME="$D/home" TMPDIR="$D" \
        JUPYTER_CONFIG_DIR="$D/home/jcfg" JUPYTER_DATA_DIR="$D/home/jdata" \
        JUPYTER_RUNTIME_DIR="$D/home/jrun" IPYTHONDIR="$D/home/ipython" \
        /usr/bin/python3 "$DRIVER" check-refused \
        --server "$VENV/bin/jupyter lab --no-browser $allow_root --ServerApp.ip=127.0.0.1 --port=$PORT --ServerApp.port_retries=0 --IdentityProvider.token=abc --ServerApp.root_dir=$D/nb" \
        --url "http://127.0.0.1:$PORT" --expect-text 'Password or token' \
        --screenshot "$D/screenshot-refused.png" > "$OUT/$name-refused.json"
    printf '%s refused: %s\n' "$name" "$(cat "$OUT/$name-refused.json")"
}

variant root 0
variant uid65534 65534
echo "all passed; screenshots and JSON in $OUT"
