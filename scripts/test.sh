#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up the embedded services,
# check formatting and lints, run every test against the real PostgreSQL
# and model, then the retrieval-quality gates (scripts/eval.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export DATABASE_URL="$(scripts/setup.sh)"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo test"
cargo test --workspace --quiet 2>&1 | tee "$CACHE_DIR/test.log" | grep -vE '^(running [0-9]+ tests?|test result: ok\. 0 passed.*)$|^$' || { tail -50 "$CACHE_DIR/test.log"; exit 1; }
grep -q "test result: FAILED" "$CACHE_DIR/test.log" && exit 1
scripts/eval.sh --check
passed=$(grep -o 'test result: ok\. [0-9]* passed' "$CACHE_DIR/test.log" | awk '{s+=$4} END {print s}')
echo "$passed passed, 0 failed"
