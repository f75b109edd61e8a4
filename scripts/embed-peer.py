#!/usr/bin/env python3
"""The Python peer of the engine benchmark (crates/rag-embed/examples/engines.rs):
PyPI onnxruntime running the model's ONNX graphs on the same texts, the way a
Python service would (tokenizers, batches of 32 sorted by length, intra-op
threads = cores, mean pooling in numpy).

Usage (the engines example runs it): embed-peer.py MODEL_DIR TEXTS_JSON THREADS
TEXTS_JSON holds {"passages": [...], "chunks": [...], "queries": [...]}.
Prints one JSON line per graph, with the fields the example prints.
"""

import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "crates/rag-embed/tests/fixtures/minilm_reference.json"
BATCH = 32
MAX_TOKENS = 256


def load_export():
    """scripts/export-onnx.py as a module: its `embed` is the reference way a
    Python caller pools and normalises this graph's output."""
    spec = importlib.util.spec_from_file_location("export_onnx", REPO / "scripts/export-onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT = load_export()


def embed(session, tokenizer, texts):
    """Batches of BATCH texts of similar length (longest first), each padded
    and pooled by export-onnx.py's `embed`; vectors back in input order."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    out = [None] * len(texts)
    for start in range(0, len(order), BATCH):
        batch = order[start : start + BATCH]
        for i, vector in zip(batch, EXPORT.embed(session, tokenizer, [texts[i] for i in batch])):
            out[i] = vector
    return np.array(out)


def throughput(session, tokenizer, texts):
    best = (0.0, 0.0)
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        embed(session, tokenizer, texts)
        secs = time.perf_counter() - wall
        rate = len(texts) / secs
        if rate > best[0]:
            best = (rate, 100 * (time.process_time() - cpu) / secs)
    return best


def main():
    model_dir, texts_path, threads = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    texts = json.loads(Path(texts_path).read_text())
    fixture = json.loads(FIXTURE.read_text())
    reference = np.array(fixture["embeddings"], dtype=np.float32)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    for name, graph in [("fp32", "model.onnx"), ("int8", "model_qint8.onnx")]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        started = time.perf_counter()
        session = ort.InferenceSession(str(model_dir / "onnx" / graph), options, providers=["CPUExecutionProvider"])
        load_ms = (time.perf_counter() - started) * 1e3
        embed(session, tokenizer, texts["passages"][:32])
        passages_s, _ = throughput(session, tokenizer, texts["passages"])
        chunks_s, cpu = throughput(session, tokenizer, texts["chunks"])
        latencies = []
        for i, q in enumerate(texts["queries"]):
            t = time.perf_counter()
            embed(session, tokenizer, [q])
            if i >= 10:
                latencies.append((time.perf_counter() - t) * 1e3)
        latencies.sort()
        cosines = (embed(session, tokenizer, fixture["sentences"]) * reference).sum(axis=1)
        print(json.dumps({
            "engine": f"python-onnx-{name}",
            "passages_per_s": passages_s,
            "chunks_per_s": chunks_s,
            "cpu_percent": cpu,
            "query_p50_ms": latencies[len(latencies) // 2],
            "query_p95_ms": latencies[len(latencies) * 95 // 100],
            "cosine_st_min": float(cosines.min()),
            "cosine_st_mean": float(cosines.mean()),
            "load_ms": load_ms,
            "onnxruntime": ort.__version__,
        }), flush=True)


if __name__ == "__main__":
    main()
