//! The embedding engines side by side, on the same texts in one run: candle,
//! ONNX Runtime fp32 and int8 (through `ort`), and a Python peer (PyPI
//! onnxruntime running the same graphs, batches of 32 sorted by length, as
//! `scripts/embed-peer.py` does). For each: passages/s on MS MARCO passages,
//! chunks/s on ~200-token chunks, CPU use, the query embedding's latency,
//! and the vectors' cosine to sentence-transformers and to candle's. With
//! `--quality`, also each engine's nDCG@10 on the shared BEIR sets by exact
//! cosine search (no index: the HNSW graph of a rebuilt index differs from
//! build to build by a few thousandths of nDCG, which would hide what the
//! engine changes), and its difference to onnx-fp32 with a paired bootstrap
//! 95% interval over queries.
//!
//! `cargo run --release -p rag-embed --example engines [-- --json] [--quality]`
//! (needs scripts/fetch-model.sh and scripts/fetch-onnxruntime.sh; the peer
//! runs when scripts/onnx-venv.sh has made its venv, or is skipped).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use rag_core::ports::Embedder;
use rag_core::search::eval::{
    is_judged, ndcg_at, parse_jsonl, parse_qrels, percentile, query_bootstrap, CorpusEntry,
    EvalQuery,
};
use rag_embed::{BertEmbedder, Engine, Precision};
use serde::Deserialize;
use serde_json::json;

const PASSAGES: usize = 512;
const CHUNKS: usize = 160;
const QUERIES: usize = 200;
/// Chunks are consecutive corpus passages joined until they reach this many
/// tokens: the chunker's default target (rag_core::ingest::chunking).
const CHUNK_TOKENS: usize = 200;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// CPU seconds used by this process so far (Linux), to read figures on a
/// shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

fn min_mean(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    (min, v.iter().sum::<f64>() / v.len().max(1) as f64)
}

#[derive(Deserialize)]
struct Fixture {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

/// Throughput of one engine over `texts`: (texts/s wall, CPU %), best of
/// `rounds` (the machine is shared).
fn throughput(model: &BertEmbedder, texts: &[String], rounds: usize) -> anyhow::Result<(f64, f64)> {
    let mut best = (0.0, 0.0);
    for _ in 0..rounds {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        model.embed_blocking(texts)?;
        let secs = wall.elapsed().as_secs_f64();
        let rate = texts.len() as f64 / secs;
        if rate > best.0 {
            best = (rate, 100.0 * (cpu_seconds() - cpu) / secs);
        }
    }
    Ok(best)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let as_json = std::env::args().any(|a| a == "--json");
    let quality = std::env::args().any(|a| a == "--quality");
    let root = workspace();
    let dir = std::env::var_os("RAG_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".local/models/all-MiniLM-L6-v2"));
    let beir = root.join("../shared/data/beir/msmarco-5k");
    let corpus: Vec<String> =
        parse_jsonl::<CorpusEntry>(&std::fs::read_to_string(beir.join("corpus.jsonl"))?)?
            .into_iter()
            .map(|e| e.text)
            .collect();
    let passages = corpus[..PASSAGES.min(corpus.len())].to_vec();
    let queries: Vec<String> =
        parse_jsonl::<EvalQuery>(&std::fs::read_to_string(beir.join("queries.jsonl"))?)?
            .into_iter()
            .take(QUERIES)
            .map(|q| q.text)
            .collect();
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(
        root.join("crates/rag-embed/tests/fixtures/minilm_reference.json"),
    )?)?;

    let candle = BertEmbedder::load_with(&dir, Engine::Candle)?;
    let counter = candle.token_counter();
    // ~200-token chunks of consecutive passages (the corpus order is random).
    let mut chunks = Vec::new();
    let mut current = String::new();
    for p in &corpus {
        if chunks.len() == CHUNKS {
            break;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(p);
        if counter.count(&current) >= CHUNK_TOKENS {
            chunks.push(std::mem::take(&mut current));
        }
    }
    let mean_tokens = |texts: &[String]| {
        texts
            .iter()
            .map(|t| counter.count(t).min(candle.max_tokens()))
            .sum::<usize>() as f64
            / texts.len() as f64
    };
    let (passage_tokens, chunk_tokens, query_tokens) = (
        mean_tokens(&passages),
        mean_tokens(&chunks),
        mean_tokens(&queries),
    );
    let reference_chunks = candle.embed_blocking(&chunks)?;
    let threads = candle_core::utils::get_num_threads();
    if !as_json {
        println!(
            "{} passages ({passage_tokens:.0} tokens), {} chunks ({chunk_tokens:.0} tokens), \
             {} queries ({query_tokens:.1} tokens); {threads} threads; library {}",
            passages.len(),
            chunks.len(),
            queries.len(),
            rag_embed::onnx::onnxruntime_library()
                .map_or_else(|e| e.to_owned(), |p| p.display().to_string())
        );
        println!(
            "{:<12} {:>11} {:>9} {:>9} {:>6} {:>11} {:>11} {:>16} {:>16} {:>8}",
            "engine",
            "passages/s",
            "chunks/s",
            "tokens/s",
            "CPU%",
            "query p50",
            "query p95",
            "cos ST min/mean",
            "cos candle min",
            "load ms"
        );
    }
    let mut rows = Vec::new();
    for engine in [
        Engine::Candle,
        Engine::Onnx(Precision::Fp32),
        Engine::Onnx(Precision::Int8),
    ] {
        let started = Instant::now();
        let model = match engine {
            Engine::Candle => candle.clone(),
            other => BertEmbedder::load_with(&dir, other)?,
        };
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        model.embed_blocking(&passages[..32])?; // warm-up
        let (passages_s, _) = throughput(&model, &passages, 2)?;
        let (chunks_s, cpu) = throughput(&model, &chunks, 2)?;
        let mut latencies = Vec::new();
        for (round, q) in queries.iter().enumerate() {
            let t = Instant::now();
            model.embed_query(q).await?;
            if round >= 10 {
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        latencies.sort_by(f64::total_cmp);
        let fx = model.embed_blocking(&fixture.sentences)?;
        let (st_min, st_mean) = min_mean(
            fx.iter()
                .zip(&fixture.embeddings)
                .map(|(a, b)| cosine(a, b)),
        );
        let vs_candle = model.embed_blocking(&chunks)?;
        let (candle_min, _) = min_mean(
            vs_candle
                .iter()
                .zip(&reference_chunks)
                .map(|(a, b)| cosine(a, b)),
        );
        let row = json!({
            "engine": engine.name(), "passages_per_s": passages_s, "chunks_per_s": chunks_s,
            "tokens_per_s": chunks_s * chunk_tokens, "cpu_percent": cpu,
            "query_p50_ms": percentile(&latencies, 0.5), "query_p95_ms": percentile(&latencies, 0.95),
            "cosine_st_min": st_min, "cosine_st_mean": st_mean, "cosine_candle_min": candle_min,
            "load_ms": load_ms,
        });
        print_row(&row, as_json);
        rows.push(row);
    }

    // The Python peer, same texts, same hour.
    let venv_python = std::env::var_os("RAG_ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("RAG_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/amplify-rag-async"))
                })
                .unwrap_or_default();
            cache.join("venvs/onnx/bin/python")
        });
    if venv_python.is_file() {
        let texts = std::env::temp_dir().join(format!("engines-{}.json", std::process::id()));
        std::fs::write(
            &texts,
            serde_json::to_vec(
                &json!({"passages": passages, "chunks": chunks, "queries": queries}),
            )?,
        )?;
        let output = Command::new(&venv_python)
            .arg(root.join("scripts/embed-peer.py"))
            .arg(&dir)
            .arg(&texts)
            .arg(threads.to_string())
            .output()
            .context("running scripts/embed-peer.py")?;
        let _ = std::fs::remove_file(&texts);
        if !output.status.success() {
            bail!(
                "scripts/embed-peer.py failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut row: serde_json::Value = serde_json::from_str(line)?;
            row["tokens_per_s"] = json!(row["chunks_per_s"].as_f64().unwrap_or(0.0) * chunk_tokens);
            print_row(&row, as_json);
            rows.push(row);
        }
    } else if !as_json {
        println!(
            "(no Python peer: {} not found; run scripts/onnx-venv.sh)",
            venv_python.display()
        );
    }
    if quality {
        for set in ["msmarco-5k", "arcd-ar"] {
            exact_quality(&dir, &root.join("../shared/data/beir").join(set), as_json)?;
        }
    }
    if !as_json {
        let rate = |name: &str| {
            rows.iter()
                .find(|r| r["engine"] == name)
                .and_then(|r| r["chunks_per_s"].as_f64())
        };
        for (ours, peer) in [
            ("onnx-int8", "python-onnx-int8"),
            ("onnx-fp32", "python-onnx-fp32"),
            ("onnx-int8", "candle"),
        ] {
            if let (Some(a), Some(b)) = (rate(ours), rate(peer)) {
                println!("chunks/s {ours} / {peer}: {:.2}x", a / b);
            }
        }
    }
    Ok(())
}

fn print_row(row: &serde_json::Value, as_json: bool) {
    if as_json {
        println!("{row}");
        return;
    }
    let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "{:<12} {:>11.1} {:>9.1} {:>9.0} {:>6.0} {:>9.2}ms {:>9.2}ms {:>8.4}/{:<7.4} {:>16.4} {:>8.0}",
        row["engine"].as_str().unwrap_or("?"),
        f("passages_per_s"),
        f("chunks_per_s"),
        f("tokens_per_s"),
        f("cpu_percent"),
        f("query_p50_ms"),
        f("query_p95_ms"),
        f("cosine_st_min"),
        f("cosine_st_mean"),
        f("cosine_candle_min"),
        f("load_ms"),
    );
}

/// nDCG@10 of each engine on one BEIR set by exact cosine search over whole
/// passages, and each engine's per-query difference to onnx-fp32.
fn exact_quality(dir: &Path, set: &Path, as_json: bool) -> anyhow::Result<()> {
    let read = |name: &str| std::fs::read_to_string(set.join(name));
    let corpus: Vec<CorpusEntry> = parse_jsonl(&read("corpus.jsonl")?)?;
    let queries: Vec<EvalQuery> = parse_jsonl(&read("queries.jsonl")?)?;
    let qrels = parse_qrels(&read("qrels/test.tsv")?)?;
    let judged: Vec<&EvalQuery> = queries
        .iter()
        .filter(|q| qrels.get(&q.id).is_some_and(is_judged))
        .collect();
    let texts: Vec<String> = corpus.iter().map(CorpusEntry::document_text).collect();
    let name = set
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut per_engine: Vec<(Engine, Vec<f64>)> = Vec::new();
    for engine in [
        Engine::Onnx(Precision::Fp32),
        Engine::Onnx(Precision::Int8),
        Engine::Candle,
    ] {
        let model = BertEmbedder::load_with(dir, engine)?;
        let documents = model.embed_blocking(&texts)?;
        let mut scores = Vec::with_capacity(judged.len());
        for q in &judged {
            let query = model.embed_blocking(std::slice::from_ref(&q.text))?;
            let mut ranked: Vec<(f64, usize)> = documents
                .iter()
                .enumerate()
                .map(|(i, d)| (cosine(&query[0], d), i))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
            let ranking: Vec<String> = ranked
                .iter()
                .take(10)
                .map(|&(_, i)| corpus[i].id.clone())
                .collect();
            scores.push(ndcg_at(&ranking, &qrels[&q.id], 10));
        }
        per_engine.push((engine, scores));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let reference = per_engine[0].1.clone();
    for (engine, scores) in &per_engine {
        let diffs: Vec<f64> = scores.iter().zip(&reference).map(|(a, b)| a - b).collect();
        let [low, high] = query_bootstrap(diffs.len(), 10_000, |picked| {
            picked.iter().map(|&q| diffs[q]).sum::<f64>() / picked.len() as f64
        });
        let row = json!({
            "dataset": name, "engine": engine.name(), "ndcg@10": mean(scores),
            "minus_onnx_fp32": mean(&diffs), "interval_95": [low, high], "queries": diffs.len(),
        });
        if as_json {
            println!("{row}");
        } else {
            println!(
                "{name} exact search, {}: nDCG@10 {:.4}; minus onnx-fp32 {:+.4} [{low:+.4}, {high:+.4}] over {} queries",
                engine.name(),
                mean(scores),
                mean(&diffs),
                diffs.len()
            );
        }
    }
    Ok(())
}
