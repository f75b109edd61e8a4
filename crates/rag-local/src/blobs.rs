//! Objects as files: each bucket is a directory.
//!
//! Uploads ([`FsBlobStore::put`]) behave like S3 objects: the content type
//! and the user metadata (`x-amz-meta-*`) are kept in a sidecar that
//! [`BlobStore::head`] returns. Sidecars live in a parallel hidden tree,
//! `<bucket dir>/.meta/<key>.json`, which no user key can reach (keys whose
//! first component is `.meta` are refused), so they never collide with
//! objects. Files placed in a bucket directory by hand have no sidecar; their
//! type is guessed from the name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use rag_core::ports::{BlobError, BlobMeta, BlobRef, BlobStore};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fsio;

/// The hidden tree of sidecars (and in-progress uploads) in a bucket directory.
const META_DIR: &str = ".meta";
/// Where uploads are written before they are renamed into place.
const INCOMING_DIR: &str = ".incoming";

/// What S3 would keep beside an object's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sidecar {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// The size of the object it describes: a file replaced by hand (same
    /// key, other bytes) no longer matches, and its sidecar is ignored.
    size: u64,
}

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

    /// The bucket directory and the file behind a blob. A key `put` would
    /// refuse names no object (`..`, `./a`, `a//b`, the sidecar tree), so it
    /// cannot alias another key's file.
    fn locate(&self, blob: &BlobRef) -> Result<(&Path, PathBuf), BlobError> {
        let root = self.buckets.get(&blob.bucket).ok_or(BlobError::NotFound)?;
        let key = canonical_key(&blob.key).map_err(|_| BlobError::NotFound)?;
        Ok((root, root.join(key)))
    }

    /// The type a file's name suggests, as S3 would have recorded it on upload.
    pub fn guess_content_type(key: &str) -> Option<String> {
        mime_guess::from_path(key).first_raw().map(str::to_owned)
    }

    /// Stores an object, as an S3 `PutObject` would: `content_type` and the
    /// user `metadata` (names lower-cased, as S3 does) are returned by later
    /// HEADs. Parent directories are created; the object and its sidecar are
    /// each replaced atomically. Refuses keys that are not plain relative
    /// paths (`..`, absolute, empty components) or that start with `.meta`.
    pub async fn put(
        &self,
        blob: &BlobRef,
        bytes: &[u8],
        content_type: Option<&str>,
        metadata: BTreeMap<String, String>,
    ) -> Result<(), BlobError> {
        let mut upload = self.begin_upload(blob, bytes.len() as u64).await?;
        upload.write(bytes).await?;
        upload.finish(content_type, metadata).await.map(|_| ())
    }

    /// Starts storing an object whose bytes arrive in pieces (an HTTP
    /// upload), as [`FsBlobStore::put`] stores it whole: the pieces go to a
    /// temporary file, so the object is never held in memory, and over
    /// `max_bytes` the upload is refused ([`BlobError::TooLarge`]) as soon as
    /// it crosses the limit.
    pub async fn begin_upload(&self, blob: &BlobRef, max_bytes: u64) -> Result<Upload, BlobError> {
        let root = self
            .buckets
            .get(&blob.bucket)
            .ok_or(BlobError::NotFound)?
            .clone();
        let key = canonical_key(&blob.key)?;
        let incoming = root.join(META_DIR).join(INCOMING_DIR);
        tokio::fs::create_dir_all(&incoming)
            .await
            .map_err(|e| backend("creating directories", &incoming, e))?;
        let temp = incoming.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| backend("creating the upload", &temp, e))?;
        Ok(Upload {
            root,
            key,
            temp,
            file: Some(file),
            written: 0,
            max_bytes,
        })
    }
}

/// An object being stored piece by piece ([`FsBlobStore::begin_upload`]).
/// It appears, with its sidecar, only when [`Upload::finish`] succeeds;
/// dropped before that (a refused or broken upload), it leaves nothing.
#[derive(Debug)]
pub struct Upload {
    root: PathBuf,
    key: PathBuf,
    temp: PathBuf,
    /// `None` once finished.
    file: Option<tokio::fs::File>,
    written: u64,
    max_bytes: u64,
}

impl Upload {
    /// Appends the next piece.
    pub async fn write(&mut self, piece: &[u8]) -> Result<(), BlobError> {
        let size = self.written.saturating_add(piece.len() as u64);
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| BlobError::Backend("upload already finished".into()))?;
        file.write_all(piece)
            .await
            .map_err(|e| backend("writing the object", &self.temp, e))?;
        self.written = size;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Puts the object in place with its content type and user metadata
    /// (names lower-cased, as S3 does); returns its size.
    pub async fn finish(
        mut self,
        content_type: Option<&str>,
        metadata: BTreeMap<String, String>,
    ) -> Result<u64, BlobError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| BlobError::Backend("upload already finished".into()))?;
        file.flush()
            .await
            .map_err(|e| backend("writing the object", &self.temp, e))?;
        drop(file);
        let sidecar = Sidecar {
            content_type: content_type
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            size: self.written,
        };
        let (root, key, temp) = (self.root.clone(), self.key.clone(), self.temp.clone());
        tokio::task::spawn_blocking(move || place_object(&root, &key, &temp, &sidecar))
            .await
            .map_err(|e| BlobError::Backend(format!("upload task failed: {e}")))??;
        Ok(self.written)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Unfinished, or its rename failed: the temporary file goes.
        if self.temp.exists() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

fn backend(what: &str, path: &Path, e: std::io::Error) -> BlobError {
    tracing::warn!(path = %path.display(), error = %e, "{what} failed");
    BlobError::Backend(format!("{what} failed: {e}"))
}

/// Whether a key names something in the sidecar tree.
fn reserved(key: &Path) -> bool {
    key.components()
        .find(|c| !matches!(c, Component::CurDir))
        .is_some_and(|c| c.as_os_str() == META_DIR)
}

/// The key as a relative path, if it is one written canonically: S3 keys
/// `a//b`, `./a` or `a/` would otherwise alias other keys' files.
fn canonical_key(key: &str) -> Result<PathBuf, BlobError> {
    let invalid = |why: &str| BlobError::InvalidKey(format!("{key:?}: {why}"));
    if key.is_empty() {
        return Err(invalid("empty"));
    }
    if key.contains('\0') {
        return Err(invalid("contains NUL"));
    }
    let path = Path::new(key);
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            _ => return Err(invalid("not a plain relative path")),
        }
    }
    if parts.join("/") != key {
        return Err(invalid("empty or \".\" path components"));
    }
    if reserved(path) {
        return Err(invalid("the .meta prefix is reserved"));
    }
    Ok(path.to_owned())
}

/// Renames a finished upload into place, then writes its sidecar
/// atomically.
fn place_object(root: &Path, key: &Path, temp: &Path, sidecar: &Sidecar) -> Result<(), BlobError> {
    let target = root.join(key);
    let meta_path = sidecar_path(root, key);
    for dir in [target.parent(), meta_path.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).map_err(|e| backend("creating directories", dir, e))?;
    }
    std::fs::rename(temp, &target).map_err(|e| backend("placing the object", &target, e))?;
    let json = serde_json::to_vec(sidecar)
        .map_err(|e| BlobError::Backend(format!("encoding object metadata: {e}")))?;
    fsio::write_atomic(&meta_path, &json, false)
        .map_err(|e| backend("writing object metadata", &meta_path, e))
}

/// `<root>/.meta/<key>.json`.
fn sidecar_path(root: &Path, key: &Path) -> PathBuf {
    let mut name = root.join(META_DIR).join(key).into_os_string();
    name.push(".json");
    PathBuf::from(name)
}

/// The sidecar of an object of `size` bytes, if it has a current one.
async fn read_sidecar(root: &Path, key: &Path, size: u64) -> Option<Sidecar> {
    let path = sidecar_path(root, key);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read object metadata");
            return None;
        }
    };
    match serde_json::from_slice::<Sidecar>(&bytes) {
        Ok(s) if s.size == size => Some(s),
        Ok(_) => {
            tracing::debug!(path = %path.display(), "object metadata is for other bytes; ignored");
            None
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable object metadata ignored");
            None
        }
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
        let (root, path) = self.locate(blob)?;
        let meta = tokio::fs::metadata(&path).await.map_err(io_error)?;
        if !meta.is_file() {
            return Err(BlobError::NotFound);
        }
        let sidecar = read_sidecar(root, Path::new(&blob.key), meta.len())
            .await
            .unwrap_or_default();
        Ok(BlobMeta {
            size: meta.len(),
            content_type: sidecar
                .content_type
                .or_else(|| Self::guess_content_type(&blob.key)),
            metadata: sidecar.metadata,
        })
    }

    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let (_, path) = self.locate(blob)?;
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
        file.take(max_bytes.saturating_add(1))
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

    async fn put(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        // The inherent `put`, without user metadata.
        FsBlobStore::put(self, blob, &bytes, Some(content_type), BTreeMap::new()).await
    }

    /// Removes the folder the prefix names, with the objects' sidecars.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, BlobError> {
        rag_core::ports::check_folder_prefix(prefix)?;
        let root = self.buckets.get(bucket).ok_or(BlobError::NotFound)?;
        let folder = canonical_key(prefix.trim_end_matches('/'))?;
        let (objects, sidecars) = (root.join(&folder), root.join(META_DIR).join(&folder));
        let deleted = tokio::task::spawn_blocking(move || {
            let count = count_files(&objects)?;
            for dir in [&objects, &sidecars] {
                match std::fs::remove_dir_all(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(backend("deleting", dir, e)),
                }
            }
            Ok(count)
        })
        .await
        .map_err(|e| BlobError::Backend(format!("delete task failed: {e}")))??;
        Ok(deleted)
    }
}

/// Files under `dir`, at any depth (none if it does not exist).
fn count_files(dir: &Path) -> Result<u64, BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(backend("listing", dir, e)),
    };
    let mut count = 0;
    for entry in entries {
        let entry = entry.map_err(|e| backend("listing", dir, e))?;
        let kind = entry.file_type().map_err(|e| backend("listing", dir, e))?;
        count += if kind.is_dir() {
            count_files(&entry.path())?
        } else {
            1
        };
    }
    Ok(count)
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
