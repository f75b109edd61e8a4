#!/usr/bin/env bash
# Builds the embedding-model Lambda layer: the sentence-transformers directory in $RAG_MODEL_DIR
# (scripts/lib.sh; by default .local/models/all-MiniLM-L6-v2, fetched by scripts/fetch-model.sh
# when missing) zipped under models/<directory name>/, so that Lambda mounts it at
# /opt/models/all-MiniLM-L6-v2 (the functions' RAG_MODEL_DIR). Output: target/layers/embedding-model.zip.
#
# The zip is reproducible (sorted entries, fixed timestamps and modes): unchanged model files give a
# byte-identical zip, so `serverless deploy` sees the same layer hash and does not upload it again.
#
# Only what the loader reads goes in: the weights of the engine the functions run
# ($RAG_EMBED_ENGINE, as they read it: onnx/model_qint8.onnx for onnx-int8, the default;
# onnx/model.onnx for onnx-fp32; model.safetensors for candle), configs (config.json,
# modules.json, 1_Pooling/..., sentence_bert_config.json, ...), tokenizer and vocabulary files,
# and the model card (README.md, 10 KiB: its `language:` tells the query service which queries
# the model can read). Other weights (pytorch_model.bin, the other engines', TensorFlow, Flax,
# OpenVINO) are left out: Lambda's 250 MiB holds one set beside ONNX Runtime and PDFium.
#
# Environment:
#   RAG_MODEL_DIR     the model directory (default .local/models/all-MiniLM-L6-v2)
#   RAG_EMBED_ENGINE  onnx-int8 (default), onnx-fp32 or candle: must match the functions'
#   PYTHON            interpreter used to write the zip (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO"

PYTHON="${PYTHON:-python3}"
OUT="$REPO/target/layers/embedding-model.zip"

ENGINE="${RAG_EMBED_ENGINE:-onnx-int8}"
case "$ENGINE" in
  onnx-int8) WEIGHTS=onnx/model_qint8.onnx ;;
  onnx-fp32 | onnx) WEIGHTS=onnx/model.onnx ;;
  candle) WEIGHTS=model.safetensors ;;
  *) die "RAG_EMBED_ENGINE must be onnx-int8, onnx-fp32 or candle, not $ENGINE" ;;
esac

complete() { [[ -s "$1/$WEIGHTS" && -s "$1/tokenizer.json" && -s "$1/config.json" ]]; }

model_dir="$RAG_MODEL_DIR"
if ! complete "$model_dir"; then
  if [[ "$model_dir" == "$LOCAL_DIR/models/all-MiniLM-L6-v2" ]]; then
    log "fetching the model (scripts/fetch-model.sh)"
    model_dir="$(scripts/fetch-model.sh)"
  fi
  complete "$model_dir" || die "$model_dir is not a sentence-transformers directory with $WEIGHTS, tokenizer.json and config.json"
fi

mkdir -p "$(dirname "$OUT")"
log "zipping $model_dir as models/$(basename "$model_dir")/ ($ENGINE: $WEIGHTS)"
"$PYTHON" - "$model_dir" "$OUT" "$WEIGHTS" <<'PY'
import os, sys, zipfile

src, out, weights = sys.argv[1], sys.argv[2], sys.argv[3]
name = os.path.basename(os.path.normpath(src))
prefix = f"models/{name}/"
SKIP_FILES = {".gitattributes", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
              "rust_model.ot", "data_config.json"}
SKIP_SUFFIXES = (".bin", ".h5", ".msgpack", ".ot", ".onnx", ".pt", ".pth", ".ckpt", ".lock",
                 ".safetensors", ".tmp")
SKIP_DIRS = {"openvino", ".git", ".cache"}
DATE = (1980, 1, 1, 0, 0, 0)

def entry(arcname, mode):
    info = zipfile.ZipInfo(arcname, DATE)
    info.external_attr = mode << 16
    info.create_system = 3  # unix, so the modes apply
    return info

tmp = out + ".tmp"
files = dirs = total = 0
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
    for d in ("models/", prefix):
        zf.writestr(entry(d, 0o40755), b"")
    for root, subdirs, names in os.walk(src):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS)
        rel_root = os.path.relpath(root, src)
        for d in subdirs:  # keep empty module directories such as 2_Normalize/
            zf.writestr(entry(prefix + os.path.normpath(os.path.join(rel_root, d)) + "/", 0o40755), b"")
            dirs += 1
        for n in sorted(names):
            rel = os.path.normpath(os.path.join(rel_root, n))
            if rel != weights and (n in SKIP_FILES or n.endswith(SKIP_SUFFIXES)):
                continue
            path = os.path.join(root, n)
            arc = prefix + os.path.normpath(os.path.join(rel_root, n))
            with open(path, "rb") as f:
                data = f.read()
            zf.writestr(entry(arc, 0o100644), data)
            files += 1
            total += len(data)
            print(f"  {len(data):>11,}  {arc}", file=sys.stderr)
os.replace(tmp, out)
size = os.path.getsize(out)
print(f"{out}: {files} files, {total / 1048576:.1f} MiB unzipped, {size / 1048576:.1f} MiB zipped", file=sys.stderr)
# Lambda: 250 MiB unzipped for a function and all its layers together.
if total > 200 * 1048576:
    sys.exit(f"the model is {total / 1048576:.0f} MiB unzipped: too close to Lambda's 250 MiB limit for function + layers")
PY
echo "$OUT"
