#!/usr/bin/env bash
# Builds seal's PyPI wheel (packaging/pypi: the `seal` binary alone, maturin's "bin" bindings,
# like uv's and ruff's) so that `pipx install seal-cli` or `uv tool install seal-cli` give `seal`.
#
#   scripts/build-wheel.sh [OUT_DIR [MATURIN BUILD ARGS...]]
#       OUT_DIR  default target/wheels; the wheel's path is printed last
#
# maturin comes from PyPI, pinned, into a venv under target/packaging/ (the only download).
# It builds with cargo in the release profile with Cargo.lock as it is (--locked);
# CARGO_TARGET_DIR is honoured. The wheel is tagged manylinux_2_X for the newest glibc symbol
# the binary uses (maturin checks it): 2.34 when built on Debian 12.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/target/wheels}")
shift || true
MATURIN_VERSION=1.16.0
VENV="$ROOT/target/packaging/maturin-$MATURIN_VERSION"
PY=python3

die() { echo "build-wheel: $*" >&2; exit 1; }
# A venv cannot be moved (its scripts name its interpreter by absolute path), so it is made in
# place and marked complete last: an interrupted install is redone, never used half-made.
if [ ! -e "$VENV/.complete" ]; then
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV" || die "cannot make a venv with $PY (apt-get install python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "maturin==$MATURIN_VERSION" ||
        { rm -rf "$VENV"; die "cannot install maturin==$MATURIN_VERSION from PyPI"; }
    touch "$VENV/.complete"
fi

mkdir -p "$OUT"
STAGE=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
(cd "$ROOT/packaging/pypi" && "$VENV/bin/maturin" build --release --locked --out "$STAGE" "$@") ||
    die "maturin build failed (above)"
shopt -s nullglob
built=("$STAGE"/*.whl)
[ ${#built[@]} -eq 1 ] || die "maturin left ${#built[@]} wheels in $STAGE, expected one"
# Moved into OUT only once complete: a failed build leaves no half-written wheel.
WHEEL="$OUT/$(basename "${built[0]}")"
mv -f "${built[0]}" "$WHEEL"
echo "$WHEEL"
