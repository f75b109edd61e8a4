#!/usr/bin/env bash
# Copies one file out of a PyPI wheel: how this project gets native libraries
# (PDFium from pypdfium2, ONNX Runtime from onnxruntime), because package
# registries are the only network its machines reach. The wheel is cached;
# nothing is done when the destination already exists. Prints its path.
#
# Usage: fetch-wheel-file.sh PACKAGE VERSION PLATFORM MEMBER DEST
#   PLATFORM  a wheel platform tag (manylinux_2_28_x86_64, ...)
#   MEMBER    the file's path inside the wheel
#   DEST      where to put it (written atomically, mode 755)
#
# Environment:
#   RAG_CACHE_DIR  cache root (default ~/.cache/amplify-rag-async); the wheel
#                  goes to $RAG_CACHE_DIR/wheels
#   PYTHON         interpreter used for pip and extraction (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 5 ]] || die "usage: fetch-wheel-file.sh PACKAGE VERSION PLATFORM MEMBER DEST"
pkg="$1" version="$2" platform="$3" member="$4" dest="$5"
cache="$CACHE_DIR/wheels"
python="${PYTHON:-python3}"

if [[ -s "$dest" ]]; then
    echo "$dest"
    exit 0
fi

mkdir -p "$cache" "$(dirname "$dest")"
# One fetch at a time (setup.sh may run in parallel in several checkouts).
exec 9>"$cache/.$pkg.lock"
flock 9
if [[ -s "$dest" ]]; then
    echo "$dest"
    exit 0
fi

# Wheel file names spell the package with underscores.
pattern="$cache/${pkg//-/_}-$version-*$platform*.whl"
wheel="$(ls $pattern 2>/dev/null | head -n 1 || true)"
if [[ -z "$wheel" ]]; then
    log "downloading $pkg==$version ($platform) into $cache"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: \
        --platform "$platform" --python-version 3.11 "$pkg==$version" -d "$cache" >&2
    wheel="$(ls $pattern 2>/dev/null | head -n 1 || true)"
fi
[[ -n "$wheel" ]] || die "no wheel of $pkg==$version for $platform in $cache after pip download"

# Extract to a temporary sibling, then rename, so an interrupted run never
# leaves a truncated file that looks complete.
tmp="$(mktemp "$dest.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$python" - "$wheel" "$member" "$tmp" <<'PY'
import shutil, sys, zipfile

wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf:
    try:
        info = zf.getinfo(member)
    except KeyError:
        sys.exit(f"{member} is not in {wheel}")
    with zf.open(info) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
PY
[[ -s "$tmp" ]] || die "$member is empty in $wheel"
chmod 755 "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
echo "$dest"
