//! Shared set-up for the integration tests: the real database, the real
//! model and extractor, local adapters for storage and status.
//!
//! Every test works as its own freshly named users, so tests share one
//! database without seeing each other's documents or BM25 statistics.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rag_core::domain::job::PipelineJob;
use rag_core::ingest::chunking::{Chunker, ChunkingConfig};
use rag_core::ingest::pipeline::JobRunner as _;
use rag_core::ingest::pipeline::{RunOutcome, RunReporter, TextPipeline, TextPipelineConfig};
use rag_core::ports::{BlobRef, Embedder};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{QueryConfig, QueryRequest, QueryResponse, QueryService, SearchMode};
use rag_core::Caller;
use rag_embed::BertEmbedder;
use rag_extract::FileExtractor;
use rag_index_pg::{PgConfig, PgIndex};
use rag_local::{FsBlobStore, MemoryStatusStore};
use tokio::sync::OnceCell;

pub mod contract;
pub mod fleet;
pub mod legacy;
pub mod rerank_server;
pub mod tls_front;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared sample documents.
pub fn shared_pdf(name: &str) -> PathBuf {
    workspace().join("../shared/data/docs/pdf").join(name)
}

/// The document worker of the tests (`src/bin/extract-worker.rs`): test
/// binaries cannot serve as their own workers, so the sandboxed readers run
/// this one, built beside them (in `target/<profile>/`).
pub fn extract_worker() -> rag_extract::sandbox::WorkerProgram {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let worker = profile_dir.join(format!("extract-worker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        worker.is_file(),
        "{} is missing: cargo builds it with the tests of this package",
        worker.display()
    );
    rag_extract::sandbox::WorkerProgram::at(worker)
}

/// A fresh user name.
pub fn new_user(tag: &str) -> Caller {
    Caller::new(format!("test-{tag}-{}", uuid::Uuid::new_v4()))
}

static EMBEDDER: OnceCell<Arc<BertEmbedder>> = OnceCell::const_new();
static MIGRATED: OnceCell<()> = OnceCell::const_new();

/// The local model, loaded once per test binary.
pub async fn embedder() -> Arc<BertEmbedder> {
    EMBEDDER
        .get_or_init(|| async {
            let dir = std::env::var_os("RAG_MODEL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join(".local/models/all-MiniLM-L6-v2"));
            match BertEmbedder::load(&dir) {
                Ok(e) => Arc::new(e),
                Err(e) => panic!(
                    "cannot load the model from {} ({e}); run scripts/fetch-model.sh",
                    dir.display()
                ),
            }
        })
        .await
        .clone()
}

/// The migrated index on the test database (DATABASE_URL or the embedded
/// server). Each test gets its own pool: a pool belongs to the runtime of the
/// test that opened it. The schema is migrated once per test binary.
pub async fn index() -> PgIndex {
    let config = PgConfig::from_env();
    let pool = match config.connect().await {
        Ok(p) => p,
        Err(e) => panic!("{e}; start it with scripts/pg.sh start"),
    };
    let index = PgIndex::new(pool, embedder().await.dimensions());
    MIGRATED
        .get_or_init(|| async {
            if let Err(e) = index.migrate().await {
                panic!("migration failed: {e}");
            }
        })
        .await;
    index
}

pub use rag_core::testing::RecordingStatusStore;

/// A status store that keeps every applied record, over the local memory
/// store (part counters and leases included), to check sequences.
pub fn recording_status() -> Arc<RecordingStatusStore> {
    Arc::new(RecordingStatusStore::over(Arc::new(
        MemoryStatusStore::default(),
    )))
}

/// A wired text pipeline over a temporary bucket directory.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub bucket: String,
    pub pipeline: TextPipeline,
    pub status: Arc<RecordingStatusStore>,
    pub index: PgIndex,
    pub query: QueryService,
}

impl Harness {
    /// A harness whose objects may be at most `max_object_bytes`.
    pub async fn with_limit(max_object_bytes: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bucket = format!("bucket-{}", uuid::Uuid::new_v4());
        let embedder = embedder().await;
        let index = index().await;
        let status = recording_status();
        let analyzer = Arc::new(Analyzer::new());
        let chunker = Arc::new(
            Chunker::new(embedder.token_counter(), ChunkingConfig::default()).expect("chunker"),
        );
        let pipeline = TextPipeline {
            blobs: Arc::new(FsBlobStore::new().with_bucket(bucket.clone(), dir.path())),
            extractor: Arc::new(FileExtractor::default()),
            embedder: embedder.clone(),
            index: Arc::new(index.clone()),
            status: status.clone(),
            chunker,
            analyzer: analyzer.clone(),
            config: TextPipelineConfig {
                max_object_bytes,
                ..TextPipelineConfig::default()
            },
            visuals: None,
            follow_up: None,
        };
        let query = QueryService {
            embedder,
            index: Arc::new(index.clone()),
            analyzer,
            config: QueryConfig::default(),
            pages: None,
            links: None,
            reranker: None,
        };
        Self {
            dir,
            bucket,
            pipeline,
            status,
            index,
            query,
        }
    }

    /// A harness with the default limits.
    pub async fn new() -> Self {
        Self::with_limit(TextPipelineConfig::default().max_object_bytes).await
    }

    /// Puts an object into the bucket; returns its statusId / document id.
    pub fn put(&self, key: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, bytes).expect("write object");
        format!("{}#{key}", self.bucket)
    }

    /// Classifies and processes an object as `user`, as the queue consumer would.
    pub async fn ingest(&self, user: &Caller, key: &str) -> RunOutcome {
        let blob = BlobRef {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        };
        let job = match started_job(
            self.pipeline.blobs.as_ref(),
            &self.status,
            &blob,
            user,
            None,
        )
        .await
        {
            Ok(job) => job,
            Err(e) => {
                return RunOutcome::Failed(rag_core::ingest::pipeline::Failure::new(
                    "unsupported_type",
                    e.to_string(),
                ))
            }
        };
        self.pipeline
            .run(&job)
            .await
            .expect("no infrastructure fault")
    }

    /// Searches as `user`.
    pub async fn search(&self, user: &Caller, query: &str, mode: SearchMode) -> QueryResponse {
        let mut req = QueryRequest::new(query);
        req.search_mode = mode;
        self.query.search(user, &req).await.expect("search")
    }

    /// Rows the index holds for a document, per table.
    pub async fn row_counts(&self, document_id: &str) -> Vec<(&'static str, i64)> {
        row_counts(&self.index, document_id).await
    }
}

/// A text pipeline over the local model, the real extractor and `index`:
/// chunks of 200 tokens overlapping by 30, the default settings, no
/// visuals, no follow-up queue (set what a test needs with `..`).
pub fn text_pipeline(
    blobs: Arc<dyn rag_core::ports::BlobStore>,
    index: &PgIndex,
    status: Arc<RecordingStatusStore>,
    text: &Arc<BertEmbedder>,
) -> TextPipeline {
    TextPipeline {
        blobs,
        extractor: Arc::new(FileExtractor::default()),
        embedder: text.clone(),
        index: Arc::new(index.clone()),
        status,
        chunker: Arc::new(chunker(text, 200, 30)),
        analyzer: Arc::new(Analyzer::new()),
        config: TextPipelineConfig::default(),
        visuals: None,
        follow_up: None,
    }
}

/// A chunker sized in the local model's tokens.
pub fn chunker(text: &BertEmbedder, max_tokens: usize, overlap_tokens: usize) -> Chunker {
    Chunker::new(
        text.token_counter(),
        ChunkingConfig {
            max_tokens,
            overlap_tokens,
        },
    )
    .expect("chunker")
}

/// The stages a text document's run goes through, in order, as status
/// records and WebSocket pushes name them.
pub const TEXT_RUN_STAGES: [&str; 7] = [
    "queued",
    "processing_started",
    "extracting_text",
    "chunking",
    "embedding",
    "storing",
    "completed",
];

/// The job of a new run for a stored object of `user`'s, its run started
/// (`queued`) as the API would before sending it; the object's type refused
/// as the classifier refuses it. `pipeline` overrides the classifier's
/// choice (a PDF sent to VDR), in the job and its queued record alike.
pub async fn started_job(
    blobs: &dyn rag_core::ports::BlobStore,
    status: &Arc<RecordingStatusStore>,
    blob: &BlobRef,
    user: &Caller,
    pipeline: Option<rag_core::domain::classify::Pipeline>,
) -> Result<PipelineJob, rag_core::domain::classify::UnsupportedType> {
    let meta = blobs.head(blob).await.expect("object exists");
    let (mut job, _) = PipelineJob::for_object(
        blob,
        &meta,
        None,
        &user.user,
        uuid::Uuid::new_v4().to_string(),
        true,
    )?;
    if let Some(pipeline) = pipeline {
        job.pipeline = pipeline;
    }
    RunReporter::new(status.clone(), &job)
        .start_run(true, "queued")
        .await;
    Ok(job)
}

/// Drops a database a test made for itself on the test server.
pub async fn drop_database(name: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(index().await.pool())
    .await
    .unwrap_or_else(|e| panic!("dropping database {name}: {e}"));
}

/// Rows `index` holds for a document, per table.
pub async fn row_counts(index: &PgIndex, document_id: &str) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "hybrid_documents",
        "hybrid_chunks",
        "hybrid_dense_embeddings",
        "hybrid_bm25_index",
        "document_bm25_metadata",
        "hybrid_document_grants",
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE document_id = $1"
        )))
        .bind(document_id)
        .fetch_one(index.pool())
        .await
        .expect("count");
        out.push((table, n));
    }
    out
}

/// A PDF of `pages` pages, page N saying "This is page N about topic-N".
pub fn numbered_pdf(pages: u32) -> Vec<u8> {
    let texts: Vec<String> = (1..=pages)
        .map(|n| format!("This is page {n} about topic-{n}"))
        .collect();
    pdf_of_pages(&texts)
}

/// A PDF with one line of text per page (ASCII, Helvetica); an empty line
/// makes a blank page.
pub fn pdf_of_pages(texts: &[String]) -> Vec<u8> {
    let pages = texts.len();
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        String::new(), // the page tree, once the kids are known
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    let mut kids = Vec::new();
    for line in texts {
        let text = if line.is_empty() {
            String::new()
        } else {
            format!("BT /F1 18 Tf 40 700 Td ({line}) Tj ET")
        };
        objects.push(format!(
            "<< /Length {} >>\nstream\n{text}\nendstream",
            text.len() + 1
        ));
        let content = objects.len();
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>"
        ));
        kids.push(format!("{} 0 R", objects.len()));
    }
    objects[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    );
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}
