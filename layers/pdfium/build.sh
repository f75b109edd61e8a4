#!/usr/bin/env bash
# Builds the PDFium Lambda layer: libpdfium.so (x86_64, from the PyPI wheel pypdfium2, fetched
# by scripts/fetch-pdfium.sh when missing) zipped as lib/libpdfium.so, so that Lambda mounts it at
# /opt/lib/libpdfium.so, where rag-extract looks for it. Output: target/layers/pdfium.zip
# (reproducible: see layers/native-library.sh).
#
# Environment:
#   PDFIUM_LIBRARY_PATH  a libpdfium.so to package instead of the fetched one (a file, or a
#                        directory holding libpdfium.so); it must be built for x86_64 Linux with
#                        glibc <= 2.34 (Amazon Linux 2023)
#   PYTHON               interpreter used to write the zip (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO"

exec layers/native-library.sh libpdfium.so "${PDFIUM_LIBRARY_PATH:-}" scripts/fetch-pdfium.sh \
  "$REPO/target/layers/pdfium.zip"
