//! Choosing the embedder from the environment: one place for every entry
//! point (`ragctl`, the Lambda functions, the local gateway).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rag_core::ingest::chunking::{ApproxTokenCounter, ChunkingConfig, TokenCounter};
use rag_core::ports::{Embedder, PageEmbedder};

use crate::{
    BertEmbedder, ColPaliConfig, ColPaliEmbedder, DeferredBert, Engine, OpenAiConfig,
    OpenAiEmbedder,
};

/// Environment variable choosing the local model's engine: `onnx-int8`,
/// `onnx-fp32` (or `onnx`), `candle`; unset means [`Engine::DEFAULT`].
pub const ENGINE_VAR: &str = "RAG_EMBED_ENGINE";

/// An embedder with what chunking for it needs.
pub struct EmbedderSetup {
    /// The embedder itself.
    pub embedder: Arc<dyn Embedder>,
    /// Counts tokens as the embedder's model does.
    pub counter: Arc<dyn TokenCounter>,
    /// Chunk sizes that fit the model's window.
    pub chunking: ChunkingConfig,
    /// What computes the vectors (`onnx-int8`, `candle`, `openai`, ...): the
    /// model id stays the same across a local model's engines, whose vectors
    /// are interchangeable within the bounds of DESIGN.md, so reports and
    /// caches that must tell them apart read this.
    pub engine: String,
}

impl EmbedderSetup {
    /// A loaded local model, with chunks sized in its own tokens and kept
    /// within its window.
    pub fn local(embedder: Arc<BertEmbedder>) -> Self {
        Self {
            counter: embedder.token_counter(),
            chunking: chunking_within(embedder.max_tokens()),
            engine: embedder.engine().name().to_owned(),
            embedder,
        }
    }

    /// A local model loading in the background ([`crate::deferred`]), with
    /// chunks sized in its own tokens and kept within its window.
    pub fn deferred(model: DeferredBert) -> Self {
        Self {
            counter: model.token_counter(),
            chunking: chunking_within(model.max_tokens()),
            engine: model.engine().name().to_owned(),
            embedder: Arc::new(model),
        }
    }
}

/// The default chunk sizes, kept within a model's window of `max_tokens`.
fn chunking_within(max_tokens: usize) -> ChunkingConfig {
    let mut chunking = ChunkingConfig::default();
    chunking.max_tokens = chunking.max_tokens.min(max_tokens);
    chunking
}

/// Why no embedder could be set up; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The OpenAI-compatible embedder is misconfigured.
    #[error("configuring the OpenAI-compatible embedder: {0}")]
    OpenAi(String),
    /// The local model could not be loaded.
    #[error("loading the embedding model from {dir} (fetch it with scripts/fetch-model.sh, or set RAG_MODEL_DIR): {source}")]
    Model {
        /// Where it was looked for.
        dir: PathBuf,
        /// Why loading failed.
        source: Box<crate::LoadError>,
    },
    /// `RAG_EMBEDDER` names no embedder.
    #[error("RAG_EMBEDDER must be 'local' or 'openai', not '{0}'")]
    Unknown(String),
    /// `RAG_EMBED_ENGINE` names no engine.
    #[error("RAG_EMBED_ENGINE must be 'onnx-int8', 'onnx-fp32' or 'candle', not '{0}'")]
    UnknownEngine(String),
    /// The page embedder is misconfigured.
    #[error("configuring the page embedder (PAGE_EMBEDDER_*): {0}")]
    PageEmbedder(String),
}

/// The production page embedder, when `PAGE_EMBEDDER_URL` names a
/// ColPali-style server (see [`crate::colpali`] for the contract and
/// `PAGE_EMBEDDER_MODEL`, `PAGE_EMBEDDER_API_KEY`, `PAGE_EMBEDDER_DIMENSIONS`
/// (default 128), `PAGE_EMBEDDER_BATCH_SIZE` (default 8)); `None` when it is
/// unset, so the caller uses the local text-span stand-in. A variable that is
/// set but unusable is an error rather than a silent fallback to the local
/// model.
pub fn page_embedder_from_env() -> Result<Option<Arc<dyn PageEmbedder>>, SetupError> {
    let error = |e: crate::ConfigError| SetupError::PageEmbedder(e.to_string());
    let Some(config) = ColPaliConfig::from_env().map_err(error)? else {
        return Ok(None);
    };
    Ok(Some(Arc::new(ColPaliEmbedder::new(config).map_err(error)?)))
}

/// The embedder chosen by `RAG_EMBEDDER`: `local` (the default) loads the
/// model in `RAG_MODEL_DIR`, or `default_model_dir`, with the engine
/// `RAG_EMBED_ENGINE` names; `openai` calls the endpoint
/// `OpenAiConfig::from_env` describes.
pub fn embedder_from_env(default_model_dir: &Path) -> Result<EmbedderSetup, SetupError> {
    match std::env::var("RAG_EMBEDDER").as_deref() {
        Ok("openai") => {
            let config = OpenAiConfig::from_env().map_err(|e| SetupError::OpenAi(e.to_string()))?;
            let embedder =
                OpenAiEmbedder::new(config).map_err(|e| SetupError::OpenAi(e.to_string()))?;
            Ok(EmbedderSetup {
                embedder: Arc::new(embedder),
                counter: Arc::new(ApproxTokenCounter),
                chunking: ChunkingConfig::default(),
                engine: "openai".to_owned(),
            })
        }
        Ok("local") | Ok("") | Err(_) => {
            let dir = std::env::var_os("RAG_MODEL_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| default_model_dir.to_path_buf());
            let engine = match std::env::var(ENGINE_VAR).ok().filter(|v| !v.is_empty()) {
                None => Engine::DEFAULT,
                Some(name) => Engine::parse(&name).ok_or(SetupError::UnknownEngine(name))?,
            };
            let model = DeferredBert::start(&dir, engine).map_err(|source| SetupError::Model {
                dir: dir.clone(),
                source: Box::new(source),
            })?;
            Ok(EmbedderSetup::deferred(model))
        }
        Ok(other) => Err(SetupError::Unknown(other.to_owned())),
    }
}
