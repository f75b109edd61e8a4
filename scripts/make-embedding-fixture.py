#!/usr/bin/env python3
"""Writes the reference embeddings that crates/rag-embed's BertEmbedder must match.

The vectors come from the Python sentence-transformers package, the reference
implementation of all-MiniLM-L6-v2 (tokenization, 256-token truncation, mean
pooling, normalization), loaded from the same local directory that
scripts/fetch-model.sh fills. The sentences cover short English, a long English
text truncated at 256 tokens, German, Arabic, Chinese, and emoji/punctuation.

Run (offline, CPU):
    scripts/fetch-model.sh
    HF_HUB_OFFLINE=1 /tmp/refgen/venv/bin/python scripts/make-embedding-fixture.py
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("RAG_MODEL_DIR", REPO / ".local/models/all-MiniLM-L6-v2"))
OUT = REPO / "crates/rag-embed/tests/fixtures/minilm_reference.json"

LONG_PARAGRAPHS = [
    "The history of the printing press begins long before Johannes Gutenberg set up his workshop in Mainz.",
    "Woodblock printing had been practised in China for centuries, and movable type made of ceramic and later metal appeared in East Asia well before it reached Europe.",
    "What Gutenberg contributed was a complete system: an adjustable mould for casting uniform metal type in large numbers, an oil-based ink that adhered to metal, and a screw press adapted from those used to make wine and olive oil.",
    "Together these allowed a small team of workers to produce hundreds of identical pages in a single day, a pace no scriptorium could match.",
    "The consequences unfolded slowly and then all at once.",
    "Within fifty years of the first printed Bible, presses were operating in more than two hundred European cities, and millions of volumes had been produced.",
    "Prices fell, literacy rose, and ideas that might once have been confined to a single monastery could cross a continent in months.",
    "Scholars began to compare editions, correct errors and build on one another's work with a speed that changed the character of learning itself.",
    "Religious reformers used pamphlets to reach ordinary readers directly, and governments soon discovered both the usefulness and the danger of a medium they could not easily control.",
    "Printers became merchants, editors and sometimes publishers of controversial opinions, and many of them were fined, imprisoned or exiled for what came off their presses.",
    "Standardized spelling and grammar emerged partly because printers needed consistent rules, and national languages gained prestige as more books appeared in them rather than in Latin.",
    "Maps, tables and technical diagrams could now be reproduced exactly, which mattered enormously for navigation, astronomy, medicine and engineering.",
    "A surgeon in Padua and an instrument maker in Antwerp could study the same illustration and know that it matched the one their colleagues were using.",
    "Historians still debate how much of the scientific revolution depended on this shared, stable record of observations and arguments, but few doubt that it mattered.",
    "Later technologies, from the rotary press and the typewriter to the photocopier and the web, repeated parts of the same story: cheaper copies, wider audiences, new forms of authority and new anxieties about misinformation.",
    "Each time, institutions adapted more slowly than the technology, and each time people argued about who should decide what gets published.",
    "Libraries changed as well, shifting from chained manuscripts to open shelves, catalogues and eventually public lending for anyone who could read.",
    "The printing press did not create the modern world on its own, yet it is hard to imagine that world without it, and the questions it raised about knowledge, trust and power are still with us today.",
    "Every new medium inherits those questions, and every generation has to answer them again in its own way.",
]

SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    " ".join(LONG_PARAGRAPHS),
    "Die Katze schläft auf dem Sofa, während draußen der Regen gegen die Fenster prasselt.",
    "القطة تنام على الأريكة بينما يهطل المطر في الخارج.",
    "猫在沙发上睡觉，外面正在下雨。",
    "Wow!!! 🎉🚀 Best. Day. Ever... (really?) #rust @home — 100% ✓",
]


def main() -> int:
    if not (MODEL_DIR / "model.safetensors").exists():
        print(f"model missing at {MODEL_DIR}: run scripts/fetch-model.sh", file=sys.stderr)
        return 1
    model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    long_tokens = len(model.tokenizer(SENTENCES[3])["input_ids"])
    assert long_tokens > 300, f"long text has only {long_tokens} tokens"
    emb = model.encode(SENTENCES, batch_size=len(SENTENCES), normalize_embeddings=True, convert_to_numpy=True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generated_with": f"sentence-transformers {sentence_transformers.__version__}",
        "sentences": SENTENCES,
        "embeddings": [[round(float(x), 7) for x in row] for row in emb],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(SENTENCES)} sentences, dim {emb.shape[1]}, long text {long_tokens} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
