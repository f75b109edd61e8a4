#!/usr/bin/env python3
"""Compares ways of fusing the dense and the BM25 lists, offline, per set.

Input: for each set, the candidates the service fuses, with both their exact
scores, as `ragctl eval --candidates` writes them (the union of the dense and
the BM25 top 100, each with its cosine and its BM25 score), and the set's
qrels. Every rule below ranks that pool as the service would (chunk level,
then documents in their first rank), so a rule found here ports as is, and
depths below 100 are exact too (a top-d list is inside the top 100).

The API's default weights are fixed (0.7 dense / 0.3 sparse, DESIGN.md); the
method behind them may change. So the study ranks methods at those weights:
per set, nDCG@10 minus that of the better single retriever of the set, the
worst of those and their mean; the rule the service uses (`--service`) per
set with paired bootstrap 95% intervals over queries; the choice repeated
leaving each set out; and, for information, other weights.

    ragctl eval --dataset SET --candidates RUNS/NAME.candidates.jsonl   # per set
    scripts/fusion-study.py --runs RUNS SET_DIR...
"""

import argparse
import json
import math
import os
import random
import statistics
import sys

MARGIN = 0.005


def load_qrels(path):
    qrels = {}
    with open(path) as f:
        for i, line in enumerate(f):
            parts = [p.strip() for p in line.rstrip("\n").split("\t")]
            if len(parts) != 3:
                continue
            try:
                grade = int(parts[2])
            except ValueError:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = max(grade, 0)
    return qrels


def ndcg10(ranking, judged):
    """trec_eval ndcg_cut_10, as rag_core::eval::ndcg_at."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:10]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def documents(chunks, doc_of):
    seen, out = set(), []
    for c in chunks:
        d = doc_of[c]
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def load_candidates(runs, name):
    """Query id -> [(chunk, document, cosine or None, bm25)]."""
    with open(os.path.join(runs, f"{name}.candidates.jsonl")) as f:
        return {q["query"]: [tuple(c) for c in q["candidates"]] for q in map(json.loads, f)}


def dense_list(cands, depth=100):
    with_cos = [c for c in cands if c[2] is not None]
    return sorted(with_cos, key=lambda c: -c[2])[:depth]


def sparse_list(cands, depth=100):
    return sorted((c for c in cands if c[3] > 0), key=lambda c: -c[3])[:depth]


def pool(cands, depth):
    """The service's candidates at this depth: the union of both top lists,
    dense first, each candidate with both its exact scores."""
    return list({c[0]: c for c in dense_list(cands, depth) + sparse_list(cands, depth)}.values())


# ---------------------------------------------------------------- normalizers
# Each maps one retriever's scores over the pool to comparable values.


def minmax(scores):
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return [(s - lo) / span if span > 0 else 1.0 for s in scores]


def zscore(scores):
    mu = statistics.fmean(scores)
    sd = statistics.pstdev(scores) or 1.0
    return [(s - mu) / sd for s in scores]


def dbsf(scores):
    """Qdrant's distribution-based score fusion: mean +- 3 sd mapped to 0..1."""
    mu = statistics.fmean(scores)
    sd = statistics.pstdev(scores)
    lo, hi = mu - 3 * sd, mu + 3 * sd
    span = hi - lo
    return [min(max((s - lo) / span, 0.0), 1.0) if span > 0 else 1.0 for s in scores]


def maxnorm(scores):
    """Divided by the best: keeps how far the tail is from the head."""
    top = max(scores)
    return [s / top if top > 0 else 0.0 for s in scores]


def ranknorm(scores, k=60):
    """Reciprocal rank (RRF) over the pool; equal scores share the better rank."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = [0.0] * len(scores)
    rank = 0
    for pos, i in enumerate(order):
        if pos > 0 and scores[i] != scores[order[pos - 1]]:
            rank = pos
        out[i] = (k + 1) / (k + rank + 1)
    return out


def rank_positive(scores):
    """RRF (k = 60) where a score of 0 (BM25: no query term) earns nothing."""
    out = ranknorm(scores)
    return [o if s > 0 else 0.0 for o, s in zip(out, scores)]


def borda(scores):
    """The share of the pool a candidate beats (Borda count); 0 earns nothing."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: -scores[i])
    out = [0.0] * n
    for r, i in enumerate(order):
        out[i] = (1.0 - r / n) if scores[i] > 0 else 0.0
    return out


def rank10(scores):
    """Reciprocal rank with k = 10: more weight on each list's head."""
    return ranknorm(scores, k=10)


def saturate(scores):
    """s / (s + median): a scale-free squashing that keeps the head's lead."""
    med = statistics.median(scores) or 1e-9
    return [s / (s + med) if s + med > 0 else 0.0 for s in scores]


def minmax_head(scores, n=10):
    """Min-max with the floor at the mean of the list's top n minus its sd:
    the many zeros of a pool do not stretch the scale."""
    top = sorted(scores, reverse=True)
    head = top[:n]
    lo = max(min(scores), statistics.fmean(head) - (statistics.pstdev(head) if len(head) > 1 else 0) - 1e-9)
    hi = top[0]
    span = hi - lo
    return [max((s - lo) / span, 0.0) if span > 0 else 1.0 for s in scores]


NORMS = {"minmax": minmax, "zscore": zscore, "dbsf": dbsf, "max": maxnorm, "rrf": ranknorm,
         "rrf10": rank10, "rrf+": rank_positive, "borda": borda, "minmax-head": minmax_head, "saturate": saturate}


def fuse(cands, wd, depth, norm):
    """Chunk ids best first, as rag_core::fusion would rank this pool."""
    p = pool(cands, depth)
    if not p:
        return []
    if all(c[2] is None for c in p):
        wd = 0.0
    cos = NORMS[norm]([c[2] if c[2] is not None else 0.0 for c in p])
    bm = NORMS[norm]([c[3] for c in p])
    score = [wd * a + (1 - wd) * b for a, b in zip(cos, bm)]
    order = sorted(range(len(p)), key=lambda i: (-score[i], i))
    return [p[i][0] for i in order]


def spread(scores, n=10):
    """How far the list's best stands above its next n, in its own sd."""
    if len(scores) < 3:
        return 0.0
    sd = statistics.pstdev(scores) or 1.0
    return (scores[0] - statistics.fmean(scores[1:n + 1])) / sd


def adaptive_weight(cands, base, strength, depth):
    d = [c[2] for c in dense_list(cands, depth)]
    s = [c[3] for c in sparse_list(cands, depth)]
    sd_, ss_ = spread(d), spread(s)
    total = sd_ + ss_
    share = sd_ / total if total > 0 else 0.5
    return min(max(base + strength * (share - 0.5), 0.0), 1.0)


def rules(wd):
    """Every method at dense weight `wd`: normalisation x candidate depth,
    and the dense weight moved per query toward the list whose head stands
    out more (score spread)."""
    for norm in NORMS:
        for depth in (10, 20, 50, 100):
            yield (f"{norm} wd={wd} depth={depth}",
                   lambda c, depth=depth, norm=norm: fuse(c, wd, depth, norm))
    for norm in ("minmax", "zscore", "max", "rrf"):
        for strength in (0.5, 1.0):
            for depth in (20, 100):
                yield (f"spread-{norm} wd={wd}+-{strength} depth={depth}",
                       lambda c, st=strength, depth=depth, norm=norm:
                       fuse(c, adaptive_weight(c, wd, st, depth), depth, norm))


def bootstrap(diffs, resamples=10000, seed=14):
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="folder of NAME.candidates.jsonl files")
    ap.add_argument("sets", nargs="+", help="BEIR set folders (their names name the runs)")
    ap.add_argument("--service", default="rrf wd=0.7 depth=100", help="the service's rule")
    ap.add_argument("--earlier", default="minmax wd=0.7 depth=100", help="the rule it replaced")
    ap.add_argument("--show", type=int, default=12)
    args = ap.parse_args()

    data = {}
    for folder in args.sets:
        name = os.path.basename(os.path.normpath(folder))
        qrels = load_qrels(os.path.join(folder, "qrels", "test.tsv"))
        cands = load_candidates(args.runs, name)
        queries = [q for q in cands if any(g > 0 for g in qrels.get(q, {}).values())]
        doc_of = {c[0]: c[1] for q in queries for c in cands[q]}
        single = {
            "dense": [ndcg10(documents([c[0] for c in dense_list(cands[q])], doc_of), qrels[q]) for q in queries],
            "sparse": [ndcg10(documents([c[0] for c in sparse_list(cands[q])], doc_of), qrels[q]) for q in queries],
        }
        better = max(single, key=lambda m: statistics.fmean(single[m]))
        data[name] = dict(qrels=qrels, cands=cands, queries=queries, doc_of=doc_of, single=single, better=better)
        bm25_only = all(c[2] is None for q in queries for c in cands[q])
        print(f"{name}: {len(queries)} queries, dense {statistics.fmean(single['dense']):.4f}, "
              f"sparse {statistics.fmean(single['sparse']):.4f}, better single: {better}"
              + (" (the service ranks it by BM25 alone: the model cannot read its script)" if bm25_only else ""))
    sets = list(data)

    results = {}
    for wd in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9):
        for label, fn in rules(wd):
            results[label] = {
                name: [ndcg10(documents(fn(ds["cands"][q]), ds["doc_of"]), ds["qrels"][q]) for q in ds["queries"]]
                for name, ds in data.items()
            }

    def deltas(label, names):
        return {n: statistics.fmean(results[label][n]) - statistics.fmean(data[n]["single"][data[n]["better"]])
                for n in names}

    def key(label, names):
        d = deltas(label, names)
        return (min(d.values()) >= -MARGIN, statistics.fmean(d.values()))

    def line(label, names):
        d = deltas(label, names)
        return (f"{label:34s} worst {min(d.values()):+.4f} mean {statistics.fmean(d.values()):+.4f}  "
                + "  ".join(f"{n} {v:+.4f}" for n, v in d.items()))

    at_api = [l for l in results if " wd=0.7" in l]
    ranked = sorted(at_api, key=lambda l: key(l, sets), reverse=True)
    print(f"\n{len(at_api)} methods at the API's weights (0.7/0.3); nDCG@10 minus the better single "
          f"retriever's per set; those never more than {MARGIN} below it first, by mean:")
    for label in ranked[:args.show]:
        print("  " + line(label, sets))
    meets = sum(key(l, sets)[0] and key(l, sets)[1] > 0 for l in at_api)
    print(f"  ... {meets} of {len(at_api)} meet both aims (never below by more than {MARGIN}, above on average)")
    print("  [service] " + line(args.service, sets))
    print("  [earlier] " + line(args.earlier, sets))

    print(f"\nthe service's rule ({args.service}), per set, with paired bootstrap 95% intervals:")
    for name, ds in data.items():
        fused = results[args.service][name]
        out = f"  {name:17s} {statistics.fmean(fused):.4f}"
        for other, base in (("dense", ds["single"]["dense"]), ("sparse", ds["single"]["sparse"]),
                            ("earlier", results[args.earlier][name])):
            diffs = [a - b for a, b in zip(fused, base)]
            lo, hi = bootstrap(diffs)
            out += f"  vs {other} {statistics.fmean(diffs):+.4f} [{lo:+.4f}, {hi:+.4f}]"
        print(out)

    print("\nleave one set out (the best method at 0.7/0.3 on the other sets, scored on the one left out):")
    for held in sets:
        rest = [n for n in sets if n != held]
        rule = max(at_api, key=lambda l: key(l, rest))
        print(f"  {held:17s} {rule:34s} vs better single {deltas(rule, [held])[held]:+.4f}")

    print("\nfor information, the best rules at any weight (the API's defaults stay 0.7/0.3):")
    for label in sorted(results, key=lambda l: key(l, sets), reverse=True)[:5]:
        print("  " + line(label, sets))


if __name__ == "__main__":
    main()
