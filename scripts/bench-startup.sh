#!/usr/bin/env bash
# bench-startup.sh: startup overhead of `seal run` compared with bare python3
# and with bubblewrap running the same mount set.
#
# Usage: scripts/bench-startup.sh [--no-seal]
#
# Environment:
#   SEAL_BIN  seal binary to measure (by default it is built with
#             `cargo build --release -p seal` from the repo root)
#   RUNS      timed runs per command per round (default 40, 5 warmup runs are extra)
#   ROUNDS    rounds of the whole command set, interleaved (default 2)
#
# --no-seal skips the seal rows and the build (for testing the script itself).
#
# It installs bubblewrap and hyperfine with apt-get if they are missing (this
# needs root, and is the only network use: Debian's package mirror). When run
# as root it measures twice: as root and as uid 65534 (nobody), the
# unprivileged case. The benchmark itself sends no network traffic: bwrap runs
# with --unshare-all and seal cuts the network itself.
set -euo pipefail

PY=/usr/bin/python3
WARMUP=5
NOBODY=65534
RSS_RUNS=5

die() { printf 'bench-startup: %s\n' "$*" >&2; exit 1; }
note() { printf 'bench-startup: %s\n' "$*" >&2; }

usage() {
    sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

NO_SEAL=0
for arg in "$@"; do
    case "$arg" in
        --no-seal) NO_SEAL=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $arg" ;;
    esac
done

RUNS=${RUNS:-40}
ROUNDS=${ROUNDS:-2}
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 2 ]] || die "RUNS must be an integer >= 2 (got '$RUNS')"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "ROUNDS must be an integer >= 1 (got '$ROUNDS')"
if (( RUNS < 40 )); then
    note "warning: RUNS=$RUNS is below the 40 runs per command this benchmark is meant to use"
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

IS_ROOT=0
[[ "$(id -u)" -eq 0 ]] && IS_ROOT=1

# --- 1. dependencies ---------------------------------------------------------
[[ -x "$PY" ]] || die "$PY not found; this benchmark measures the system python3 (Debian package python3)"

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
if (( IS_ROOT )); then
    command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
fi
if (( ${#missing[@]} )); then
    if (( ! IS_ROOT )); then
        die "missing packages: ${missing[*]}; install them as root with: apt-get update && apt-get install -y ${missing[*]}"
    fi
    note "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
BWRAP=$(command -v bwrap)
HYPERFINE=$(command -v hyperfine)

# --- 2. seal binary ----------------------------------------------------------
if (( ! NO_SEAL )); then
    if [[ -z "${SEAL_BIN:-}" ]]; then
        note "building seal (cargo build --release -p seal)"
        (cd "$REPO_ROOT" && cargo build --release -p seal)
        SEAL_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/seal"
    fi
    [[ -x "$SEAL_BIN" ]] || die "seal binary not found or not executable: $SEAL_BIN (use --no-seal to measure only bare and bwrap)"
fi

# --- scratch space, readable by uid 65534 -----------------------------------
WORK=$(mktemp -d)
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
chmod 755 "$WORK"
mkdir -p "$WORK/bin" "$WORK/cwd" "$WORK/out" "$WORK/home"
chmod 755 "$WORK/bin" "$WORK/cwd" "$WORK/out"
if (( ! NO_SEAL )); then
    # One copy used for every row, so root and nobody exec the same file.
    cp -- "$SEAL_BIN" "$WORK/bin/seal"
    chmod 755 "$WORK/bin/seal"
    SEAL="$WORK/bin/seal"
fi

USERS=("$(id -u)")
if (( IS_ROOT )); then
    USERS+=("$NOBODY")
    mkdir -p "$WORK/out/$NOBODY"
    chown "$NOBODY:$NOBODY" "$WORK/out/$NOBODY" "$WORK/home"
    # Every path component up to $WORK must be traversable by nobody.
    setpriv --reuid "$NOBODY" --regid "$NOBODY" --clear-groups -- test -x "$WORK/bin" \
        || die "$WORK is not reachable by uid $NOBODY (is TMPDIR private?); set TMPDIR=/tmp"
fi
mkdir -p "$WORK/out/$(id -u)"

# as_user UID CMD...: run CMD as UID with a small fixed environment, in $WORK/cwd.
as_user() {
    local uid=$1; shift
    local -a envv=(env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "TERM=${TERM:-dumb}")
    if [[ "$uid" == "$(id -u)" ]]; then
        (cd "$WORK/cwd" && "${envv[@]}" "HOME=${HOME:-/root}" "$@")
    else
        (cd "$WORK/cwd" && setpriv --reuid "$uid" --regid "$uid" --clear-groups -- \
            "${envv[@]}" "HOME=$WORK/home" "$@")
    fi
}

# --- 3. the command set ------------------------------------------------------
# Rows are keyed "uid|program|runner"; cmdline() gives the command line that
# hyperfine -N splits itself (single quotes honoured). Programs: pass = `-c pass`,
# import = `-c 'import json, ssl, sqlite3'`. Runners: bare, unshare (only a user and a
# network namespace: the floor any namespace sandbox starts from), seal, bwrap.
declare -A PROG_ARGS=(
    [pass]="-c pass"
    [import]="-c 'import json, ssl, sqlite3'"
)
PROGS=(pass import)
BWRAP_ARGS="--unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc/ld.so.cache /etc/ld.so.cache --ro-bind /etc/ssl /etc/ssl --proc /proc --dev /dev --tmpfs /tmp --clearenv --setenv PATH /usr/bin:/bin --chdir /tmp"

UNSHARE=$(command -v unshare) || die "unshare (util-linux) not found"
RUNNERS=(bare unshare)
(( NO_SEAL )) || RUNNERS+=(seal)
RUNNERS+=(bwrap)

cmdline() { # PROG RUNNER
    local args=${PROG_ARGS[$1]}
    case "$2" in
        bare)  printf '%s %s' "$PY" "$args" ;;
        unshare) printf '%s -Urn %s %s' "$UNSHARE" "$PY" "$args" ;;
        seal)  printf '%s run --python %s -- python3 %s' "$SEAL" "$PY" "$args" ;;
        bwrap) printf '%s %s %s %s' "$BWRAP" "$BWRAP_ARGS" "$PY" "$args" ;;
    esac
}

# Probe every command once; a command that fails is reported and left out.
declare -A OK=()
FAILED=()
SEAL_FAILED=0
for uid in "${USERS[@]}"; do
    for prog in "${PROGS[@]}"; do
        for runner in "${RUNNERS[@]}"; do
            key="$uid|$prog|$runner"
            # Word-split the command line the way hyperfine -N will (quotes honoured).
            eval "argv=($(cmdline "$prog" "$runner"))"
            # shellcheck disable=SC2154  # argv is set by the eval above
            if out=$(as_user "$uid" timeout 60 "${argv[@]}" 2>&1 </dev/null); then
                OK[$key]=1
            else
                rc=$?
                FAILED+=("$key")
                [[ "$runner" == seal ]] && SEAL_FAILED=1
                note "probe failed (exit $rc) for uid $uid, $prog, $runner: $(cmdline "$prog" "$runner")"
                printf '%s\n' "$out" | head -n 5 | sed 's/^/    | /' >&2
            fi
        done
    done
done

echo "seal startup benchmark: $(nproc) cpu, kernel $(uname -r), $("$HYPERFINE" --version), bwrap $("$BWRAP" --version | awk '{print $NF}'), $("$PY" --version 2>&1)"
echo "runs: $ROUNDS rounds x $RUNS runs (+$WARMUP warmup) per command; users: ${USERS[*]}"

# --- interleaved rounds ------------------------------------------------------
# Round r runs the command set as every user in turn; odd rounds reverse the
# command order so slow drift does not favour one command.
for (( r = 1; r <= ROUNDS; r++ )); do
    for uid in "${USERS[@]}"; do
        hf_args=(-N --style none --warmup "$WARMUP" --runs "$RUNS"
                 --export-json "$WORK/out/$uid/round$r.json")
        keys=()
        for prog in "${PROGS[@]}"; do
            for runner in "${RUNNERS[@]}"; do
                key="$uid|$prog|$runner"
                [[ -n "${OK[$key]:-}" ]] && keys+=("$key")
            done
        done
        (( ${#keys[@]} )) || continue
        if (( r % 2 == 0 )); then
            rev=()
            for (( i = ${#keys[@]} - 1; i >= 0; i-- )); do rev+=("${keys[i]}"); done
            keys=("${rev[@]}")
        fi
        for key in "${keys[@]}"; do
            IFS='|' read -r _ prog runner <<<"$key"
            hf_args+=(--command-name "$key" "$(cmdline "$prog" "$runner")")
        done
        printf 'round %d/%d, uid %s: %d commands...\n' "$r" "$ROUNDS" "$uid" "${#keys[@]}"
        if ! as_user "$uid" "$HYPERFINE" "${hf_args[@]}" >"$WORK/hf.log" 2>&1 </dev/null; then
            cat "$WORK/hf.log" >&2
            die "hyperfine failed (round $r, uid $uid)"
        fi
    done
done

# --- 6. supervisor peak RSS --------------------------------------------------
RSS_LINES=()
if (( ! NO_SEAL )); then
    for uid in "${USERS[@]}"; do
        vals=()
        nfail=0
        for (( i = 0; i < RSS_RUNS; i++ )); do
            rc=0
            err=$(as_user "$uid" timeout 60 "$SEAL" run -v --python "$PY" -- python3 -c pass 2>&1 >/dev/null </dev/null) || rc=$?
            (( rc == 0 )) || nfail=$(( nfail + 1 ))
            v=$(printf '%s\n' "$err" | sed -n 's/^.*seal: supervisor peak RSS \([0-9][0-9]*\) kB.*$/\1/p' | tail -n 1)
            [[ -n "$v" ]] && vals+=("$v")
        done
        RSS_LINES+=("$uid $nfail ${vals[*]}")
    done
fi

# --- 4. table ----------------------------------------------------------------
"$PY" - "$WORK/out" "$NO_SEAL" "$RSS_RUNS" "${RSS_LINES[@]}" <<'EOF'
import glob, json, os, statistics, sys

outdir, no_seal, RSS_RUNS = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
rss_lines = sys.argv[4:]
times, round_medians = {}, {}
for path in sorted(glob.glob(os.path.join(outdir, "*", "round*.json"))):
    with open(path) as f:
        for res in json.load(f)["results"]:
            times.setdefault(res["command"], []).extend(res["times"])
            round_medians.setdefault(res["command"], []).append(res["median"])

def key_order(k):
    uid, prog, runner = k.split("|")
    return (int(uid), ["pass", "import"].index(prog), ["bare", "unshare", "seal", "bwrap"].index(runner))

label = {"pass": "-c pass", "import": "-c 'import json, ssl, sqlite3'"}
med = {k: statistics.median(v) for k, v in times.items()}
rows = []
for k in sorted(med, key=key_order):
    uid, prog, runner = k.split("|")
    bare = med.get(f"{uid}|{prog}|bare")
    bw = med.get(f"{uid}|{prog}|bwrap")
    rm = round_medians[k]
    rows.append((
        uid, runner, label[prog], str(len(times[k])), f"{med[k] * 1e3:.2f}",
        f"{min(rm) * 1e3:.2f}-{max(rm) * 1e3:.2f}",
        f"{med[k] / bare:.3f}" if bare else "-",
        f"{med[k] / bw:.3f}" if runner == "seal" and bw else "-",
    ))

hdr = ("uid", "command", "program", "runs", "median ms", "round medians", "vs bare", "seal/bwrap")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
print()
print("  ".join(h.ljust(w[i]) if i < 3 else h.rjust(w[i]) for i, h in enumerate(hdr)))
for r in rows:
    print("  ".join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(r)))
print()
TARGET = 1.10
print(f"target: seal/bare <= {TARGET:.2f}")
if not no_seal:
    for k in sorted(med, key=key_order):
        uid, prog, runner = k.split("|")
        bare = med.get(f"{uid}|{prog}|bare")
        if runner == "seal" and bare:
            ratio = med[k] / bare
            print(f"  uid {uid}, {label[prog]}: seal/bare = {ratio:.3f} {'ok' if ratio <= TARGET else 'OVER TARGET'}")

    print()
    print("target: seal supervisor peak RSS < 10 MB")
    for line in rss_lines:
        uid, nfail, *vals = line.split()
        if int(nfail) == RSS_RUNS:
            print(f"  uid {uid}: seal peak RSS: not measured, `seal run -v` failed in all {RSS_RUNS} runs")
        elif vals:
            kb = statistics.median(int(v) for v in vals)
            verdict = "ok" if kb < 10 * 1024 else "OVER TARGET"
            print(f"  uid {uid}: seal peak RSS {kb:.0f} kB ({kb / 1024:.1f} MB, median of {len(vals)} runs) {verdict}")
        else:
            print(f"  uid {uid}: seal peak RSS: not reported by this build")
EOF

if (( ${#FAILED[@]} )); then
    echo
    echo "commands that failed their probe run and were not measured:"
    printf '  %s\n' "${FAILED[@]}"
fi
if (( SEAL_FAILED )); then
    die "seal failed to run at least one benchmark command"
fi
