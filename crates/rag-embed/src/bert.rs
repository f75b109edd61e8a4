//! In-process sentence embeddings with a BERT-family model (candle, CPU).
//!
//! Exists so the project embeds documents and queries without any service:
//! a sentence-transformers directory (for instance all-MiniLM-L6-v2, fetched by
//! `scripts/fetch-model.sh`) is loaded once and run on the CPU. It reproduces
//! what sentence-transformers does — the same tokenizer, truncation to
//! `max_seq_length` tokens counting `[CLS]`/`[SEP]`, attention-masked mean (or
//! CLS) pooling — and always L2-normalizes, since the index compares by cosine.
//! The forward pass itself is [`crate::encoder`], a faster equivalent of
//! candle-transformers' `BertModel` over the same weights.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::encoder::Encoder;
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use rag_core::chunking::TokenCounter;
use rag_core::language::ScriptCoverage;
use rag_core::ports::{EmbedError, Embedder};
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{
    Encoding, PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

/// Texts per forward pass unless [`BertEmbedder::with_batch_size`] says
/// otherwise. Smaller batches are faster on CPU once texts are long (less
/// activation memory per pass): see the throughput test for measurements.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A required file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON configuration file is malformed or lacks required fields.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `tokenizer.json` could not be loaded or configured.
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    /// The weights do not match the configuration (or are not BERT weights).
    #[error("cannot load model weights {path}: {source}")]
    Weights {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
    /// The directory asks for something this embedder does not implement.
    #[error("unsupported model in {path}: {message}")]
    Unsupported { path: PathBuf, message: String },
}

/// How token vectors are combined into one sentence vector, as the model's
/// `1_Pooling/config.json` prescribes (the model was trained with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of the token vectors, padding excluded (`pooling_mode_mean_tokens`).
    Mean,
    /// The `[CLS]` token's vector (`pooling_mode_cls_token`).
    Cls,
}

/// The parts of `1_Pooling/config.json` we read.
#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// The parts of `sentence_bert_config.json` we read.
#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// One entry of `modules.json`.
#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// The loaded model, shared with blocking inference threads.
struct Model {
    bert: Encoder,
    /// Truncates to `max_seq_length` (specials included), never pads.
    tokenizer: Tokenizer,
    device: Device,
    pooling: Pooling,
    pad_id: u32,
}

/// A BERT-family sentence-transformers model running in-process.
///
/// Cheap to clone (the model is behind an [`Arc`]). The async methods run
/// inference on tokio's blocking pool; within a call, batches run
/// concurrently on rayon's pool (one thread per core, `RAYON_NUM_THREADS`
/// to change) and matrix products use every core.
#[derive(Clone)]
pub struct BertEmbedder {
    model: Arc<Model>,
    counter: BertTokenCounter,
    model_id: String,
    dimensions: usize,
    max_seq_length: usize,
    special_tokens: usize,
    batch_size: usize,
    normalize_module: bool,
    scripts: ScriptCoverage,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("model_id", &self.model_id)
            .field("dimensions", &self.dimensions)
            .field("max_seq_length", &self.max_seq_length)
            .field("pooling", &self.model.pooling)
            .field("batch_size", &self.batch_size)
            .field("scripts", &self.scripts)
            .finish()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LoadError> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|source| LoadError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Reads an optional JSON file: `Ok(None)` when it does not exist.
fn read_optional_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LoadError> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

fn pooling_from(config: Option<PoolingConfig>, path: &Path) -> Result<Pooling, LoadError> {
    let Some(c) = config else {
        return Ok(Pooling::Mean);
    };
    let unsupported = |message: &str| LoadError::Unsupported {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if c.pooling_mode_max_tokens || c.pooling_mode_mean_sqrt_len_tokens {
        return Err(unsupported(
            "only mean-tokens and CLS-token pooling are implemented",
        ));
    }
    match (c.pooling_mode_mean_tokens, c.pooling_mode_cls_token) {
        (true, false) => Ok(Pooling::Mean),
        (false, true) => Ok(Pooling::Cls),
        (true, true) => Err(unsupported(
            "concatenated mean + CLS pooling is not implemented",
        )),
        (false, false) => Err(unsupported("no pooling mode is enabled")),
    }
}

impl BertEmbedder {
    /// Loads a sentence-transformers directory: `config.json`, `tokenizer.json`,
    /// `model.safetensors` (memory-mapped), and when present `modules.json`,
    /// `sentence_bert_config.json`, the pooling configuration and the model
    /// card (`README.md`, for the languages the model reads).
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let config_path = dir.join("config.json");
        let config: Config = read_json(&config_path)?;

        let modules: Option<Vec<ModuleEntry>> = read_optional_json(&dir.join("modules.json"))?;
        let modules = modules.unwrap_or_default();
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with(".Pooling") && !m.path.is_empty())
            .map_or_else(|| "1_Pooling".to_owned(), |m| m.path.clone());
        let normalize_module = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        let pooling_path = dir.join(pooling_dir).join("config.json");
        let pooling = pooling_from(read_optional_json(&pooling_path)?, &pooling_path)?;

        let st_config: Option<SentenceBertConfig> =
            read_optional_json(&dir.join("sentence_bert_config.json"))?;
        let max_seq_length = st_config
            .and_then(|c| c.max_seq_length)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);

        let tokenizer_path = dir.join("tokenizer.json");
        let tok_err = |message: String| LoadError::Tokenizer {
            path: tokenizer_path.clone(),
            message,
        };
        let bytes = read_file(&tokenizer_path)?;
        let mut counting = Tokenizer::from_bytes(&bytes).map_err(|e| tok_err(e.to_string()))?;
        // tokenizer.json files exported from sentence-transformers models often
        // carry their own padding and truncation (all-MiniLM-L6-v2's: fixed
        // 128): ignore both; we truncate to max_seq_length and pad per batch.
        counting.with_padding(None);
        counting
            .with_truncation(None)
            .map_err(|e| tok_err(e.to_string()))?;
        let special_tokens = counting
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_seq_length <= special_tokens {
            return Err(LoadError::Unsupported {
                path: dir.to_owned(),
                message: format!("max_seq_length {max_seq_length} leaves no room for text"),
            });
        }
        let mut tokenizer = counting.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| tok_err(e.to_string()))?;
        let pad_id = u32::try_from(config.pad_token_id).unwrap_or(0);

        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            return Err(LoadError::Io {
                path: weights_path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; the model directory is
        // not modified while the process runs (it is replaced only by
        // fetch-model.sh, which renames a new directory into place).
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device) }
                .map_err(|source| LoadError::Weights {
                path: weights_path.clone(),
                source,
            })?;
        let bert = Encoder::load(vb, &config).map_err(|source| LoadError::Weights {
            path: weights_path,
            source,
        })?;

        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .or_else(|| {
                dir.canonicalize()
                    .ok()?
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "model".to_owned());

        tracing::info!(
            model = %name, dims = config.hidden_size, max_seq_length, ?pooling, normalize_module,
            threads = candle_core::utils::get_num_threads(),
            "loaded BERT embedding model"
        );
        Ok(Self {
            model: Arc::new(Model {
                bert,
                tokenizer,
                device,
                pooling,
                pad_id,
            }),
            counter: BertTokenCounter {
                tokenizer: Arc::new(counting),
            },
            model_id: format!("local:{name}"),
            dimensions: config.hidden_size,
            max_seq_length,
            special_tokens,
            batch_size: DEFAULT_BATCH_SIZE,
            normalize_module,
            scripts: crate::model_card::script_coverage(dir),
        })
    }

    /// Sets how many texts go through the model at once (at least 1): larger
    /// batches amortize overhead, smaller ones waste less on padding.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Counts tokens as this model's tokenizer does, so the chunker can size
    /// chunks to fit the model's window.
    pub fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(self.counter.clone())
    }

    /// The largest text, in tokens without specials, the model sees whole:
    /// `max_seq_length` minus `[CLS]` and `[SEP]`. Longer text is truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_seq_length - self.special_tokens
    }

    /// The model's window in tokens, special tokens included.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The pooling the model was trained with.
    pub fn pooling(&self) -> Pooling {
        self.model.pooling
    }

    /// Whether `modules.json` lists a Normalize module. Informational only:
    /// vectors are always normalized, since the index uses cosine.
    pub fn has_normalize_module(&self) -> bool {
        self.normalize_module
    }

    /// Embeds `texts` synchronously on the calling thread (CPU-bound: call it
    /// from a blocking context). The async [`Embedder`] methods wrap it.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.model.embed(texts, self.batch_size)
    }
}

impl Model {
    fn embed(&self, texts: &[String], batch_size: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch_fast(inputs, true)
            .map_err(|e| EmbedError::Model(format!("tokenization failed: {e}")))?;
        // Longest first, so each batch holds texts of similar length and
        // padding (wasted compute) stays small; the order is restored below.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));

        // Batches run concurrently (rayon): each forward pass alternates
        // multi-threaded matrix products with single-threaded elementwise
        // candle ops, so one pass alone leaves cores idle.
        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let results: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|batch| {
                let refs: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
                self.forward(&refs)
                    .map_err(|e| EmbedError::Model(format!("inference failed: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (batch, vectors) in batches.iter().zip(results) {
            for (&i, mut v) in batch.iter().zip(vectors) {
                if !crate::l2_normalize(&mut v) {
                    return Err(EmbedError::Model(format!(
                        "text {i} produced a zero or non-finite vector"
                    )));
                }
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One padded forward pass; returns the pooled (not yet normalized) vectors.
    fn forward(&self, batch: &[&Encoding]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = batch.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let n = batch.len();
        let mut ids = vec![self.pad_id; n * len];
        let mut types = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, enc) in batch.iter().enumerate() {
            let base = row * len;
            let k = enc.len();
            ids[base..base + k].copy_from_slice(enc.get_ids());
            types[base..base + k].copy_from_slice(enc.get_type_ids());
            mask[base..base + k].copy_from_slice(enc.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let types = Tensor::from_vec(types, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let hidden = self.bert.forward(&ids, &types, &mask)?;
        pool(&hidden, &mask, self.pooling)?.to_vec2::<f32>()
    }
}

/// Pools `hidden` `(batch, seq, dim)` into `(batch, dim)` under `mask`
/// `(batch, seq)` (1 for real tokens, 0 for padding).
pub(crate) fn pool(
    hidden: &Tensor,
    mask: &Tensor,
    pooling: Pooling,
) -> candle_core::Result<Tensor> {
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
        Pooling::Mean => {
            let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            // sentence-transformers clamps the token count at 1e-9.
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            summed.broadcast_div(&counts)
        }
    }
}

#[async_trait]
impl Embedder for BertEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        let batch_size = self.batch_size;
        tokio::task::spawn_blocking(move || model.embed(&texts, batch_size))
            .await
            .map_err(|e| EmbedError::Model(format!("embedding task failed: {e}")))?
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self.embed_documents(&[text.to_owned()]).await?;
        vectors
            .pop()
            .ok_or_else(|| EmbedError::Model("no vector for the query".to_owned()))
    }

    /// From the model card's `language:` (see [`crate::model_card`]).
    fn script_coverage(&self) -> &ScriptCoverage {
        &self.scripts
    }
}

/// Counts tokens with the embedding model's own tokenizer, for the chunker.
///
/// Counts without special tokens and without truncation, so a chunk measured
/// at `max_tokens()` or fewer reaches the model whole. Cheap to clone.
#[derive(Clone)]
pub struct BertTokenCounter {
    tokenizer: Arc<Tokenizer>,
}

impl std::fmt::Debug for BertTokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenCounter").finish_non_exhaustive()
    }
}

impl TokenCounter for BertTokenCounter {
    fn count(&self, text: &str) -> usize {
        match self.tokenizer.encode_fast(text, false) {
            Ok(encoding) => encoding.len(),
            Err(e) => {
                // Cannot happen for a WordPiece tokenizer; over-count (every
                // token covers at least one byte) so chunks stay small enough.
                tracing::warn!(error = %e, "token counting failed; using the byte length");
                text.len()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding() -> candle_core::Result<()> {
        // Two sequences of three 2-d token vectors; the second has one pad.
        let hidden = Tensor::from_vec(
            vec![
                1f32, 2., 3., 4., 5., 6., /* */ 10., 20., 30., 40., 1000., 1000.,
            ],
            (2, 3, 2),
            &Device::Cpu,
        )?;
        let mask = Tensor::from_vec(vec![1u32, 1, 1, 1, 1, 0], (2, 3), &Device::Cpu)?;
        let pooled = pool(&hidden, &mask, Pooling::Mean)?.to_vec2::<f32>()?;
        assert_eq!(pooled, vec![vec![3., 4.], vec![20., 30.]]);
        Ok(())
    }

    #[test]
    fn cls_pooling_takes_the_first_token() -> candle_core::Result<()> {
        let hidden = Tensor::from_vec(
            vec![1f32, 2., 3., 4., 5., 6., 7., 8.],
            (2, 2, 2),
            &Device::Cpu,
        )?;
        let mask = Tensor::from_vec(vec![1u32, 1, 1, 0], (2, 2), &Device::Cpu)?;
        let pooled = pool(&hidden, &mask, Pooling::Cls)?.to_vec2::<f32>()?;
        assert_eq!(pooled, vec![vec![1., 2.], vec![5., 6.]]);
        Ok(())
    }

    #[test]
    fn mean_pooling_of_an_all_padding_row_is_zero_not_nan() -> candle_core::Result<()> {
        let hidden = Tensor::from_vec(vec![1f32, 2., 3., 4.], (1, 2, 2), &Device::Cpu)?;
        let mask = Tensor::from_vec(vec![0u32, 0], (1, 2), &Device::Cpu)?;
        let pooled = pool(&hidden, &mask, Pooling::Mean)?.to_vec2::<f32>()?;
        assert_eq!(pooled, vec![vec![0., 0.]]);
        Ok(())
    }

    #[test]
    fn pooling_config_is_read_like_sentence_transformers() {
        let p = Path::new("1_Pooling/config.json");
        let cfg = |mean, cls, max| PoolingConfig {
            pooling_mode_mean_tokens: mean,
            pooling_mode_cls_token: cls,
            pooling_mode_max_tokens: max,
            pooling_mode_mean_sqrt_len_tokens: false,
        };
        assert_eq!(pooling_from(None, p).ok(), Some(Pooling::Mean));
        assert_eq!(
            pooling_from(Some(cfg(true, false, false)), p).ok(),
            Some(Pooling::Mean)
        );
        assert_eq!(
            pooling_from(Some(cfg(false, true, false)), p).ok(),
            Some(Pooling::Cls)
        );
        assert!(matches!(
            pooling_from(Some(cfg(false, false, true)), p),
            Err(LoadError::Unsupported { .. })
        ));
        assert!(matches!(
            pooling_from(Some(cfg(true, true, false)), p),
            Err(LoadError::Unsupported { .. })
        ));
    }

    #[test]
    fn loading_a_missing_directory_names_the_file() {
        let err = BertEmbedder::load(Path::new("/nonexistent/model-dir")).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("/nonexistent/model-dir/config.json"),
            "{message}"
        );
    }
}
