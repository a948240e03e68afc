#!/bin/bash
# Runs INSIDE the VM (as root, started by scripts/vm-tests.sh through `vng --run ... -- CMD`).
#
#   guest.sh RUN_DIR BIN_DIR
#
# RUN_DIR is the host directory shared read-write with the guest (vng --rwdir). It holds
# plan.tsv (what to run, written by the host) and receives everything the host reads back:
# BIN_DIR (read-only here) holds the host's frozen copies of the test binaries and of seal.
#   guest-env.txt           kernel, mounts, cgroups, namespaces as the guest sees them
#   doctor.txt              `seal doctor` as root and as uid 65534
#   logs/KEY.log            the full output of one test binary
#   results.tsv             KEY <TAB> exit code <TAB> seconds, one line per finished binary
#   done                    written last: "exit=N" (N = 0 when every binary exited 0)
# vng's own exit status is not trusted: the host decides from these files only, and a missing
# `done` means the guest died (boot failure, panic, timeout).
#
# The guest's root is the host's root over 9p, read-only, with virtme-ng's copy-on-write
# overlays on /etc, /usr, /var, /home, /tmp (their upper layers live in the guest's RAM, so
# nothing written there reaches the host). /tmp is replaced here by a fresh tmpfs (the overlay
# would show the host's /tmp underneath, stale seal-it-* directories included); HOME is a
# directory in it. The source tree and target/ stay read-only: only RUN_DIR is written.
set -u

RUN=${1:?usage: guest.sh RUN_DIR BIN_DIR}
BIN=${2:?usage: guest.sh RUN_DIR BIN_DIR}   # frozen copies of the test binaries and of seal
cd /

say() { echo "[vm $(uname -r)] $*"; }
finish() {
    sync
    echo "exit=$1" > "$RUN/done.partial" && mv "$RUN/done.partial" "$RUN/done"
    sync
    exit "$1"
}

if [ ! -w "$RUN" ] || [ ! -f "$RUN/plan.tsv" ]; then
    echo "!!! guest: $RUN is not writable or has no plan.tsv (was it shared with --rwdir?)" >&2
    exit 99   # no `done` can be written: the host reports the VM run as broken
fi

# ---- a sane, known environment -----------------------------------------------------------
if ! mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp; then
    say "!!! cannot mount a tmpfs on /tmp"
    finish 98
fi
mkdir -m 0700 /tmp/home
# virtme-ng binds a generated, world-readable /etc/shadow (dummy passwords so that `su` works).
# A host's is 0640 root:shadow, and the isolation tests check that the sandbox cannot read it:
# give the guest's copy the host's mode (it lives in the guest's RAM; the host's is untouched).
for f in /etc/shadow /etc/gshadow; do
    [ -e "$f" ] && chown root:shadow "$f" 2> /dev/null && chmod 0640 "$f"
done
export HOME=/tmp/home
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 TMPDIR=/tmp USER=root LOGNAME=root TERM=dumb
export RUST_BACKTRACE=1
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV CARGO_TARGET_DIR

SEAL_BUILT=$(sed -n 's/^seal\t//p' "$BIN/seal.path")
# The test binaries run seal from the path compiled into them (target/release/seal). Others
# may rebuild it on the host while this VM runs: show them the copy frozen at build time.
if [ -n "$SEAL_BUILT" ] && [ -e "$SEAL_BUILT" ]; then
    mount --bind "$BIN/seal" "$SEAL_BUILT" || say "!!! could not pin $SEAL_BUILT to the frozen copy"
fi

{
    echo "kernel: $(uname -a)"
    echo "cmdline: $(cat /proc/cmdline | sed 's/virtme.exec=`[^`]*`/virtme.exec=.../')"
    echo "id: $(id)"
    echo "nproc: $(nproc); $(grep MemTotal /proc/meminfo)"
    echo "max_user_namespaces: $(cat /proc/sys/user/max_user_namespaces)"
    [ -e /proc/sys/kernel/unprivileged_userns_clone ] &&
        echo "kernel.unprivileged_userns_clone: $(cat /proc/sys/kernel/unprivileged_userns_clone)"
    echo "lsm: $(cat /sys/kernel/security/lsm 2>/dev/null)"
    echo "cgroup root controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
    echo "--- mounts"
    cat /proc/self/mounts
} > "$RUN/guest-env.txt" 2>&1

say "booted; $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo); /tmp is $(stat -f -c %T /tmp)"

# ---- seal doctor, as root and as uid 65534 ------------------------------------------------
mkdir -m 0755 /tmp/vmbin
cp "$BIN/seal" /tmp/vmbin/seal && chmod 0755 /tmp/vmbin/seal
{
    echo "===== seal doctor (root) on $(uname -r)"
    (cd /tmp && /tmp/vmbin/seal doctor 2>&1); echo "(exit $?)"
    echo
    echo "===== seal doctor (uid 65534) on $(uname -r)"
    (cd /tmp && setpriv --reuid 65534 --regid 65534 --clear-groups \
        env HOME=/tmp PATH="$PATH" LANG=C.UTF-8 /tmp/vmbin/seal doctor 2>&1); echo "(exit $?)"
} > "$RUN/doctor.txt" 2>&1

# ---- the test binaries --------------------------------------------------------------------
mkdir -p "$RUN/logs"
: > "$RUN/results.tsv"
overall=0
PER_BINARY_TIMEOUT=$(cat "$RUN/per-binary-timeout" 2>/dev/null || echo 1500)
timing=()
# Per-test durations, to choose tests.conf: libtest accepts its unstable flags when
# RUSTC_BOOTSTRAP=1 is set at run time.
[ -e "$RUN/report-time" ] && timing=(-Z unstable-options --report-time) && export RUSTC_BOOTSTRAP=1
while IFS=$'\t' read -r key exe pkgdir args; do
    [ -n "$key" ] || continue
    log="$RUN/logs/${key//\//_}.log"
    say "running $key ${args}"
    start=$(date +%s)
    # cargo runs a test binary in its package directory with CARGO_MANIFEST_DIR set; do the
    # same. $args is split on purpose: filters and libtest flags from scripts/vm/tests.conf.
    # shellcheck disable=SC2086
    (cd "$pkgdir" && exec env CARGO_MANIFEST_DIR="$pkgdir" \
        timeout -k 30 "$PER_BINARY_TIMEOUT" "$exe" ${timing[@]+"${timing[@]}"} $args) > "$log" 2>&1 < /dev/null
    rc=$?
    secs=$(( $(date +%s) - start ))
    [ "$rc" -eq 124 ] && echo "!!! vm-tests: $key killed after the ${PER_BINARY_TIMEOUT}s per-binary timeout" >> "$log"
    printf '%s\t%s\t%s\n' "$key" "$rc" "$secs" >> "$RUN/results.tsv"
    say "$key: exit $rc in ${secs}s ($(grep -h '^test result:' "$log" | tail -1))"
    [ "$rc" -eq 0 ] || overall=1
    sync
done < "$RUN/plan.tsv"

finish "$overall"
