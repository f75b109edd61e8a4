#!/usr/bin/env bash
# Builds the TypeScript client (clients/typescript) and runs its tests, the gateway ones against
# the running local gateway at RAG_GATEWAY_URL (scripts/dev.sh start), as two users of their own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENT_DIR="$REPO/clients/typescript"
[[ -n "${RAG_GATEWAY_URL:-}" ]] || die "RAG_GATEWAY_URL is not set; start the gateway (scripts/dev.sh start) and export its URL"
command -v node >/dev/null || die "node is required (Debian: apt-get install nodejs npm)"

# node_modules from the committed lockfile; reinstalled only when the lockfile changes.
stamp="$CLIENT_DIR/node_modules/.lock-sha256"
want="$(sha256sum "$CLIENT_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "npm ci in clients/typescript"
  (cd "$CLIENT_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

# Tokens signed with the gateway's own secret, for two users no other test uses.
dev_dir="${RAG_DEV_DIR:-$LOCAL_DIR/dev}"
run="$(date +%s)-$$"
export RAG_CLIENT_USER_A="client-a-$run" RAG_CLIENT_USER_B="client-b-$run"
token() { "$CARGO_TARGET_DIR/debug/ragctl" dev --data-dir "$dev_dir" token --user "$1"; }
RAG_CLIENT_TOKEN_A="$(token "$RAG_CLIENT_USER_A")"
RAG_CLIENT_TOKEN_B="$(token "$RAG_CLIENT_USER_B")"
export RAG_CLIENT_TOKEN_A RAG_CLIENT_TOKEN_B RAG_CLIENT_REQUIRE_GATEWAY=1
log "TypeScript client: build and test against $RAG_GATEWAY_URL"
(cd "$CLIENT_DIR" && npm test --silent)
# The console serves the compiled client from console/client/: it must be this build.
console_copy="$REPO/crates/rag-gateway/console/client"
for built in "$CLIENT_DIR"/dist/*.js; do
  cmp -s "$built" "$console_copy/$(basename "$built")" \
    || die "crates/rag-gateway/console/client/$(basename "$built") differs from the client's build: cp clients/typescript/dist/*.js crates/rag-gateway/console/client/"
done
[[ "$(ls "$console_copy" | wc -l)" == "$(ls "$CLIENT_DIR"/dist/*.js | wc -l)" ]] || die "console/client holds other files than the client's build"
