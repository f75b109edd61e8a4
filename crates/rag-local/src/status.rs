//! Status records with the same conditional-write rules as the DynamoDB
//! store: in process memory, or persisted in a directory.

mod file;

pub use file::{FileStatusStore, StatusFileError};

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use rag_core::ports::{StatusStore, StatusStoreError, StatusWrite};
use rag_core::status::{PartCounters, PartProgress, PartReport, StatusRecord, StatusUpdate};

/// A [`StatusStore`] for one process (the CLI, tests).
#[derive(Debug)]
pub struct MemoryStatusStore {
    records: Mutex<HashMap<String, StatusRecord>>,
    /// The part counters of split runs; always locked after `records`.
    parts: Mutex<HashMap<String, PartCounters>>,
    ttl_secs: i64,
}

impl Default for MemoryStatusStore {
    fn default() -> Self {
        Self::new(rag_core::status::DEFAULT_TTL_SECS)
    }
}

impl MemoryStatusStore {
    /// A store whose records expire `ttl_secs` after their last write.
    pub fn new(ttl_secs: i64) -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            parts: Mutex::new(HashMap::new()),
            ttl_secs,
        }
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, StatusRecord>>, StatusStoreError> {
        self.records
            .lock()
            .map_err(|_| StatusStoreError("status store poisoned".into()))
    }
}

#[async_trait]
impl StatusStore for MemoryStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let mut records = self.lock()?;
        let now = Utc::now();
        let current = records
            .get(&update.status_id)
            .filter(|r| !r.is_expired(now.timestamp()));
        if StatusRecord::check(current, update).is_err() {
            return Ok(StatusWrite::Stale);
        }
        let record = StatusRecord::applied(current, update, now, self.ttl_secs);
        records.insert(update.status_id.clone(), record.clone());
        Ok(StatusWrite::Applied(record))
    }

    async fn record_part(
        &self,
        report: &PartReport,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        let records = self.lock()?;
        let mut parts = self
            .parts
            .lock()
            .map_err(|_| StatusStoreError("status store poisoned".into()))?;
        let now = Utc::now().timestamp();
        let current = records
            .get(&report.status_id)
            .filter(|r| !r.is_expired(now));
        let Some((next, progress)) =
            PartCounters::record(parts.get(&report.status_id), current, report)
        else {
            return Ok(None);
        };
        parts.insert(report.status_id.clone(), next);
        Ok(Some(progress))
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        let now = Utc::now().timestamp();
        Ok(self
            .lock()?
            .get(status_id)
            .filter(|r| !r.is_expired(now))
            .cloned())
    }

    async fn list_for_user(
        &self,
        user: &str,
        limit: usize,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let now = Utc::now().timestamp();
        let mut mine: Vec<StatusRecord> = self
            .lock()?
            .values()
            .filter(|r| r.user == user && !r.is_expired(now))
            .cloned()
            .collect();
        mine.sort_by(StatusRecord::newest_first);
        mine.truncate(limit);
        Ok(mine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rag_core::status::Stage;

    fn update(run: &str, stage: Stage, progress: u8) -> StatusUpdate {
        StatusUpdate {
            starts_run: stage == Stage::Queued,
            ..StatusUpdate::new("b#k", "alice", run, stage, progress, stage.to_string())
        }
    }

    #[tokio::test]
    async fn expired_records_are_absent_and_block_nothing() {
        // Records that expire as they are written.
        let store = MemoryStatusStore::new(-10);
        store.apply(&update("r1", Stage::Queued, 5)).await.unwrap();
        assert_eq!(store.get("b#k").await.unwrap(), None);
        assert!(store.list_for_user("alice", 10).await.unwrap().is_empty());
        // An expired run that never finished does not keep a new one out.
        assert!(matches!(
            store.apply(&update("r2", Stage::Queued, 5)).await.unwrap(),
            StatusWrite::Applied(_)
        ));
    }

    #[tokio::test]
    async fn concurrent_updates_never_move_backwards() {
        let store = std::sync::Arc::new(MemoryStatusStore::default());
        store.apply(&update("r", Stage::Queued, 5)).await.unwrap();
        let mut tasks = Vec::new();
        for p in (46..=85u8).rev() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.apply(&update("r", Stage::Embedding, p)).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.get("b#k").await.unwrap().unwrap().progress, 85);
        assert_eq!(
            store
                .apply(&update("r", Stage::Chunking, 41))
                .await
                .unwrap(),
            StatusWrite::Stale
        );
        assert_eq!(store.list_for_user("alice", 10).await.unwrap().len(), 1);
        assert!(store.list_for_user("bob", 10).await.unwrap().is_empty());
    }
}
