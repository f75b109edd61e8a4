#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up the embedded services
# (PostgreSQL, the model, moto for AWS), check formatting and lints, run every
# test against them, then the retrieval-quality gates (scripts/eval.sh --check).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export DATABASE_URL="$(scripts/setup.sh)"
# AWS emulation for the adapters and the Lambda fleet tests (S3, SQS,
# DynamoDB, Cognito, Secrets Manager): the real SDK clients, pointed at moto.
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  AWS_ENDPOINT_URL="$(scripts/moto.sh start)"
  export AWS_ENDPOINT_URL
fi
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" AWS_REGION="${AWS_REGION:-us-east-1}"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "each Lambda function links only what it uses"
scripts/slim-check.sh
log "cargo test"
# The Office tests that need LibreOffice fail, rather than skip, without it.
export RAG_REQUIRE_SOFFICE=1
cargo test --workspace 2>&1 | tee "$CACHE_DIR/test.log"
log "browser test: the developer console in headless Chromium"
export RAG_DEV_PORT="${RAG_TEST_DEV_PORT:-8797}" RAG_DEV_DIR="$CACHE_DIR/dev-test"
rm -rf "$RAG_DEV_DIR"
trap 'scripts/dev.sh stop >/dev/null 2>&1 || true' EXIT
# Its own user, so its uploads never show up in the demo's searches; a new one each run, since the
# index outlives the wiped data directory and an earlier run's copy of the same file (its status
# and page images gone with that directory) would rank beside this run's.
RAG_GATEWAY_URL="$(RAG_USER="browser-test-$(date +%s)" scripts/dev.sh start)"
export RAG_GATEWAY_URL
scripts/browser-test.sh
log "TypeScript client against the same gateway"
scripts/client-test.sh
scripts/dev.sh stop
log "retrieval quality"
scripts/eval.sh --check
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$CACHE_DIR/test.log"
