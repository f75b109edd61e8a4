#!/usr/bin/env bash
# Fetches libpdfium.so (Google's PDF engine, x86_64 Linux) for rag-extract's
# PDF text, images and page rendering, from the PyPI wheel pypdfium2, which
# ships a manylinux_2_17 build (runs on Amazon Linux 2023 too). Nothing is done
# when the library is already in place. Prints the library's path.
#
# rag-extract finds this copy by itself (after $PDFIUM_LIBRARY_PATH and
# /opt/lib); layers/pdfium/build.sh packs it into the Lambda layer.
# Environment: see scripts/fetch-wheel-file.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# pypdfium2 5.15.2 bundles PDFium build 8149; pdfium-render's `pdfium_8125`
# feature (crates/rag-extract/Cargo.toml) is the API level it binds to.
exec "$REPO/scripts/fetch-wheel-file.sh" pypdfium2 5.15.2 manylinux_2_17_x86_64 \
    pypdfium2_raw/libpdfium.so "$LOCAL_DIR/pdfium/lib/libpdfium.so"
