# Unpack uv's binary from its downloaded wheel into seal's tool cache. Runs offline in a
# sandbox with the work directory read-only and only the tool directory writable; the wheel
# is only read as a zip archive, never installed or imported.
import glob
import os
import sys
import zipfile

work, tools = sys.argv[1:3]
wheel = glob.glob(os.path.join(work, "uv", "uv-*.whl"))[0]
archive = zipfile.ZipFile(wheel)
name = [n for n in archive.namelist() if n.endswith(".data/scripts/uv")][0]
new = os.path.join(tools, "uv.new")
with open(new, "wb") as f:
    f.write(archive.read(name))
os.chmod(new, 0o755)
os.rename(new, os.path.join(tools, "uv"))
