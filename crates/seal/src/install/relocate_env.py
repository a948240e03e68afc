# seal's relocation of an environment built by the Landlock + seccomp fallback. Without a
# mount namespace the environment cannot be built at /seal/env, where every sandbox shows it,
# so it is built at its temporary host path and this script, run at the end of the same
# offline install step (standard library only, base interpreter, -I -S), makes it what the
# installer would have written at /seal/env:
#
# - console scripts' interpreter lines (`#!BUILT/bin/python`, or the /bin/sh preamble
#   installers write when that path is too long or has spaces) name INSIDE/bin/python;
# - the activate scripts and pyvenv.cfg name INSIDE;
# - direct_url.json names the wheel at WHEELS_INSIDE (pip records the file it installed);
# - with --compile (pip, run with --no-compile): bytecode is compiled as pip would, for the
#   same files, but naming the source at INSIDE (tracebacks read it there), and RECORD lists
#   it as pip does;
# - RECORD has the new hash and size of every rewritten file.
#
# Files are rewritten in place, so they keep their modes (a file hard-linked from elsewhere is
# replaced instead); no symbolic link is followed.
#
# usage: relocate_env.py [--compile] BUILT INSIDE WHEELS WHEELS_INSIDE
import base64
import csv
import hashlib
import importlib.util
import json
import os
import py_compile
import stat
import sys
import urllib.parse
import urllib.request


def path_to_url(path):
    # pip's own spelling of a local file as a URL.
    return urllib.parse.urljoin("file:", urllib.request.pathname2url(os.path.normpath(path)))


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode("latin1")
    return "sha256=" + digest.rstrip("=")


def read_regular(path):
    """The contents of a regular file, refusing links; None if it is anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def write_in_place(path, data):
    st = os.lstat(path)
    if st.st_nlink == 1:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_TRUNC)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return
    # Linked from elsewhere (an installer's cache): a new file, with the same mode.
    new = path + ".seal-relocate"
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(new, stat.S_IMODE(st.st_mode))
    os.replace(new, path)


def rewrite_script(data, built, inside):
    first, newline, rest = data.partition(b"\n")
    direct = b"#!" + built + b"/bin/"
    if first.startswith(direct):
        return b"#!" + inside + b"/bin/" + first[len(direct):] + newline + rest
    if first != b"#!/bin/sh":
        return None
    lines = rest.split(b"\n", 2)
    if len(lines) < 2:
        return None
    opening, closing = b"'''exec' ", b' "$0" "$@"'
    if not (lines[0].startswith(opening) and lines[0].endswith(closing)):
        return None
    target = lines[0][len(opening):-len(closing)].strip(b"'\"")
    if not target.startswith(built + b"/bin/") or not lines[1].startswith(b"' '''"):
        return None
    program = target[len(built) + len(b"/bin/"):]
    if not program or any(c in program for c in b"/ '\""):
        return None
    out = b"#!" + inside + b"/bin/" + program + b"\n"
    after_close = lines[1][len(b"' '''"):]
    if after_close:
        out += after_close + b"\n"
    return out + (lines[2] if len(lines) > 2 else b"")


def site_packages(built):
    lib = os.path.join(built, "lib")
    for name in sorted(os.listdir(lib)):
        sp = os.path.join(lib, name, "site-packages")
        if name.startswith("python") and os.path.isdir(sp) and not os.path.islink(sp):
            return sp
    sys.exit(f"seal: no site-packages in {lib}")


def main():
    args = sys.argv[1:]
    compile_ = args[:1] == ["--compile"]
    if compile_:
        args = args[1:]
    built, inside, wheels, wheels_inside = args
    built_b, inside_b = os.fsencode(built), os.fsencode(inside)
    changed = {}  # real path -> new contents

    bin_dir = os.path.join(built, "bin")
    for name in sorted(os.listdir(bin_dir)):
        path = os.path.join(bin_dir, name)
        data = read_regular(path)  # bin/python* are links to the base interpreter
        if data is None:
            continue
        if name.startswith(("activate", "Activate")):
            new = data.replace(built_b, inside_b) if built_b in data else None
        else:
            new = rewrite_script(data, built_b, inside_b)
        if new is not None:
            changed[path] = new
    cfg = os.path.join(built, "pyvenv.cfg")
    data = read_regular(cfg)
    if data is not None and built_b in data:
        write_in_place(cfg, data.replace(built_b, inside_b))

    site = site_packages(built)
    wheels_url, wheels_inside_url = path_to_url(wheels) + "/", path_to_url(wheels_inside) + "/"
    for dist_info in sorted(os.listdir(site)):
        path = os.path.join(site, dist_info, "direct_url.json")
        if not dist_info.endswith(".dist-info") or read_regular(path) is None:
            continue
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        url = doc.get("url", "")
        if url.startswith(wheels_url):
            doc["url"] = wheels_inside_url + url[len(wheels_url):]
            changed[path] = json.dumps(doc, sort_keys=True).encode("utf-8")

    for path, data in changed.items():
        write_in_place(path, data)

    for dist_info in sorted(os.listdir(site)):
        record = os.path.join(site, dist_info, "RECORD")
        if not dist_info.endswith(".dist-info") or read_regular(record) is None:
            continue
        with open(record, newline="", encoding="utf-8") as f:
            text = f.read()
        rows = [r for r in csv.reader(text.splitlines()) if r]
        touched = False
        listed = {r[0] for r in rows}
        for r in list(rows):
            full = os.path.normpath(os.path.join(site, r[0]))
            if full in changed:
                r[1:] = [record_hash(changed[full]), str(len(changed[full]))]
                touched = True
            if compile_ and full.endswith(".py") and read_regular(full) is not None:
                pyc = importlib.util.cache_from_source(full)
                dfile = inside + full[len(built):] if full.startswith(built + "/") else full
                try:
                    py_compile.compile(full, cfile=pyc, dfile=dfile, doraise=True)
                except (py_compile.PyCompileError, SyntaxError, OSError, ValueError):
                    continue  # as pip: a file that does not compile runs uncompiled
                pyc_row = os.path.relpath(pyc, site).replace(os.path.sep, "/")
                if pyc_row not in listed:
                    rows.append([pyc_row, "", ""])
                    listed.add(pyc_row)
                touched = True
        if touched:
            # In the installer's own format: its line ends, and pip's rows are sorted (which
            # places the bytecode rows added here where pip puts them).
            end = "\r\n" if "\r\n" in text else "\n"
            with open(record, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, lineterminator=end).writerows(sorted(rows) if compile_ else rows)


if __name__ == "__main__":
    main()
