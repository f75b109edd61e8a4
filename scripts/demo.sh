#!/usr/bin/env bash
# The main job on embedded defaults: set up, start the local gateway (the
# whole service on localhost: REST + WebSocket APIs, queue consumers, the
# developer console), ingest the sample documents through the real API,
# and print the console's URL and a sample query with its results.
# The gateway keeps running afterwards; `scripts/dev.sh stop` stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export DATABASE_URL="$(scripts/setup.sh)"
URL="$(scripts/dev.sh start)"
export RAG_DEV_URL="$URL"
DOCS="${1:-$REPO/../shared/data/docs/pdf}"

log "ingesting $DOCS through $URL"
# The samples include a password-protected PDF: its clear failure is part of the demo.
find "$DOCS" -maxdepth 1 -type f -name '*.pdf' | sort | xargs python3 scripts/dev-client.py ingest
for q in "What are the main findings?" "the crazy ones"; do
  python3 scripts/dev-client.py query "$q"
done
log "console: $URL/   (stop with scripts/dev.sh stop)"
