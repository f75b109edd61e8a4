#!/usr/bin/env bash
# Coverage-guided fuzzing of every document reader, with cargo fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60); all targets by default
#
# Targets (crates/rag-extract/fuzz/fuzz_targets, entry points in rag_extract::fuzzing):
#   pdf_pdfium pdf_pure_rust office email image html csv text
# Seeds: the sample PDFs and the test fixtures (where a target covers a family, the first byte
# picks the format), plus the corpus kept in crates/rag-extract/fuzz/corpus. What a run finds
# goes to .local/fuzz/corpus/<target> (kept between runs) and crashes to
# .local/fuzz/artifacts/<target>; a fixed crash belongs in crates/rag-extract/fuzz/regressions,
# which CI replays (crates/rag-extract/tests/fuzz_corpus.rs) with the kept corpus.
# Limits per input: 10 s (-timeout), 2 GiB of memory (-rss_limit_mb, -malloc_limit_mb), 1 MiB.
# On the stable toolchain, without a sanitizer (-s none): the readers are safe Rust, PDFium a
# prebuilt library. cargo-fuzz is installed when missing (cargo install, about a minute).
# Prints each target's executions, coverage and crashes; exits 1 if any target crashed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SECONDS_EACH="${1:-60}"
shift || true
ALL=(pdf_pdfium pdf_pure_rust office email image html csv text)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")

command -v cargo-fuzz >/dev/null 2>&1 || {
  log "installing cargo-fuzz"
  CARGO_TARGET_DIR="$CACHE_DIR/tools-target" cargo install --locked cargo-fuzz >&2
}
PDFIUM_LIBRARY_PATH="${PDFIUM_LIBRARY_PATH:-$(scripts/fetch-pdfium.sh)}"
export PDFIUM_LIBRARY_PATH
FUZZ_TARGET_DIR="$CACHE_DIR/fuzz-target"
WORK="$LOCAL_DIR/fuzz"
KEPT="$REPO/crates/rag-extract/fuzz/corpus"
FIXTURES="$REPO/crates/rag-extract/tests/fixtures"

# seed TARGET SELECTOR FILE...: FILEs as TARGET's seeds, behind the byte SELECTOR (or as they are
# with SELECTOR "-").
seed() {
  local target="$1" selector="$2"; shift 2
  local dir="$WORK/seeds/$target"
  mkdir -p "$dir"
  for file in "$@"; do
    [ -f "$file" ] || continue
    if [ "$selector" = "-" ]; then
      cp "$file" "$dir/$(basename "$file")"
    else
      { printf "\\x$(printf '%02x' "$selector")"; cat "$file"; } >"$dir/$selector-$(basename "$file")"
    fi
  done
}
rm -rf "$WORK/seeds"
PDFS=("$REPO"/../shared/data/docs/pdf/*.pdf "$REPO"/tests/fixtures/scanned-letter.pdf)
seed pdf_pdfium - "${PDFS[@]}"
seed pdf_pure_rust - "${PDFS[@]}"
# rag_extract::fuzzing::OFFICE: docx pptx xlsx odt odp ods epub xls
seed office 0 "$FIXTURES"/office/*.docx
seed office 1 "$FIXTURES"/office/*.pptx
seed office 3 "$FIXTURES"/office/*.odt
seed office 4 "$FIXTURES"/office/*.odp
seed office 2 "$FIXTURES"/office/report.docx   # a zip of XML parts, for the spreadsheet reader
seed office 6 "$FIXTURES"/office/notes.odt     # and for the EPUB reader
seed email 0 "$FIXTURES"/email/*.eml
seed email 1 "$FIXTURES"/email/*.msg
seed image 0 "$FIXTURES"/images/*.png
seed image 1 "$FIXTURES"/images/*.jpg
seed image 2 "$FIXTURES"/images/*.gif
seed image 3 "$FIXTURES"/images/*.bmp
seed image 4 "$FIXTURES"/images/*.webp
seed image 5 "$FIXTURES"/images/*.tif
mkdir -p "$WORK/seeds/html" "$WORK/seeds/csv" "$WORK/seeds/text"
printf '<!DOCTYPE html><html><head><title>T</title></head><body><h1>A</h1><p>x <a href="/l">y</a></p><table><tr><th>h</th></tr><tr><td>1</td></tr></table><ul><li>i</li></ul></body></html>' >"$WORK/seeds/html/page.html"
printf '\x00name,count\n"a, b",1\n"multi\nline",2\n' >"$WORK/seeds/csv/t.csv"
printf '\x01name\tcount\na\t1\n' >"$WORK/seeds/csv/t.tsv"
printf '\x00{"title": "x", "items": [1, 2.5, true, null, {"k": "v"}]}' >"$WORK/seeds/text/d.json"
printf '\x02{"cells": [{"cell_type": "markdown", "source": ["# T"]}, {"cell_type": "code", "source": ["x = 1"], "outputs": []}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}' >"$WORK/seeds/text/d.ipynb"
printf '\x03<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><item><title>I</title><description>D</description></item></channel></rss>' >"$WORK/seeds/text/d.rss"

failed=0
summary=()
for target in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$target"
  artifacts="$WORK/artifacts/$target"
  mkdir -p "$corpus" "$artifacts" "$KEPT/$target"
  log "fuzzing $target for ${SECONDS_EACH}s"
  logfile="$WORK/$target.log"
  stamp="$WORK/$target.started"
  touch "$stamp"
  set +e
  (cd crates/rag-extract && CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz run -s none -O "$target" \
    "$corpus" "$WORK/seeds/$target" "$KEPT/$target" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=1048576 -print_final_stats=1 -artifact_prefix="$artifacts/") >"$logfile" 2>&1
  code=$?
  set -e
  runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logfile" | grep -oE '[0-9]+$' | tail -1)"
  cov="$(grep -oE 'cov: [0-9]+' "$logfile" | tail -1 | grep -oE '[0-9]+')"
  crashes="$(find "$artifacts" -type f -newer "$stamp" | wc -l)"
  kept="$(find "$corpus" -type f | wc -l)"
  summary+=("$(printf '%-14s exit %-3s executions %-9s coverage %-6s corpus %-6s new crash/timeout/oom inputs %s' "$target" "$code" "${runs:-?}" "${cov:-?}" "$kept" "$crashes")")
  [ "$code" = 0 ] || failed=1
done
printf '%s\n' "${summary[@]}"
[ "$failed" = 0 ] || { log "a target stopped on a finding: see .local/fuzz/<target>.log and .local/fuzz/artifacts"; exit 1; }
