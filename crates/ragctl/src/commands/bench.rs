//! `ragctl bench`: the index at the scale of a whole organization.
//!
//! Builds (once, then reuses) a multi-tenant database of a chosen size in a
//! database of its own, and measures each search mode for callers whose
//! visible scope has a chosen size: latency (the query's embedding
//! included), dense recall@10 against an exact scan of the same scope, and
//! BM25 top-10 agreement with Okapi BM25 computed by its definition over the
//! scope ([`rag_index_pg::PgIndex::exact_dense`], `exact_sparse`); for VDR,
//! the share of page lists that are complete (min(10, pages in the scope)
//! pages: a filtered HNSW scan can come back short).
//!
//! The data is real text and real vectors, recombined: every synthetic chunk
//! joins the first half of one passage of the source set (msmarco-5k by
//! default) to the second half of another, and its vector is the normalized
//! mix (7:3) of theirs with a little noise. So the vocabulary follows real
//! term statistics and the vectors cluster as real ones do, which uniform
//! random data would not (HNSW and BM25 both behave differently on it).
//!
//! Who sees what:
//! - `tenants` users own `tenant_chunks` chunks each, in documents of 100;
//! - a department owns `shared_chunks` chunks in documents of 1,000, granted
//!   in full to `grantees` users;
//! - for each measured scope size S, a user who owns min(S, 1,000) chunks and
//!   is granted the first S − 1,000 chunks' documents of the department;
//! - every owner also has VDR documents, one page per 50 chunks, eight page
//!   vectors a page.
//!
//! `--baseline` builds the same scopes and department in an otherwise empty
//! database (`<name>_empty`), for the "same tenant, empty database"
//! comparison. Results print as JSON lines (`--json`) or a table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::chunking::{Chunker, TextKind};
use rag_core::ingest::pipeline::indexing::chunk_records;
use rag_core::ports::{
    Bm25Params, DocumentRecord, Embedder, Index, PageEmbedder, PageIndex, PageRecord,
    PageTextSource, SearchScope,
};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::eval::{parse_jsonl, percentile, CorpusEntry, EvalQuery};
use rag_core::search::query::{QueryRequest, QueryService};
use rag_core::Caller;
use rag_index_pg::{PgConfig, PgIndex};
use rag_lambda::wiring::{page_embedder_from_env, query_handler_from, PageParts, SearchParts};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::wiring;

/// Chunks of a tenant's (and a scope owner's) documents.
const TENANT_DOC_CHUNKS: usize = 100;
/// Chunks of a department document.
const SHARED_DOC_CHUNKS: usize = 1_000;
/// Chunks a scope owner owns at most; the rest of its scope is granted.
const MAX_OWN_CHUNKS: usize = 1_000;
/// An owner has a VDR page per this many chunks it owns.
const CHUNKS_PER_PAGE: usize = 50;
/// Pages of a VDR document, and vectors of a page.
const DOC_PAGES: usize = 10;
const PAGE_VECTORS: usize = 8;
/// Documents stored at once while loading.
const STORE_CONCURRENCY: usize = 4;
/// Results compared for recall and agreement.
const K: usize = 10;
/// Documents of 100 chunks the write probe stores in each database.
const PROBE_DOCS: usize = 10;
/// Memory for building the vector indexes: a million 384-dimensional
/// vectors' graph fits in it.
const VECTOR_INDEX_MEMORY: &str = "4GB";

/// What to build and measure.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// BEIR folder whose passages, vectors and queries the data is made of.
    #[arg(long, default_value = "../shared/data/beir/msmarco-5k")]
    pub source: PathBuf,
    /// Tenants besides the measured scopes and the department.
    #[arg(long, default_value_t = 900)]
    pub tenants: usize,
    /// Chunks each tenant owns.
    #[arg(long, default_value_t = 1_000)]
    pub tenant_chunks: usize,
    /// Chunks of the department's corpus (at least the largest scope less 1,000).
    #[arg(long, default_value_t = 100_000)]
    pub shared_chunks: usize,
    /// Users the whole department corpus is granted to.
    #[arg(long, default_value_t = 1_000)]
    pub grantees: usize,
    /// Visible chunks of the measured callers.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000,100000")]
    pub scopes: Vec<usize>,
    /// Modes measured.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sparse,dense,hybrid,vdr",
        value_parser = ["sparse", "dense", "hybrid", "vdr"]
    )]
    pub modes: Vec<String>,
    /// Queries of the source set measured (the first ones).
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// Times each query is run (after one unrecorded pass).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Database to build in (default: `amplify_rag_bench` beside DATABASE_URL's).
    #[arg(long, env = "RAG_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Measure the scopes in an otherwise empty database instead.
    #[arg(long)]
    pub baseline: bool,
    /// Rebuild even if the database holds this plan already.
    #[arg(long)]
    pub rebuild: bool,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The models and searches the benchmark runs, as the query function has
/// them.
struct Bench {
    embedder: Arc<dyn Embedder>,
    pages: Arc<dyn PageEmbedder>,
    analyzer: Analyzer,
    chunker: Chunker,
    index: PgIndex,
    search: QueryService,
    /// The schema measured (its last migration).
    layout: String,
    /// Seconds migrating the database took when connecting (an existing
    /// database of an older schema is converted in place).
    migrate_s: f64,
}

impl Bench {
    async fn connect(url: &str) -> Result<Self> {
        let setup = wiring::embedder()?;
        let pages = page_embedder_from_env(&setup)?;
        let chunker = Chunker::new(setup.counter.clone(), setup.chunking)?;
        let index = connect_creating(url, setup.embedder.dimensions())
            .await?
            .with_page_dimensions(pages.dimensions());
        let started = Instant::now();
        index
            .migrate()
            .await
            .context("migrating the bench database")?;
        let migrate_s = started.elapsed().as_secs_f64();
        let shared = Arc::new(index.clone());
        let parts = SearchParts {
            index: shared.clone(),
            pages: PageParts {
                embedder: pages.clone(),
                index: shared,
            },
            embedder: setup,
            // The benchmark measures retrieval; reranking is a service's.
            reranker: None,
        };
        Ok(Self {
            embedder: parts.embedder.embedder.clone(),
            pages,
            analyzer: Analyzer::new(),
            chunker,
            search: query_handler_from(&parts, true, None).service,
            layout: index.schema_version().await?,
            migrate_s,
            index,
        })
    }
}

/// Runs the benchmark.
pub async fn run(a: BenchArgs) -> Result<ExitCode> {
    // Refused before a load that may take twenty minutes.
    for &scope in &a.scopes {
        anyhow::ensure!(
            scope > 0 && scope <= a.shared_chunks + MAX_OWN_CHUNKS,
            "--scopes {scope}: a caller sees 1 to {} chunks (up to {MAX_OWN_CHUNKS} own, \
             the rest of the department's --shared-chunks {})",
            a.shared_chunks + MAX_OWN_CHUNKS,
            a.shared_chunks
        );
    }
    anyhow::ensure!(a.queries > 0, "--queries must be at least 1");
    let url = bench_url(a.database_url.as_deref(), a.baseline)?;
    let bench = Bench::connect(&url).await?;
    let source = Source::load(&bench, &a.source, a.queries).await?;
    let plan = Plan::new(&a, source.fingerprint.clone());
    let layout = bench.layout.as_str();
    if bench.migrate_s > 1.0 {
        emit(
            &a,
            json!({"migrated_to": layout, "migrate_s": round(bench.migrate_s, 1)}),
        );
    }

    let state = State::read(&url);
    let load_s = match state.filter(|s| !a.rebuild && s.fingerprint == plan.fingerprint) {
        Some(state) if plan.loaded(&bench.index).await? => {
            log(
                &a,
                &format!(
                    "reusing the loaded database ({} chunks)",
                    plan.total_chunks()
                ),
            );
            state.load_s
        }
        _ => {
            let seconds = plan.load(&bench, &source, a.json).await?;
            State {
                fingerprint: plan.fingerprint.clone(),
                load_s: seconds,
            }
            .write(&url);
            seconds
        }
    };
    let total = plan.total_chunks();
    emit(
        &a,
        json!({"database_chunks": total, "load_s": round(load_s, 1),
               "chunks_per_s": round(total as f64 / load_s.max(1e-9), 0), "layout": layout,
               "baseline": a.baseline}),
    );

    let empty = Bench::connect(&sibling(&url, "probe")?)
        .await
        .context("the empty database of the write probe")?;
    let probe = write_probe(&bench, &empty, &source).await?;
    emit(
        &a,
        json!({"store_chunks_per_s": round(probe.store[0], 0), "store_chunks_per_s_empty": round(probe.store[1], 0),
               "store_slowdown": round(probe.store[1] / probe.store[0].max(1e-9), 2),
               "ingest_chunks_per_s": round(probe.ingest[0], 0), "ingest_chunks_per_s_empty": round(probe.ingest[1], 0),
               "ingest_slowdown": round(probe.ingest[1] / probe.ingest[0].max(1e-9), 2), "database_chunks": total,
               "layout": layout, "baseline": a.baseline}),
    );

    for &scope in &plan.scopes {
        for mode in &a.modes {
            let figures = measure(&a, &bench, &source, scope, mode).await?;
            emit(&a, figures);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The measurements of one mode for the caller of one scope size.
async fn measure(
    a: &BenchArgs,
    bench: &Bench,
    source: &Source,
    scope: usize,
    mode: &str,
) -> Result<Value> {
    let caller = Caller::new(scope_owner(scope));
    let scoped = SearchScope {
        caller: caller.clone(),
        document_ids: None,
        pipeline: None,
        filter: None,
    };
    let mut latencies = Vec::new();
    let (mut quality, mut compared) = (0.0, 0usize);
    // A page search is complete when it lists min(K, pages in scope) pages.
    let pages = if mode == "vdr" {
        bench.index.visible_pages(&scoped).await? as usize
    } else {
        0
    };
    let mut complete = 0usize;
    // The query embedding alone, timed on its own after each measured
    // search: the share of the latency that is the model's, not the index's.
    let mut embedding = Vec::new();
    for round in 0..=a.rounds {
        for query in &source.queries {
            let body = json!({"query": query, "top_k": K, "search_mode": mode});
            let request = QueryRequest::from_json(body.to_string().as_bytes())
                .map_err(|e| anyhow::anyhow!(e.error))?;
            let started = Instant::now();
            let response = bench
                .search
                .search(&caller, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{mode} search: {}", e.error))?;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            if round == 0 {
                continue;
            }
            latencies.push(elapsed);
            let started = Instant::now();
            match mode {
                "dense" | "hybrid" => {
                    bench.embedder.embed_query(query).await?;
                }
                "vdr" => {
                    bench.pages.embed_query(query).await?;
                }
                _ => {}
            }
            if mode != "sparse" {
                embedding.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            if round > 1 {
                continue;
            }
            let found: Vec<(String, f64)> = response
                .results
                .iter()
                .map(|r| (r.chunk_id.clone(), r.score))
                .collect();
            complete += usize::from(response.results.len() >= K.min(pages));
            let exact = match mode {
                "dense" => {
                    let vector = bench.embedder.embed_query(query).await?;
                    bench
                        .index
                        .exact_dense(&scoped, &vector, bench.embedder.model_id(), K)
                        .await?
                }
                "sparse" => {
                    let terms = bench.analyzer.query_terms(query);
                    bench
                        .index
                        .exact_sparse(&scoped, &terms, Bm25Params::default(), K)
                        .await?
                }
                _ => continue,
            };
            quality += overlap(&found, &exact);
            compared += 1;
        }
    }
    let layout = bench.layout.as_str();
    let mut figures = json!({
        "scope_chunks": scope,
        "mode": mode,
        "queries": latencies.len(),
        "p50_ms": round(percentile(&latencies, 0.5), 1),
        "p50_ci95_ms": median_interval(&latencies, source.queries.len()).map(|x| round(x, 1)),
        "p95_ms": round(percentile(&latencies, 0.95), 1),
        "p99_ms": round(percentile(&latencies, 0.99), 1),
        "layout": layout,
        "baseline": a.baseline,
    });
    if !embedding.is_empty() {
        figures["embedding_p50_ms"] = json!(round(percentile(&embedding, 0.5), 1));
    }
    if mode == "vdr" {
        figures["scope_pages"] = json!(pages);
        figures["complete_lists"] = json!(round(
            complete as f64 / source.queries.len().max(1) as f64,
            4
        ));
    }
    if compared > 0 {
        let name = if mode == "dense" {
            "dense_recall@10"
        } else {
            "bm25_agreement@10"
        };
        figures[name] = json!(round(quality / compared as f64, 4));
    }
    Ok(figures)
}

/// Share of the exact top-`K` the search found. A found result missing
/// from the exact list still counts when its score ties with the exact
/// list's last one (within 1e-6): which of equal scores make the cut is the
/// tie-break's choice, and the two break ties differently.
fn overlap(found: &[(String, f64)], exact: &[(String, f64)]) -> f64 {
    if exact.is_empty() {
        return if found.is_empty() { 1.0 } else { 0.0 };
    }
    let last = exact.last().map_or(f64::NEG_INFINITY, |(_, s)| *s);
    let listed: std::collections::HashSet<&str> = exact.iter().map(|(id, _)| id.as_str()).collect();
    let hits = found
        .iter()
        .take(exact.len())
        .filter(|(id, score)| listed.contains(id.as_str()) || (score - last).abs() <= 1e-6)
        .count();
    hits as f64 / exact.len() as f64
}

/// Index writes a second (chunks, their vectors and postings; the
/// embedding is left out, as it costs the same whatever the database holds)
/// into `bench`'s database as loaded and into `empty`'s, alternately, so
/// that both see the same machine. The probe's documents are removed after.
async fn write_probe(bench: &Bench, empty: &Bench, source: &Source) -> Result<WriteProbe> {
    let owner = "bench-write-probe";
    let mut store = [0.0, 0.0];
    let mut embed = 0.0;
    for i in 0..PROBE_DOCS {
        let doc = PlannedDoc {
            owner: owner.into(),
            id: format!("bench#{owner}/doc-{i:05}"),
            pipeline: Pipeline::TextRag,
            items: TENANT_DOC_CHUNKS,
            first: 50_000_000 + (i * TENANT_DOC_CHUNKS) as u64,
        };
        // What ingesting the document costs besides storing it: embedding
        // its chunks (the same for either database, so timed once).
        let texts: Vec<String> = (0..doc.items as u64)
            .map(|n| source.chunk(doc.first + n).0)
            .collect();
        let started = Instant::now();
        bench.embedder.embed_documents(&texts).await?;
        embed += started.elapsed().as_secs_f64();
        for (slot, target) in [bench, empty].into_iter().enumerate() {
            let started = Instant::now();
            self::store(target, source, &doc).await?;
            store[slot] += started.elapsed().as_secs_f64();
        }
    }
    for target in [bench, empty] {
        target.index.purge(&Caller::new(owner)).await?;
    }
    let chunks = (PROBE_DOCS * TENANT_DOC_CHUNKS) as f64;
    Ok(WriteProbe {
        store: [chunks / store[0].max(1e-9), chunks / store[1].max(1e-9)],
        ingest: [
            chunks / (embed + store[0]).max(1e-9),
            chunks / (embed + store[1]).max(1e-9),
        ],
    })
}

/// Chunks per second written into the loaded database and into an empty
/// one: storing alone, and ingesting (embedding and storing).
struct WriteProbe {
    store: [f64; 2],
    ingest: [f64; 2],
}

// ---------------------------------------------------------------- source

/// The real passages and vectors the data is recombined from, and the
/// queries measured.
struct Source {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    queries: Vec<String>,
    fingerprint: String,
}

impl Source {
    /// The source set's chunks, embedded once and cached in `.local/bench`,
    /// and its first `queries` queries.
    async fn load(bench: &Bench, dir: &Path, queries: usize) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let corpus_text = read("corpus.jsonl")?;
        let corpus: Vec<CorpusEntry> = parse_jsonl(&corpus_text).context("corpus.jsonl")?;
        let all: Vec<EvalQuery> = parse_jsonl(&read("queries.jsonl")?).context("queries.jsonl")?;
        let fingerprint = {
            let mut h = Sha256::new();
            h.update(corpus_text.as_bytes());
            h.update(bench.embedder.model_id().as_bytes());
            format!("{:x}", h.finalize())
        };
        let texts: Vec<String> = corpus
            .iter()
            .flat_map(|e| bench.chunker.chunk(&e.document_text(), TextKind::Plain))
            .collect();
        let cache = PathBuf::from(".local/bench").join(format!("{}.f32", &fingerprint[..16]));
        let dims = bench.embedder.dimensions();
        let vectors = match std::fs::read(&cache) {
            Ok(bytes) if bytes.len() == texts.len() * dims * 4 => bytes
                .chunks_exact(dims * 4)
                .map(|v| {
                    v.chunks_exact(4)
                        .map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]]))
                        .collect()
                })
                .collect(),
            _ => {
                let bar = super::progress(texts.len(), "embedding the source", false);
                let mut vectors = Vec::with_capacity(texts.len());
                for batch in texts.chunks(256) {
                    vectors.extend(bench.embedder.embed_documents(batch).await?);
                    bar.inc(batch.len() as u64);
                }
                bar.finish_and_clear();
                let bytes: Vec<u8> = vectors
                    .iter()
                    .flat_map(|v: &Vec<f32>| v.iter().flat_map(|f| f.to_le_bytes()))
                    .collect();
                if let Some(dir) = cache.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&cache, bytes)?;
                vectors
            }
        };
        Ok(Self {
            texts,
            vectors,
            queries: all.into_iter().take(queries).map(|q| q.text).collect(),
            fingerprint,
        })
    }

    /// Synthetic chunk `n`: half a passage joined to half another, and the
    /// normalized 7:3 mix of their vectors with a little noise.
    fn chunk(&self, n: u64) -> (String, Vec<f32>) {
        let mut rng = SplitMix64(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
        let a = (rng.next() % self.texts.len() as u64) as usize;
        let b = (rng.next() % self.texts.len() as u64) as usize;
        let words_a: Vec<&str> = self.texts[a].split_whitespace().collect();
        let words_b: Vec<&str> = self.texts[b].split_whitespace().collect();
        let mut words: Vec<&str> = words_a[..words_a.len().div_ceil(2)].to_vec();
        words.extend_from_slice(&words_b[words_b.len() / 2..]);
        let mut vector: Vec<f32> = self.vectors[a]
            .iter()
            .zip(&self.vectors[b])
            .map(|(x, y)| 0.7 * x + 0.3 * y + 0.02 * rng.gaussian())
            .collect();
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        vector.iter_mut().for_each(|x| *x /= norm);
        (words.join(" "), vector)
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64):
/// the same data for the same plan on every machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// A standard normal sample (Box-Muller).
    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

// ---------------------------------------------------------------- plan

/// Who owns which documents, and who is granted which.
struct Plan {
    tenants: usize,
    tenant_chunks: usize,
    shared_chunks: usize,
    grantees: usize,
    scopes: Vec<usize>,
    fingerprint: String,
}

/// One document to build.
struct PlannedDoc {
    owner: String,
    id: String,
    pipeline: Pipeline,
    /// Chunks of a text document, pages of a VDR one.
    items: usize,
    /// Where its items start in the synthetic sequence.
    first: u64,
}

fn scope_owner(scope: usize) -> String {
    format!("bench-scope-{scope}")
}

const DEPARTMENT: &str = "bench-department";

impl Plan {
    fn new(a: &BenchArgs, source: String) -> Self {
        let mut scopes = a.scopes.clone();
        scopes.sort_unstable();
        scopes.dedup();
        let (tenants, grantees) = if a.baseline {
            (0, 0)
        } else {
            (a.tenants, a.grantees)
        };
        let fingerprint = format!(
            "{source}|{tenants}|{}|{}|{grantees}|{scopes:?}",
            a.tenant_chunks, a.shared_chunks
        );
        Self {
            tenants,
            tenant_chunks: a.tenant_chunks,
            shared_chunks: a.shared_chunks,
            grantees,
            scopes,
            fingerprint,
        }
    }

    /// Every owner, the chunks it owns and the size of its text documents.
    fn owners(&self) -> Vec<(String, usize, usize)> {
        let mut owners: Vec<(String, usize, usize)> = self
            .scopes
            .iter()
            .map(|&s| (scope_owner(s), s.min(MAX_OWN_CHUNKS), TENANT_DOC_CHUNKS))
            .collect();
        owners.push((DEPARTMENT.into(), self.shared_chunks, SHARED_DOC_CHUNKS));
        owners.extend((0..self.tenants).map(|t| {
            (
                format!("bench-tenant-{t}"),
                self.tenant_chunks,
                TENANT_DOC_CHUNKS,
            )
        }));
        owners
    }

    /// Every document: an owner's text documents, then its VDR documents
    /// (a page per [`CHUNKS_PER_PAGE`] chunks, [`DOC_PAGES`] to a document).
    fn documents(&self) -> Vec<PlannedDoc> {
        let mut docs = Vec::new();
        let mut next = 0u64;
        let mut add = |owner: &str, kind: &str, pipeline, total: usize, per_doc: usize| {
            for (i, start) in (0..total).step_by(per_doc.max(1)).enumerate() {
                let items = per_doc.min(total - start);
                docs.push(PlannedDoc {
                    owner: owner.to_owned(),
                    id: format!("bench#{owner}/{kind}-{i:05}"),
                    pipeline,
                    items,
                    first: next,
                });
                next += items as u64;
            }
        };
        for (owner, chunks, per_doc) in self.owners() {
            add(&owner, "doc", Pipeline::TextRag, chunks, per_doc);
            let pages = (chunks / CHUNKS_PER_PAGE).max(1);
            add(&owner, "pages", Pipeline::Vdr, pages, DOC_PAGES);
        }
        docs
    }

    fn total_chunks(&self) -> usize {
        self.owners().iter().map(|(_, n, _)| n).sum()
    }

    /// Whether the database holds what the plan builds (its chunk count).
    async fn loaded(&self, index: &PgIndex) -> Result<bool> {
        let chunks = index.chunks_of_owners_like("bench-%").await?;
        Ok(chunks as usize == self.total_chunks())
    }

    /// Builds the database from scratch; returns the seconds it took.
    async fn load(&self, bench: &Bench, source: &Source, quiet: bool) -> Result<f64> {
        let started = Instant::now();
        let index = &bench.index;
        index.purge_owners_like("bench-%").await?;
        // Vectors are indexed once at the end: building the HNSW graph in
        // one pass is many times faster than inserting into it.
        index.drop_vector_indexes().await?;
        let docs = self.documents();
        let bar = super::progress(docs.len(), "loading documents", quiet);
        futures::stream::iter(docs)
            .map(|doc| {
                let bar = bar.clone();
                async move {
                    store(bench, source, &doc).await?;
                    bar.inc(1);
                    Ok::<_, anyhow::Error>(())
                }
            })
            .buffer_unordered(STORE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        bar.finish_and_clear();
        self.grant(index).await?;
        index.build_vector_indexes(VECTOR_INDEX_MEMORY).await?;
        index.analyze().await?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// The department's documents: all of them to each grantee; to each
    /// scope owner, the first S − 1,000 chunks' worth and the same share of
    /// its VDR documents.
    async fn grant(&self, index: &PgIndex) -> Result<()> {
        let department: Vec<PlannedDoc> = self
            .documents()
            .into_iter()
            .filter(|d| d.owner == DEPARTMENT)
            .collect();
        let of = |p: Pipeline| -> Vec<&str> {
            department
                .iter()
                .filter(|d| d.pipeline == p)
                .map(|d| d.id.as_str())
                .collect()
        };
        let (text, pages) = (of(Pipeline::TextRag), of(Pipeline::Vdr));
        let mut grants: Vec<(String, &str)> = Vec::new();
        for &scope in &self.scopes {
            let share = scope.saturating_sub(MAX_OWN_CHUNKS) as f64 / self.shared_chunks as f64;
            for list in [&text, &pages] {
                let n = ((share * list.len() as f64).ceil() as usize).min(list.len());
                grants.extend(list[..n].iter().map(|d| (scope_owner(scope), *d)));
            }
        }
        for g in 0..self.grantees {
            let grantee = format!("bench-grantee-{g}");
            grants.extend(text.iter().chain(&pages).map(|d| (grantee.clone(), *d)));
        }
        for batch in grants.chunks(50_000) {
            let (grantees, docs): (Vec<&str>, Vec<&str>) =
                batch.iter().map(|(g, d)| (g.as_str(), *d)).unzip();
            index.grant_many(&grantees, &docs).await?;
        }
        Ok(())
    }
}

/// Stores one planned document through the index's write path.
async fn store(bench: &Bench, source: &Source, doc: &PlannedDoc) -> Result<()> {
    match doc.pipeline {
        Pipeline::TextRag => {
            let mut texts = Vec::with_capacity(doc.items);
            let mut vectors = Vec::with_capacity(doc.items);
            for i in 0..doc.items as u64 {
                let (text, vector) = source.chunk(doc.first + i);
                texts.push((None, text));
                vectors.push(vector);
            }
            let records = chunk_records(&bench.analyzer, texts, vectors, &json!({}));
            let record = document(doc, bench.embedder.model_id());
            bench.index.replace_document(&record, &records).await?;
        }
        Pipeline::Vdr => {
            let pages = doc.items as u32;
            let records: Vec<PageRecord> = (1..=pages)
                .map(|p| {
                    // Page vectors come from their own stretch of the sequence.
                    let at = (doc.first + u64::from(p)) * PAGE_VECTORS as u64 + (1 << 40);
                    PageRecord {
                        page_num: p,
                        image_key: None,
                        content: source.chunk(at).0,
                        text_source: PageTextSource::TextLayer,
                        vectors: (0..PAGE_VECTORS as u64)
                            .map(|v| source.chunk(at + v).1)
                            .collect(),
                        metadata: json!({}),
                    }
                })
                .collect();
            let record = DocumentRecord {
                page_count: Some(pages),
                ..document(doc, bench.pages.model_id())
            };
            bench
                .index
                .replace_pages(&record, 1, pages, &records, &[])
                .await?;
        }
    }
    Ok(())
}

fn document(doc: &PlannedDoc, model: &str) -> DocumentRecord {
    let (bucket, key) = doc.id.split_once('#').unwrap_or(("bench", &doc.id));
    DocumentRecord {
        document_id: doc.id.clone(),
        owner: doc.owner.clone(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        file_name: key.rsplit('/').next().unwrap_or(key).to_owned(),
        content_type: Some("text/plain".into()),
        pipeline: doc.pipeline,
        embedding_model: model.to_owned(),
        page_count: None,
        metadata: json!({}),
    }
}

// ---------------------------------------------------------------- plumbing

/// The bench database's URL: the given one, or DATABASE_URL's server with
/// database `amplify_rag_bench` (`_empty` for the baseline).
fn bench_url(given: Option<&str>, baseline: bool) -> Result<String> {
    let base = match given {
        Some(url) => PgConfig::new(url),
        None => PgConfig::from_env().with_database("amplify_rag_bench"),
    };
    Ok(if baseline {
        sibling(&base.url, "empty")?
    } else {
        base.url
    })
}

/// The URL of database `<name of url's>_<suffix>` beside `url`'s.
fn sibling(url: &str, suffix: &str) -> Result<String> {
    let config = PgConfig::new(url);
    let name = config
        .database()
        .with_context(|| format!("{} names no database", config.redacted_url()))?;
    Ok(config.with_database(&format!("{name}_{suffix}")).url)
}

/// Connects to `url`, creating its database first if the server has none
/// of that name.
async fn connect_creating(url: &str, dims: usize) -> Result<PgIndex> {
    let config = PgConfig {
        max_connections: (STORE_CONCURRENCY + 2) as u32,
        // A lost bench database is rebuilt, not recovered.
        synchronous_commit: false,
        ..PgConfig::new(url)
    };
    let pool = config
        .connect_creating()
        .await
        .with_context(|| format!("connecting to {}", config.redacted_url()))?;
    Ok(PgIndex::new(pool, dims))
}

/// What a loaded bench database was built from, remembered beside the
/// project's other local state.
struct State {
    fingerprint: String,
    load_s: f64,
}

impl State {
    fn path(url: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(url.as_bytes());
        PathBuf::from(".local/bench").join(format!("{:x}.json", h.finalize()))
    }

    fn read(url: &str) -> Option<Self> {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(Self::path(url)).ok()?).ok()?;
        Some(Self {
            fingerprint: v.get("fingerprint")?.as_str()?.to_owned(),
            load_s: v.get("load_s")?.as_f64()?,
        })
    }

    fn write(&self, url: &str) {
        let path = Self::path(url);
        let text = json!({"fingerprint": self.fingerprint, "load_s": self.load_s}).to_string();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&path, text));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not record the bench load");
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn log(a: &BenchArgs, line: &str) {
    if !a.json {
        eprintln!("{line}");
    }
}

/// The 95% interval of the median latency by a per-query bootstrap:
/// `latencies` holds rounds of `queries` queries each, in query order, and a
/// resample draws whole queries (a slow query is slow in every round).
/// Whether a figure near a target is under it, or inside this run's noise.
fn median_interval(latencies: &[f64], queries: usize) -> [f64; 2] {
    if latencies.is_empty() {
        return [0.0, 0.0];
    }
    rag_core::search::eval::query_bootstrap(queries, 2000, |picked| {
        let sample: Vec<f64> = latencies
            .chunks(queries)
            .flat_map(|round| picked.iter().filter_map(|&q| round.get(q).copied()))
            .collect();
        percentile(&sample, 0.5)
    })
}

/// Prints one result: a JSON line, or a table row.
fn emit(a: &BenchArgs, v: Value) {
    if a.json {
        println!("{v}");
        return;
    }
    let get = |k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    if v.get("mode").is_some() {
        let quality = v
            .get("dense_recall@10")
            .or_else(|| v.get("bm25_agreement@10"))
            .or_else(|| v.get("complete_lists"))
            .map(|x| x.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "scope {:>7}  {:<7} p50 {:>7} ms {:<14} p95 {:>7} ms  p99 {:>7} ms  quality@10 {quality:<7} embedding p50 {} ms",
            get("scope_chunks"),
            v["mode"].as_str().unwrap_or(""),
            get("p50_ms"),
            v["p50_ci95_ms"]
                .as_array()
                .map_or(String::new(), |ci| format!(
                    "[{}, {}]",
                    ci.first().unwrap_or(&Value::Null),
                    ci.get(1).unwrap_or(&Value::Null)
                )),
            get("p95_ms"),
            get("p99_ms"),
            v.get("embedding_p50_ms").map_or("-".into(), |x| x.to_string()),
        );
    } else {
        println!("{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::{median_interval, overlap, run, BenchArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn the_median_interval_resamples_whole_queries() {
        // Two rounds of 100 queries taking 1..=100 ms, the same in both.
        let round: Vec<f64> = (1..=100).map(f64::from).collect();
        let latencies = [round.clone(), round].concat();
        let [lo, hi] = median_interval(&latencies, 100);
        assert!(lo < 50.0 && hi > 50.0, "[{lo}, {hi}]");
        // About 50 +- 2 x 5 (the median's standard error over 100 queries
        // of this spread); 200 independent samples would give +- 2 x 3.5:
        // the rounds must not count as new queries.
        assert!(lo > 35.0 && hi < 65.0 && hi - lo > 16.0, "[{lo}, {hi}]");
        assert_eq!(median_interval(&[7.0; 30], 10), [7.0, 7.0]);
    }

    #[tokio::test]
    async fn impossible_plans_are_refused_before_any_load() {
        let unknown = Cli::try_parse_from(["bench", "--modes", "sparse,fuzzy"]);
        assert!(unknown.is_err(), "an unknown mode is refused");
        for args in [
            vec!["bench", "--scopes", "0"],
            vec!["bench", "--shared-chunks", "5000", "--scopes", "100,7000"],
            vec!["bench", "--queries", "0"],
        ] {
            let cli = Cli::try_parse_from(&args).unwrap();
            // No database is configured for this test: an error that names
            // the argument proves the check came first.
            let err = run(cli.bench).await.unwrap_err().to_string();
            assert!(err.starts_with("--"), "{args:?}: {err}");
        }
    }

    fn list(items: &[(&str, f64)]) -> Vec<(String, f64)> {
        items.iter().map(|(id, s)| (id.to_string(), *s)).collect()
    }

    #[test]
    fn a_tie_at_the_cut_counts_but_a_wrong_result_does_not() {
        let exact = list(&[("a", 3.0), ("b", 2.0), ("c", 1.0)]);
        // "d" ties with "c", the exact list's last: either is right.
        assert_eq!(
            overlap(&list(&[("a", 3.0), ("b", 2.0), ("d", 1.0)]), &exact),
            1.0
        );
        // "e" is not in the exact list and does not tie: a miss.
        let found = list(&[("a", 3.0), ("e", 2.5), ("b", 2.0)]);
        assert!((overlap(&found, &exact) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(overlap(&[], &[]), 1.0);
        assert_eq!(overlap(&list(&[("a", 1.0)]), &[]), 0.0);
    }
}
