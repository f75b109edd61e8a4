//! [`RecordingStatusStore`]: a status store that keeps every write.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use crate::domain::status::{Stage, StatusRecord, StatusUpdate, DEFAULT_TTL_SECS};
use crate::ports::{Listing, StatusStore, StatusStoreError, StatusWrite};

/// A [`StatusStore`] of one document that applies the real status rules
/// ([`StatusRecord::check`], [`StatusRecord::applied`]) and keeps every
/// record it wrote, so a test can assert the stages a run went through, not
/// only where it ended.
#[derive(Debug, Default)]
pub struct RecordingStatusStore {
    history: Mutex<Vec<StatusRecord>>,
}

impl RecordingStatusStore {
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
}

#[async_trait]
impl StatusStore for RecordingStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let mut history = self
            .history
            .lock()
            .map_err(|e| StatusStoreError(e.to_string()))?;
        let current = history.last();
        if StatusRecord::check(current, update).is_err() {
            return Ok(StatusWrite::Stale);
        }
        let record = StatusRecord::applied(current, update, Utc::now(), DEFAULT_TTL_SECS);
        history.push(record.clone());
        Ok(StatusWrite::Applied(record))
    }

    async fn get(&self, _: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        Ok(self.records().last().cloned())
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        Ok(self
            .records()
            .last()
            .filter(|r| r.user == user && listing.admits(r))
            .cloned()
            .into_iter()
            .collect())
    }
}
