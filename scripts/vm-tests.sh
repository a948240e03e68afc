#!/usr/bin/env bash
# Runs the key integration tests (isolation, limits, staging, fallback, doctor) inside VMs
# booting Debian's own kernels, to cover kernels and a cgroup layout (pure v2) other than the
# host's. qemu without KVM (TCG), virtme-ng sharing the host's root over 9p, as root.
#
#   scripts/vm-tests.sh [KERNEL ...]      KERNEL: a name in scripts/vm/kernels.conf (6.1, 6.12)
#   scripts/vm-tests.sh --prepare [KERNEL ...]   only install what the VMs need, then exit
#                                         (.ci/run does this while the host builds)
#
# Environment (all optional):
#   SEAL_VM_KERNELS   kernels when none is given as an argument (default: every one in kernels.conf)
#   SEAL_VM_TESTS     the test list (default scripts/vm/tests.conf; format described there)
#   SEAL_VM_DIR       cache and output directory (default target/vm): venv/, runs/KERNEL/
#   SEAL_VM_MEMORY    guest memory (default 4G)       SEAL_VM_CPUS  guest CPUs (default 2)
#   SEAL_VM_TIMEOUT   seconds one VM may run in all (default 1800); a test binary gets 1500
#   SEAL_VM_REPORT_TIME  1: per-test durations in the logs (libtest's unstable --report-time)
#   SEAL_VM_NO_BUILD  1: reuse the last build's target/vm/cargo-test.json instead of building
#
# It installs what it needs (Debian: qemu-system-x86, busybox-static, the pinned kernel
# packages; PyPI: virtme-ng pinned, in a venv under SEAL_VM_DIR) and stops with a message and a
# non-zero status when anything is missing: it never skips silently. Exit status: 0 when every
# test passed on every kernel, 1 when a test failed, 2 when the harness itself failed.
# Per kernel: runs/KERNEL/tests.log (full output), console.log (the VM's console),
# doctor.txt (seal doctor as root and uid 65534), guest-env.txt (mounts, cgroups, LSMs).
set -Eeuo pipefail
# Any command that stops the script through set -e says where, so that a run never ends
# quietly with a bare exit status (a fresh machine once did, at a dpkg-query of a package it lacked).
trap 'rc=$?; echo "!!! vm-tests: FAILED at scripts/vm-tests.sh line $LINENO: $BASH_COMMAND (exit $rc)" >&2; exit 2' ERR

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VM="$ROOT/scripts/vm"
OUT=${SEAL_VM_DIR:-$ROOT/target/vm}
TESTS_CONF=${SEAL_VM_TESTS:-$VM/tests.conf}
MEMORY=${SEAL_VM_MEMORY:-4G}
CPUS=${SEAL_VM_CPUS:-2}
VM_TIMEOUT=${SEAL_VM_TIMEOUT:-1800}
PER_BINARY_TIMEOUT=1500
VIRTME_NG_VERSION=1.42
HOST_PY=/usr/bin/python3

die() {
    echo >&2
    echo "!!! vm-tests: $*" >&2
    echo "!!! vm-tests: FAILED (no test was skipped silently: fix the above and run again)" >&2
    exit 2
}
log() { echo "== vm-tests: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get installs; the tests' root and uid-65534 variants need root in the guest)"
[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported (got $(uname -m))"
[ -x "$HOST_PY" ] || die "$HOST_PY is missing (apt-get install python3)"
[ -f "$TESTS_CONF" ] || die "no test list $TESTS_CONF"

PREPARE_ONLY=
if [ "${1:-}" = --prepare ]; then
    PREPARE_ONLY=1
    shift
fi

# ---- which kernels ------------------------------------------------------------------------
declare -A K_PKG K_VER K_REL
K_ALL=()
while read -r name pkg ver rel; do
    case "$name" in '' | '#'*) continue ;; esac
    K_PKG[$name]=$pkg K_VER[$name]=$ver K_REL[$name]=$rel
    K_ALL+=("$name")
done < "$VM/kernels.conf"
if [ $# -gt 0 ]; then
    KERNELS=("$@")
elif [ -n "${SEAL_VM_KERNELS:-}" ]; then
    read -r -a KERNELS <<< "${SEAL_VM_KERNELS//,/ }"
else
    KERNELS=("${K_ALL[@]}")
fi
for k in "${KERNELS[@]}"; do
    [ -n "${K_PKG[$k]:-}" ] || die "unknown kernel '$k' (scripts/vm/kernels.conf has: ${K_ALL[*]})"
done
log "kernels: ${KERNELS[*]}; tests: $TESTS_CONF; output: $OUT"

# ---- Debian packages ----------------------------------------------------------------------
# The installed version of a Debian package, or nothing when it is not installed (dpkg-query
# then fails: not an error here).
installed_version() { { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || true; } | sed -n 's/^ii *//p'; }
apt_updated=
apt_install() { # PKG[=VERSION]...
    if [ -z "$apt_updated" ]; then
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -q --no-install-recommends "$@" \
        > "$OUT/apt.log" 2>&1; then
        tail -20 "$OUT/apt.log" >&2
        die "apt-get install $* failed (full log: $OUT/apt.log); a pinned kernel that Debian no longer has: update scripts/vm/kernels.conf"
    fi
}
OUT=$(realpath -m "$OUT")
# The guest sees the host's root, but with fresh file systems on these: OUT must not be there.
case "$OUT/" in /tmp/* | /run/* | /var/* | /dev/* | /proc/* | /sys/*)
    die "SEAL_VM_DIR=$OUT: the guest mounts its own /tmp, /run, /var/...; use a directory elsewhere" ;;
esac
mkdir -p "$OUT"
need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
command -v busybox > /dev/null || need+=(busybox-static)   # virtme-ng's initramfs
command -v setpriv > /dev/null || need+=(util-linux)
"$HOST_PY" -c 'import venv, ensurepip' 2> /dev/null || need+=(python3-venv)
for k in "${KERNELS[@]}"; do
    have=$(installed_version "${K_PKG[$k]}")
    if [ "$have" != "${K_VER[$k]}" ]; then
        [ -z "$have" ] || log "${K_PKG[$k]} is at $have, pinned ${K_VER[$k]}: reinstalling"
        need+=("${K_PKG[$k]}=${K_VER[$k]}")
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    # INITRD=No: the kernel packages' hook then builds no initramfs (virtme-ng makes its own).
    apt_install "${need[@]}"
fi
for k in "${KERNELS[@]}"; do
    rel=${K_REL[$k]}
    have=$(installed_version "${K_PKG[$k]}")
    [ "$have" = "${K_VER[$k]}" ] ||
        die "kernel $k: ${K_PKG[$k]} is '${have:-not installed}', pinned ${K_VER[$k]}: if Debian no longer has it, update scripts/vm/kernels.conf"
    [ -f "/boot/vmlinuz-$rel" ] || die "kernel $k: /boot/vmlinuz-$rel is missing after installing ${K_PKG[$k]}"
    [ -e "/lib/modules/$rel/kernel/fs/9p" ] || die "kernel $k: /lib/modules/$rel has no 9p module (a -cloud- kernel?)"
done
command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 missing after apt-get install"
command -v busybox > /dev/null || die "busybox missing after apt-get install"

# ---- virtme-ng, pinned, in a venv ---------------------------------------------------------
VENV="$OUT/venv"
if [ "$("$VENV/bin/vng" --version 2> /dev/null | awk '{print $NF}')" != "$VIRTME_NG_VERSION" ]; then
    log "installing virtme-ng==$VIRTME_NG_VERSION into $VENV"
    rm -rf "$VENV"
    "$HOST_PY" -m venv "$VENV" || die "python3 -m venv $VENV failed"
    "$VENV/bin/pip" install -q --disable-pip-version-check "virtme-ng==$VIRTME_NG_VERSION" ||
        die "pip install virtme-ng==$VIRTME_NG_VERSION failed"
fi
got=$("$VENV/bin/vng" --version 2> /dev/null | awk '{print $NF}') || true
[ "$got" = "$VIRTME_NG_VERSION" ] || die "vng --version says '$got', expected $VIRTME_NG_VERSION"
export PATH="$VENV/bin:$PATH"   # vng runs virtme-run from PATH

if [ -n "$PREPARE_ONLY" ]; then
    log "prepared: qemu, the kernels and virtme-ng are installed"
    exit 0
fi

# ---- build on the host --------------------------------------------------------------------
JSON="$OUT/cargo-test.json"
if [ "${SEAL_VM_NO_BUILD:-}" != 1 ]; then
    log "cargo test --release --workspace --no-run"
    (cd "$ROOT" && cargo test --release --workspace --no-run --message-format=json > "$JSON.partial") ||
        die "cargo test --no-run failed"
    mv "$JSON.partial" "$JSON"
fi
[ -s "$JSON" ] || die "no build description $JSON (run without SEAL_VM_NO_BUILD=1)"
# The binaries are frozen once (shared by all kernels): a concurrent build elsewhere in
# target/ cannot change what the VMs run.
BIN="$OUT/bin"
rm -rf "$BIN"
mkdir -p "$OUT/runs"
PLAN_TMP=$(mktemp -d "$OUT/plan.XXXXXX")
"$HOST_PY" "$VM/results.py" plan "$JSON" "$TESTS_CONF" "$BIN" "$PLAN_TMP" || die "could not select the test binaries"

# ---- one VM per kernel --------------------------------------------------------------------
summaries=()
worst=0
for k in "${KERNELS[@]}"; do
    rel=${K_REL[$k]}
    RUN="$OUT/runs/$k"
    rm -rf "$RUN"
    mkdir -p "$RUN"
    # The rows for this kernel (a fifth column names the only kernels a row is for), without
    # that column: guest.sh reads four.
    awk -F '\t' -v OFS='\t' -v k="$k" '$5 == "" || index("," $5 ",", "," k ",") { print $1, $2, $3, $4 }' \
        "$PLAN_TMP/plan.tsv" > "$RUN/plan.tsv"
    echo "$PER_BINARY_TIMEOUT" > "$RUN/per-binary-timeout"
    [ "${SEAL_VM_REPORT_TIME:-}" != 1 ] || touch "$RUN/report-time"
    : > "$RUN/console.log"
    log "kernel $k ($rel): booting (TCG, $CPUS CPUs, $MEMORY); console: $RUN/console.log"
    start=$(date +%s)
    # No --network: the guest has loopback only. stdin from /dev/null (CI has none). timeout
    # runs in its own process group: the trap stops the VM if this script is interrupted.
    timeout -k 30 "$VM_TIMEOUT" vng --run "/boot/vmlinuz-$rel" --disable-kvm --force-9p \
        --memory "$MEMORY" --cpus "$CPUS" --rwdir="$RUN" --cwd / \
        -- "$VM/guest.sh" "$RUN" "$BIN" < /dev/null > "$RUN/console.log" 2>&1 &
    VM_PID=$!
    trap 'kill -TERM "$VM_PID" 2> /dev/null; exit 2' INT TERM
    trap 'kill -TERM "$VM_PID" 2> /dev/null' EXIT
    # Progress: the guest's own lines, as they come (in the background too: bash runs the
    # traps only while it waits in `wait`, not during a foreground pipeline).
    { tail -n +1 -f --pid="$VM_PID" "$RUN/console.log" | grep --line-buffered '^\[vm ' || true; } &
    TAIL_PID=$!
    vng_rc=0
    wait "$VM_PID" || vng_rc=$?
    wait "$TAIL_PID" || true
    trap - INT TERM EXIT
    elapsed=$(($(date +%s) - start))
    [ "$vng_rc" -ne 124 ] || echo "!!! vm-tests: kernel $k: the VM was killed after SEAL_VM_TIMEOUT=${VM_TIMEOUT}s"
    log "kernel $k: VM exited ($vng_rc) after ${elapsed}s"
    if [ -f "$RUN/doctor.txt" ]; then
        echo "---------- [$k] seal doctor"
        cat "$RUN/doctor.txt"
    else
        echo "!!! vm-tests: kernel $k: no doctor output (the guest did not get that far); console:"
        tail -40 "$RUN/console.log"
    fi
    rc=0
    "$HOST_PY" "$VM/results.py" summary "$RUN" "$k $rel" "$elapsed" || rc=$?
    if [ "$rc" -ge 2 ]; then
        echo "!!! vm-tests: kernel $k: the VM run is broken; last console lines:"
        tail -40 "$RUN/console.log"
    fi
    [ "$rc" -le "$worst" ] || worst=$rc
    summaries+=("$RUN/summary.tsv")
done
"$HOST_PY" "$VM/results.py" table "${summaries[@]}"
# Test binaries the list runs on some kernels only are named on every run.
for k in "${KERNELS[@]}"; do
    left=$(awk -F '\t' -v k="$k" '$5 != "" && !index("," $5 ",", "," k ",") { printf " %s", $1 }' "$PLAN_TMP/plan.tsv")
    [ -z "$left" ] || echo "!!! vm-tests: NOT RUN on $k (the list runs them on other kernels only, see $TESTS_CONF):$left"
done
rm -rf "$PLAN_TMP"
# Tests the list leaves out are named on every run, with the reason its comment gives.
skipped=$(grep -v '^[[:space:]]*#' "$TESTS_CONF" | grep -- '--skip' || true)
if [ -n "$skipped" ]; then
    echo "!!! vm-tests: NOT RUN in the VMs (--skip in $TESTS_CONF):"
    sed 's/^/!!!   /' <<< "$skipped"
fi
case $worst in
    0) log "every test passed on: ${KERNELS[*]}" ;;
    1) echo "!!! vm-tests: tests FAILED (see above and each kernel's tests.log)" ;;
    *) echo "!!! vm-tests: a VM run is BROKEN (see above)" ;;
esac
exit "$worst"
