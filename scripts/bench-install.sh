#!/usr/bin/env bash
# bench-install.sh: wall time of `seal install` compared with plain, unsandboxed pip
# installing the same requirement set into a fresh environment.
#
# Usage: scripts/bench-install.sh [REQUIREMENT...]      (default: requests)
#
# Environment:
#   SEAL_BIN   seal binary to measure (default: built with `cargo build --release -p seal`)
#   PYTHON     base interpreter of both environments (default /usr/bin/python3)
#   INDEX_URL  package index (default https://pypi.org/simple)
#   RUNS       timed runs per side (default 5), after one warm-up run per side
#   SEAL_ARGS  extra arguments for `seal install` (e.g. "--installer pip")
#   TARGET     the ratio seal/pip to meet (default 1.10); STRICT=1 exits 1 when it is missed
#
# Per run, each side starts from a fresh directory with warm caches (the warm-up runs fill
# them; both sides use one benchmark-private XDG_CACHE_HOME, so the user's caches are neither
# used nor touched):
#   seal  seal install --python $PYTHON --index-url $INDEX_URL REQS    (in a fresh project)
#   pip   $PYTHON -m venv --without-pip DIR &&
#         $PYTHON -m pip --python DIR/bin/python install --only-binary=:all: --index-url ... REQS
# The pip side does what seal's sandboxes do, minus the sandboxes and the proxy (wheels only,
# a venv without pip). A `python3 -m venv` with ensurepip would add seconds of pip bootstrap to
# the baseline alone and flatter seal. Runs are interleaved (seal, pip, seal, ...) so that
# drift in the network or the machine's load hits both sides alike.
#
# This talks to the package index (PyPI by default): the only network use.
set -euo pipefail

die() { printf 'bench-install: %s\n' "$*" >&2; exit 1; }
note() { printf 'bench-install: %s\n' "$*" >&2; }

case "${1:-}" in
    -h|--help) sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac

REQS=("$@")
[[ ${#REQS[@]} -gt 0 ]] || REQS=(requests)
PYTHON=${PYTHON:-/usr/bin/python3}
INDEX_URL=${INDEX_URL:-https://pypi.org/simple}
RUNS=${RUNS:-5}
TARGET=${TARGET:-1.10}
read -r -a EXTRA <<<"${SEAL_ARGS:-}"
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ -x "$PYTHON" ]] || die "$PYTHON is not an executable interpreter"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (the baseline needs it)"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
if [[ -z "${SEAL_BIN:-}" ]]; then
    note "building seal (cargo build --release -p seal)"
    (cd "$REPO_ROOT" && cargo build --release -p seal --quiet) || die "cargo build failed"
    SEAL_BIN="$REPO_ROOT/target/release/seal"
fi
[[ -x "$SEAL_BIN" ]] || die "seal binary $SEAL_BIN not found"
SEAL_BIN=$(realpath "$SEAL_BIN")

WORK=$(mktemp -d /tmp/seal-bench-install.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export XDG_CACHE_HOME="$WORK/cache"
mkdir -p "$XDG_CACHE_HOME"

now_ns() { date +%s%N; }

# One seal install into a fresh project; prints the elapsed milliseconds.
run_seal() {
    local proj="$WORK/seal-$1" log="$WORK/seal-$1.log" t0 t1
    mkdir -p "$proj"
    t0=$(now_ns)
    if ! (cd "$proj" && "$SEAL_BIN" install --python "$PYTHON" --index-url "$INDEX_URL" \
            ${EXTRA[@]+"${EXTRA[@]}"} "${REQS[@]}") >"$log" 2>&1; then
        cat "$log" >&2
        die "seal install failed (run $1)"
    fi
    t1=$(now_ns)
    echo $(( (t1 - t0) / 1000000 ))
}

# One plain pip install into a fresh venv; prints the elapsed milliseconds.
run_pip() {
    local venv="$WORK/pip-$1" log="$WORK/pip-$1.log" t0 t1
    t0=$(now_ns)
    if ! { PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
            "$PYTHON" -m venv --without-pip "$venv" &&
          PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
            "$PYTHON" -m pip --python "$venv/bin/python" install --quiet --only-binary=:all: \
            --index-url "$INDEX_URL" "${REQS[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        die "pip install failed (run $1)"
    fi
    t1=$(now_ns)
    echo $(( (t1 - t0) / 1000000 ))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else print int((a[m]+a[m+1])/2)}'; }

note "requirements: ${REQS[*]}   index: $INDEX_URL   python: $PYTHON"
note "seal: $SEAL_BIN ${EXTRA[*]:-}"
note "warm-up (one run each, not timed into the result)"
w_seal=$(run_seal warm)
w_pip=$(run_pip warm)
installer=$(grep -m1 '^seal: installer:' "$WORK/seal-warm.log" | sed 's/^seal: installer: //' || true)
note "warm-up: seal ${w_seal} ms, pip ${w_pip} ms; seal's installer: ${installer:-pip (not reported)}"

seal_ms=()
pip_ms=()
for i in $(seq 1 "$RUNS"); do
    s=$(run_seal "$i")
    p=$(run_pip "$i")
    seal_ms+=("$s")
    pip_ms+=("$p")
    printf 'run %d: seal %6d ms   pip %6d ms\n' "$i" "$s" "$p"
done

# The results work: both environments import the first requirement.
first=$(printf '%s' "${REQS[0]}" | sed 's/[<>=!~;[ ].*//' | tr '-' '_')
(cd "$WORK/seal-$RUNS" && "$SEAL_BIN" run -- python -c "import $first") \
    || die "the seal environment cannot import $first"
"$WORK/pip-$RUNS/bin/python" -c "import $first" || die "the pip environment cannot import $first"

ms=$(median "${seal_ms[@]}")
mp=$(median "${pip_ms[@]}")
ratio=$(awk -v a="$ms" -v b="$mp" 'BEGIN { printf "%.2f", a / b }')
ok=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r <= t) ? "met" : "NOT met" }')
echo
printf 'median over %d runs: seal %d ms, pip %d ms\n' "$RUNS" "$ms" "$mp"
printf 'ratio seal/pip: %s (target <= %s: %s)\n' "$ratio" "$TARGET" "$ok"
if [[ "$ok" != met && "${STRICT:-0}" == 1 ]]; then
    exit 1
fi
