//! Text embedding models, local or hosted.

use async_trait::async_trait;

/// Errors of an [`Embedder`].
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model failed: local inference or tokenization, a model that never
    /// loaded, or a hosted service refusing the request with a status not
    /// worth retrying (a `401`, an unknown model).
    #[error("embedding model failed: {0}")]
    Model(String),
    /// A hosted service could not be reached, or kept answering `429` or
    /// `5xx`, through all its retries; worth trying again later.
    #[error("embedding service unavailable: {0}")]
    Unavailable(String),
    /// A response that is not the vectors asked for: unparseable, the wrong
    /// number of them, or of the wrong length or not finite.
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
    /// [`Embedder::embed_documents`], refusing an answer with another
    /// number of vectors than texts ([`EmbedError::InvalidResponse`]): what
    /// every caller that pairs vectors with its texts calls.
    async fn embed_each(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let vectors = self.embed_documents(texts).await?;
        if vectors.len() != texts.len() {
            return Err(EmbedError::InvalidResponse(format!(
                "{} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        Ok(vectors)
    }
    /// The scripts the model was trained to read: a query in any other is
    /// searched without its vector, which would only add noise. Any script
    /// unless the model says otherwise.
    fn script_coverage(&self) -> &crate::search::language::ScriptCoverage {
        &crate::search::language::ANY_SCRIPT
    }
}
