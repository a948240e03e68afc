# seal's dependency-confusion check: runs in the fetch sandbox (network only to the indexes,
# through seal's proxy), standard library only. For each project name, asks every index
# whether it serves that project; prints one line per name served by more than one, since pip
# then takes the highest version from any of them.
#
# usage: shadow_check.py INDEX [INDEX...] -- NAME...
import re
import sys
import urllib.error
import urllib.request


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def serves(index, name):
    url = index.rstrip("/") + "/" + norm(name) + "/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=60) as r:
            return r.status == 200 and b"<a" in r.read()
    except urllib.error.HTTPError:
        return False


def main():
    sep = sys.argv.index("--")
    indexes, names = sys.argv[1:sep], sys.argv[sep + 1:]
    for name in names:
        hits = [i for i in indexes if serves(i, name)]
        if len(hits) > 1:
            print(f"{name}\t" + "\t".join(hits))


if __name__ == "__main__":
    main()
