#!/usr/bin/env bash
# Retrieval quality on the shared BEIR sets and the repository's own
# (data/beir), every mode, as JSON lines.
#   scripts/eval.sh            print the figures
#   scripts/eval.sh --check    also fail unless they meet the project's gates:
#     msmarco-5k sparse nDCG@10 >= 0.72 and hybrid >= sparse + 0.01;
#     arcd-ar sparse nDCG@10 >= 0.70, and hybrid >= sparse there (the English
#     model cannot read Arabic, so hybrid must fall back to BM25, not add noise);
#     on every set, hybrid no more than 0.005 below the better of dense and
#     sparse, and above it on average over the sets (issue 17: the fusion
#     study, scripts/fusion-study.py, shows the margins).
#   The target "hybrid >= dense + 0.01" on msmarco-5k is reported, not yet
#   enforced: it is not met (issue 2's notes give the figures).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
[ -n "${DATABASE_URL:-}" ] || export DATABASE_URL="$(scripts/setup.sh)"
RAGCTL="$CARGO_TARGET_DIR/debug/ragctl"
SETS=("$REPO/../shared/data/beir/msmarco-5k" "$REPO/../shared/data/beir/arcd-ar" "$REPO/data/beir/dbpedia-5k")
out="$CACHE_DIR/eval.jsonl"; : >"$out"
for set in "${SETS[@]}"; do
  for mode in sparse dense hybrid; do
    "$RAGCTL" eval --dataset "$set" --mode "$mode" --json | tee -a "$out"
  done
done
[ "${1:-}" = "--check" ] || exit 0
python3 - "$out" <<'PY'
import json, sys
r = {(x["dataset"], x["mode"]): x["ndcg@10"] for x in map(json.loads, open(sys.argv[1]))}
gates = [
    ("msmarco-5k sparse nDCG@10 >= 0.72", r[("msmarco-5k", "sparse")] >= 0.72),
    ("msmarco-5k hybrid >= sparse + 0.01", r[("msmarco-5k", "hybrid")] >= r[("msmarco-5k", "sparse")] + 0.01),
    ("arcd-ar sparse nDCG@10 >= 0.70", r[("arcd-ar", "sparse")] >= 0.70),
    ("arcd-ar hybrid >= sparse", r[("arcd-ar", "hybrid")] >= r[("arcd-ar", "sparse")]),
]
sets = sorted({d for d, _ in r})
lead = {d: r[(d, "hybrid")] - max(r[(d, "dense")], r[(d, "sparse")]) for d in sets}
gates += [(f"{d} hybrid >= better single - 0.005 ({lead[d]:+.4f})", lead[d] >= -0.005) for d in sets]
mean_lead = sum(lead.values()) / len(lead)
gates.append((f"hybrid above the better single on average ({mean_lead:+.4f})", mean_lead > 0))
targets = [
    ("msmarco-5k hybrid >= dense + 0.01", r[("msmarco-5k", "hybrid")] >= r[("msmarco-5k", "dense")] + 0.01),
]
for name, ok in gates:
    print(("ok      " if ok else "FAIL    ") + name, file=sys.stderr)
for name, ok in targets:
    print(("ok      " if ok else "NOT MET ") + name + " (target, not enforced)", file=sys.stderr)
sys.exit(0 if all(ok for _, ok in gates) else 1)
PY
