//! Status records persisted in a directory, so the local gateway's documents
//! keep their status across restarts.
//!
//! One JSON file per statusId, named by the hex SHA-256 of the statusId (a
//! statusId is `bucket#key` and may hold any character), replaced atomically
//! on every write, under the lock of the in-memory table the memory store
//! uses too.
//!
//! The part counters of split runs live beside them, under `parts/`, named
//! the same way, and are updated under the same lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use rag_core::domain::status::{
    PartCounters, PartProgress, PartReport, StatusRecord, StatusUpdate,
};
use rag_core::ports::{Listing, StatusStore, StatusStoreError, StatusWrite};
use sha2::{Digest, Sha256};

use super::StatusTable;
use crate::fsio;

/// Why the status directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StatusFileError {
    /// Reading or creating the directory failed.
    #[error("status storage error at {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    table: StatusTable,
}

/// The subdirectory of the part counters.
const PARTS_DIR: &str = "parts";

/// A [`StatusStore`] persisted in a directory (the local gateway's).
#[derive(Debug, Clone)]
pub struct FileStatusStore {
    inner: Arc<Inner>,
    ttl_secs: i64,
}

/// The file of `status_id` in `dir`: a statusId may hold any character.
fn file_of(dir: &Path, status_id: &str) -> PathBuf {
    let digest = Sha256::digest(status_id.as_bytes());
    dir.join(format!("{}.json", fsio::hex(&digest)))
}

impl Inner {
    fn path_of(&self, status_id: &str) -> PathBuf {
        file_of(&self.dir, status_id)
    }

    fn parts_path_of(&self, status_id: &str) -> PathBuf {
        file_of(&self.dir.join(PARTS_DIR), status_id)
    }

    /// Counts a part report, persisting the counters.
    fn record_part(&self, report: &PartReport) -> Result<Option<PartProgress>, StatusStoreError> {
        self.table.record_part(report, |next| {
            let bytes = serde_json::to_vec(&(&report.status_id, next))
                .map_err(|e| StatusStoreError(format!("cannot encode part counters: {e}")))?;
            let path = self.parts_path_of(&report.status_id);
            std::fs::create_dir_all(self.dir.join(PARTS_DIR))
                .and_then(|()| fsio::write_atomic(&path, &bytes, false))
                .map_err(|e| {
                    tracing::error!(path = %path.display(), error = %e, "cannot write part counters");
                    StatusStoreError(format!("cannot write part counters: {e}"))
                })
        })
    }

    /// Check, build and write under one lock.
    fn apply(&self, update: &StatusUpdate, ttl_secs: i64) -> Result<StatusWrite, StatusStoreError> {
        self.table.apply(update, ttl_secs, |record| {
            let bytes = serde_json::to_vec(record)
                .map_err(|e| StatusStoreError(format!("cannot encode status record: {e}")))?;
            let path = self.path_of(&record.status_id);
            // Not flushed to disk: atomic against a crash of the process, and
            // a power cut at worst loses the last few progress updates.
            fsio::write_atomic(&path, &bytes, false).map_err(|e| {
                tracing::error!(path = %path.display(), error = %e, "cannot write status record");
                StatusStoreError(format!("cannot write status record: {e}"))
            })
        })
    }
}

impl FileStatusStore {
    /// Records live 30 days after their last update, like the DynamoDB
    /// store's default.
    pub const DEFAULT_TTL_SECS: i64 = rag_core::domain::status::DEFAULT_TTL_SECS;

    /// Opens (creating if needed) the store in `dir` and loads its records;
    /// expired ones are deleted, unreadable ones skipped with a warning.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StatusFileError> {
        let dir = dir.into();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StatusFileError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        fsio::remove_stale_temps(&dir).map_err(io(&dir))?;
        // Created by the first split run only.
        let parts_dir = dir.join(PARTS_DIR);
        let mut parts = HashMap::new();
        let part_files = if parts_dir.is_dir() {
            fsio::remove_stale_temps(&parts_dir).map_err(io(&parts_dir))?;
            fsio::json_files(&parts_dir).map_err(io(&parts_dir))?
        } else {
            Vec::new()
        };
        for path in part_files {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            match serde_json::from_str::<(String, PartCounters)>(&text) {
                Ok((status_id, counters)) => {
                    parts.insert(status_id, counters);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable part counters skipped")
                }
            }
        }
        let now = Utc::now().timestamp();
        let mut records = HashMap::new();
        for path in fsio::json_files(&dir).map_err(io(&dir))? {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let record = match serde_json::from_str::<StatusRecord>(&text) {
                Ok(r) if file_of(&dir, &r.status_id) == path => r,
                Ok(r) => {
                    tracing::warn!(path = %path.display(), statusId = %r.status_id, "status record under a foreign file name skipped");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable status record skipped");
                    continue;
                }
            };
            if record.is_expired(now) {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an expired status record");
                }
                continue;
            }
            records.insert(record.status_id.clone(), record);
        }
        tracing::info!(dir = %dir.display(), records = records.len(), "status store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                table: StatusTable::with(records, parts),
            }),
            ttl_secs: Self::DEFAULT_TTL_SECS,
        })
    }

    /// How long a record lives after its last update.
    pub fn with_ttl_secs(mut self, ttl_secs: i64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

#[async_trait]
impl StatusStore for FileStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let inner = Arc::clone(&self.inner);
        let update = update.clone();
        let ttl_secs = self.ttl_secs;
        tokio::task::spawn_blocking(move || inner.apply(&update, ttl_secs))
            .await
            .map_err(|e| StatusStoreError(format!("status write task failed: {e}")))?
    }

    async fn record_part(
        &self,
        report: &PartReport,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        let inner = Arc::clone(&self.inner);
        let report = report.clone();
        tokio::task::spawn_blocking(move || inner.record_part(&report))
            .await
            .map_err(|e| StatusStoreError(format!("part counter task failed: {e}")))?
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        self.inner.table.get(status_id)
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.table.list_for_user(user, listing)
    }

    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        let inner = &self.inner;
        inner.table.delete(status_id, || {
            for path in [inner.path_of(status_id), inner.parts_path_of(status_id)] {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "cannot remove a status record");
                        return Err(StatusStoreError(format!("cannot remove status record: {e}")));
                    }
                }
            }
            Ok(())
        })
    }

    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.table.expired(now, limit)
    }
}
