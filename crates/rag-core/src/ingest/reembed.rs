//! Vectors of a previous embedding model, replaced by the configured one's.
//!
//! A dense search compares only vectors of the configured model, so after
//! the model changes, documents indexed before are invisible to it until
//! their chunks are embedded again (their text and BM25 postings stay
//! searchable meanwhile, and search names them: `not_searched_densely`).
//! `ragctl reembed` finds them and re-embeds them in process, or queues
//! one job each for the text processors ([`crate::domain::job::PipelineJob::reembed`]).

use std::sync::Arc;

use crate::domain::identity::Caller;
use crate::ports::{EmbedError, Embedder, Index, IndexError, OtherModelDocument};

/// Errors of re-embedding a document.
#[derive(Debug, thiserror::Error)]
pub enum ReembedError {
    /// Reading the chunks or swapping the vectors in failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The configured model failed to embed a batch.
    #[error(transparent)]
    Embedding(#[from] EmbedError),
    /// The owner has no such document, or it was deleted before its new
    /// vectors were written.
    #[error("{owner} has no document {document_id}")]
    Gone {
        /// The user the document was looked up for.
        owner: String,
        /// The document's id (`bucket#key`).
        document_id: String,
    },
}

/// Re-embeds documents with the configured model.
pub struct Reembedder {
    /// Where the stale documents are found, their chunks read and their
    /// vectors replaced.
    pub index: Arc<dyn Index>,
    /// The configured model, whose vectors replace the old ones.
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
            // A short answer would leave chunks with their old vectors.
            let embedded = self.embedder.embed_each(&texts).await?;
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

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::domain::classify::Pipeline;
    use crate::ports::{ChunkRecord, DocumentRecord};
    use crate::testing::{BagOfWordsEmbedder, MemoryIndex};

    const DOC: &str = "b#alice/notes.md";

    async fn stored(index: &MemoryIndex) {
        let doc = DocumentRecord {
            document_id: DOC.into(),
            owner: "alice".into(),
            bucket: "b".into(),
            key: "alice/notes.md".into(),
            file_name: "notes.md".into(),
            content_type: None,
            pipeline: Pipeline::TextRag,
            embedding_model: "old-model".into(),
            page_count: None,
            metadata: json!({}),
        };
        let chunk = |i: u32, text: &str| ChunkRecord {
            chunk_index: i,
            content: text.into(),
            page_num: None,
            embedding: vec![1.0, 0.0],
            terms: Vec::new(),
            term_count: 0,
            metadata: json!({}),
        };
        index
            .replace_document(&doc, &[chunk(0, "storm logs"), chunk(1, "harbour map")])
            .await
            .expect("stored");
    }

    /// Answers one vector fewer than asked.
    struct Short;
    #[async_trait]
    impl Embedder for Short {
        fn model_id(&self) -> &str {
            "short"
        }
        fn dimensions(&self) -> usize {
            2
        }
        async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts.iter().skip(1).map(|_| vec![0.0, 1.0]).collect())
        }
        async fn embed_query(&self, _: &str) -> Result<Vec<f32>, EmbedError> {
            Ok(vec![0.0, 1.0])
        }
    }

    #[tokio::test]
    async fn stale_documents_get_the_configured_models_vectors() {
        let index = Arc::new(MemoryIndex::default());
        stored(&index).await;
        let reembedder = Reembedder {
            index: index.clone(),
            embedder: Arc::new(BagOfWordsEmbedder::default()),
            batch: 1,
        };
        let stale = reembedder.stale(10).await.expect("listed");
        assert_eq!(stale.len(), 1);
        let mut told = Vec::new();
        let done = reembedder
            .reembed("alice", DOC, |n| told.push(n))
            .await
            .expect("re-embedded");
        assert_eq!((done, told), (2, vec![1, 1]));
        assert!(reembedder.stale(10).await.expect("listed").is_empty());
        // Another user cannot re-embed it.
        assert!(matches!(
            reembedder.reembed("bob", DOC, |_| {}).await,
            Err(ReembedError::Gone { .. })
        ));
    }

    #[tokio::test]
    async fn a_short_answer_from_the_model_changes_nothing() {
        let index = Arc::new(MemoryIndex::default());
        stored(&index).await;
        let reembedder = Reembedder {
            index: index.clone(),
            embedder: Arc::new(Short),
            batch: 10,
        };
        assert!(matches!(
            reembedder.reembed("alice", DOC, |_| {}).await,
            Err(ReembedError::Embedding(EmbedError::InvalidResponse(_)))
        ));
        let still = index
            .documents_not_of_model("short", None, 10)
            .await
            .expect("listed");
        assert_eq!(still[0].embedding_model, "old-model");
    }
}
