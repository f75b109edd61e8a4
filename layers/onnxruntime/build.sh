#!/usr/bin/env bash
# Builds the ONNX Runtime Lambda layer: libonnxruntime.so (x86_64, CPU, from the PyPI wheel
# onnxruntime, fetched by scripts/fetch-onnxruntime.sh when missing) zipped as
# lib/libonnxruntime.so, so that Lambda mounts it at /opt/lib/libonnxruntime.so, where rag-embed
# looks for it. Output: target/layers/onnxruntime.zip (reproducible: see
# layers/native-library.sh).
#
# Environment:
#   ORT_DYLIB_PATH  a libonnxruntime.so to package instead of the fetched one (a file, or a
#                   directory holding libonnxruntime.so); ONNX Runtime >= 1.31, built for x86_64
#                   Linux with glibc <= 2.34 (Amazon Linux 2023)
#   PYTHON          interpreter used to write the zip (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO"

exec layers/native-library.sh libonnxruntime.so "${ORT_DYLIB_PATH:-}" scripts/fetch-onnxruntime.sh \
  "$REPO/target/layers/onnxruntime.zip"
