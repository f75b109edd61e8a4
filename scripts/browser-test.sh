#!/usr/bin/env bash
# End-to-end browser test of the developer console: headless Debian Chromium driven by
# playwright-core uploads a sample PDF, waits for `completed`, searches, then uploads a presentation
# (routed to VDR), searches it in `vdr` mode, expects its rendered page image on screen, and keeps
# a screenshot.
#
#   RAG_GATEWAY_URL=http://127.0.0.1:<port> scripts/browser-test.sh
#
# Expects a running gateway (scripts/test.sh starts one and exports RAG_GATEWAY_URL).
# Optional: RAG_BROWSER_FILE (file to upload), RAG_BROWSER_QUERY (a phrase in it; default "crazy"),
# RAG_BROWSER_VDR_FILE and RAG_BROWSER_VDR_QUERY (the presentation and a question about one of its
# slides; RAG_BROWSER_VDR_FILE= skips that part), CHROMIUM_PATH (default /usr/bin/chromium).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROWSER_DIR="$REPO/tests/browser"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
FILE="${RAG_BROWSER_FILE:-$REPO/../shared/data/docs/pdf/crazyones-pdfa.pdf}"
QUERY="${RAG_BROWSER_QUERY:-crazy}"
VDR_FILE="${RAG_BROWSER_VDR_FILE-$REPO/crates/rag-extract/tests/fixtures/office/deck.pptx}"
VDR_QUERY="${RAG_BROWSER_VDR_QUERY:-how much did the water rise}"
ARTIFACTS="$CACHE_DIR/artifacts"
SHOT="$ARTIFACTS/console.png"

[[ -n "${RAG_GATEWAY_URL:-}" ]] || die "RAG_GATEWAY_URL is not set; start the gateway (ragctl dev) and export its URL"
[[ -f "$FILE" ]] || die "no file to upload at $FILE (set RAG_BROWSER_FILE)"
[[ -z "$VDR_FILE" || -f "$VDR_FILE" ]] || die "no presentation to upload at $VDR_FILE (set RAG_BROWSER_VDR_FILE)"
command -v node >/dev/null || die "node is required (Debian: apt-get install nodejs npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || die "node >= 20 is required for playwright-core (found $(node --version))"

# Debian's Chromium, never a browser download.
if [[ ! -x "$CHROMIUM" ]]; then
  log "installing Debian chromium"
  if [[ "$(id -u)" -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    die "$CHROMIUM is missing and this is not root: apt-get install chromium"; fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
    || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y --no-install-recommends chromium; }
  [[ -x "$CHROMIUM" ]] || die "chromium did not install at $CHROMIUM"
fi

# node_modules from the committed lockfile; reinstalled only when the lockfile changes.
stamp="$BROWSER_DIR/node_modules/.lock-sha256"
want="$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "npm ci in tests/browser"
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

mkdir -p "$ARTIFACTS"
log "browser test against $RAG_GATEWAY_URL with $(basename "$FILE")"
vdr_args=()
[[ -n "$VDR_FILE" ]] && vdr_args=("$VDR_FILE" "$VDR_QUERY")
CHROMIUM_PATH="$CHROMIUM" node "$BROWSER_DIR/console.test.mjs" "$RAG_GATEWAY_URL" "$FILE" "$SHOT" "$QUERY" "${vdr_args[@]}"
log "screenshot: $SHOT"
