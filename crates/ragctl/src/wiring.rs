//! Building the adapters from the environment, once per process.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use rag_core::analyzer::Analyzer;
use rag_core::chunking::{ApproxTokenCounter, Chunker, ChunkingConfig, TokenCounter};
use rag_core::ports::{Embedder, Index};
use rag_core::query::{QueryConfig, QueryService};
use rag_embed::{BertEmbedder, OpenAiConfig, OpenAiEmbedder};
use rag_index_pg::{PgConfig, PgIndex};

/// Default model location, relative to the working directory.
const DEFAULT_MODEL_DIR: &str = ".local/models/all-MiniLM-L6-v2";

/// An embedder with what chunking for it needs.
pub struct EmbedderSetup {
    pub embedder: Arc<dyn Embedder>,
    /// Counts tokens as the embedder's model does.
    pub counter: Arc<dyn TokenCounter>,
    /// Chunk sizes that fit the model's window.
    pub chunking: ChunkingConfig,
}

/// The embedder chosen by `RAG_EMBEDDER` (`local`, the default, or `openai`).
pub fn embedder() -> Result<EmbedderSetup> {
    match std::env::var("RAG_EMBEDDER").as_deref() {
        Ok("openai") => {
            let config =
                OpenAiConfig::from_env().context("configuring the OpenAI-compatible embedder")?;
            let embedder =
                OpenAiEmbedder::new(config).context("creating the OpenAI-compatible embedder")?;
            Ok(EmbedderSetup {
                embedder: Arc::new(embedder),
                counter: Arc::new(ApproxTokenCounter),
                chunking: ChunkingConfig::default(),
            })
        }
        Ok("local") | Err(_) => {
            let dir = std::env::var_os("RAG_MODEL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_DIR));
            let embedder = BertEmbedder::load(&dir).with_context(|| format!("loading the embedding model from {} (run scripts/fetch-model.sh, or set RAG_MODEL_DIR)", dir.display()))?;
            let mut chunking = ChunkingConfig::default();
            chunking.max_tokens = chunking.max_tokens.min(embedder.max_tokens());
            let counter = embedder.token_counter();
            Ok(EmbedderSetup {
                embedder: Arc::new(embedder),
                counter,
                chunking,
            })
        }
        Ok(other) => anyhow::bail!("RAG_EMBEDDER must be 'local' or 'openai', not '{other}'"),
    }
}

/// The index for `dims`-dimensional vectors, connected.
pub async fn index(dims: usize) -> Result<PgIndex> {
    let config = PgConfig::from_env();
    let pool = config
        .connect()
        .await
        .context("is PostgreSQL running? `scripts/pg.sh start` starts the embedded one")?;
    Ok(PgIndex::new(pool, dims))
}

/// Everything search and ingestion need.
pub struct Services {
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<PgIndex>,
    pub analyzer: Arc<Analyzer>,
    pub chunker: Arc<Chunker>,
}

impl Services {
    /// Connects and loads the model; the schema must be migrated.
    pub async fn connect() -> Result<Self> {
        let EmbedderSetup {
            embedder,
            counter,
            chunking,
        } = embedder()?;
        let index = Arc::new(index(embedder.dimensions()).await?);
        let chunker = Arc::new(Chunker::new(counter, chunking)?);
        Ok(Self {
            embedder,
            index,
            analyzer: Arc::new(Analyzer::new()),
            chunker,
        })
    }

    /// The query service over these adapters.
    pub fn query_service(&self) -> QueryService {
        let index: Arc<dyn Index> = self.index.clone();
        QueryService {
            embedder: self.embedder.clone(),
            index,
            analyzer: self.analyzer.clone(),
            config: QueryConfig::default(),
        }
    }
}
