#!/usr/bin/env bash
# Makes the throwaway Python environment that exports the embedding model to
# ONNX (scripts/export-onnx.py) and runs the Python peer of the engine
# benchmark (scripts/embed-peer.py): onnx, safetensors, numpy, tokenizers and
# onnxruntime from PyPI, about 150 MB, in $RAG_CACHE_DIR/venvs/onnx (outside
# the checkout; shared by checkouts). Nothing is done when it is already
# there with these pins. Prints its python's path.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# onnxruntime is the version scripts/fetch-onnxruntime.sh takes the library from.
PINS="onnx==1.23.2 safetensors==0.8.0 numpy==2.4.6 tokenizers==0.23.3 onnxruntime==$ONNXRUNTIME_VERSION"
venv="$CACHE_DIR/venvs/onnx"
python="$venv/bin/python"
stamp="$venv/.pins"

if [[ -x "$python" && "$(cat "$stamp" 2>/dev/null)" == "$PINS" ]]; then
    echo "$python"
    exit 0
fi
mkdir -p "$CACHE_DIR/venvs"
exec 9>"$CACHE_DIR/venvs/.onnx.lock"
flock 9
if [[ -x "$python" && "$(cat "$stamp" 2>/dev/null)" == "$PINS" ]]; then
    echo "$python"
    exit 0
fi
log "making the ONNX export venv in $venv ($PINS)"
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
# shellcheck disable=SC2086 # the pins are separate words
"$python" -m pip install --quiet --disable-pip-version-check $PINS >&2
echo "$PINS" >"$stamp"
echo "$python"
