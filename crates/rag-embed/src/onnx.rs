//! The BERT forward pass in ONNX Runtime, for [`crate::BertEmbedder`].
//!
//! Why a second engine beside candle: on the same 2-core AVX2 machine, ONNX
//! Runtime's fused attention and its int8 kernels embed 200-token chunks
//! several times faster than candle's f32 matrix products (measured by
//! `cargo run --release -p rag-embed --example engines`; the figures are in
//! the README's "Embedding engines"). The graph is built from the same
//! `model.safetensors` by `scripts/export-onnx.py` (`fetch-model.sh` runs it)
//! and put beside it in `onnx/`: `model.onnx` (fp32) and `model_qint8.onnx`
//! (int8 weights). Tokenization and pooling stay in [`crate::bert`], so both
//! engines see the same tokens and pool the same way.
//!
//! `libonnxruntime.so` is loaded at run time (`dlopen`), never linked, like
//! PDFium: it is looked for once per process at `$ORT_DYLIB_PATH` (a file or
//! a directory holding it), then in the Lambda layer (`/opt/lib`), then where
//! `scripts/fetch-onnxruntime.sh` puts it in the checkout.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ort::logging::LogLevel;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

/// Environment variable naming `libonnxruntime.so` (a file, or a directory
/// holding it); searched first. The `ort` crate's own name for it.
pub const LIBRARY_PATH_VAR: &str = "ORT_DYLIB_PATH";

const LIBRARY_NAME: &str = "libonnxruntime.so";

/// Where the Lambda layer built by `layers/onnxruntime/build.sh` puts the
/// library (Lambda mounts layers at `/opt`).
const LAYER_DIR: &str = "/opt/lib";

/// The copy `scripts/fetch-onnxruntime.sh` puts in the checkout (git-ignored).
const FETCHED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/onnxruntime/lib");

/// The process's ONNX Runtime (one environment per process, as ONNX Runtime
/// requires), or why none could be loaded.
static RUNTIME: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> =
    OnceLock::new();

/// Which ONNX graph of the model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `onnx/model.onnx`: the safetensors weights unchanged (cosine 1.0 to
    /// sentence-transformers).
    Fp32,
    /// `onnx/model_qint8.onnx`: int8 weights per output channel, activations
    /// quantized per call (cosine >= 0.99 to sentence-transformers).
    Int8,
}

impl Precision {
    /// The graph's file inside a model directory.
    pub fn graph_path(self, model_dir: &Path) -> PathBuf {
        model_dir.join("onnx").join(match self {
            Self::Fp32 => "model.onnx",
            Self::Int8 => "model_qint8.onnx",
        })
    }
}

/// A loaded ONNX graph taking `input_ids`, `attention_mask` and
/// `token_type_ids` (int64 `[batch, sequence]`) and answering
/// `last_hidden_state` (float `[batch, sequence, hidden]`).
pub(crate) struct OnnxEncoder {
    /// `Session::run` takes `&mut self`; ONNX Runtime parallelizes one run
    /// over its intra-op threads, so runs are taken one at a time.
    session: Mutex<Session>,
    /// Whether the graph asks for `token_type_ids` (some BERT exports do not).
    wants_token_types: bool,
}

impl OnnxEncoder {
    /// Loads `graph` with `threads` intra-op threads (one per core is best:
    /// the matrix products scale, and a run is the only work in flight).
    pub(crate) fn load(graph: &Path, threads: usize) -> Result<Self, String> {
        let (environment, library) = match RUNTIME.get_or_init(load_runtime) {
            Ok((environment, library)) => (environment, library),
            Err(reason) => return Err(reason.clone()),
        };
        let session = Session::builder(environment)
            .map_err(|e| e.to_string())?
            // ONNX Runtime's info lines (one per run and per graph rewrite)
            // would drown the service's own logs: warnings and errors only.
            .with_log_level(LogLevel::Warning)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| e.to_string())?
            .with_intra_threads(threads.max(1))
            .map_err(|e| e.to_string())?
            .with_inter_threads(1)
            .map_err(|e| e.to_string())?
            .commit_from_file(graph)
            .map_err(|e| format!("{}: {e}", graph.display()))?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !names.contains(&required) {
                return Err(format!(
                    "{}: the graph has no input `{required}` (it has {names:?})",
                    graph.display()
                ));
            }
        }
        let wants_token_types = names.contains(&"token_type_ids");
        tracing::info!(graph = %graph.display(), library = %library.display(), threads,
            "loaded ONNX embedding graph");
        Ok(Self {
            session: Mutex::new(session),
            wants_token_types,
        })
    }

    /// One forward pass over `batch` rows of `len` tokens (row-major, padded;
    /// `mask` is 1 for real tokens): the last hidden state, row-major
    /// `[batch, len, hidden]`.
    pub(crate) fn forward(
        &self,
        (batch, len): (usize, usize),
        ids: &[u32],
        types: &[u32],
        mask: &[u32],
    ) -> Result<Vec<f32>, String> {
        let tensor = |values: &[u32]| {
            let values: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
            Tensor::from_array(([batch, len], values)).map_err(|e| e.to_string())
        };
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask)?,
        ];
        if self.wants_token_types {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(inputs).map_err(|e| e.to_string())?;
        let (shape, hidden) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        if shape.len() != 3 || shape[0] as usize != batch || shape[1] as usize != len {
            return Err(format!(
                "the graph answered a tensor of shape {shape:?} for {batch} x {len} tokens"
            ));
        }
        Ok(hidden.to_vec())
    }
}

/// Which `libonnxruntime.so` this process uses, or why it uses none: for
/// logs and the engine benchmark's output.
pub fn onnxruntime_library() -> Result<&'static Path, &'static str> {
    match RUNTIME.get_or_init(load_runtime) {
        Ok((_, path)) => Ok(path),
        Err(reason) => Err(reason),
    }
}

/// Where to look, in order: `$ORT_DYLIB_PATH`, the Lambda layer, the fetched
/// copy.
fn candidates() -> Vec<PathBuf> {
    let mut found = Vec::with_capacity(3);
    if let Some(value) = std::env::var_os(LIBRARY_PATH_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        found.push(if path.is_dir() {
            path.join(LIBRARY_NAME)
        } else {
            path
        });
    }
    found.push(Path::new(LAYER_DIR).join(LIBRARY_NAME));
    // The checkout the process runs in first: a build cache shared between
    // checkouts may hold a binary whose FETCHED_DIR names another one.
    let relative = Path::new(".local/onnxruntime/lib").join(LIBRARY_NAME);
    if let Ok(here) = std::env::current_dir() {
        found.extend(
            here.ancestors()
                .map(|a| a.join(&relative))
                .find(|p| p.is_file()),
        );
    }
    let fetched = Path::new(FETCHED_DIR);
    found.push(
        fetched
            .canonicalize()
            .unwrap_or_else(|_| fetched.to_path_buf())
            .join(LIBRARY_NAME),
    );
    found
}

/// The first `libonnxruntime.so` where one is looked for, or why there is
/// none: what [`load_runtime`] loads, and what [`crate::deferred`] checks
/// before the model loads in the background, so that a missing library
/// stops a process at start.
pub(crate) fn find_library() -> Result<PathBuf, String> {
    let candidates = candidates();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates
                .iter()
                .map(|p| format!("{}: not found", p.display()))
                .collect();
            format!(
                "no usable {LIBRARY_NAME} ({}); set {LIBRARY_PATH_VAR} or run scripts/fetch-onnxruntime.sh",
                tried.join("; ")
            )
        })
}

fn load_runtime() -> Result<(ort::environment::Environment, PathBuf), String> {
    // The first copy found is the one loaded: a library that fails to load
    // poisons ort's one-time loader, so trying another would fail the same.
    let path = find_library()?;
    let environment = ort::init_from(&path)
        .map_err(|e| e.to_string())
        .and_then(|builder| {
            builder
                .with_name("rag-embed")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .map_err(|error| format!("{}: {error}", path.display()))?;
    environment.set_log_level(LogLevel::Warning);
    Ok((environment, path))
}
