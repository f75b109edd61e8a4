#!/usr/bin/env bash
# Fetches libonnxruntime.so (Microsoft's ONNX Runtime, CPU, x86_64 Linux) for
# rag-embed's ONNX embedder, from the PyPI wheel onnxruntime (MIT), which ships
# a manylinux_2_28 build (glibc 2.28: runs on Amazon Linux 2023). rag-embed
# loads it at run time (the `ort` crate's load-dynamic), so nothing links
# against it. Nothing is done when the library is already in place. Prints the
# library's path.
#
# rag-embed finds this copy by itself (after $ORT_DYLIB_PATH and /opt/lib);
# layers/onnxruntime/build.sh packs it into the Lambda layer.
# Environment: see scripts/fetch-wheel-file.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION="$ONNXRUNTIME_VERSION"
exec "$REPO/scripts/fetch-wheel-file.sh" onnxruntime "$VERSION" manylinux_2_28_x86_64 \
    "onnxruntime/capi/libonnxruntime.so.$VERSION" "$LOCAL_DIR/onnxruntime/lib/libonnxruntime.so"
