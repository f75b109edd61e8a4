#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up the embedded services,
# check formatting and lints, run every test against the real PostgreSQL
# and model, then the retrieval-quality gates (scripts/eval.sh --check).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export DATABASE_URL="$(scripts/setup.sh)"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test"
cargo test --workspace 2>&1 | tee "$CACHE_DIR/test.log"
log "retrieval quality"
scripts/eval.sh --check
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$CACHE_DIR/test.log"
