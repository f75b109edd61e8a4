//! Rerankers that reorder the best candidates of a search.

use async_trait::async_trait;

use super::EmbedError;

/// Scores passages against a query with a model that reads both together
/// (a cross-encoder: a hosted `/rerank` endpoint): slower than retrieval,
/// so it reorders the few best candidates only. Errors are the model
/// service's, as for an [`Embedder`](super::Embedder).
#[async_trait]
pub trait Reranker: Send + Sync {
    /// Identifies the model.
    fn model_id(&self) -> &str;
    /// One relevance score per document, in the documents' order; higher
    /// is more relevant.
    async fn rerank(&self, query: &str, documents: &[String]) -> Result<Vec<f64>, EmbedError>;
}
