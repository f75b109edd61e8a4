#!/usr/bin/env bash
# Builds the PDFium Lambda layer: libpdfium.so (x86_64, from the PyPI wheel pypdfium2, fetched
# by scripts/fetch-pdfium.sh when missing) zipped as lib/libpdfium.so, so that Lambda mounts it at
# /opt/lib/libpdfium.so, where rag-extract looks for it. Output: target/layers/pdfium.zip.
#
# The zip is reproducible (fixed timestamp and mode): the same library gives a byte-identical zip,
# so `serverless deploy` sees the same layer hash and does not upload it again.
#
# Environment:
#   PDFIUM_LIBRARY_PATH  a libpdfium.so to package instead of the fetched one (a file, or a
#                        directory holding libpdfium.so); it must be built for x86_64 Linux with
#                        glibc <= 2.34 (Amazon Linux 2023)
#   PYTHON               interpreter used to write the zip (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO"

PYTHON="${PYTHON:-python3}"
OUT="$REPO/target/layers/pdfium.zip"

lib="${PDFIUM_LIBRARY_PATH:-}"
if [[ -n "$lib" && -d "$lib" ]]; then
  lib="$lib/libpdfium.so"
fi
if [[ -z "$lib" ]]; then
  lib="$(scripts/fetch-pdfium.sh)"
fi
[[ -s "$lib" ]] || die "$lib is not a library file"
head -c 4 "$lib" | grep -q $'\x7fELF' || die "$lib is not an ELF shared library"

mkdir -p "$(dirname "$OUT")"
log "zipping $lib as lib/libpdfium.so"
"$PYTHON" - "$lib" "$OUT" <<'PY'
import os, sys, zipfile

src, out = sys.argv[1], sys.argv[2]
DATE = (1980, 1, 1, 0, 0, 0)

def entry(arcname, mode):
    info = zipfile.ZipInfo(arcname, DATE)
    info.external_attr = mode << 16
    info.create_system = 3  # unix, so the modes apply
    info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo does not inherit the archive's
    return info

with open(src, "rb") as f:
    data = f.read()
tmp = out + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
    zf.writestr(entry("lib/", 0o40755), b"")
    zf.writestr(entry("lib/libpdfium.so", 0o100755), data)
os.replace(tmp, out)
size = os.path.getsize(out)
print(f"{out}: lib/libpdfium.so, {len(data) / 1048576:.1f} MiB unzipped, {size / 1048576:.1f} MiB zipped",
      file=sys.stderr)
PY
echo "$OUT"
