//! [`RecordingStatusStore`]: a status store that keeps every write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;

use crate::domain::status::{
    PartProgress, PartReport, Stage, StatusRecord, StatusUpdate, DEFAULT_TTL_SECS,
};
use crate::ports::{Listing, StatusStore, StatusStoreError, StatusWrite};

/// A [`StatusStore`] that keeps every record written through it, so a test
/// can assert the stages a run went through, not only where it ended; and
/// that can cancel a run the moment it reaches a stage, as its owner would
/// ([`RecordingStatusStore::cancel_when`]).
///
/// It records what another store applies: by default a store of the
/// status rules alone ([`StatusRecord::check`], [`StatusRecord::applied`]);
/// [`RecordingStatusStore::over`] a full one (rag-local's memory store, for
/// split runs' part counters and leases).
pub struct RecordingStatusStore {
    inner: Arc<dyn StatusStore>,
    history: Mutex<Vec<StatusRecord>>,
    cancel_at: Mutex<Option<Stage>>,
}

impl Default for RecordingStatusStore {
    fn default() -> Self {
        Self::over(Arc::new(RulesOnly::default()))
    }
}

impl RecordingStatusStore {
    /// Records what `inner` applies.
    pub fn over(inner: Arc<dyn StatusStore>) -> Self {
        Self {
            inner,
            history: Mutex::default(),
            cancel_at: Mutex::default(),
        }
    }

    /// Every record written, oldest first.
    pub fn records(&self) -> Vec<StatusRecord> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The records written at `stage`, oldest first.
    pub fn of(&self, stage: Stage) -> Vec<StatusRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.status == stage)
            .collect()
    }

    /// The records of one statusId, oldest first.
    pub fn history_of(&self, status_id: &str) -> Vec<StatusRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.status_id == status_id)
            .collect()
    }

    /// Cancels a run right after it reaches `stage`, as
    /// `POST /v2/documents/{id}/cancel` would.
    pub fn cancel_when(&self, stage: Stage) {
        if let Ok(mut at) = self.cancel_at.lock() {
            *at = Some(stage);
        }
    }

    fn keep(&self, record: &StatusRecord) {
        if let Ok(mut h) = self.history.lock() {
            h.push(record.clone());
        }
    }
}

#[async_trait]
impl StatusStore for RecordingStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let out = self.inner.apply(update).await?;
        if let StatusWrite::Applied(r) = &out {
            self.keep(r);
            let cancel = self.cancel_at.lock().is_ok_and(|at| *at == Some(r.status));
            if cancel {
                let cancel = StatusUpdate::new(
                    &r.status_id,
                    &r.user,
                    &r.run_id,
                    Stage::Cancelled,
                    r.progress,
                    "Cancelled by its owner",
                );
                if let StatusWrite::Applied(c) = self.inner.apply(&cancel).await? {
                    self.keep(&c);
                }
            }
        }
        Ok(out)
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        self.inner.get(status_id).await
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.list_for_user(user, listing).await
    }

    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        self.inner.delete(status_id).await
    }

    async fn record_part(
        &self,
        report: &PartReport,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        self.inner.record_part(report).await
    }

    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.expired(now, limit).await
    }
}

/// The status rules over a map: current records, listed with their
/// cursor; no part counters, leases or expiry (the ports' defaults refuse
/// those; rag-local's MemoryStatusStore has them).
#[derive(Default)]
struct RulesOnly(Mutex<HashMap<String, StatusRecord>>);

#[async_trait]
impl StatusStore for RulesOnly {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let mut records = self.0.lock().map_err(|e| StatusStoreError(e.to_string()))?;
        let current = records.get(&update.status_id);
        if StatusRecord::check(current, update).is_err() {
            return Ok(StatusWrite::Stale);
        }
        let record = StatusRecord::applied(current, update, Utc::now(), DEFAULT_TTL_SECS);
        records.insert(update.status_id.clone(), record.clone());
        Ok(StatusWrite::Applied(record))
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        let records = self.0.lock().map_err(|e| StatusStoreError(e.to_string()))?;
        Ok(records.get(status_id).cloned())
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let records = self.0.lock().map_err(|e| StatusStoreError(e.to_string()))?;
        let mut mine: Vec<StatusRecord> = records
            .values()
            .filter(|r| r.user == user && listing.admits(r))
            .filter(|r| listing.after.as_ref().is_none_or(|after| after.precedes(r)))
            .cloned()
            .collect();
        mine.sort_by(StatusRecord::newest_first);
        mine.truncate(listing.limit);
        Ok(mine)
    }
}
