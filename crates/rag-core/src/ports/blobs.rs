//! Object storage (S3, a local folder): where uploads and rendered page images live.

use std::collections::BTreeMap;

use async_trait::async_trait;

/// Where an object lives (`s3://bucket/key`, or a local directory).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// The S3 bucket; locally, the name a store maps to a directory.
    pub bucket: String,
    /// The object's key in `bucket` (locally, a path relative to its directory).
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
    /// Size of the object in bytes (0 when S3 reports no length).
    pub size: u64,
    /// MIME type recorded with the object (locally, when none was recorded,
    /// guessed from the key); `None` when there is none.
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*` without the prefix), sorted.
    pub metadata: BTreeMap<String, String>,
}

/// Errors of a [`BlobStore`].
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No such object or bucket; locally also a key that cannot name an object.
    #[error("object not found")]
    NotFound,
    /// The object is over the caller's byte limit: refused before or while
    /// reading it, never truncated.
    #[error("object is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Size of the object in bytes, or what had been read when the limit
        /// was crossed (then a lower bound).
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The key cannot name an object here (climbs out of its bucket, empty
    /// segments, reserved names).
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    /// Any other storage failure (network, permissions, I/O), or an
    /// operation the store does not offer.
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
    /// pages), in the document's bucket.
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
    /// A link to the object: a presigned S3 URL valid for a limited time,
    /// the local gateway's `/files/{bucket}/{key}` route, or (`ragctl`)
    /// the file's path.
    async fn link(&self, blob: &BlobRef) -> Result<String, BlobError>;
}
