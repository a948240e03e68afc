#!/usr/bin/env python3
"""Helpers of scripts/vm-tests.sh (host side, standard library only).

  results.py plan CARGO_JSON TESTS_CONF BIN_DIR RUN_DIR
      From `cargo test --no-run --message-format=json` output: copy the executables named in
      TESTS_CONF (and the seal binary) into BIN_DIR, write RUN_DIR/plan.tsv for guest.sh.
  results.py summary RUN_DIR KERNEL ELAPSED_SECONDS
      Parse RUN_DIR's logs: print failing tests' output, append one row to RUN_DIR/summary.tsv,
      exit 0 when everything passed, 1 when a test failed, 2 when the VM run is broken.
  results.py table SUMMARY_TSV...
      The per-kernel table.
"""

import json
import os
import re
import shutil
import sys


def die(msg):
    print(f"!!! vm-tests: {msg}", file=sys.stderr)
    sys.exit(2)


def plan(cargo_json, tests_conf, bin_dir, run_dir):
    exes = {}  # "crate-dir/target" -> (executable, package dir)
    seal = None
    with open(cargo_json, encoding="utf-8") as f:
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("reason") != "compiler-artifact" or not m.get("executable"):
                continue
            t = m["target"]
            pkgdir = os.path.dirname(m["manifest_path"])
            if "bin" in t["kind"] and t["name"] == "seal" and not m["profile"]["test"]:
                seal = m["executable"]
            if "test" in t["kind"]:
                exes[f"{os.path.basename(pkgdir)}/{t['name']}"] = (m["executable"], pkgdir)
    if seal is None:
        die(f"no seal binary in {cargo_json}")
    os.makedirs(bin_dir, exist_ok=True)
    rows = []
    seen = {}
    with open(tests_conf, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            # "@6.1,6.12 CRATE/TEST ...": only on the kernels named (scripts/vm/tests.conf).
            only = ""
            if line.startswith("@"):
                only, _, line = line[1:].partition(" ")
                line = line.strip()
            key, _, args = line.partition(" ")
            if key not in exes:
                die(f"{tests_conf}: no test binary {key!r} in the build (known: {', '.join(sorted(exes))})")
            exe, pkgdir = exes[key]
            frozen = os.path.join(bin_dir, key.replace("/", "__"))
            if not os.path.exists(frozen):
                shutil.copy2(exe, frozen)
            # A binary listed again (other filters, or a repeat to catch a flake) gets a key
            # of its own: results and logs are kept per key.
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}#{seen[key]}"
            rows.append("\t".join([key, frozen, pkgdir, args.strip(), only]))
    if not rows:
        die(f"{tests_conf}: no test binary selected")
    shutil.copy2(seal, os.path.join(bin_dir, "seal"))
    with open(os.path.join(bin_dir, "seal.path"), "w", encoding="utf-8") as f:
        f.write(f"seal\t{seal}\n")
    with open(os.path.join(run_dir, "plan.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print(f"{len(rows)} test binaries: {' '.join(r.split(chr(9))[0] for r in rows)}")


RESULT_RE = re.compile(
    r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out"
)
TEST_LINE_RE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")


def failure_sections(text):
    """libtest's `---- NAME stdout ----` sections (the failing tests' captured output)."""
    out = {}
    m = re.search(r"^failures:\n\n(.*?)^failures:\n", text, re.S | re.M)
    if not m:
        return out
    parts = re.split(r"^---- (\S+) stdout ----\n", m.group(1), flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2]):
        out[name] = body.rstrip()
    return out


def summary(run_dir, kernel, elapsed):
    plan_keys = []
    plan_path = os.path.join(run_dir, "plan.tsv")
    with open(plan_path, encoding="utf-8") as f:
        plan_keys = [l.split("\t")[0] for l in f if l.strip()]
    results = {}
    rpath = os.path.join(run_dir, "results.tsv")
    if os.path.exists(rpath):
        with open(rpath, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    results[parts[0]] = (int(parts[1]), int(parts[2]))
    done = os.path.join(run_dir, "done")
    broken = []
    if not os.path.exists(done):
        broken.append("the guest wrote no 'done' file: the VM died, timed out or never booted")
    passed = failed = ignored = 0
    failed_names = []
    combined = open(os.path.join(run_dir, "tests.log"), "w", encoding="utf-8")
    for key in plan_keys:
        log = os.path.join(run_dir, "logs", key.replace("/", "_") + ".log")
        if key not in results:
            broken.append(f"{key}: did not finish")
        text = ""
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as f:
                text = f.read()
        rc, secs = results.get(key, (None, None))
        combined.write(f"\n######## {key} (exit {rc}, {secs}s) ########\n{text}")
        b_pass = b_fail = b_ign = 0
        seen_result = False
        for line in text.splitlines():
            m = RESULT_RE.match(line)
            if m:
                seen_result = True
                b_pass += int(m.group(2))
                b_fail += int(m.group(3))
                b_ign += int(m.group(4))
        statuses = {}
        for line in text.splitlines():
            m = TEST_LINE_RE.match(line)
            if m:
                statuses[m.group(1)] = m.group(2)
        # A binary that crashed (or was killed) before its "test result" line: its started but
        # unfinished tests count as failed, and so does the binary itself.
        if not seen_result:
            b_pass = sum(1 for s in statuses.values() if s == "ok")
            b_ign = sum(1 for s in statuses.values() if s == "ignored")
            b_fail = sum(1 for s in statuses.values() if s == "FAILED") + 1
            failed_names.append(f"{key} (binary: exit {rc}, no 'test result' line)")
            tail = "\n".join(text.splitlines()[-60:])
            print(f"\n---------- [{kernel}] {key}: exit {rc} without a test result; last lines:\n{tail}")
        elif rc not in (0, None) and b_fail == 0:
            b_fail += 1
            failed_names.append(f"{key} (binary: exit {rc} although every test passed)")
        sections = failure_sections(text)
        for name, st in statuses.items():
            if st == "FAILED":
                failed_names.append(f"{key}::{name}")
                body = sections.get(name, "(no captured output)")
                print(f"\n---------- [{kernel}] FAILED {key}::{name}\n{body}")
        passed += b_pass
        failed += b_fail
        ignored += b_ign
    combined.close()
    for b in broken:
        print(f"!!! [{kernel}] {b}")
    status = "BROKEN" if broken else ("FAIL" if failed else "ok")
    with open(os.path.join(run_dir, "summary.tsv"), "w", encoding="utf-8") as f:
        f.write("\t".join([kernel, status, str(passed), str(failed), str(ignored), str(elapsed),
                           os.path.join(run_dir, "tests.log"), ";".join(failed_names)]) + "\n")
    if failed_names:
        print(f"\n[{kernel}] failed: " + "\n  ".join([""] + failed_names))
    return 2 if broken else (1 if failed else 0)


def table(paths):
    rows = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                rows.extend(l.rstrip("\n").split("\t") for l in f if l.strip())
        except FileNotFoundError:
            rows.append([os.path.basename(os.path.dirname(p)), "BROKEN", "-", "-", "-", "-", "(no summary)", ""])
    print(f"\n{'kernel':<26} {'status':<7} {'passed':>6} {'failed':>6} {'ignored':>7} {'time':>8}  log")
    for r in rows:
        secs = r[5]
        t = f"{int(secs) // 60}m{int(secs) % 60:02d}s" if secs.isdigit() else secs
        print(f"{r[0]:<26} {r[1]:<7} {r[2]:>6} {r[3]:>6} {r[4]:>7} {t:>8}  {r[6]}")
    tp = sum(int(r[2]) for r in rows if r[2].isdigit())
    tf = sum(int(r[3]) for r in rows if r[3].isdigit())
    print(f"vm-tests: {tp} passed, {tf} failed")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "plan" and len(sys.argv) == 6:
        plan(*sys.argv[2:])
    elif cmd == "summary" and len(sys.argv) == 5:
        sys.exit(summary(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif cmd == "table" and len(sys.argv) >= 3:
        table(sys.argv[2:])
    else:
        die(__doc__)
