//! The ports: every side effect of the core goes through one of these traits.
//!
//! Adapters implement them for AWS (S3, DynamoDB, SQS, API Gateway) and for
//! local use (a directory, in-process stores); the index is PostgreSQL +
//! pgvector everywhere. Errors carry enough to pick an HTTP status or a
//! status-record message, never adapter internals.
//!
//! One file per port: its trait, the values it takes and returns, its error.

mod blobs;
mod connections;
mod embedding;
mod extraction;
mod identity;
mod index;
mod notifier;
mod pages;
mod queue;
mod reranking;
mod status;
mod vision;

pub use blobs::{check_folder_prefix, BlobError, BlobLinker, BlobMeta, BlobRef, BlobStore};
pub use connections::{Connection, ConnectionStore, ConnectionStoreError, Subscriber};
pub use embedding::{EmbedError, Embedder};
pub use extraction::{
    ExtractError, ExtractInput, ExtractedDocument, ExtractedImage, ExtractedPage, Extractor,
};
pub use identity::{AuthError, TokenVerifier};
pub use index::{
    Bm25Params, ChunkHit, ChunkRecord, DenseQuery, DocumentRecord, DocumentSummary, Index,
    IndexError, IndexQuery, IndexResults, Neighbours, OtherModelDocument, QueryVector, SearchScope,
    SparseQuery, StoredChunk,
};
pub use notifier::{Notifier, NotifyError};
pub use pages::{
    PageEmbedder, PageHit, PageIndex, PageQuery, PageRecord, PageRenderer, PageSource,
    PageTextSource, RenderError, RenderedPage,
};
pub use queue::{JobQueue, QueueError};
pub use reranking::Reranker;
pub use status::{ListCursor, Listing, StatusStore, StatusStoreError, StatusWrite};
pub use vision::{VisionError, VisionModel, VisionRequest, SUPPORTED_MEDIA_TYPES};
