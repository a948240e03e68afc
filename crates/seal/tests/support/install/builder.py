import base64, hashlib, io, json, sys, tarfile, zipfile
spec = json.load(open(sys.argv[1]))
out = spec["out"]
def rec_hash(b):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
if spec["kind"] == "wheel":
    name, version = spec["name"], spec["version"]
    di = "%s-%s.dist-info" % (name.replace("-", "_"), version)
    files = [(p, c.encode()) for p, c in spec["files"]]
    files += [(p, base64.b64decode(c)) for p, c in spec.get("binary_files", [])]
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    meta += "".join("Requires-Dist: %s\n" % r for r in spec["requires"])
    files.append((di + "/METADATA", meta.encode()))
    files.append((di + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: seal-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    if spec.get("entry_points"):
        files.append((di + "/entry_points.txt", spec["entry_points"].encode()))
    record = "".join("%s,%s,%d\n" % (p, rec_hash(c), len(c)) for p, c in files) + di + "/RECORD,,\n"
    files.append((di + "/RECORD", record.encode()))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, c in files:
            zi = zipfile.ZipInfo(p, (2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, c)
else:
    name, version = spec["name"], spec["version"]
    base = "%s-%s" % (name, version)
    members = [(base + "/PKG-INFO", "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version))]
    if spec.get("setup_py") is not None:
        members.append((base + "/setup.py", spec["setup_py"]))
    members += [(base + "/" + p, c) for p, c in spec.get("files", [])]
    with tarfile.open(out, "w:gz") as t:
        for p, c in members:
            b = c.encode()
            ti = tarfile.TarInfo(p)
            ti.size = len(b)
            ti.mtime = 1577836800
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(b))
