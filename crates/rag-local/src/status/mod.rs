//! Status records with the same conditional-write rules as the DynamoDB
//! store: in process memory, or persisted in a directory.

mod file;

pub use file::{FileStatusStore, StatusFileError};

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;
use rag_core::domain::status::{
    PartCounters, PartProgress, PartReport, StatusRecord, StatusUpdate,
};
use rag_core::ports::{Listing, StatusStore, StatusStoreError, StatusWrite};

/// The records and part counters both local stores hold, behind one lock,
/// so that the core's rule check, the new record and its persistence
/// happen as one step: the local equivalent of DynamoDB's conditional
/// write. Expired records are absent, as in the DynamoDB store (whose TTL
/// deletion is lazy, so reads filter too).
#[derive(Debug, Default)]
struct StatusTable {
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    records: HashMap<String, StatusRecord>,
    /// The part counters of split runs, by statusId.
    parts: HashMap<String, PartCounters>,
}

impl StatusTable {
    fn with(records: HashMap<String, StatusRecord>, parts: HashMap<String, PartCounters>) -> Self {
        Self {
            tables: Mutex::new(Tables { records, parts }),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Tables>, StatusStoreError> {
        self.tables
            .lock()
            .map_err(|_| StatusStoreError("status store poisoned".into()))
    }

    /// Checks `update` against the current record and, when the rules let
    /// it through, persists (`persist`) and keeps the new record.
    fn apply(
        &self,
        update: &StatusUpdate,
        ttl_secs: i64,
        persist: impl FnOnce(&StatusRecord) -> Result<(), StatusStoreError>,
    ) -> Result<StatusWrite, StatusStoreError> {
        let mut tables = self.lock()?;
        let now = Utc::now();
        let current = tables
            .records
            .get(&update.status_id)
            .filter(|r| !r.is_expired(now.timestamp()));
        if let Err(rejection) = StatusRecord::check(current, update) {
            tracing::debug!(statusId = %update.status_id, stage = %update.stage, ?rejection, "stale status update dropped");
            return Ok(StatusWrite::Stale);
        }
        let record = StatusRecord::applied(current, update, now, ttl_secs);
        persist(&record)?;
        tables
            .records
            .insert(record.status_id.clone(), record.clone());
        Ok(StatusWrite::Applied(record))
    }

    /// Counts a part report of the current run; the new counters are
    /// persisted (`persist`) before they are kept.
    fn record_part(
        &self,
        report: &PartReport,
        persist: impl FnOnce(&PartCounters) -> Result<(), StatusStoreError>,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        let mut tables = self.lock()?;
        let now = Utc::now().timestamp();
        let current = tables
            .records
            .get(&report.status_id)
            .filter(|r| !r.is_expired(now));
        let Some((next, progress)) =
            PartCounters::record(tables.parts.get(&report.status_id), current, report)
        else {
            return Ok(None);
        };
        persist(&next)?;
        tables.parts.insert(report.status_id.clone(), next);
        Ok(Some(progress))
    }

    fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        let now = Utc::now().timestamp();
        Ok(self
            .lock()?
            .records
            .get(status_id)
            .filter(|r| !r.is_expired(now))
            .cloned())
    }

    fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let now = Utc::now().timestamp();
        let mut mine: Vec<StatusRecord> = self
            .lock()?
            .records
            .values()
            .filter(|r| r.user == user && !r.is_expired(now) && listing.admits(r))
            .filter(|r| listing.after.as_ref().is_none_or(|after| after.precedes(r)))
            .cloned()
            .collect();
        mine.sort_by(StatusRecord::newest_first);
        mine.truncate(listing.limit);
        Ok(mine)
    }

    /// Removes the record and its part counters, persisting that first
    /// (`persist`, given whether there was a record).
    fn delete(
        &self,
        status_id: &str,
        persist: impl FnOnce() -> Result<(), StatusStoreError>,
    ) -> Result<bool, StatusStoreError> {
        let mut tables = self.lock()?;
        persist()?;
        tables.parts.remove(status_id);
        let now = Utc::now().timestamp();
        Ok(tables
            .records
            .remove(status_id)
            .is_some_and(|r| !r.is_expired(now)))
    }

    /// Live runs whose lease ran out before `now`, oldest lease first.
    fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let mut lapsed: Vec<StatusRecord> = self
            .lock()?
            .records
            .values()
            .filter(|r| r.lease_expired(now) && !r.is_expired(Utc::now().timestamp()))
            .cloned()
            .collect();
        lapsed.sort_by_key(|r| (r.lease_until, r.status_id.clone()));
        lapsed.truncate(limit);
        Ok(lapsed)
    }
}

/// A [`StatusStore`] for one process (the CLI, tests).
#[derive(Debug)]
pub struct MemoryStatusStore {
    table: StatusTable,
    ttl_secs: i64,
}

impl Default for MemoryStatusStore {
    fn default() -> Self {
        Self::new(rag_core::domain::status::DEFAULT_TTL_SECS)
    }
}

impl MemoryStatusStore {
    /// A store whose records expire `ttl_secs` after their last write.
    pub fn new(ttl_secs: i64) -> Self {
        Self {
            table: StatusTable::default(),
            ttl_secs,
        }
    }
}

#[async_trait]
impl StatusStore for MemoryStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        self.table.apply(update, self.ttl_secs, |_| Ok(()))
    }

    async fn record_part(
        &self,
        report: &PartReport,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        self.table.record_part(report, |_| Ok(()))
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        self.table.get(status_id)
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.table.list_for_user(user, listing)
    }

    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        self.table.delete(status_id, || Ok(()))
    }

    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.table.expired(now, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rag_core::domain::status::Stage;

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
        assert!(store
            .list_for_user("alice", &rag_core::ports::Listing::recent(10))
            .await
            .unwrap()
            .is_empty());
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
        assert_eq!(
            store
                .list_for_user("alice", &rag_core::ports::Listing::recent(10))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .list_for_user("bob", &rag_core::ports::Listing::recent(10))
            .await
            .unwrap()
            .is_empty());
    }
}
