//! In-process sentence embeddings with a BERT-family model (candle, CPU).
//!
//! Exists so the project embeds documents and queries without any service:
//! a sentence-transformers directory (for instance all-MiniLM-L6-v2, fetched by
//! `scripts/fetch-model.sh`) is loaded once and run on the CPU. It reproduces
//! what sentence-transformers does — the same tokenizer, truncation to
//! `max_seq_length` tokens counting `[CLS]`/`[SEP]`, attention-masked mean (or
//! CLS) pooling — and always L2-normalizes, since the index compares by cosine.
//! The forward pass runs in one of two engines ([`Engine`]): candle
//! ([`crate::encoder`], a faster equivalent of candle-transformers'
//! `BertModel` over the safetensors weights) or ONNX Runtime
//! ([`crate::onnx`], a graph exported from the same weights).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::encoder::Encoder;
use crate::onnx::{OnnxEncoder, Precision};
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use rag_core::ingest::chunking::TokenCounter;
use rag_core::ports::{EmbedError, Embedder};
use rag_core::search::language::ScriptCoverage;
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{
    Encoding, PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

/// Texts per candle forward pass unless [`BertEmbedder::with_batch_size`]
/// says otherwise. Smaller batches are faster on CPU once texts are long
/// (less activation memory per pass): see the throughput test.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A required file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A JSON configuration file is malformed or lacks required fields.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: serde_json::Error,
    },
    /// `tokenizer.json` could not be loaded or configured.
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer {
        /// The file or model directory.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
    /// The weights do not match the configuration (or are not BERT weights).
    #[error("cannot load model weights {path}: {source}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What candle reported.
        #[source]
        source: candle_core::Error,
    },
    /// The directory asks for something this embedder does not implement.
    #[error("unsupported model in {path}: {message}")]
    Unsupported {
        /// The file or model directory.
        path: PathBuf,
        /// What is not supported.
        message: String,
    },
    /// ONNX Runtime or the model's ONNX graph could not be loaded.
    #[error("cannot load the ONNX graph {path}: {message}")]
    Onnx {
        /// The file or model directory.
        path: PathBuf,
        /// What ONNX Runtime reported.
        message: String,
    },
}

/// Which engine runs the forward pass. Both read the same tokens and pool
/// the same way; they differ in speed and, for int8, in the last digits of
/// the vectors (see the README's "Embedding engines" for the measurements
/// that chose the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// candle over `model.safetensors`, f32.
    Candle,
    /// ONNX Runtime over the graph in the model's `onnx/` directory.
    Onnx(Precision),
}

impl Engine {
    /// The engine used when none is named: the fastest one that meets the
    /// quality bounds (DESIGN.md, "Embeddings"), by measurement.
    pub const DEFAULT: Engine = Engine::Onnx(Precision::Int8);

    /// Reads an engine name as `RAG_EMBED_ENGINE` spells it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "candle" => Some(Self::Candle),
            "onnx" | "onnx-fp32" => Some(Self::Onnx(Precision::Fp32)),
            "onnx-int8" => Some(Self::Onnx(Precision::Int8)),
            _ => None,
        }
    }

    /// Texts per forward pass unless [`BertEmbedder::with_batch_size`] says
    /// otherwise. ONNX Runtime takes one text per run: int8 activations are
    /// quantized with one scale per run, so in a batch a text's vector would
    /// depend on its batchmates (cosine 0.995 to itself alone, measured);
    /// alone it is always the same, and no padding is computed. One text per
    /// run was also the fastest for 189-token chunks (57 a second against 47
    /// in batches of 32; 12% slower for 67-token passages), throughput test.
    pub fn default_batch_size(self) -> usize {
        match self {
            Self::Candle => DEFAULT_BATCH_SIZE,
            Self::Onnx(_) => 1,
        }
    }

    /// The file of `model_dir` this engine reads the weights from.
    pub fn weights_path(self, model_dir: &Path) -> PathBuf {
        match self {
            Self::Candle => model_dir.join("model.safetensors"),
            Self::Onnx(precision) => precision.graph_path(model_dir),
        }
    }

    /// The name [`Engine::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Candle => "candle",
            Self::Onnx(Precision::Fp32) => "onnx-fp32",
            Self::Onnx(Precision::Int8) => "onnx-int8",
        }
    }
}

/// The loaded forward pass of one engine.
enum Forward {
    Candle(Encoder),
    Onnx(OnnxEncoder),
}

/// The model's name: its directory's.
fn model_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            dir.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "model".to_owned())
}

/// The id vectors of the model in `dir` are stored under, whatever engine
/// computes them.
pub(crate) fn model_id(dir: &Path) -> String {
    format!("local:{}", model_name(dir))
}

/// The model's window in tokens, special tokens included: sentence-
/// transformers' `max_seq_length`, within the position embeddings.
pub(crate) fn max_seq_length(dir: &Path, config: &Config) -> Result<usize, LoadError> {
    let st_config: Option<SentenceBertConfig> =
        read_optional_json(&dir.join("sentence_bert_config.json"))?;
    Ok(st_config
        .and_then(|c| c.max_seq_length)
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings))
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
    forward: Forward,
    /// Truncates to `max_seq_length` (specials included), never pads.
    tokenizer: Tokenizer,
    pooling: Pooling,
    pad_id: u32,
}

/// A BERT-family sentence-transformers model running in-process.
///
/// Cheap to clone (the model is behind an [`Arc`]). The async methods run
/// inference on tokio's blocking pool. With candle, batches of one call run
/// concurrently on rayon's pool (one thread per core, `RAYON_NUM_THREADS`
/// to change) and matrix products use every core; with ONNX Runtime,
/// batches run one after another, each over one intra-op thread per core.
#[derive(Clone)]
pub struct BertEmbedder {
    model: Arc<Model>,
    engine: Engine,
    counter: BertTokenCounter,
    model_id: String,
    dimensions: usize,
    max_seq_length: usize,
    special_tokens: usize,
    batch_size: usize,
    scripts: ScriptCoverage,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("model_id", &self.model_id)
            .field("engine", &self.engine.name())
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

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LoadError> {
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
    /// Loads a sentence-transformers directory with the [`Engine::DEFAULT`]
    /// engine: see [`BertEmbedder::load_with`].
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        Self::load_with(dir, Engine::DEFAULT)
    }

    /// Loads a sentence-transformers directory: `config.json`, `tokenizer.json`,
    /// and when present `modules.json`, `sentence_bert_config.json`, the
    /// pooling configuration and the model card (`README.md`, for the
    /// languages the model reads); then the weights for `engine`:
    /// `model.safetensors` (memory-mapped) for candle, the graph in `onnx/`
    /// for ONNX Runtime.
    pub fn load_with(dir: &Path, engine: Engine) -> Result<Self, LoadError> {
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

        let max_seq_length = max_seq_length(dir, &config)?;

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

        let forward = match engine {
            Engine::Candle => Forward::Candle(load_candle(dir, &config)?),
            Engine::Onnx(_) => {
                let graph = engine.weights_path(dir);
                if !graph.is_file() {
                    return Err(LoadError::Onnx {
                        path: graph,
                        message: "no such file (scripts/fetch-model.sh exports it)".to_owned(),
                    });
                }
                let threads = candle_core::utils::get_num_threads();
                let encoder =
                    OnnxEncoder::load(&graph, threads).map_err(|message| LoadError::Onnx {
                        path: graph,
                        message,
                    })?;
                Forward::Onnx(encoder)
            }
        };

        let name = model_name(dir);

        tracing::info!(
            model = %name, engine = engine.name(), dims = config.hidden_size, max_seq_length,
            ?pooling, normalize_module, threads = candle_core::utils::get_num_threads(),
            "loaded BERT embedding model"
        );
        Ok(Self {
            model: Arc::new(Model {
                forward,
                tokenizer,
                pooling,
                pad_id,
            }),
            engine,
            counter: BertTokenCounter {
                tokenizer: Arc::new(counting),
            },
            model_id: model_id(dir),
            dimensions: config.hidden_size,
            max_seq_length,
            special_tokens,
            batch_size: engine.default_batch_size(),
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

    /// Tokens in `text` as [`BertEmbedder::token_counter`] counts them.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.counter.count(text)
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

    /// The engine running the forward pass.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The pooling the model was trained with.
    pub fn pooling(&self) -> Pooling {
        self.model.pooling
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

        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let run = |batch: &&[usize]| {
            let refs: Vec<&Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
            self.forward(&refs)
                .map_err(|e| EmbedError::Model(format!("inference failed: {e}")))
        };
        let results: Vec<Vec<Vec<f32>>> = match self.forward {
            // Batches run concurrently (rayon): each candle forward pass
            // alternates multi-threaded matrix products with single-threaded
            // elementwise ops, so one pass alone leaves cores idle.
            Forward::Candle(_) => batches.par_iter().map(run).collect::<Result<_, _>>()?,
            // ONNX Runtime keeps every core busy within one run.
            Forward::Onnx(_) => batches.iter().map(run).collect::<Result<_, _>>()?,
        };
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
    fn forward(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>, String> {
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
        let hidden = match &self.forward {
            Forward::Candle(bert) => {
                candle_forward(bert, (n, len), ids, types, &mask).map_err(|e| e.to_string())?
            }
            Forward::Onnx(graph) => graph.forward((n, len), &ids, &types, &mask)?,
        };
        if hidden.is_empty() || hidden.len() % (n * len) != 0 {
            return Err(format!(
                "a hidden state of {} values for {n} x {len} tokens",
                hidden.len()
            ));
        }
        Ok(pool(&hidden, &mask, (n, len), self.pooling))
    }
}

/// Loads `model.safetensors` (memory-mapped) into candle's encoder.
fn load_candle(dir: &Path, config: &Config) -> Result<Encoder, LoadError> {
    let weights_path = Engine::Candle.weights_path(dir);
    if !weights_path.is_file() {
        return Err(LoadError::Io {
            path: weights_path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    // SAFETY: the file is memory-mapped read-only; the model directory is
    // not modified while the process runs (it is replaced only by
    // fetch-model.sh, which renames a new directory into place).
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &Device::Cpu) }
            .map_err(|source| LoadError::Weights {
                path: weights_path.clone(),
                source,
            })?;
    Encoder::load(vb, config).map_err(|source| LoadError::Weights {
        path: weights_path,
        source,
    })
}

/// candle's forward pass: the last hidden state, row-major `[n, len, dim]`.
fn candle_forward(
    bert: &Encoder,
    (n, len): (usize, usize),
    ids: Vec<u32>,
    types: Vec<u32>,
    mask: &[u32],
) -> candle_core::Result<Vec<f32>> {
    let ids = Tensor::from_vec(ids, (n, len), &Device::Cpu)?;
    let types = Tensor::from_vec(types, (n, len), &Device::Cpu)?;
    let mask = Tensor::from_slice(mask, (n, len), &Device::Cpu)?;
    bert.forward(&ids, &types, &mask)?
        .flatten_all()?
        .to_vec1::<f32>()
}

/// Pools `hidden`, row-major `[n, len, dim]`, into `n` vectors under `mask`
/// `[n, len]` (1 for real tokens, 0 for padding), as sentence-transformers
/// does.
fn pool(hidden: &[f32], mask: &[u32], (n, len): (usize, usize), pooling: Pooling) -> Vec<Vec<f32>> {
    let dim = hidden.len() / (n * len).max(1);
    (0..n)
        .map(|row| {
            let rows = &hidden[row * len * dim..(row + 1) * len * dim];
            match pooling {
                Pooling::Cls => rows[..dim].to_vec(),
                Pooling::Mean => {
                    let mut sum = vec![0f32; dim];
                    let mut count = 0f32;
                    for (token, &m) in rows
                        .chunks_exact(dim)
                        .zip(&mask[row * len..(row + 1) * len])
                    {
                        if m != 0 {
                            count += 1.0;
                            for (s, x) in sum.iter_mut().zip(token) {
                                *s += x;
                            }
                        }
                    }
                    // sentence-transformers clamps the token count at 1e-9.
                    let count = count.max(1e-9);
                    sum.iter_mut().for_each(|s| *s /= count);
                    sum
                }
            }
        })
        .collect()
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
    fn mean_pooling_ignores_padding() {
        // Two sequences of three 2-d token vectors; the second has one pad.
        let hidden = [
            1f32, 2., 3., 4., 5., 6., /* */ 10., 20., 30., 40., 1000., 1000.,
        ];
        let pooled = pool(&hidden, &[1, 1, 1, 1, 1, 0], (2, 3), Pooling::Mean);
        assert_eq!(pooled, vec![vec![3., 4.], vec![20., 30.]]);
    }

    #[test]
    fn cls_pooling_takes_the_first_token() {
        let hidden = [1f32, 2., 3., 4., 5., 6., 7., 8.];
        let pooled = pool(&hidden, &[1, 1, 1, 0], (2, 2), Pooling::Cls);
        assert_eq!(pooled, vec![vec![1., 2.], vec![5., 6.]]);
    }

    #[test]
    fn mean_pooling_of_an_all_padding_row_is_zero_not_nan() {
        let pooled = pool(&[1f32, 2., 3., 4.], &[0, 0], (1, 2), Pooling::Mean);
        assert_eq!(pooled, vec![vec![0., 0.]]);
    }

    #[test]
    fn engine_names_round_trip() {
        for engine in [
            Engine::Candle,
            Engine::Onnx(Precision::Fp32),
            Engine::Onnx(Precision::Int8),
        ] {
            assert_eq!(Engine::parse(engine.name()), Some(engine));
        }
        assert_eq!(Engine::parse("onnx"), Some(Engine::Onnx(Precision::Fp32)));
        assert_eq!(Engine::parse("tensorflow"), None);
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
