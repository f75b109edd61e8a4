//! The embedding model, the index and the query handler over them.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use aws_config::SdkConfig;
use rag_aws::S3BlobStore;
use rag_core::ingest::chunking::{Chunker, ChunkingConfig};
use rag_core::ingest::page_spans::TextSpanPageEmbedder;
use rag_core::ports::{BlobLinker, Index, PageEmbedder, PageIndex, Reranker};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{PageSearch, QueryConfig, QueryService};
use rag_embed::{embedder_from_env, EmbedderSetup};
use rag_index_pg::{PasswordSource, PgIndex};

use crate::env;
use crate::query_handler::QueryHandler;

use super::*;

/// Where the model layer mounts the default embedding model.
pub const LAMBDA_MODEL_DIR: &str = "/opt/models/all-MiniLM-L6-v2";

/// The index and model a processor or the query handler uses.
pub struct SearchParts {
    /// The text index.
    pub index: Arc<dyn Index>,
    /// The text embedder and its token counter.
    pub embedder: EmbedderSetup,
    /// VDR pages: the page model and where page vectors are searched.
    pub pages: PageParts,
    /// What `rerank: true` queries reorder with (`RERANK_URL`), if any.
    pub reranker: Option<Arc<dyn Reranker>>,
}

/// The page embedder and the page index (the same database as the text
/// index).
#[derive(Clone)]
pub struct PageParts {
    /// Embeds pages and page queries.
    pub embedder: Arc<dyn PageEmbedder>,
    /// Stores and searches page vectors.
    pub index: Arc<dyn PageIndex>,
}

/// Spans of page text the local page embedder embeds: a sentence or two,
/// so one matching sentence decides a page's MaxSim score.
const PAGE_SPANS: ChunkingConfig = ChunkingConfig {
    max_tokens: 48,
    overlap_tokens: 8,
};

/// The page model from the environment (`PAGE_EMBEDDER_URL`, a
/// ColPali-style service), or else the local stand-in that embeds spans of
/// page text with the text model `text`.
pub fn page_embedder_from_env(text: &EmbedderSetup) -> Result<Arc<dyn PageEmbedder>> {
    Ok(match rag_embed::page_embedder_from_env()? {
        Some(remote) => remote,
        None => Arc::new(TextSpanPageEmbedder::new(
            text.embedder.clone(),
            Chunker::new(text.counter.clone(), PAGE_SPANS)?,
        )),
    })
}

/// The models a deployment picks beside the text model: the page model of
/// VDR search and the reranker, if any.
pub struct SearchModels {
    /// Embeds pages and page queries.
    pub pages: Arc<dyn PageEmbedder>,
    /// What `rerank: true` queries reorder with.
    pub reranker: Option<Arc<dyn Reranker>>,
}

impl SearchModels {
    /// The models the environment names ([`page_embedder_from_env`],
    /// [`reranker_from_env`]).
    pub fn from_env(text: &EmbedderSetup) -> Result<Self> {
        Ok(Self {
            pages: page_embedder_from_env(text)?,
            reranker: reranker_from_env()?,
        })
    }
}

impl SearchParts {
    /// Loads the model (`RAG_MODEL_DIR`, or the layer's) and connects to
    /// the read or write endpoint, re-reading a rotated password from its
    /// secret whenever the database refuses a login.
    pub async fn from_env(sdk: &SdkConfig, write: bool) -> Result<Self> {
        let embedder = embedder_from_env(Path::new(LAMBDA_MODEL_DIR))?;
        let settings = DatabaseSettings::from_env(write)?;
        let pool = settings.resolve(sdk).await?.connect().await?;
        let models = SearchModels::from_env(&embedder)?;
        Self::over_with(pool, embedder, models, settings.password_source(sdk))
    }

    /// The parts over a database pool, with exactly the models given.
    pub fn over(
        pool: rag_index_pg::PgPool,
        embedder: EmbedderSetup,
        models: SearchModels,
    ) -> Result<Self> {
        Self::over_with(pool, embedder, models, None)
    }

    /// [`SearchParts::over`], re-reading the password from `password` when
    /// the database refuses a login.
    pub fn over_with(
        pool: rag_index_pg::PgPool,
        embedder: EmbedderSetup,
        models: SearchModels,
        password: Option<Arc<dyn PasswordSource>>,
    ) -> Result<Self> {
        let SearchModels { pages, reranker } = models;
        let mut index = PgIndex::new(pool, embedder.embedder.dimensions())
            .with_page_dimensions(pages.dimensions());
        if let Some(password) = password {
            index = index.with_password_source(password);
        }
        let index = Arc::new(index);
        Ok(Self {
            index: index.clone(),
            embedder,
            pages: PageParts {
                embedder: pages,
                index,
            },
            reranker,
        })
    }

    /// The query service's page search.
    pub fn page_search(&self) -> PageSearch {
        PageSearch {
            embedder: self.pages.embedder.clone(),
            index: self.pages.index.clone(),
            candidates_per_vector: PAGE_CANDIDATES_PER_VECTOR,
        }
    }
}

/// Nearest page vectors fetched through HNSW per query vector, whose pages
/// are re-ranked by exact MaxSim: HNSW's default search breadth (pgvector's
/// `ef_search` = 40) covers 40 anyway.
const PAGE_CANDIDATES_PER_VECTOR: usize = 40;

/// `async-v2-query-handler` over explicit parts; `links` makes the
/// `image_url` of page results.
pub fn query_handler_from(
    parts: &SearchParts,
    enable_hybrid: bool,
    links: Option<Arc<dyn BlobLinker>>,
) -> QueryHandler {
    QueryHandler {
        service: QueryService {
            embedder: parts.embedder.embedder.clone(),
            index: parts.index.clone(),
            analyzer: Arc::new(Analyzer::new()),
            config: QueryConfig {
                hybrid: enable_hybrid,
                ..QueryConfig::default()
            },
            pages: Some(parts.page_search()),
            links,
            reranker: parts.reranker.clone(),
        },
    }
}

/// The reranker `RERANK_URL` names (a Cohere- or Jina-compatible
/// `/rerank` endpoint), or none.
pub fn reranker_from_env() -> Result<Option<Arc<dyn Reranker>>> {
    Ok(match rag_embed::RerankConfig::from_env()? {
        Some(config) => Some(Arc::new(rag_embed::HttpReranker::new(config)?)),
        None => None,
    })
}

/// `async-v2-query-handler` from the environment.
pub async fn query_handler() -> Result<QueryHandler> {
    let sdk = rag_aws::sdk_config().await;
    let parts = SearchParts::from_env(&sdk, false).await?;
    Ok(query_handler_from(
        &parts,
        env::flag(env::ENABLE_HYBRID_SEARCH, true)?,
        Some(Arc::new(S3BlobStore::from_config(&sdk))),
    ))
}
