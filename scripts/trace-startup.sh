#!/usr/bin/env bash
# trace-startup.sh: where the startup time of `seal run` (and of bubblewrap) goes, phase by
# phase, from the kernel's own timestamps (ftrace), as medians over many runs.
#
# Usage: scripts/trace-startup.sh [--no-bwrap]
#
# Environment:
#   SEAL_BIN  seal binary to trace (by default it is built with `cargo build --release -p seal`)
#   RUNS      traced runs per command (default 30)
#   KEEP      a directory to copy the raw traces into (TOOL.N, one per run)
#
# Needs root (it writes /sys/kernel/tracing) and installs bubblewrap with apt-get if it is
# missing. Tracing adds a few microseconds per traced event, so the phases sum to a little
# more than hyperfine's wall times (scripts/bench-startup.sh). Both commands run
# `python3 -c pass` with no network (seal cuts it, bwrap runs with --unshare-all).
#
# Milestones, per run, of the traced tool's process tree:
#   start     exec of the tool
#   clone     the tool's clone/unshare with CLONE_NEWUSER (the namespaces are made)
#   inside    the first system call of the new process inside them
#   pivot     pivot_root (the id maps, cgroup, hostname are done; the mounts begin)
#   detach    umount of the host tree; detached: the tool's next system call
#   exec      exec of the program (after Landlock, seccomp, rlimits)
#   exit      the program's exit_group
#   end       the tool's own exit (what the caller waits for)
set -euo pipefail

PY=/usr/bin/python3
T=/sys/kernel/tracing
die() { printf 'trace-startup: %s\n' "$*" >&2; exit 1; }

WITH_BWRAP=1
for arg in "$@"; do
    case "$arg" in
        --no-bwrap) WITH_BWRAP=0 ;;
        -h|--help) sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done
RUNS=${RUNS:-30}
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 3 ]] || die "RUNS must be an integer >= 3 (got '$RUNS')"
[[ "$(id -u)" -eq 0 ]] || die "needs root: ftrace is only writable by root (run it with sudo)"
[[ -w "$T/trace" ]] || mount -t tracefs nodev "$T" 2>/dev/null || true
[[ -w "$T/trace" ]] || die "no tracefs at $T (kernel without CONFIG_FTRACE, or a container that hides it)"
[[ -x "$PY" ]] || die "$PY not found"
if (( WITH_BWRAP )) && ! command -v bwrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null \
        || die "cannot install bubblewrap; use --no-bwrap"
fi

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${SEAL_BIN:-}" ]]; then
    (cd "$REPO_ROOT" && cargo build --release -q -p seal)
    SEAL_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/seal"
fi
[[ -x "$SEAL_BIN" ]] || die "seal binary not found: $SEAL_BIN"

WORK=$(mktemp -d)
restore() {
    echo 0 >"$T/tracing_on" 2>/dev/null || true
    echo >"$T/set_event" 2>/dev/null || true
    echo >"$T/set_event_pid" 2>/dev/null || true
    echo 0 >"$T/options/event-fork" 2>/dev/null || true
    rm -rf -- "$WORK"
}
trap restore EXIT
mkdir -p "$WORK/cwd" "$WORK/bin"
# Traced under the name the parser looks for, whatever the binary was called.
cp -- "$SEAL_BIN" "$WORK/bin/seal"

EVENTS=(sched:sched_process_exec sched:sched_process_exit
        syscalls:sys_enter_clone syscalls:sys_enter_clone3 syscalls:sys_enter_unshare
        syscalls:sys_enter_pivot_root syscalls:sys_enter_umount syscalls:sys_exit_umount
        syscalls:sys_enter_exit_group raw_syscalls:sys_enter)

trace_one() { # OUTFILE CMD...
    local out=$1; shift
    echo 0 >"$T/tracing_on"
    echo >"$T/trace"
    # Only this subshell and what it starts are traced (event-fork follows the children).
    (cd "$WORK/cwd" && echo "$BASHPID" >"$T/set_event_pid" && echo 1 >"$T/tracing_on" \
        && exec env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@" >/dev/null 2>&1) \
        || { echo 0 >"$T/tracing_on"; die "traced command failed: $*"; }
    echo 0 >"$T/tracing_on"
    grep -v '^#' "$T/trace" >"$out"
}

echo 8192 >"$T/buffer_size_kb"
echo 1 >"$T/options/event-fork"
echo >"$T/set_event"
for e in "${EVENTS[@]}"; do
    echo "$e" >>"$T/set_event" || die "this kernel has no trace event $e"
done
BWRAP_ARGS=(--unshare-all --die-with-parent --new-session --ro-bind /usr /usr
            --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64
            --symlink usr/sbin /sbin --ro-bind /etc/ld.so.cache /etc/ld.so.cache
            --ro-bind /etc/ssl /etc/ssl --proc /proc --dev /dev --tmpfs /tmp --clearenv
            --setenv PATH /usr/bin:/bin --chdir /tmp)
TOOLS=(seal)
(( WITH_BWRAP )) && TOOLS+=(bwrap)
for (( i = 0; i < RUNS; i++ )); do
    for tool in "${TOOLS[@]}"; do
        case "$tool" in
            seal) trace_one "$WORK/$tool.$i" "$WORK/bin/seal" run --python "$PY" -- python3 -c pass ;;
            bwrap) trace_one "$WORK/$tool.$i" "$(command -v bwrap)" "${BWRAP_ARGS[@]}" "$PY" -c pass ;;
        esac
    done
done

if [[ -n "${KEEP:-}" ]]; then
    mkdir -p "$KEEP" && cp "$WORK"/*.[0-9]* "$KEEP"/
fi
echo "startup phases: kernel $(uname -r), $(nproc) cpu, $RUNS traced runs each, medians in ms"
"$PY" - "$WORK" "$RUNS" "${TOOLS[@]}" <<'EOF'
import re, statistics, sys

work, runs, tools = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(\w+):?\s*(.*)$")
NEWUSER = 0x10000000

def milestones(path, tool):
    """The milestones of one traced run of `tool`, in seconds."""
    m, pids, after = {}, set(), None
    for line in open(path):
        g = LINE.match(line)
        if not g:
            continue
        comm, pid, ts, ev, rest = g.group(1), int(g.group(2)), float(g.group(3)), g.group(4), g.group(5)
        if ev == "sched_process_exec":
            fname = re.search(r"filename=(\S+)", rest).group(1)
            if "start" not in m and fname.endswith("/" + tool):
                m["start"], top = ts, pid
                pids.add(pid)
            elif "start" in m and "python3" in fname:
                m["exec"], prog = ts, pid
            continue
        if "start" not in m:
            continue
        if ev in ("sys_clone", "sys_clone3", "sys_unshare") and "clone" not in m:
            flags = re.search(r"(?:clone_flags|unshare_flags): (0x[0-9a-f]+)", rest)
            if ev == "sys_clone3" or (flags and int(flags.group(1), 16) & NEWUSER):
                m["clone"], after = ts, "inside"
            continue
        if ev == "sys_enter" and after == "inside" and pid != top:
            m["inside"], after = ts, None
        elif ev == "sys_pivot_root" and "pivot" not in m:
            m["pivot"] = ts
        elif ev == "sys_umount" and "detach" not in m:
            m["detach"] = ts
        elif ev == "sys_umount" and rest.startswith("->") and "detached" not in m:
            m["detached"] = ts
        elif ev == "sys_exit_group" and "exec" in m and "exit" not in m and pid == prog:
            m["exit"] = ts
        elif ev == "sched_process_exit" and pid == top:
            m["end"] = ts
    return m

PHASES = [
    ("before the namespaces (command line, discovery, plan)", "start", "clone"),
    ("creating the namespaces (clone)", "clone", "inside"),
    ("id maps, cgroup, hostname, netns", "inside", "pivot"),
    ("mounts of the new root", "pivot", "detach"),
    ("detaching the host tree (umount)", "detach", "detached"),
    ("after it until exec (landlock, seccomp, rlimits)", "detached", "exec"),
    ("the program (python3 -c pass)", "exec", "exit"),
    ("after the program until the tool has exited", "exit", "end"),
    ("total (tool exec to tool exit)", "start", "end"),
]
cols = {}
for tool in tools:
    per = {}
    for i in range(runs):
        ms = milestones(f"{work}/{tool}.{i}", tool)
        for name, a, b in PHASES:
            if a in ms and b in ms:
                per.setdefault(name, []).append((ms[b] - ms[a]) * 1e3)
    cols[tool] = per
w = max(len(p[0]) for p in PHASES)
print("  ".join(["phase".ljust(w)] + [t.rjust(8) for t in tools]))
for name, _, _ in PHASES:
    row = [name.ljust(w)]
    for tool in tools:
        v = cols[tool].get(name)
        row.append((f"{statistics.median(v):.2f}" if v and len(v) * 2 > runs else "-").rjust(8))
    print("  ".join(row))
EOF
