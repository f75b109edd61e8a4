//! Loading the local model in the background, so that a process is ready
//! to take work before the model is.
//!
//! Why: a Lambda function's init (everything before it asks for its first
//! event) was 126 ms for query-handler with candle and 174 ms with ONNX
//! Runtime, all but 10 ms of it loading the tokenizer and the model
//! (`scripts/cold-start.py`). Here only what the wiring needs at once is
//! read (the model id, its dimensions and window from the small JSON files,
//! the languages from its card) and every file the load needs is checked to
//! exist, so a missing model still fails at start with a clear message; the
//! tokenizer and weights load on a thread of their own while the runtime
//! starts and the first event arrives. The first embedding or token count
//! waits for the load if it is not done; a load that fails fails every use
//! with its reason (a document's run is retried, a query answers 503).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use candle_transformers::models::bert::Config;
use rag_core::ingest::chunking::TokenCounter;
use rag_core::ports::{EmbedError, Embedder};
use rag_core::search::language::ScriptCoverage;
use serde::Deserialize;

use crate::bert::{max_seq_length, model_id, read_json};
use crate::{BertEmbedder, Engine, LoadError};

/// The outcome of the background load, and a way to wait for it.
#[derive(Default)]
struct Loading {
    done: OnceLock<Result<BertEmbedder, String>>,
    lock: Mutex<()>,
    ready: Condvar,
}

impl Loading {
    /// The loaded model, waiting for it if need be.
    fn wait(&self) -> Result<&BertEmbedder, &str> {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(done) = self.done.get() {
                return done.as_ref().map_err(String::as_str);
            }
            guard = self
                .ready
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn finish(&self, result: Result<BertEmbedder, String>) {
        let _ = self.done.set(result);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.ready.notify_all();
    }
}

/// A local model loading in the background; an [`Embedder`] and (through
/// [`DeferredBert::token_counter`]) a [`TokenCounter`] at once.
#[derive(Clone)]
pub struct DeferredBert {
    loading: Arc<Loading>,
    model_id: String,
    dimensions: usize,
    max_tokens: usize,
    engine: Engine,
    scripts: ScriptCoverage,
}

impl std::fmt::Debug for DeferredBert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredBert")
            .field("model_id", &self.model_id)
            .field("engine", &self.engine.name())
            .field("loaded", &self.loading.done.get().map(Result::is_ok))
            .finish()
    }
}

/// The part of `tokenizer.json` that says how many special tokens wrap a
/// text (`[CLS]` and `[SEP]` for BERT), read with the tokenizers crate's
/// own types.
#[derive(Deserialize)]
struct TokenizerHead {
    post_processor: Option<tokenizers::PostProcessorWrapper>,
}

impl DeferredBert {
    /// Checks `dir` holds what loading it with `engine` needs, reads its
    /// small files, and starts loading it on a thread of its own.
    pub fn start(dir: &Path, engine: Engine) -> Result<Self, LoadError> {
        let config: Config = read_json(&dir.join("config.json"))?;
        let tokenizer_path = dir.join("tokenizer.json");
        let head: TokenizerHead = read_json(&tokenizer_path)?;
        let special = head.post_processor.map_or(0, |p| {
            use tokenizers::PostProcessor;
            p.added_tokens(false)
        });
        let window = max_seq_length(dir, &config)?;
        if window <= special {
            return Err(LoadError::Unsupported {
                path: dir.to_owned(),
                message: format!("max_seq_length {window} leaves no room for text"),
            });
        }
        let weights = engine.weights_path(dir);
        if !weights.is_file() {
            let message = "no such file (scripts/fetch-model.sh makes it)".to_owned();
            return Err(match engine {
                Engine::Candle => LoadError::Io {
                    path: weights,
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, message),
                },
                Engine::Onnx(_) => LoadError::Onnx {
                    path: weights,
                    message,
                },
            });
        }
        if let Engine::Onnx(_) = engine {
            crate::onnx::find_library().map_err(|message| LoadError::Onnx {
                path: weights.clone(),
                message,
            })?;
        }
        let loading = Arc::new(Loading::default());
        let background = loading.clone();
        let owned: PathBuf = dir.to_owned();
        std::thread::Builder::new()
            .name("model-load".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let result = BertEmbedder::load_with(&owned, engine).map_err(|e| e.to_string());
                match &result {
                    Ok(_) => tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "embedding model loaded in the background"
                    ),
                    Err(error) => {
                        tracing::error!(%error, "the embedding model could not be loaded")
                    }
                }
                background.finish(result);
            })
            .map_err(|source| LoadError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self {
            loading,
            model_id: model_id(dir),
            dimensions: config.hidden_size,
            max_tokens: window - special,
            engine,
            scripts: crate::model_card::script_coverage(dir),
        })
    }

    /// The largest text, in tokens without specials, the model sees whole.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The engine the model loads into.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Counts tokens as the model's tokenizer does, once it is loaded.
    pub fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(DeferredCounter {
            loading: self.loading.clone(),
        })
    }

    /// The loaded model, waiting on the blocking pool if it is not yet.
    async fn ready(&self) -> Result<&BertEmbedder, EmbedError> {
        if self.loading.done.get().is_none() {
            let loading = self.loading.clone();
            tokio::task::spawn_blocking(move || {
                let _ = loading.wait();
            })
            .await
            .map_err(|e| EmbedError::Model(format!("waiting for the model failed: {e}")))?;
        }
        match self.loading.done.get() {
            Some(Ok(model)) => Ok(model),
            Some(Err(reason)) => Err(EmbedError::Model(format!(
                "the embedding model could not be loaded: {reason}"
            ))),
            None => Err(EmbedError::Model(
                "the embedding model's load ended without an outcome".into(),
            )),
        }
    }
}

#[async_trait]
impl Embedder for DeferredBert {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.ready().await?.embed_documents(texts).await
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.ready().await?.embed_query(text).await
    }

    fn script_coverage(&self) -> &ScriptCoverage {
        &self.scripts
    }
}

/// The deferred model's tokenizer as a [`TokenCounter`].
struct DeferredCounter {
    loading: Arc<Loading>,
}

impl TokenCounter for DeferredCounter {
    fn count(&self, text: &str) -> usize {
        match self.loading.wait() {
            Ok(model) => model.count_tokens(text),
            Err(reason) => {
                // Over-count (every token covers at least one byte) so chunks
                // stay small enough; embedding will fail with the reason.
                tracing::warn!(%reason, "no tokenizer: counting bytes");
                text.len()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_returns_what_the_loader_finished_with() {
        let loading = Arc::new(Loading::default());
        let background = loading.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            background.finish(Err("broken weights".into()));
        });
        assert_eq!(loading.wait().err(), Some("broken weights"));
        let _ = thread.join();
        // Later calls answer at once, the same.
        assert_eq!(loading.wait().err(), Some("broken weights"));
    }
}
