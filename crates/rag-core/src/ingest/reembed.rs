//! Vectors of a previous embedding model, replaced by the configured one's.
//!
//! A dense search compares only vectors of the configured model, so after
//! the model changes, documents indexed before are invisible to it until
//! their chunks are embedded again (their text and BM25 postings stay
//! searchable meanwhile, and search names them: `notSearchedDensely`).
//! `ragctl reembed` finds them and re-embeds them in process, or queues
//! one job each for the text processors ([`crate::domain::job::PipelineJob::reembed`]).

use std::sync::Arc;

use crate::domain::identity::Caller;
use crate::ports::{EmbedError, Embedder, Index, IndexError, OtherModelDocument};

/// Errors of re-embedding a document.
#[derive(Debug, thiserror::Error)]
pub enum ReembedError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embedding(#[from] EmbedError),
    #[error("{owner} has no document {document_id}")]
    Gone { owner: String, document_id: String },
}

/// Re-embeds documents with the configured model.
pub struct Reembedder {
    pub index: Arc<dyn Index>,
    pub embedder: Arc<dyn Embedder>,
    /// Chunks embedded per call.
    pub batch: usize,
}

impl Reembedder {
    /// Documents still holding another model's vectors, at most `limit`.
    pub async fn stale(&self, limit: usize) -> Result<Vec<OtherModelDocument>, IndexError> {
        self.index
            .documents_not_of_model(self.embedder.model_id(), None, limit)
            .await
    }

    /// Embeds one document's chunks again and swaps its vectors in;
    /// returns how many. `progress` is told each batch's chunk count.
    pub async fn reembed(
        &self,
        owner: &str,
        document_id: &str,
        mut progress: impl FnMut(usize),
    ) -> Result<usize, ReembedError> {
        let caller = Caller::new(owner.to_owned());
        let gone = || ReembedError::Gone {
            owner: owner.to_owned(),
            document_id: document_id.to_owned(),
        };
        let chunks = self
            .index
            .chunks(&caller, document_id)
            .await?
            .ok_or_else(gone)?;
        let mut vectors = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(self.batch.max(1)) {
            let texts: Vec<String> = batch.iter().map(|c| c.content.clone()).collect();
            let embedded = self.embedder.embed_documents(&texts).await?;
            vectors.extend(batch.iter().map(|c| c.chunk_index).zip(embedded));
            progress(batch.len());
        }
        if !self
            .index
            .replace_vectors(&caller, document_id, self.embedder.model_id(), &vectors)
            .await?
        {
            return Err(gone());
        }
        tracing::info!(
            statusId = document_id,
            chunks = vectors.len(),
            model = self.embedder.model_id(),
            "document re-embedded"
        );
        Ok(vectors.len())
    }
}
