//! Embedder adapters for the `rag_core::ports::Embedder` port.
//!
//! Two ways of turning text into vectors exist because deployments differ:
//! [`BertEmbedder`] runs a BERT-family sentence-transformers model in-process
//! on the CPU (no service, no network, the default for local use), and
//! [`OpenAiEmbedder`] calls any OpenAI-compatible `/v1/embeddings` endpoint
//! (OpenAI itself, or a self-hosted server) when a hosted model is wanted.
//! Both return unit-length vectors, because the index compares by cosine.
//!
//! Pages of VDR documents are embedded by a `rag_core::ports::PageEmbedder`:
//! in production [`ColPaliEmbedder`], a ColPali-style model on a GPU server
//! (Lambda has none) reached over HTTP; `setup::page_embedder_from_env`
//! picks it when `PAGE_EMBEDDER_URL` is set. Its JSON contract is
//! infinity's multi-vector `/embeddings` route: `{"model", "modality":
//! "image" | "text", "encoding_format": "float", "input": [PNG data URLs, or
//! the query]}` answered by `{"data": [{"index", "embedding": [[f32; dims];
//! n_tokens]}]}`, with batching, retries and checks described in [`colpali`].

pub mod bert;
pub mod colpali;
pub mod deferred;
mod encoder;
pub mod model_card;
pub mod onnx;
pub mod openai;
pub mod rerank;
pub mod setup;

pub use bert::{BertEmbedder, BertTokenCounter, Engine, LoadError, Pooling};
pub use colpali::{ColPaliConfig, ColPaliEmbedder};
pub use deferred::DeferredBert;
pub use onnx::Precision;
pub use openai::{ConfigError, OpenAiConfig, OpenAiEmbedder};
/// The API key type of the hosted models' configs (redacted in `Debug`).
pub use rag_http::ApiKey;
pub use rerank::{HttpReranker, RerankConfig};
pub use setup::{embedder_from_env, page_embedder_from_env, EmbedderSetup};

/// Scales `v` to unit length in place; returns `false` (leaving `v` as it is)
/// when its norm is zero or not finite, which callers treat as a bad vector.
pub(crate) fn l2_normalize(v: &mut [f32]) -> bool {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::l2_normalize;

    #[test]
    fn normalizes_to_unit_length() {
        let mut v = vec![3.0, 4.0];
        assert!(l2_normalize(&mut v));
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
    }

    #[test]
    fn rejects_zero_and_non_finite_vectors() {
        let mut zero = vec![0.0, 0.0];
        assert!(!l2_normalize(&mut zero));
        let mut nan = vec![f32::NAN, 1.0];
        assert!(!l2_normalize(&mut nan));
    }
}
