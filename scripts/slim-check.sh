#!/usr/bin/env bash
# Each Lambda function links only what it uses (rag-lambda's features): fails if a function's
# dependency tree holds a crate it must not, or if a function does not build (clippy -D warnings)
# with its own feature set rather than the whole workspace's.
#   ws-*            no database, model, document readers or vision models
#   api-processor   the database, but no model, readers or vision models
#   query-handler   the database and the model, but no readers or vision models
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
fail=0
check() { # function, forbidden crates...
  local fn="$1"; shift
  local tree bad=0; tree="$(cargo tree -q -p "$fn" -e normal --prefix none)"
  for crate in "$@"; do
    if grep -q "^$crate v" <<<"$tree"; then
      echo "FAIL    $fn links $crate" >&2; bad=1; fail=1
    fi
  done
  [ "$bad" = 1 ] || echo "ok      $fn links none of: $*" >&2
}
for ws in ws-connect ws-default ws-disconnect; do
  check "$ws" rag-index-pg rag-embed rag-extract rag-vision sqlx ort pdfium-render
done
check api-processor rag-embed rag-extract rag-vision ort pdfium-render
check query-handler rag-extract rag-vision pdfium-render
# The workspace's clippy builds rag-lambda with every feature; each smaller set must build too.
for fn in ws-connect api-processor query-handler; do
  cargo clippy -q -p "$fn" -- -D warnings || { echo "FAIL    $fn does not build alone" >&2; fail=1; }
done
exit "$fail"
