//! Building the adapters from the environment, once per process.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rag_core::ingest::chunking::Chunker;
use rag_core::ports::{Embedder, Index};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{QueryConfig, QueryService};
use rag_embed::{embedder_from_env, EmbedderSetup};
use rag_index_pg::{PgConfig, PgIndex};
use rag_lambda::wiring::{SearchModels, SearchParts};

use crate::files::LocalFiles;

/// Default model location, relative to the working directory.
const DEFAULT_MODEL_DIR: &str = ".local/models/all-MiniLM-L6-v2";

/// The embedder chosen by `RAG_EMBEDDER` (`local`, the default, or `openai`).
pub fn embedder() -> Result<EmbedderSetup> {
    Ok(embedder_from_env(Path::new(DEFAULT_MODEL_DIR))?)
}

/// The index for `dims`-dimensional text vectors, connected; page vectors
/// have the dimension of the configured page model (`PAGE_EMBEDDER_URL`),
/// or `dims` for the local one, so that `db migrate` indexes them.
pub async fn index(dims: usize) -> Result<PgIndex> {
    let config = PgConfig::from_env();
    let pool = config
        .connect()
        .await
        .context("is PostgreSQL running? `scripts/pg.sh start` starts the embedded one")?;
    let page_dims = rag_embed::page_embedder_from_env()?.map_or(dims, |p| p.dimensions());
    Ok(PgIndex::new(pool, dims).with_page_dimensions(page_dims))
}

/// Everything search and ingestion need.
pub struct Services {
    pub embedder: Arc<dyn Embedder>,
    /// What computes the embedder's vectors (EmbedderSetup::engine).
    pub engine: String,
    pub index: Arc<PgIndex>,
    pub analyzer: Arc<Analyzer>,
    pub chunker: Arc<Chunker>,
    /// The model, page model and index as the functions wire them: what
    /// the pipelines and page search are built from.
    pub parts: SearchParts,
    /// The files ingested, and the pages rendered from them.
    pub files: Arc<LocalFiles>,
}

impl Services {
    /// Connects and loads the model; the schema must be migrated.
    pub async fn connect() -> Result<Self> {
        let setup = embedder()?;
        let (embedder, engine) = (setup.embedder.clone(), setup.engine.clone());
        let chunker = Arc::new(Chunker::new(setup.counter.clone(), setup.chunking)?);
        let index = Arc::new(index(embedder.dimensions()).await?);
        let models = SearchModels::from_env(&setup)?;
        let parts = SearchParts::over(index.pool().clone(), setup, models)?;
        Ok(Self {
            embedder,
            engine,
            index,
            analyzer: Arc::new(Analyzer::new()),
            chunker,
            parts,
            files: Arc::new(LocalFiles::from_env()),
        })
    }

    /// The query service over these adapters, pages included (a page
    /// result links to its rendered image's path).
    pub fn query_service(&self) -> QueryService {
        let index: Arc<dyn Index> = self.index.clone();
        QueryService {
            embedder: self.embedder.clone(),
            index,
            analyzer: self.analyzer.clone(),
            config: QueryConfig::default(),
            pages: Some(self.parts.page_search()),
            links: Some(self.files.clone()),
            reranker: self.parts.reranker.clone(),
        }
    }
}
