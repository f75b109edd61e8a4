//! Objects as files: each bucket is a directory.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use rag_core::ports::{BlobError, BlobMeta, BlobRef, BlobStore};
use tokio::io::AsyncReadExt;

/// A [`BlobStore`] over local directories, one per bucket.
#[derive(Debug, Clone, Default)]
pub struct FsBlobStore {
    buckets: HashMap<String, PathBuf>,
}

impl FsBlobStore {
    /// A store with no buckets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `bucket` from `dir`.
    pub fn with_bucket(mut self, bucket: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.buckets.insert(bucket.into(), dir.into());
        self
    }

    /// The file behind a blob; keys may not climb out of their bucket.
    fn path(&self, blob: &BlobRef) -> Result<PathBuf, BlobError> {
        let root = self.buckets.get(&blob.bucket).ok_or(BlobError::NotFound)?;
        let key = Path::new(&blob.key);
        if key
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(BlobError::NotFound);
        }
        Ok(root.join(key))
    }

    /// The type a file's name suggests, as S3 would have recorded it on upload.
    pub fn guess_content_type(key: &str) -> Option<String> {
        mime_guess::from_path(key).first_raw().map(str::to_owned)
    }
}

fn io_error(e: std::io::Error) -> BlobError {
    match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound,
        _ => BlobError::Backend(e.to_string()),
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn head(&self, blob: &BlobRef) -> Result<BlobMeta, BlobError> {
        let path = self.path(blob)?;
        let meta = tokio::fs::metadata(&path).await.map_err(io_error)?;
        if !meta.is_file() {
            return Err(BlobError::NotFound);
        }
        Ok(BlobMeta {
            size: meta.len(),
            content_type: Self::guess_content_type(&blob.key),
            metadata: Default::default(),
        })
    }

    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let path = self.path(blob)?;
        let file = tokio::fs::File::open(&path).await.map_err(io_error)?;
        let size = file.metadata().await.map_err(io_error)?.len();
        if size > max_bytes {
            return Err(BlobError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        // Read at most one byte past the limit: the file may grow while read.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max_bytes + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_error)?;
        if bytes.len() as u64 > max_bytes {
            return Err(BlobError::TooLarge {
                size: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_within_limits_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/a.md"), b"# hello").unwrap();
        let store = FsBlobStore::new().with_bucket("b", dir.path());
        let blob = |key: &str| BlobRef {
            bucket: "b".into(),
            key: key.into(),
        };
        let meta = store.head(&blob("docs/a.md")).await.unwrap();
        assert_eq!(
            (meta.size, meta.content_type.as_deref()),
            (7, Some("text/markdown"))
        );
        assert_eq!(store.get(&blob("docs/a.md"), 7).await.unwrap(), b"# hello");
        assert!(matches!(
            store.get(&blob("docs/a.md"), 6).await,
            Err(BlobError::TooLarge { size: 7, limit: 6 })
        ));
        assert!(matches!(
            store.head(&blob("docs/missing.md")).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.head(&blob("../etc/passwd")).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.head(&blob("docs")).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store
                .head(&BlobRef {
                    bucket: "other".into(),
                    key: "docs/a.md".into()
                })
                .await,
            Err(BlobError::NotFound)
        ));
    }
}
