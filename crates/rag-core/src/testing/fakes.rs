//! Stand-ins for the ports a pipeline reads from: blobs, extraction, embedding.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ingest::chunking::{Chunker, ChunkingConfig, InvalidChunking, TokenCounter};
use crate::ports::{
    BlobError, BlobMeta, BlobRef, BlobStore, EmbedError, Embedder, ExtractError, ExtractInput,
    ExtractedDocument, Extractor,
};

/// A [`BlobStore`] over a map: what a test puts in, a pipeline reads back
/// (with the store's size limit), and what the pipeline stores (rendered
/// pages) a test reads with [`MemoryBlobStore::keys`].
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    objects: Mutex<HashMap<BlobRef, (Vec<u8>, String)>>,
}

impl MemoryBlobStore {
    /// A store holding one object.
    pub fn with(blob: &BlobRef, bytes: impl Into<Vec<u8>>, content_type: &str) -> Self {
        let store = Self::default();
        if let Ok(mut objects) = store.objects.lock() {
            objects.insert(blob.clone(), (bytes.into(), content_type.to_owned()));
        }
        store
    }

    /// The keys stored in `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .lock()
            .map(|o| {
                o.keys()
                    .filter(|b| b.bucket == bucket)
                    .map(|b| b.key.clone())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn object(&self, blob: &BlobRef) -> Result<(Vec<u8>, String), BlobError> {
        self.objects
            .lock()
            .map_err(|e| BlobError::Backend(e.to_string()))?
            .get(blob)
            .cloned()
            .ok_or(BlobError::NotFound)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn head(&self, blob: &BlobRef) -> Result<BlobMeta, BlobError> {
        let (bytes, content_type) = self.object(blob)?;
        Ok(BlobMeta {
            size: bytes.len() as u64,
            content_type: Some(content_type),
            ..BlobMeta::default()
        })
    }

    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let (bytes, _) = self.object(blob)?;
        match bytes.len() as u64 {
            size if size > max_bytes => Err(BlobError::TooLarge {
                size,
                limit: max_bytes,
            }),
            _ => Ok(bytes),
        }
    }

    async fn put(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        self.objects
            .lock()
            .map_err(|e| BlobError::Backend(e.to_string()))?
            .insert(blob.clone(), (bytes, content_type.to_owned()));
        Ok(())
    }

    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, BlobError> {
        crate::ports::check_folder_prefix(prefix)?;
        let mut objects = self
            .objects
            .lock()
            .map_err(|e| BlobError::Backend(e.to_string()))?;
        let before = objects.len();
        objects.retain(|b, _| !(b.bucket == bucket && b.key.starts_with(prefix)));
        Ok((before - objects.len()) as u64)
    }
}

/// An [`Extractor`] that reads every file as one given document, so a
/// pipeline test controls exactly the pages and images it starts from.
#[derive(Debug, Clone)]
pub struct FixedExtractor(pub ExtractedDocument);

impl Extractor for FixedExtractor {
    fn extract(&self, _: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError> {
        Ok(self.0.clone())
    }
}

/// An [`Embedder`] whose vectors are hashed bags of words: texts sharing
/// words are close, texts sharing none are orthogonal, so a dense search
/// over it ranks by word overlap, deterministically and without a model.
#[derive(Debug, Clone)]
pub struct BagOfWordsEmbedder {
    /// Vector length: distinct words collide less the longer it is.
    pub dimensions: usize,
}

impl Default for BagOfWordsEmbedder {
    fn default() -> Self {
        Self { dimensions: 64 }
    }
}

impl BagOfWordsEmbedder {
    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dimensions.max(1)];
        let len = v.len();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut h = DefaultHasher::new();
            word.to_lowercase().hash(&mut h);
            v[(h.finish() % len as u64) as usize] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

#[async_trait]
impl Embedder for BagOfWordsEmbedder {
    fn model_id(&self) -> &str {
        "bag-of-words"
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.vector(text))
    }
}

/// A [`TokenCounter`] of whitespace-separated words: chunk sizes a test can
/// count by eye.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// A chunker of at most `max_tokens` words per chunk, `overlap_tokens` of
/// them shared with the chunk before.
pub fn word_chunker(max_tokens: usize, overlap_tokens: usize) -> Result<Chunker, InvalidChunking> {
    Chunker::new(
        std::sync::Arc::new(WordCounter),
        ChunkingConfig {
            max_tokens,
            overlap_tokens,
        },
    )
}

/// What a [`FaultyEmbedder`] does instead of embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedFault {
    /// Embeds as the wrapped model does.
    None,
    /// Never answers (a hung model server: the worker is killed first).
    Hang,
    /// Answers `Unavailable`, naming a private address (a hosted API that
    /// is down; the words must never reach a user).
    Unavailable,
}

/// A real embedder with a fault injected into its document or its query
/// embedding.
pub struct FaultyEmbedder {
    /// The model that embeds where there is no fault.
    pub inner: std::sync::Arc<dyn Embedder>,
    /// What embedding documents does.
    pub documents: EmbedFault,
    /// What embedding a query does.
    pub queries: EmbedFault,
}

impl FaultyEmbedder {
    async fn fault(fault: EmbedFault) -> Result<(), EmbedError> {
        match fault {
            EmbedFault::None => Ok(()),
            EmbedFault::Hang => std::future::pending().await,
            EmbedFault::Unavailable => Err(EmbedError::Unavailable(
                "connection refused by 10.0.0.7".into(),
            )),
        }
    }
}

#[async_trait]
impl Embedder for FaultyEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Self::fault(self.documents).await?;
        self.inner.embed_documents(texts).await
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Self::fault(self.queries).await?;
        self.inner.embed_query(text).await
    }
}
