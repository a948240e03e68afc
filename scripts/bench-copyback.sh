#!/usr/bin/env bash
# Copy-back throughput of `seal run --out`.
#
# A Python program writes 10,000 files of 100 KiB (about 1 GB) into a staged --out directory;
# seal copies them to the host after the program exits. Compared with:
#   (a) the same program writing the same tree directly to disk, without seal;
#   (b) `cp -a` of that tree to a fresh directory.
# Reported: the median of RUNS runs of each, and
#   copy-back / cp -a = (seal total - bare write) / cp -a        target: <= 1.3
#
# Usage: scripts/bench-copyback.sh            (as root on a fresh Debian machine is fine)
# Environment:
#   SEAL=/path/to/seal     binary to measure (default: target/release/seal, built if missing)
#   PYTHON=/usr/bin/python3
#   RUNS=3 NFILES=10000 SIZE_KIB=100
#   BENCH_DIR=/var/tmp     where the trees are written (a disk, not a tmpfs)
#   STRICT=1               exit 1 when the target is missed
set -euo pipefail

RUNS=${RUNS:-3}
NFILES=${NFILES:-10000}
SIZE_KIB=${SIZE_KIB:-100}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
TARGET=1.3

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SEAL=${SEAL:-$repo/target/release/seal}

die() { echo "bench-copyback: $*" >&2; exit 2; }

# --- prerequisites ---------------------------------------------------------------------------
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3 # the system interpreter: no shim start-up in the timings
fi
if ! command -v python3 >/dev/null 2>&1 && [ -z "${PYTHON:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing python3 (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
    else
        die "python3 is required"
    fi
fi
PYTHON=${PYTHON:-$(command -v python3)}
PYTHON=$(readlink -f "$PYTHON")
if [ ! -x "$SEAL" ]; then
    command -v cargo >/dev/null 2>&1 || die "no seal binary at $SEAL and no cargo to build it"
    echo "building seal (cargo build --release -p seal)" >&2
    (cd "$repo" && cargo build --release -p seal >&2)
fi
[ -x "$SEAL" ] || die "no seal binary at $SEAL"
for tool in cp date awk sort sync find du; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

total_kib=$((NFILES * SIZE_KIB))
avail_kib=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
# Three copies of the tree exist at once (seal's, the bare one and the cp -a one).
if [ "$avail_kib" -lt $((total_kib * 3 + 262144)) ]; then
    die "$BENCH_DIR has ${avail_kib} KiB free; need about $((total_kib * 3 / 1024)) MiB"
fi

W=$(mktemp -d "$BENCH_DIR/seal-bench.XXXXXX")
cleanup() { rm -rf -- "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$W"
mkdir "$W/proj"

cat >"$W/proj/gen.py" <<'EOF'
import os, sys
out, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1024
payload = os.urandom(size)
for i in range(n):
    d = os.path.join(out, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(b"%08d" % i)
        f.write(payload[8:])
EOF

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

check_tree() { # DIR: NFILES files of SIZE_KIB each
    local files bytes
    files=$(find "$1" -type f | wc -l)
    bytes=$(du -sb --apparent-size "$1" | awk '{ print $1 }')
    [ "$files" -eq "$NFILES" ] || die "$1 has $files files, expected $NFILES"
    [ "$bytes" -ge $((NFILES * SIZE_KIB * 1024)) ] || die "$1 holds only $bytes bytes"
}

seal_times=() bare_times=() cp_times=()
echo "seal:   $SEAL"
echo "python: $PYTHON"
echo "tree:   $NFILES files x $SIZE_KIB KiB = $((total_kib / 1024)) MiB, in $W"
echo

cd "$W/proj"
for run in $(seq 1 "$RUNS"); do
    rm -rf -- "$W/seal_out" "$W/bare_out" "$W/cp_out"
    sync

    # seal: the program writes into the staging area, then seal copies it back.
    t0=$(now)
    "$SEAL" run --python "$PYTHON" --out-quota 2G --out "$W/seal_out" -- \
        python3 gen.py "$W/seal_out" "$NFILES" "$SIZE_KIB"
    t1=$(now)
    check_tree "$W/seal_out"
    sync

    # (a) the same program, directly to disk.
    t2=$(now)
    "$PYTHON" gen.py "$W/bare_out" "$NFILES" "$SIZE_KIB"
    t3=$(now)
    check_tree "$W/bare_out"
    sync

    # (b) cp -a of the tree.
    t4=$(now)
    cp -a "$W/bare_out" "$W/cp_out"
    t5=$(now)
    check_tree "$W/cp_out"

    s=$(elapsed "$t0" "$t1") b=$(elapsed "$t2" "$t3") c=$(elapsed "$t4" "$t5")
    seal_times+=("$s") bare_times+=("$b") cp_times+=("$c")
    printf 'run %d: seal total %6.3f s   bare write %6.3f s   cp -a %6.3f s\n' "$run" "$s" "$b" "$c"
done
rm -rf -- "$W/seal_out" "$W/bare_out" "$W/cp_out"

S=$(median "${seal_times[@]}")
B=$(median "${bare_times[@]}")
C=$(median "${cp_times[@]}")
R=$(awk -v s="$S" -v b="$B" -v c="$C" 'BEGIN { printf "%.2f", (s - b) / c }')
mibs() { awk -v t="$1" -v k="$total_kib" 'BEGIN { if (t > 0) printf "%.0f MiB/s", k / 1024 / t; else print "-" }'; }
echo
echo "median of $RUNS runs:"
printf '  seal total (program + copy-back) %7.3f s\n' "$S"
printf '  bare write (no seal)             %7.3f s\n' "$B"
printf '  cp -a of the tree                %7.3f s  (%s)\n' "$C" "$(mibs "$C")"
printf '  copy-back = seal - bare          %7.3f s  (%s)\n' \
    "$(awk -v s="$S" -v b="$B" 'BEGIN { printf "%.3f", s - b }')" \
    "$(mibs "$(awk -v s="$S" -v b="$B" 'BEGIN { print s - b }')")"
echo
if awk -v r="$R" -v t="$TARGET" 'BEGIN { exit !(r <= t) }'; then verdict=PASS; else verdict=FAIL; fi
echo "copy-back / cp -a = $R   target: copy-back / cp -a <= $TARGET   $verdict"
if [ "$verdict" = FAIL ] && [ "${STRICT:-0}" = 1 ]; then
    exit 1
fi
