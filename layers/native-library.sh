#!/usr/bin/env bash
# Zips one native library as lib/NAME for a Lambda layer, so that Lambda mounts it at
# /opt/lib/NAME (on provided.al2023's LD_LIBRARY_PATH). Used by layers/pdfium/build.sh and
# layers/onnxruntime/build.sh. Prints the zip's path.
#
# Usage: native-library.sh NAME OVERRIDE FETCH OUT
#   NAME      the library's file name (libpdfium.so)
#   OVERRIDE  a copy to package instead (a file, or a directory holding NAME); empty: none
#   FETCH     the script that fetches the project's copy and prints its path, run when OVERRIDE
#             is empty
#   OUT       the zip to write
#
# The zip is reproducible (fixed timestamp and mode): the same library gives a byte-identical zip,
# so `serverless deploy` sees the same layer hash and does not upload it again.
#
# Environment:
#   PYTHON  interpreter used to write the zip (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

[[ $# -eq 4 ]] || die "usage: native-library.sh NAME OVERRIDE FETCH OUT"
name="$1" lib="$2" fetch="$3" out="$4"
if [[ -n "$lib" && -d "$lib" ]]; then
  lib="$lib/$name"
fi
if [[ -z "$lib" ]]; then
  lib="$("$fetch")"
fi
[[ -s "$lib" ]] || die "$lib is not a library file"
head -c 4 "$lib" | grep -q $'\x7fELF' || die "$lib is not an ELF shared library"

mkdir -p "$(dirname "$out")"
log "zipping $lib as lib/$name"
"${PYTHON:-python3}" - "$lib" "$name" "$out" <<'PY'
import os, sys, zipfile

src, name, out = sys.argv[1:4]
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
    zf.writestr(entry(f"lib/{name}", 0o100755), data)
os.replace(tmp, out)
size = os.path.getsize(out)
print(f"{out}: lib/{name}, {len(data) / 1048576:.1f} MiB unzipped, {size / 1048576:.1f} MiB zipped",
      file=sys.stderr)
PY
echo "$out"
