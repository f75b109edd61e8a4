#!/usr/bin/env bash
# The main job on embedded defaults: set up, ingest the sample documents
# through the real pipeline, run a sample query and print the results.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export DATABASE_URL="$(scripts/setup.sh)"
RAGCTL="$CARGO_TARGET_DIR/debug/ragctl"
DOCS="${1:-$REPO/../shared/data/docs}"
export RAG_USER="${RAG_USER:-demo}"

log "ingesting $DOCS as user '$RAG_USER'"
# The samples include a password-protected PDF: its clear failure is part of the demo.
"$RAGCTL" ingest "$DOCS" || true
for q in "What are the main findings?" "multi-column text layout"; do
  log "query: $q"
  "$RAGCTL" query "$q" --top-k 5
done
log "try: $RAGCTL query \"your question\" --user $RAG_USER   (DATABASE_URL=$DATABASE_URL)"
