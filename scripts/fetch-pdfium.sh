#!/usr/bin/env bash
# Fetches libpdfium.so (Google's PDF engine, x86_64 Linux) for rag-extract's
# PDF text, images and page rendering. It comes from the PyPI wheel pypdfium2,
# which ships a manylinux_2_17 build (runs on Amazon Linux 2023 too), because
# package registries are the only network this project's machines reach. The
# wheel is cached; nothing is done when the library is already in place.
# Prints the library's path.
#
# rag-extract finds this copy by itself (after $PDFIUM_LIBRARY_PATH and
# /opt/lib); layers/pdfium/build.sh packs it into the Lambda layer.
#
# Environment:
#   RAG_CACHE_DIR  cache root (default ~/.cache/amplify-rag-async); the wheel
#                  goes to $RAG_CACHE_DIR/wheels
#   PYTHON         interpreter used for pip and extraction (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKG=pypdfium2
# pypdfium2 5.15.2 bundles PDFium build 8149; pdfium-render's `pdfium_8125`
# feature (crates/rag-extract/Cargo.toml) is the API level it binds to.
VERSION=5.15.2
PLATFORM=manylinux_2_17_x86_64
MEMBER=pypdfium2_raw/libpdfium.so

lib_dir="$LOCAL_DIR/pdfium/lib"
lib="$lib_dir/libpdfium.so"
cache="$CACHE_DIR/wheels"
python="${PYTHON:-python3}"

if [[ -s "$lib" ]]; then
    echo "$lib"
    exit 0
fi

mkdir -p "$cache" "$lib_dir"
# One fetch at a time (setup.sh may run in parallel in several checkouts).
exec 9>"$cache/.pdfium.lock"
flock 9
if [[ -s "$lib" ]]; then
    echo "$lib"
    exit 0
fi

pattern="$cache/pypdfium2-$VERSION-*$PLATFORM*.whl"
wheel="$(ls $pattern 2>/dev/null | head -n 1 || true)"
if [[ -z "$wheel" ]]; then
    log "downloading $PKG==$VERSION ($PLATFORM) into $cache"
    "$python" -m pip download --quiet --no-deps --only-binary=:all: \
        --platform "$PLATFORM" "$PKG==$VERSION" -d "$cache" >&2
    wheel="$(ls $pattern 2>/dev/null | head -n 1 || true)"
fi
[[ -n "$wheel" ]] || die "no wheel of $PKG==$VERSION for $PLATFORM in $cache after pip download"

# Extract to a temporary sibling, then rename, so an interrupted run never
# leaves a truncated library that looks complete.
tmp="$(mktemp "$lib.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$python" - "$wheel" "$MEMBER" "$tmp" <<'PY'
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
[[ -s "$tmp" ]] || die "$MEMBER is empty in $wheel"
chmod 755 "$tmp"
mv -f "$tmp" "$lib"
trap - EXIT
echo "$lib"
