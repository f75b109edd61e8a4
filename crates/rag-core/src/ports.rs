//! The ports: every side effect of the core goes through one of these traits.
//!
//! Adapters implement them for AWS (S3, DynamoDB, SQS, API Gateway) and for
//! local use (a directory, in-process stores); the index is PostgreSQL +
//! pgvector everywhere. Errors carry enough to pick an HTTP status or a
//! status-record message, never adapter internals.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt, Shared};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

use crate::classify::Pipeline;
use crate::extraction::{ExtractError, ExtractInput, ExtractedDocument};
use crate::identity::Caller;
use crate::status::{StatusRecord, StatusUpdate};

// ---------------------------------------------------------------- blobs

/// Where an object lives (`s3://bucket/key`, or a local directory).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    pub bucket: String,
    pub key: String,
}

impl BlobRef {
    /// The `statusId` (and document id) of the object: `bucket#key`.
    pub fn status_id(&self) -> String {
        format!("{}#{}", self.bucket, self.key)
    }
}

/// What a HEAD tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*` without the prefix), sorted.
    pub metadata: BTreeMap<String, String>,
}

/// Errors of a [`BlobStore`].
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object not found")]
    NotFound,
    #[error("object is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    /// The key cannot name an object here (climbs out of its bucket, empty
    /// segments, reserved names).
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("storage error: {0}")]
    Backend(String),
}

/// Object storage: S3 in production, a directory locally.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Size, type and metadata, without reading the object.
    async fn head(&self, blob: &BlobRef) -> Result<BlobMeta, BlobError>;
    /// The whole object, refusing (before reading it all) anything over `max_bytes`.
    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError>;
    /// Stores an object the service derived from a document (rendered
    /// pages), next to it.
    async fn put(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError>;
    /// Removes every object of `bucket` whose key starts with `prefix` (a
    /// deleted document's rendered pages); returns how many. The prefix
    /// must end in `/`, so it names one folder and never a sibling's.
    /// The default refuses, for stores nothing is deleted from.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, BlobError> {
        let _ = bucket;
        Err(BlobError::Backend(format!(
            "this store cannot delete {prefix}"
        )))
    }
}

/// Refuses a prefix to delete that is not a folder (`a/b/`): `a/b` would
/// also take the objects of a sibling `a/bc`.
pub fn check_folder_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.len() > 1 && prefix.ends_with('/') {
        Ok(())
    } else {
        Err(BlobError::InvalidKey(format!(
            "{prefix:?}: a prefix to delete must name a folder (end in '/')"
        )))
    }
}

/// Makes a link a caller can fetch an object from for a while (a presigned
/// S3 URL; the local gateway's own route), so that search results can show
/// a page's rendered image without the client holding storage credentials.
#[async_trait]
pub trait BlobLinker: Send + Sync {
    async fn link(&self, blob: &BlobRef) -> Result<String, BlobError>;
}

// ---------------------------------------------------------------- status

/// Errors of a [`StatusStore`].
#[derive(Debug, thiserror::Error)]
#[error("status store error: {0}")]
pub struct StatusStoreError(pub String);

/// Result of a conditional status write.
// Returned once per write and never held in bulk: boxing the record would
// only add an allocation to every write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StatusWrite {
    /// The update was applied; this is the record now stored.
    Applied(StatusRecord),
    /// The update was stale (older run, backwards, run ended) and dropped.
    Stale,
}

/// Document status records (DynamoDB / local). Implementations must apply
/// [`StatusRecord::check`] atomically with the write (a conditional write),
/// so concurrent and duplicated updates cannot move a run backwards.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Applies `update` if the status rules allow it.
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError>;
    /// The current record of a `statusId`.
    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError>;
    /// A page of a user's records, newest first, as `listing` asks: the
    /// next page starts after the last record of this one
    /// ([`Listing::after`]).
    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError>;
    /// Forgets the record of `status_id` (a deleted document) and its part
    /// counters; `false` if there was none. The default refuses, for stores
    /// no document is deleted through.
    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        Err(StatusStoreError(format!(
            "this status store cannot delete {status_id}"
        )))
    }
    /// Adds the pages (and, at its end, the part) one worker of a run split
    /// into page ranges has stored to the run's shared counters, atomically
    /// with the record, and returns the totals; `None` if the report is
    /// stale (another run, or the run ended). Counting is idempotent, so a
    /// retried range counts nothing twice (the rule is
    /// [`crate::status::PartCounters::record`]). The default refuses, for
    /// stores that never back the VDR pipeline.
    async fn record_part(
        &self,
        report: &crate::status::PartReport,
    ) -> Result<Option<crate::status::PartProgress>, StatusStoreError> {
        Err(StatusStoreError(format!(
            "this status store cannot count the parts of {}",
            report.status_id
        )))
    }
    /// Up to `limit` records of live runs whose lease ran out before `now`
    /// (epoch seconds; see [`StatusRecord::lease_expired`]), for the
    /// sweeper. The default refuses, for stores no sweeper runs over.
    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let _ = (now, limit);
        Err(StatusStoreError(
            "this status store cannot list expired runs".into(),
        ))
    }
}

/// Which of a user's status records [`StatusStore::list_for_user`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// At most this many.
    pub limit: usize,
    /// Only records after this one in the listing's order (newest first,
    /// then by statusId): the last record of the previous page.
    pub after: Option<ListCursor>,
    /// Only records in one of these stages, when set.
    pub stages: Option<Vec<crate::status::Stage>>,
    /// Only records of this pipeline, when set.
    pub pipeline: Option<Pipeline>,
}

impl Listing {
    /// The `limit` most recent records, whatever their stage or pipeline.
    pub fn recent(limit: usize) -> Self {
        Self {
            limit,
            after: None,
            stages: None,
            pipeline: None,
        }
    }

    /// Whether `record` passes the listing's filters (not its position).
    pub fn admits(&self, record: &StatusRecord) -> bool {
        self.stages
            .as_ref()
            .is_none_or(|stages| stages.contains(&record.status))
            && self
                .pipeline
                .is_none_or(|pipeline| record.pipeline == Some(pipeline))
    }
}

/// Where a page of a listing ended: the key of its last record, so the
/// next page resumes after it however many records arrive meanwhile. A
/// record updated between two pages moves to the front (it is newer) and
/// is not listed again further on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    #[serde(rename = "t")]
    pub timestamp: chrono::DateTime<chrono::Utc>,
    #[serde(rename = "s")]
    pub status_id: String,
}

impl ListCursor {
    /// The cursor after `record`.
    pub fn after(record: &StatusRecord) -> Self {
        Self {
            timestamp: record.timestamp,
            status_id: record.status_id.clone(),
        }
    }

    /// Whether `record` comes after the cursor in the listing's order
    /// ([`StatusRecord::newest_first`]).
    pub fn precedes(&self, record: &StatusRecord) -> bool {
        record.timestamp < self.timestamp
            || (record.timestamp == self.timestamp && record.status_id > self.status_id)
    }
}

// ---------------------------------------------------------------- embeddings

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
    fn script_coverage(&self) -> &crate::language::ScriptCoverage {
        &crate::language::ANY_SCRIPT
    }
}

// ---------------------------------------------------------------- reranking

/// Scores passages against a query with a model that reads both together
/// (a cross-encoder: a hosted `/rerank` endpoint): slower than retrieval,
/// so it reorders the few best candidates only. Errors are the model
/// service's, as for an [`Embedder`].
#[async_trait]
pub trait Reranker: Send + Sync {
    /// Identifies the model.
    fn model_id(&self) -> &str;
    /// One relevance score per document, in the documents' order; higher
    /// is more relevant.
    async fn rerank(&self, query: &str, documents: &[String]) -> Result<Vec<f64>, EmbedError>;
}

// ---------------------------------------------------------------- extraction

/// Turns file bytes into text. Synchronous and CPU-bound: callers run it on a
/// blocking thread. Implementations must never panic on any input.
pub trait Extractor: Send + Sync {
    fn extract(&self, input: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError>;
}

// ---------------------------------------------------------------- vision

/// The vision-model port lives with the visuals step that uses it.
pub use crate::visuals::{VisionError, VisionModel, VisionRequest};

// ---------------------------------------------------------------- index

/// A document as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    /// `bucket#key` (the statusId).
    pub document_id: String,
    /// The user who owns it; only they (and grantees) can find it.
    pub owner: String,
    pub bucket: String,
    pub key: String,
    pub file_name: String,
    pub content_type: Option<String>,
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
    /// Position in the document, from 0.
    pub chunk_index: u32,
    pub content: String,
    pub page_num: Option<u32>,
    pub embedding: Vec<f32>,
    /// BM25 terms with their frequencies in this chunk.
    pub terms: Vec<(String, u32)>,
    /// Length of the chunk in terms (BM25's document length).
    pub term_count: u32,
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
    pub filter: Option<crate::attributes::Filter>,
}

/// A dense (vector) search.
#[derive(Debug, Clone)]
pub struct DenseQuery {
    pub vector: QueryVector,
    /// Only vectors of this model are compared.
    pub model: String,
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
    pub k1: f64,
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
    pub params: Bm25Params,
    pub limit: usize,
}

/// One index search: a dense list, a sparse list, or both at once.
#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub scope: SearchScope,
    pub dense: Option<DenseQuery>,
    pub sparse: Option<SparseQuery>,
}

/// A stored chunk as search returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit {
    pub chunk_id: String,
    pub document_id: String,
    pub content: String,
    pub page_num: Option<u32>,
    pub pipeline: Pipeline,
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
    #[error("document {document_id} belongs to another user")]
    NotOwner { document_id: String },
    #[error("index unavailable: {0}")]
    Unavailable(String),
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
    pub document_id: String,
    pub owner: String,
    pub embedding_model: String,
    pub chunks: u32,
}

/// A stored chunk as [`Index::chunks`] reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub chunk_index: u32,
    pub content: String,
    pub page_num: Option<u32>,
}

/// A stored document as listings show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSummary {
    pub document_id: String,
    pub file_name: String,
    pub pipeline: Pipeline,
    pub chunks: u32,
    pub metadata: Value,
}

// ---------------------------------------------------------------- queue

/// Errors of a [`JobQueue`].
#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

/// Hands jobs to the background pipelines (SQS / the local queue).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends `job` to the queue of its pipeline (`job.pipeline`).
    async fn send(&self, job: &crate::job::PipelineJob) -> Result<(), QueueError>;
}

// ---------------------------------------------------------------- connections

/// An open WebSocket connection and who opened it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// API Gateway's `connectionId`.
    pub connection_id: String,
    /// The verified user behind it.
    pub user: String,
    pub connected_at: chrono::DateTime<chrono::Utc>,
    /// Expiry in epoch seconds; the connection and its subscriptions vanish
    /// after it even if `$disconnect` never arrives.
    pub ttl: i64,
}

/// A connection subscribed to a statusId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub connection_id: String,
    /// The user of the connection, so a push can be checked against the
    /// record's owner without another lookup.
    pub user: String,
}

/// Errors of a [`ConnectionStore`].
#[derive(Debug, thiserror::Error)]
#[error("connection store error: {0}")]
pub struct ConnectionStoreError(pub String);

/// WebSocket connections and their many-to-many subscriptions to statusIds
/// (DynamoDB table with an index by statusId / local).
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection.
    async fn put(&self, connection: &Connection) -> Result<(), ConnectionStoreError>;
    /// The connection, if it is known and not expired.
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, ConnectionStoreError>;
    /// Forgets the connection and every subscription it holds.
    async fn remove(&self, connection_id: &str) -> Result<(), ConnectionStoreError>;
    /// Subscribes the connection to `status_id` (idempotent).
    async fn subscribe(
        &self,
        connection: &Connection,
        status_id: &str,
    ) -> Result<(), ConnectionStoreError>;
    /// Drops one subscription, or all of the connection's with `None`.
    async fn unsubscribe(
        &self,
        connection_id: &str,
        status_id: Option<&str>,
    ) -> Result<(), ConnectionStoreError>;
    /// Every connection subscribed to `status_id`.
    async fn subscribers(&self, status_id: &str) -> Result<Vec<Subscriber>, ConnectionStoreError>;
    /// How many subscriptions the connection holds, so that one connection
    /// cannot grow the table (and every push's fan-out lookup) without bound.
    async fn subscription_count(&self, connection_id: &str) -> Result<usize, ConnectionStoreError>;
}

// ---------------------------------------------------------------- notifier

/// Errors of a [`Notifier`].
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The connection no longer exists (API Gateway's `410 Gone`).
    #[error("connection is gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Pushes a JSON message to one WebSocket connection (API Gateway Management
/// API / local WebSocket hub).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, connection_id: &str, message: &Value) -> Result<(), NotifyError>;
}

// ---------------------------------------------------------------- identity

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set could not be fetched; not the caller's fault.
    #[error("token keys unavailable: {0}")]
    Unavailable(String),
}

/// Verifies a bearer token (a Cognito id token in production, a local token
/// in development) and names its user.
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<Caller, AuthError>;
}

// ---------------------------------------------------------------- pages (VDR)

/// Where a page's searchable text came from: recorded with every page so
/// that results (and operators) know what was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageTextSource {
    /// The PDF's own text layer.
    TextLayer,
    /// Tesseract OCR of the rendered page (a scan).
    Ocr,
    /// Neither: the page is stored and reported, never silently dropped.
    None,
}

impl PageTextSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextLayer => "text_layer",
            Self::Ocr => "ocr",
            Self::None => "none",
        }
    }
}

/// One page of a document, rendered: what a page embedder reads.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// 1-based page number.
    pub page_num: u32,
    /// The page as a PNG.
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The page's text (text layer, or OCR when it has none).
    pub text: String,
    pub text_source: PageTextSource,
}

impl std::fmt::Debug for RenderedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedPage")
            .field("page_num", &self.page_num)
            .field("png_bytes", &self.png.len())
            .field("size", &(self.width, self.height))
            .field("text_chars", &self.text.len())
            .field("text_source", &self.text_source)
            .finish()
    }
}

/// Errors of a [`PageRenderer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The document itself cannot be rendered (corrupt, encrypted, a type
    /// without pages): final, reported to the user.
    #[error(transparent)]
    Document(#[from] ExtractError),
    /// The renderer is missing or failed (no PDFium, LibreOffice crashed):
    /// the pipeline falls back to per-page text.
    #[error("page rendering unavailable: {0}")]
    Unavailable(String),
}

/// Opens documents for rendering (PDFium; LibreOffice first for Office
/// files). Synchronous and CPU-bound: callers run it on a blocking thread.
pub trait PageRenderer: Send + Sync {
    /// Opens the document; pages are rendered later, one at a time.
    fn open(&self, input: ExtractInput<'_>) -> Result<Arc<dyn PageSource>, RenderError>;
}

/// An opened document whose pages are rendered one call at a time, so
/// memory stays flat however long the document.
pub trait PageSource: Send + Sync {
    /// Number of pages.
    fn page_count(&self) -> u32;
    /// Renders page `page_num` (1-based) at `dpi`, with its text (the text
    /// layer, or OCR of the rendered page when it has none).
    fn render(&self, page_num: u32, dpi: u32) -> Result<RenderedPage, RenderError>;
}

/// Multi-vector (late-interaction) embeddings of pages and queries: a
/// ColPali-style model over HTTP in production, or the local stand-in that
/// embeds spans of the page's text with the text model.
#[async_trait]
pub trait PageEmbedder: Send + Sync {
    /// Identifies the model; vectors of different models are never compared.
    fn model_id(&self) -> &str;
    /// Length of each vector.
    fn dimensions(&self) -> usize;
    /// Vectors for each page, in order. A page the model cannot read (no
    /// text for a text-based embedder) gets an empty list.
    async fn embed_pages(&self, pages: &[RenderedPage]) -> Result<Vec<Vec<Vec<f32>>>, EmbedError>;
    /// The query's vectors (one per query token for ColPali).
    async fn embed_query(&self, text: &str) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// The scripts the model reads, as [`Embedder::script_coverage`]: a
    /// query in any other is answered from the pages' text instead. Any
    /// script unless the model says otherwise.
    fn script_coverage(&self) -> &crate::language::ScriptCoverage {
        &crate::language::ANY_SCRIPT
    }
}

/// A page as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRecord {
    pub page_num: u32,
    /// Key of the rendered page image in the document's bucket.
    pub image_key: Option<String>,
    /// The page's text, shown as the result snippet.
    pub content: String,
    pub text_source: PageTextSource,
    /// The page's vectors (may be empty: stored and reported, unsearchable).
    pub vectors: Vec<Vec<f32>>,
    pub metadata: Value,
}

/// A MaxSim page search.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery {
    pub scope: SearchScope,
    /// The query's vectors.
    pub vectors: Vec<Vec<f32>>,
    /// Only vectors of this model are compared.
    pub model: String,
    /// Nearest page vectors fetched per query vector through HNSW; their
    /// pages are the candidates re-ranked by exact MaxSim.
    pub candidates_per_vector: usize,
    pub limit: usize,
}

/// A page as search returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageHit {
    pub page_id: String,
    pub document_id: String,
    pub bucket: String,
    pub file_name: String,
    pub page_num: u32,
    pub content: String,
    pub image_key: Option<String>,
    pub text_source: PageTextSource,
    /// MaxSim: the sum over query vectors of the best cosine on the page.
    pub score: f64,
    pub metadata: Value,
}

/// Page vectors of VDR documents, searchable per caller by MaxSim.
#[async_trait]
pub trait PageIndex: Send + Sync {
    /// Replaces pages `first..=last` of the document, with their text
    /// `chunks`, in one transaction: workers processing different ranges of
    /// one document never touch each other's rows, and a retried range
    /// replaces its earlier attempt. Claims the document row like
    /// [`Index::replace_document`] (another owner's document is refused).
    async fn replace_pages(
        &self,
        doc: &DocumentRecord,
        first: u32,
        last: u32,
        pages: &[PageRecord],
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError>;
    /// Best pages by exact MaxSim over candidates found through HNSW.
    async fn search_pages(&self, query: &PageQuery) -> Result<Vec<PageHit>, IndexError>;
}
