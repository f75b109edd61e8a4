# Shared settings for the project's scripts. Source it; it changes nothing.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO/.local"
CACHE_DIR="${RAG_CACHE_DIR:-$HOME/.cache/amplify-rag-async}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
export RAG_MODEL_DIR="${RAG_MODEL_DIR:-$LOCAL_DIR/models/all-MiniLM-L6-v2}"
RAG_PG_PORT="${RAG_PG_PORT:-54329}"
RAG_PG_USER=rag
RAG_PG_DB=amplify_rag
# ONNX Runtime, one version for its library (scripts/fetch-onnxruntime.sh) and the Python
# export venv (scripts/onnx-venv.sh). The `ort` crate (Cargo.toml) accepts 1.31 and later.
ONNXRUNTIME_VERSION=1.32.0
EMBEDDED_DATABASE_URL="postgres://$RAG_PG_USER@127.0.0.1:$RAG_PG_PORT/$RAG_PG_DB"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
