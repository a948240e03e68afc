#!/usr/bin/env bash
# Builds the Debian package of seal from a built binary, with dpkg-deb (no cargo-deb needed).
#
#   scripts/build-deb.sh [SEAL_BINARY [OUT_DIR]]
#       SEAL_BINARY  default target/release/seal (build it first: cargo build --release -p seal)
#       OUT_DIR      default target/debian; the package is OUT_DIR/seal_VERSION_ARCH.deb
#
# The package holds /usr/bin/seal (stripped), the AppArmor profile for that path as a conffile
# (/etc/apparmor.d/seal, from packaging/apparmor/seal) and a postinst that loads it where the
# kernel restricts user namespaces through AppArmor (packaging/debian/postinst). Depends is
# computed by dpkg-shlibdeps from the binary's own libraries. Prints the package's path last.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC="$ROOT/packaging/debian"
BIN=${1:-$ROOT/target/release/seal}
OUT=$(realpath -m "${2:-$ROOT/target/debian}")

die() { echo "build-deb: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no seal binary at $BIN (build it with: cargo build --release -p seal)"
for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v "$tool" > /dev/null || die "$tool is missing (apt-get install dpkg-dev binutils)"
done

# The version the binary itself reports, so that the package cannot disagree with it.
VERSION=$("$BIN" --version | awk '{print $2}')
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read a version from '$BIN --version'"
ARCH=$(dpkg --print-architecture)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/pkg"
install -d -m 755 "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/etc/apparmor.d" "$PKG/usr/share/doc/seal"
install -m 755 "$BIN" "$PKG/usr/bin/seal"
strip --strip-unneeded "$PKG/usr/bin/seal"

# The profile names the path the binary is installed at; its install notes are replaced by
# a line saying who installed it.
{
    echo "# AppArmor profile of the seal package: lets /usr/bin/seal create user namespaces where"
    echo "# the kernel restricts them (Ubuntu 23.10+). Loaded by the package's postinst."
    sed -n '/^abi /,$p' "$ROOT/packaging/apparmor/seal" |
        sed 's#^profile seal /usr/local/bin/seal #profile seal /usr/bin/seal #'
} > "$PKG/etc/apparmor.d/seal"
grep -q '^profile seal /usr/bin/seal ' "$PKG/etc/apparmor.d/seal" ||
    die "packaging/apparmor/seal no longer has the 'profile seal /usr/local/bin/seal' line this script rewrites"
chmod 644 "$PKG/etc/apparmor.d/seal"

install -m 644 "$SRC/copyright" "$PKG/usr/share/doc/seal/copyright"
gzip -9n < "$ROOT/README.md" > "$PKG/usr/share/doc/seal/README.md.gz"
chmod 644 "$PKG/usr/share/doc/seal/README.md.gz"

# dpkg-shlibdeps reads a debian/control of a source package from its working directory.
mkdir -p "$WORK/src/debian"
printf 'Source: seal\n\nPackage: seal\nArchitecture: any\n' > "$WORK/src/debian/control"
DEPENDS=$(cd "$WORK/src" && dpkg-shlibdeps -O "$PKG/usr/bin/seal" 2> "$WORK/shlibdeps.err" |
    sed -n 's/^shlibs:Depends=//p') || { cat "$WORK/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$DEPENDS" ] || { cat "$WORK/shlibdeps.err" >&2; die "dpkg-shlibdeps found no dependency"; }

SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@DEPENDS@/$DEPENDS/" "$SRC/control.in" > "$PKG/DEBIAN/control"
echo /etc/apparmor.d/seal > "$PKG/DEBIAN/conffiles"
install -m 755 "$SRC/postinst" "$PKG/DEBIAN/postinst"
(cd "$PKG" && find usr etc -type f -print0 | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"
chmod 644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/conffiles" "$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/seal_${VERSION}_${ARCH}.deb"
# Built beside its final name and renamed: a failed build leaves no half-written package.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2> /dev/null || date +%s)} dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB.partial" > /dev/null
mv "$DEB.partial" "$DEB"
echo "$DEB"
