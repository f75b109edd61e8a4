//! The search index of text chunks: dense vectors and BM25 postings (PostgreSQL + pgvector).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt, Shared};
use serde::Serialize;
use serde_json::Value;

use super::EmbedError;
use crate::domain::classify::Pipeline;
use crate::domain::identity::Caller;

/// A document as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    /// `bucket#key` (the statusId).
    pub document_id: String,
    /// The user who owns it; only they (and grantees) can find it.
    pub owner: String,
    /// Bucket of the source object (an S3 bucket, or a local store's bucket name).
    pub bucket: String,
    /// Key of the source object in `bucket`.
    pub key: String,
    /// The name shown for it: the one the uploader gave (`metadata.fileName`),
    /// else the key's last segment.
    pub file_name: String,
    /// MIME type of the object, or the one the request gave when the object
    /// had none (or a generic one); `None` if neither said.
    pub content_type: Option<String>,
    /// The pipeline that indexed it; stored on each of its chunks too, for
    /// [`SearchScope::pipeline`].
    pub pipeline: Pipeline,
    /// The embedding model its vectors come from.
    pub embedding_model: String,
    /// Pages in the whole document, when the pipeline stores it by page
    /// range: storing a range also removes any row of a page past it (or of
    /// no page), left by a longer earlier version of the document.
    pub page_count: Option<u32>,
    /// Free-form facts (format, page count, extraction time).
    pub metadata: Value,
}

/// One chunk ready to store: text, vector and BM25 terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Position in the document: from 0, or `page * PAGE_CHUNK_STRIDE + i`
    /// for a document stored by page range
    /// ([`crate::ingest::pipeline::PAGE_CHUNK_STRIDE`]), so ranges never
    /// collide and order stays the document's.
    pub chunk_index: u32,
    /// The chunk's text, as search returns it.
    pub content: String,
    /// 1-based page the chunk came from; `None` for formats without pages.
    pub page_num: Option<u32>,
    /// The chunk's vector from the document's `embedding_model`; its length
    /// must be the index's dimensions.
    pub embedding: Vec<f32>,
    /// BM25 terms with their frequencies in this chunk.
    pub terms: Vec<(String, u32)>,
    /// Length of the chunk in terms (BM25's document length).
    pub term_count: u32,
    /// Facts returned with the chunk: the document's `file_name`, and the
    /// chunk's `citation` when the pipeline knows where it came from.
    pub metadata: Value,
}

/// Which documents a search may look at.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchScope {
    /// The caller: only documents they own or were granted are visible.
    pub caller: Caller,
    /// Narrows the visible set to these document ids; never widens it.
    pub document_ids: Option<Vec<String>>,
    /// Only chunks produced by this pipeline, when set.
    pub pipeline: Option<Pipeline>,
    /// Only documents whose attributes match, when set: narrows the scope
    /// before either retriever runs, so each list is the best of the
    /// matching documents.
    pub filter: Option<crate::domain::attributes::Filter>,
}

/// A dense (vector) search.
#[derive(Debug, Clone)]
pub struct DenseQuery {
    /// The query's vector, possibly still being computed.
    pub vector: QueryVector,
    /// Only vectors of this model are compared.
    pub model: String,
    /// Most chunks the list holds: `top_k`, or the configured fusion
    /// candidates when more and the list is fused with the other.
    pub limit: usize,
}

/// A query's vector, which may still be being computed when the search
/// starts.
///
/// Embedding the query takes 6-8 ms on 2 cores: an index awaits the vector
/// only where it needs it, so its work that needs none (reading BM25
/// postings) runs meanwhile on the database (see `rag-index-pg`'s module
/// notes for what that saves). Clones share the one computation, which
/// starts when first awaited.
#[derive(Clone)]
pub struct QueryVector(Shared<BoxFuture<'static, Embedded>>);

/// What a [`QueryVector`]'s computation leaves: shared, so every waiter gets it.
type Embedded = Result<Arc<Vec<f32>>, Arc<EmbedError>>;

impl QueryVector {
    /// A vector already computed.
    pub fn ready(vector: Vec<f32>) -> Self {
        Self::pending(std::future::ready(Ok(vector)))
    }

    /// A vector `embedding` will produce.
    pub fn pending(
        embedding: impl Future<Output = Result<Vec<f32>, EmbedError>> + Send + 'static,
    ) -> Self {
        Self(
            embedding
                .map(|r| r.map(Arc::new).map_err(Arc::new))
                .boxed()
                .shared(),
        )
    }

    /// The vector, once computed; [`IndexError::Embedding`] if that failed.
    pub async fn get(&self) -> Result<Arc<Vec<f32>>, IndexError> {
        self.0.clone().await.map_err(IndexError::Embedding)
    }
}

impl std::fmt::Debug for QueryVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.peek() {
            Some(Ok(v)) => write!(f, "QueryVector({} dimensions)", v.len()),
            Some(Err(e)) => write!(f, "QueryVector(failed: {e})"),
            None => f.write_str("QueryVector(pending)"),
        }
    }
}

/// BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation: how quickly more occurrences of a term stop
    /// adding to the score.
    pub k1: f64,
    /// Length normalization, from 0 (chunk length ignored) to 1 (full).
    pub b: f64,
}

impl Default for Bm25Params {
    /// k1 = 0.9, b = 0.4: Anserini's defaults for passage retrieval, and the
    /// settings of the rank_bm25 peer in `data/beir/SOURCE.md`.
    fn default() -> Self {
        Self { k1: 0.9, b: 0.4 }
    }
}

/// A BM25 search.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseQuery {
    /// Query terms with their frequencies in the query.
    pub terms: Vec<(String, u32)>,
    /// The scoring parameters (the query service's configured `bm25`).
    pub params: Bm25Params,
    /// Most chunks the list holds: `top_k`, or the configured fusion
    /// candidates when more and the list is fused with the other.
    pub limit: usize,
}

/// One index search: a dense list, a sparse list, or both at once.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    /// Which documents both searches look at.
    pub scope: SearchScope,
    /// The vector search; `None` skips it and leaves its list empty.
    pub dense: Option<DenseQuery>,
    /// The BM25 search; `None` skips it and leaves its list empty.
    pub sparse: Option<SparseQuery>,
}

/// A stored chunk as search returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit {
    /// The chunk's id in the index (a number, as text): what
    /// [`Index::neighbours`] takes.
    pub chunk_id: String,
    /// `bucket#key` of the chunk's document.
    pub document_id: String,
    /// The chunk's stored text.
    pub content: String,
    /// 1-based page the chunk came from; `None` for formats without pages.
    pub page_num: Option<u32>,
    /// The pipeline that indexed its document.
    pub pipeline: Pipeline,
    /// The chunk's stored metadata ([`ChunkRecord::metadata`]), with its
    /// document's `file_name` added when missing.
    pub metadata: Value,
}

/// Ranked lists from one index search, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexResults {
    /// `(chunk, cosine similarity)`.
    pub dense: Vec<(ChunkHit, f64)>,
    /// `(chunk, BM25 score)`.
    pub sparse: Vec<(ChunkHit, f64)>,
}

/// Errors of an [`Index`].
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The document is already stored for another user; the write is refused.
    #[error("document {document_id} belongs to another user")]
    NotOwner {
        /// `bucket#key` of the refused document.
        document_id: String,
    },
    /// The database cannot be reached (pool timed out or closed, I/O or TLS
    /// failure): worth retrying.
    #[error("index unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database or the index refused (an SQL error, vectors
    /// of the wrong length, duplicate chunks).
    #[error("index error: {0}")]
    Backend(String),
    /// The query's [`QueryVector`] could not be computed.
    #[error("query embedding failed: {0}")]
    Embedding(Arc<EmbedError>),
}

/// Chunks, vectors and BM25 postings, searchable per caller.
#[async_trait]
pub trait Index: Send + Sync {
    /// Replaces everything stored for the document with `chunks`, atomically.
    /// Fails with [`IndexError::NotOwner`] if another user owns it.
    async fn replace_document(
        &self,
        doc: &DocumentRecord,
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError>;
    /// Removes the document and everything it owns; `false` if the caller
    /// owns no such document.
    async fn delete_document(&self, caller: &Caller, document_id: &str)
        -> Result<bool, IndexError>;
    /// Runs the requested searches over the scope.
    async fn search(&self, query: &IndexQuery) -> Result<IndexResults, IndexError>;
    /// The scope with its attribute filter resolved to the documents it
    /// matches (`document_ids` set, no filter), so that the searches of one
    /// request resolve it once; `None` when nothing the caller may search
    /// matches. A scope without a filter comes back as it is. The default
    /// knows no attributes and refuses a filter.
    async fn resolve_filter(&self, scope: &SearchScope) -> Result<Option<SearchScope>, IndexError> {
        match scope.filter {
            None => Ok(Some(scope.clone())),
            Some(_) => Err(IndexError::Backend(
                "this index cannot filter by attributes".into(),
            )),
        }
    }
    /// The caller's own documents, with their metadata.
    async fn documents(&self, caller: &Caller) -> Result<Vec<DocumentSummary>, IndexError>;
    /// One of the caller's own documents, as [`Index::documents`] lists it;
    /// `None` if the caller owns no such document. The last page range of a
    /// split document reads its chunk total here, once every range is in.
    async fn document(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<DocumentSummary>, IndexError>;
    /// The stored chunks of one of the caller's own documents, in order;
    /// `None` if the caller owns no such document. What a migration checks
    /// its copy against.
    async fn chunks(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<StoredChunk>>, IndexError>;
    /// Text documents whose vectors are not of `model` (indexed before the
    /// model changed), by document id, at most `limit`: all of them, or
    /// those `scope` may search. A dense search cannot compare them.
    async fn documents_not_of_model(
        &self,
        model: &str,
        scope: Option<&SearchScope>,
        limit: usize,
    ) -> Result<Vec<OtherModelDocument>, IndexError>;
    /// Replaces the vectors of one of `owner`'s documents with `model`'s,
    /// one per chunk (by chunk index), in one transaction; `false` if
    /// `owner` has no such document. Texts and postings stay.
    async fn replace_vectors(
        &self,
        owner: &Caller,
        document_id: &str,
        model: &str,
        vectors: &[(u32, Vec<f32>)],
    ) -> Result<bool, IndexError>;
    /// Removes every document the caller owns; returns how many.
    async fn purge(&self, caller: &Caller) -> Result<u64, IndexError>;
    /// Lets `grantee` search a document `owner` owns; `false` if the owner
    /// has no such document.
    async fn grant(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError>;
    /// Takes back a [`Index::grant`]; `false` if the owner has no such
    /// document (revoking a grant never given is not an error).
    async fn revoke(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError>;
    /// The users a document of `owner`'s is shared with, sorted; `None` if
    /// the owner has no such document.
    async fn grantees(
        &self,
        owner: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<String>>, IndexError>;
    /// Up to `n` chunks before and after each of `chunk_ids` in its
    /// document, in document order: a result's context. Chunks of documents
    /// `caller` may not search are left out. The default knows no order and
    /// gives none.
    async fn neighbours(
        &self,
        caller: &Caller,
        chunk_ids: &[String],
        n: usize,
    ) -> Result<std::collections::HashMap<String, Neighbours>, IndexError> {
        let _ = (caller, chunk_ids, n);
        Ok(Default::default())
    }
}

/// The chunks around a result in its document ([`Index::neighbours`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Neighbours {
    /// Nearest last.
    pub before: Vec<String>,
    /// Nearest first.
    pub after: Vec<String>,
}

/// A document whose vectors come from another model than the configured
/// one ([`Index::documents_not_of_model`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherModelDocument {
    /// `bucket#key` of the document.
    pub document_id: String,
    /// The user who owns it; its re-embedding runs as them.
    pub owner: String,
    /// The model its vectors come from now.
    pub embedding_model: String,
    /// How many chunks it has: the vectors re-embedding must compute.
    pub chunks: u32,
}

/// A stored chunk as [`Index::chunks`] reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    /// Its number in the document ([`ChunkRecord::chunk_index`]), which
    /// [`Index::replace_vectors`] takes.
    pub chunk_index: u32,
    /// The chunk's stored text.
    pub content: String,
    /// 1-based page the chunk came from; `None` for formats without pages.
    pub page_num: Option<u32>,
}

/// A stored document as listings show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSummary {
    /// `bucket#key` (the statusId).
    pub document_id: String,
    /// The name shown for it ([`DocumentRecord::file_name`]).
    pub file_name: String,
    /// The pipeline that indexed it.
    pub pipeline: Pipeline,
    /// How many chunks are stored (0 when none); for a document stored by
    /// page range, those of every range stored so far.
    pub chunks: u32,
    /// The document's stored facts ([`DocumentRecord::metadata`]).
    pub metadata: Value,
}
