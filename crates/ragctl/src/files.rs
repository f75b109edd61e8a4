//! Local files as the pipelines read them, and where the pages they render
//! go.
//!
//! `ragctl` serves the files it is given as bucket `local`, keyed by
//! absolute path. The VDR pipeline stores each rendered page beside its
//! document (`rendered-pages/<key>/page-NNNNN.png`); beside a local file
//! that would be a `rendered-pages` folder at the root of the file system,
//! so those keys live under a pages directory of their own instead, and a
//! page result's link is the image's path there.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rag_core::domain::ownership::is_service_key;
use rag_core::ports::{BlobError, BlobLinker, BlobMeta, BlobRef, BlobStore};
use rag_local::FsBlobStore;

/// The bucket local files are served from.
pub const LOCAL_BUCKET: &str = "local";

/// Where rendered pages go unless `RAG_PAGES_DIR` says otherwise, relative
/// to the working directory like the model.
pub const DEFAULT_PAGES_DIR: &str = ".local/pages";

/// Local files, with rendered pages kept apart.
pub struct LocalFiles {
    files: FsBlobStore,
    pages: FsBlobStore,
    pages_dir: PathBuf,
}

impl LocalFiles {
    /// Files anywhere on this machine; rendered pages under `pages_dir`.
    pub fn new(pages_dir: impl Into<PathBuf>) -> Self {
        let pages_dir = pages_dir.into();
        // Links are printed: absolute, so they open from anywhere.
        let pages_dir = std::path::absolute(&pages_dir).unwrap_or(pages_dir);
        Self {
            files: FsBlobStore::new().with_bucket(LOCAL_BUCKET, "/"),
            pages: FsBlobStore::new().with_bucket(LOCAL_BUCKET, &pages_dir),
            pages_dir,
        }
    }

    /// Rendered pages under `RAG_PAGES_DIR`, or [`DEFAULT_PAGES_DIR`].
    pub fn from_env() -> Self {
        Self::new(
            std::env::var_os("RAG_PAGES_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PAGES_DIR)),
        )
    }

    /// The blob of a local file.
    pub fn blob(path: &Path) -> BlobRef {
        BlobRef {
            bucket: LOCAL_BUCKET.into(),
            key: path.to_string_lossy().trim_start_matches('/').to_owned(),
        }
    }

    /// The store that holds `key`.
    fn store(&self, key: &str) -> &FsBlobStore {
        if is_service_key(key) {
            &self.pages
        } else {
            &self.files
        }
    }
}

#[async_trait]
impl BlobStore for LocalFiles {
    async fn head(&self, blob: &BlobRef) -> Result<BlobMeta, BlobError> {
        self.store(&blob.key).head(blob).await
    }

    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        BlobStore::get(self.store(&blob.key), blob, max_bytes).await
    }

    /// Only rendered pages are written: the user's files are read-only.
    async fn put(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        if !is_service_key(&blob.key) {
            return Err(BlobError::InvalidKey(format!(
                "{}: ragctl writes rendered pages only",
                blob.key
            )));
        }
        BlobStore::put(&self.pages, blob, bytes, content_type).await
    }

    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, BlobError> {
        if !is_service_key(prefix) {
            return Err(BlobError::InvalidKey(format!(
                "{prefix}: ragctl deletes rendered pages only"
            )));
        }
        self.pages.delete_prefix(bucket, prefix).await
    }
}

#[async_trait]
impl BlobLinker for LocalFiles {
    /// The rendered page's path on this machine.
    async fn link(&self, blob: &BlobRef) -> Result<String, BlobError> {
        Ok(self.pages_dir.join(&blob.key).display().to_string())
    }
}
