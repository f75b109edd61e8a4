//! `ragctl eval --dataset DIR`: retrieval quality on a BEIR-format folder.
//!
//! The corpus lives in its own scope (owner `eval:<folder name>`), so its
//! BM25 statistics are exactly the corpus's and it never mixes with real
//! documents. The scope carries a fingerprint of corpus, model, chunking and
//! analyzer: a later run with the same fingerprint reuses it, anything else
//! rebuilds it from scratch.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::chunking::TextKind;
use rag_core::ingest::pipeline::indexing::chunk_records;
use rag_core::ports::{DocumentRecord, Index};
use rag_core::search::analyzer::ANALYZER_VERSION;
use rag_core::search::eval::{
    is_judged, ndcg_at, parse_jsonl, parse_qrels, percentile, recall_at, reciprocal_rank,
    CorpusEntry, EvalQuery,
};
use rag_core::search::query::{QueryRequest, MAX_TOP_K};
use rag_core::Caller;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::wiring::Services;
use crate::EvalArgs;

/// Chunks handed to the embedder per call while loading: large, so that its
/// length-sorted batching packs similar lengths together and pads little.
const EMBED_BATCH: usize = 512;
/// Documents stored concurrently while loading.
const STORE_CONCURRENCY: usize = 8;

fn read(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Runs the evaluation and prints the metrics.
pub async fn run(a: EvalArgs) -> Result<ExitCode> {
    // Refuse bad search options before a load that may take minutes.
    a.search
        .request("check", MAX_TOP_K, &[], None)
        .map_err(|e| anyhow::anyhow!(e.error))?;
    anyhow::ensure!(
        a.search.mode.is_text(),
        "eval stores its corpus as text chunks: --mode must be hybrid, dense or sparse"
    );
    let dir = &a.dataset;
    let name = dir
        .canonicalize()
        .with_context(|| format!("no dataset at {}", dir.display()))?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let corpus_text = read(dir, "corpus.jsonl")?;
    let corpus: Vec<CorpusEntry> = parse_jsonl(&corpus_text).context("corpus.jsonl")?;
    let queries: Vec<EvalQuery> =
        parse_jsonl(&read(dir, "queries.jsonl")?).context("queries.jsonl")?;
    let qrels = parse_qrels(&read(dir, "qrels/test.tsv")?).context("qrels/test.tsv")?;

    let services = Services::connect().await?;
    let owner = Caller::new(format!("eval:{name}"));
    let chunking = services.chunker.config();
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(corpus_text.as_bytes());
        h.update(format!(
            "|{}|{}|{}|{}|{}",
            services.embedder.model_id(),
            services.engine,
            chunking.max_tokens,
            chunking.overlap_tokens,
            ANALYZER_VERSION
        ));
        format!("{:x}", h.finalize())
    };

    let existing = services.index.documents(&owner).await?;
    let current = !a.rebuild
        && existing.len() == corpus.len()
        && existing.iter().all(|d| {
            d.metadata.get("eval_fingerprint").and_then(|v| v.as_str())
                == Some(fingerprint.as_str())
        });
    let ingest_s = if current {
        remembered_ingest_s(&name, &fingerprint)
    } else {
        let seconds = load(&services, &owner, &name, &corpus, &fingerprint, a.json).await?;
        remember_ingest_s(&name, &fingerprint, seconds);
        Some(seconds)
    };

    let service = services.query_service();
    anyhow::ensure!(
        !a.rerank || service.reranker.is_some(),
        "--rerank needs a reranker: set RERANK_URL (and RERANK_MODEL, RERANK_API_KEY) to a Cohere- or Jina-compatible /rerank endpoint"
    );
    let prefix = format!("eval-{name}#");
    // Each query's nDCG@10 with and without reranking, for the paired change.
    let mut reranked: Vec<(f64, f64)> = Vec::new();
    let (mut ndcg, mut recall, mut mrr, mut latencies) = (0.0, 0.0, 0.0, Vec::new());
    let (mut per_query, mut candidates) = (String::new(), String::new());
    let judged: Vec<&EvalQuery> = queries
        .iter()
        .filter(|q| qrels.get(&q.id).is_some_and(is_judged))
        .collect();
    for q in &judged {
        let request = a
            .search
            .request(&q.text, MAX_TOP_K, &[], None)
            .map_err(|e| anyhow::anyhow!("query {}: {}", q.id, e.error))?;
        let started = Instant::now();
        let response = service
            .search(&owner, &request)
            .await
            .map_err(|e| anyhow::anyhow!("query {}: {}", q.id, e.error))?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let hits: Vec<serde_json::Value> = response
            .results
            .iter()
            .map(|r| {
                json!([
                    r.chunk_id,
                    r.document_id
                        .strip_prefix(&prefix)
                        .unwrap_or(&r.document_id),
                    r.score
                ])
            })
            .collect();
        let ranking = documents_ranked(response.results, &prefix);
        let j = &qrels[&q.id];
        let query_ndcg = ndcg_at(&ranking, j, 10);
        if a.rerank {
            let request = QueryRequest {
                rerank: true,
                top_k: 10,
                ..request.clone()
            };
            let response = service
                .search(&owner, &request)
                .await
                .map_err(|e| anyhow::anyhow!("query {} reranked: {}", q.id, e.error))?;
            let ranked = documents_ranked(response.results, &prefix);
            reranked.push((query_ndcg, ndcg_at(&ranked, j, 10)));
        }
        if a.candidates.is_some() {
            candidates.push_str(&fusion_candidates(&service, &owner, q, &prefix).await?);
            candidates.push('\n');
        }
        ndcg += query_ndcg;
        per_query
            .push_str(&json!({"query": q.id, "ndcg@10": query_ndcg, "results": hits}).to_string());
        per_query.push('\n');
        recall += recall_at(&ranking, j, 100);
        mrr += reciprocal_rank(&ranking, j);
    }
    if let Some(path) = &a.per_query {
        std::fs::write(path, per_query).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.candidates {
        std::fs::write(path, candidates).with_context(|| format!("writing {}", path.display()))?;
    }
    let n = judged.len().max(1) as f64;
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let rerank = (!reranked.is_empty()).then(|| {
        let mean = |picked: &mut dyn Iterator<Item = f64>, count: usize| {
            picked.sum::<f64>() / count.max(1) as f64
        };
        let after = mean(&mut reranked.iter().map(|(_, r)| *r), reranked.len());
        let change = mean(&mut reranked.iter().map(|(b, r)| r - b), reranked.len());
        let [lo, hi] = rag_core::search::eval::query_bootstrap(reranked.len(), 10_000, |picked| {
            mean(
                &mut picked.iter().map(|&i| reranked[i].1 - reranked[i].0),
                picked.len(),
            )
        });
        json!({
            "model": service.reranker.as_ref().map(|r| r.model_id().to_owned()),
            "ndcg@10": round(after, 4),
            "change": round(change, 4),
            "change_95": [round(lo, 4), round(hi, 4)],
        })
    });
    let mut result = json!({
        "dataset": name,
        "mode": a.search.mode.api_name(),
        "ndcg@10": round(ndcg / n, 4),
        "recall@100": round(recall / n, 4),
        "mrr": round(mrr / n, 4),
        "queries": judged.len(),
        "ingest_s": ingest_s.map(|s| round(s, 2)),
        "query_p50_ms": round(percentile(&latencies, 0.5), 2),
        "query_p95_ms": round(percentile(&latencies, 0.95), 2),
        "documents": corpus.len(),
        "reused_index": current,
        "embedding_model": services.embedder.model_id(),
        "engine": services.engine,
    });
    if let Some(rerank) = rerank {
        result["rerank"] = rerank;
    }
    println!(
        "{}",
        if a.json {
            result.to_string()
        } else {
            serde_json::to_string_pretty(&result)?
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// One JSON line: the query's hybrid candidates with both their scores.
async fn fusion_candidates(
    service: &rag_core::search::query::QueryService,
    owner: &Caller,
    q: &EvalQuery,
    prefix: &str,
) -> Result<String> {
    let request = QueryRequest {
        top_k: MAX_TOP_K,
        ..QueryRequest::new(q.text.clone())
    };
    let (lists, _) = service
        .candidates(owner, &request)
        .await
        .map_err(|e| anyhow::anyhow!("query {} candidates: {}", q.id, e.error))?;
    let cosine: std::collections::HashMap<&str, f64> = lists
        .dense
        .iter()
        .map(|(h, c)| (h.chunk_id.as_str(), *c))
        .collect();
    let bm25: std::collections::HashMap<&str, f64> = lists
        .sparse
        .iter()
        .map(|(h, s)| (h.chunk_id.as_str(), *s))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<serde_json::Value> = lists
        .dense
        .iter()
        .chain(&lists.sparse)
        .filter(|(h, _)| seen.insert(h.chunk_id.as_str()))
        .map(|(h, _)| {
            let id = h.chunk_id.as_str();
            json!([
                id,
                h.document_id.strip_prefix(prefix).unwrap_or(&h.document_id),
                cosine.get(id),
                bm25.get(id).copied().unwrap_or(0.0),
            ])
        })
        .collect();
    Ok(json!({"query": q.id, "candidates": rows}).to_string())
}

/// The documents of `results` in their first rank, without the eval
/// scope's id prefix.
fn documents_ranked(
    results: Vec<rag_core::search::query::QueryResult>,
    prefix: &str,
) -> Vec<String> {
    let mut ranking: Vec<String> = Vec::new();
    for r in results {
        let id = r
            .document_id
            .strip_prefix(prefix)
            .unwrap_or(&r.document_id)
            .to_owned();
        if !ranking.contains(&id) {
            ranking.push(id);
        }
    }
    ranking
}

/// Replaces the scope with the corpus; returns the seconds it took.
async fn load(
    services: &Services,
    owner: &Caller,
    name: &str,
    corpus: &[CorpusEntry],
    fingerprint: &str,
    quiet: bool,
) -> Result<f64> {
    let started = Instant::now();
    services.index.purge(owner).await?;
    let chunks: Vec<Vec<String>> = corpus
        .iter()
        .map(|e| services.chunker.chunk(&e.document_text(), TextKind::Plain))
        .collect();
    let flat: Vec<String> = chunks.iter().flatten().cloned().collect();

    let bar = super::progress(flat.len(), "embedding", quiet);
    let mut vectors = Vec::with_capacity(flat.len());
    for batch in flat.chunks(EMBED_BATCH) {
        vectors.extend(services.embedder.embed_documents(batch).await?);
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let embed_s = started.elapsed().as_secs_f64();
    tracing::info!(
        chunks = flat.len(),
        seconds = embed_s,
        "eval corpus embedded"
    );

    let bar = super::progress(corpus.len(), "storing", quiet);
    let mut vectors = vectors.into_iter();
    let mut documents = Vec::with_capacity(corpus.len());
    for (entry, texts) in corpus.iter().zip(chunks) {
        let doc_vectors: Vec<Vec<f32>> = vectors.by_ref().take(texts.len()).collect();
        let meta = json!({"file_name": entry.id});
        let records = chunk_records(
            &services.analyzer,
            texts.into_iter().map(|t| (None, t)).collect(),
            doc_vectors,
            &meta,
        );
        let doc = DocumentRecord {
            document_id: format!("eval-{name}#{}", entry.id),
            owner: owner.user.clone(),
            bucket: format!("eval-{name}"),
            key: entry.id.clone(),
            file_name: entry.id.clone(),
            content_type: Some("text/plain".into()),
            pipeline: Pipeline::TextRag,
            embedding_model: services.embedder.model_id().to_owned(),
            page_count: None,
            metadata: json!({"eval_fingerprint": fingerprint}),
        };
        documents.push((doc, records));
    }
    let index = services.index.clone();
    futures::stream::iter(documents)
        .map(|(doc, records)| {
            let index = index.clone();
            let bar = bar.clone();
            async move {
                index.replace_document(&doc, &records).await?;
                bar.inc(1);
                Ok::<_, anyhow::Error>(doc.document_id)
            }
        })
        .buffer_unordered(STORE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    bar.finish_and_clear();
    tracing::info!(
        documents = corpus.len(),
        seconds = started.elapsed().as_secs_f64() - embed_s,
        "eval corpus stored"
    );
    services.index.analyze().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Where the load time of a scope is remembered, so reused runs report it.
fn state_file(name: &str) -> std::path::PathBuf {
    let base = std::env::var_os("RAG_STATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".local".into());
    base.join("eval").join(format!("{name}.json"))
}

fn remembered_ingest_s(name: &str, fingerprint: &str) -> Option<f64> {
    let text = std::fs::read_to_string(state_file(name)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v.get("fingerprint")?.as_str()? == fingerprint)
        .then(|| v.get("ingest_s")?.as_f64())
        .flatten()
}

fn remember_ingest_s(name: &str, fingerprint: &str, seconds: f64) {
    let path = state_file(name);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| {
            std::fs::write(
                &path,
                json!({"fingerprint": fingerprint, "ingest_s": seconds}).to_string(),
            )
        });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "could not record the eval load time");
    }
}
