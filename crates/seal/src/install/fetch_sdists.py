# seal's source-distribution fetcher: runs in the fetch sandbox (network only to the index,
# through seal's proxy) with the base interpreter in isolated mode (-I -S), standard library
# only. It downloads sdists WITHOUT building or importing them (pip would run the package's
# build backend to read its metadata while the network is on), verifies their sha256, and
# reads [build-system].requires from pyproject.toml inside the archive (data only, nothing is
# extracted). Building happens later, offline.
#
# usage: fetch_sdists.py INDEX_URL DEST_DIR BUILD_REQS_OUT SPEC...
#   SPEC = name | name==version | name==version#sha256=HEX
# prints one JSON object per fetched sdist on stdout.
import hashlib
import html.parser
import json
import os
import re
import sys
import tarfile
import tomllib
import urllib.parse
import urllib.request
import zipfile

DEFAULT_BUILD_REQUIRES = ["setuptools>=40.8.0", "wheel"]
# A requirement on one line: printable ASCII only (a newline would start a new line, and with it
# a pip option, in the requirements file this list becomes).
SAFE_REQUIREMENT = re.compile(r"[ -~]{1,200}")
PRERELEASE = re.compile(r"(a|b|rc|alpha|beta|pre|preview|dev)\d*", re.I)


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(v):
    parts = []
    for p in re.split(r"[.+]", v):
        parts.append((0, int(p)) if p.isdigit() else (-1, p))
    return parts


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self._href = None
        self._yanked = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            a = dict(attrs)
            self._href = a.get("href")
            self._yanked = "data-yanked" in a

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((self._href, data.strip(), self._yanked))
            self._href = None


def sdist_version(filename, project):
    for ext in (".tar.gz", ".zip"):
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            if "-" not in stem:
                return None
            name, version = stem.rsplit("-", 1)
            return version if norm(name) == norm(project) else None
    return None


def build_requires(path):
    data = None
    if path.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as t:
            for m in t.getmembers():
                parts = m.name.split("/")
                if len(parts) == 2 and parts[1] == "pyproject.toml" and m.isfile():
                    data = t.extractfile(m).read()
                    break
    else:
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                parts = n.split("/")
                if len(parts) == 2 and parts[1] == "pyproject.toml":
                    data = z.read(n)
                    break
    if data is None:
        return DEFAULT_BUILD_REQUIRES
    doc = tomllib.loads(data.decode("utf-8"))
    return doc.get("build-system", {}).get("requires", DEFAULT_BUILD_REQUIRES)


def fetch(index, dest, spec):
    spec, _, want_hash = spec.partition("#sha256=")
    name, _, want_version = spec.partition("==")
    page_url = index.rstrip("/") + "/" + norm(name) + "/"
    req = urllib.request.Request(page_url, headers={"Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=120) as r:
        page = r.read().decode("utf-8", "replace")
    parser = Links()
    parser.feed(page)
    candidates = []
    for href, text, yanked in parser.links:
        url = urllib.parse.urljoin(page_url, href)
        filename = os.path.basename(urllib.parse.urlparse(url).path)
        version = sdist_version(filename, name)
        if version is None or yanked:
            continue
        if want_version and version != want_version:
            continue
        if not want_version and PRERELEASE.search(version):
            continue
        candidates.append((version_key(version), version, filename, url))
    if not candidates:
        sys.exit(f"seal: no source distribution of {name}"
                 f"{'==' + want_version if want_version else ''} on {index}")
    _, version, filename, url = max(candidates)
    fragment = urllib.parse.urlparse(url).fragment
    index_hash = fragment[len("sha256="):] if fragment.startswith("sha256=") else ""
    with urllib.request.urlopen(url.split("#")[0], timeout=300) as r:
        data = r.read()
    digest = hashlib.sha256(data).hexdigest()
    for expected, what in ((index_hash, "the index"), (want_hash, "seal.lock")):
        if expected and expected != digest:
            sys.exit(f"seal: {filename}: sha256 {digest} does not match {what} ({expected})")
    path = os.path.join(dest, filename)
    with open(path, "wb") as f:
        f.write(data)
    requires = build_requires(path)
    for r in requires:
        # The archive is untrusted data: a build requirement must be a plain name with a
        # version specifier, never a pip option or a URL.
        if (not isinstance(r, str) or not SAFE_REQUIREMENT.fullmatch(r)
                or r.lstrip().startswith("-") or "://" in r or "@" in r):
            sys.exit(f"seal: {filename}: refusing build requirement {r!r}")
    return {"name": name, "version": version, "file": filename, "sha256": digest,
            "build_requires": requires}


def main():
    index, dest, reqs_out = sys.argv[1:4]
    build_reqs = []
    for spec in sys.argv[4:]:
        info = fetch(index, dest, spec)
        print(json.dumps(info), flush=True)
        build_reqs.extend(info["build_requires"])
    with open(reqs_out, "w") as f:
        f.write("".join(r + "\n" for r in dict.fromkeys(build_reqs)))


if __name__ == "__main__":
    main()
