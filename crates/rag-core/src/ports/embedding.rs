//! Text embedding models, local or hosted.

use async_trait::async_trait;

/// Errors of an [`Embedder`].
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model failed: {0}")]
    Model(String),
    #[error("embedding service unavailable: {0}")]
    Unavailable(String),
    #[error("embedding service returned an invalid response: {0}")]
    InvalidResponse(String),
}

/// Text embeddings: the local model, or a hosted one.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identifies the model; vectors of different models are never compared.
    fn model_id(&self) -> &str;
    /// Vector length.
    fn dimensions(&self) -> usize;
    /// Unit-length vectors for document chunks, one per text, in order.
    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// A unit-length vector for a search query.
    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
    /// The scripts the model was trained to read: a query in any other is
    /// searched without its vector, which would only add noise. Any script
    /// unless the model says otherwise.
    fn script_coverage(&self) -> &crate::search::language::ScriptCoverage {
        &crate::search::language::ANY_SCRIPT
    }
}
