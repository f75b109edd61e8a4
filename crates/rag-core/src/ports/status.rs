//! Document status records (DynamoDB, local stores), written by every stage of a run.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::classify::Pipeline;
use crate::domain::status::{StatusRecord, StatusUpdate};

/// Errors of a [`StatusStore`].
#[derive(Debug, thiserror::Error)]
#[error("status store error: {0}")]
pub struct StatusStoreError(pub String);

/// Result of a conditional status write.
// Returned once per write and never held in bulk: boxing the record would
// only add an allocation to every write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StatusWrite {
    /// The update was applied; this is the record now stored.
    Applied(StatusRecord),
    /// The update was stale (older run, backwards, run ended) and dropped.
    Stale,
}

/// Document status records (DynamoDB / local). Implementations must apply
/// [`StatusRecord::check`] atomically with the write (a conditional write),
/// so concurrent and duplicated updates cannot move a run backwards.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Applies `update` if the status rules allow it.
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError>;
    /// The current record of a `statusId`.
    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError>;
    /// A page of a user's records, newest first, as `listing` asks: the
    /// next page starts after the last record of this one
    /// ([`Listing::after`]).
    async fn list_for_user(
        &self,
        user: &str,
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError>;
    /// Forgets the record of `status_id` (a deleted document) and its part
    /// counters; `false` if there was none. The default refuses, for stores
    /// no document is deleted through.
    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        Err(StatusStoreError(format!(
            "this status store cannot delete {status_id}"
        )))
    }
    /// Adds the pages (and, at its end, the part) one worker of a run split
    /// into page ranges has stored to the run's shared counters, atomically
    /// with the record, and returns the totals; `None` if the report is
    /// stale (another run, or the run ended). Counting is idempotent, so a
    /// retried range counts nothing twice (the rule is
    /// [`crate::domain::status::PartCounters::record`]). The default refuses, for
    /// stores that never back the VDR pipeline.
    async fn record_part(
        &self,
        report: &crate::domain::status::PartReport,
    ) -> Result<Option<crate::domain::status::PartProgress>, StatusStoreError> {
        Err(StatusStoreError(format!(
            "this status store cannot count the parts of {}",
            report.status_id
        )))
    }
    /// Up to `limit` records of live runs whose lease ran out before `now`
    /// (epoch seconds; see [`StatusRecord::lease_expired`]), for the
    /// sweeper. The default refuses, for stores no sweeper runs over.
    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let _ = (now, limit);
        Err(StatusStoreError(
            "this status store cannot list expired runs".into(),
        ))
    }
}

/// Which of a user's status records [`StatusStore::list_for_user`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// At most this many.
    pub limit: usize,
    /// Only records after this one in the listing's order (newest first,
    /// then by statusId): the last record of the previous page.
    pub after: Option<ListCursor>,
    /// Only records in one of these stages, when set.
    pub stages: Option<Vec<crate::domain::status::Stage>>,
    /// Only records of this pipeline, when set.
    pub pipeline: Option<Pipeline>,
}

impl Listing {
    /// The `limit` most recent records, whatever their stage or pipeline.
    pub fn recent(limit: usize) -> Self {
        Self {
            limit,
            after: None,
            stages: None,
            pipeline: None,
        }
    }

    /// Whether `record` passes the listing's filters (not its position).
    pub fn admits(&self, record: &StatusRecord) -> bool {
        self.stages
            .as_ref()
            .is_none_or(|stages| stages.contains(&record.status))
            && self
                .pipeline
                .is_none_or(|pipeline| record.pipeline == Some(pipeline))
    }
}

/// Where a page of a listing ended: the key of its last record, so the
/// next page resumes after it however many records arrive meanwhile. A
/// record updated between two pages moves to the front (it is newer) and
/// is not listed again further on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    /// The last record's `timestamp`; `t` in the page token's JSON.
    #[serde(rename = "t")]
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// The last record's statusId, which orders records of the same
    /// timestamp; `s` in the page token's JSON.
    #[serde(rename = "s")]
    pub status_id: String,
}

impl ListCursor {
    /// The cursor after `record`.
    pub fn after(record: &StatusRecord) -> Self {
        Self {
            timestamp: record.timestamp,
            status_id: record.status_id.clone(),
        }
    }

    /// Whether `record` comes after the cursor in the listing's order
    /// ([`StatusRecord::newest_first`]).
    pub fn precedes(&self, record: &StatusRecord) -> bool {
        record.timestamp < self.timestamp
            || (record.timestamp == self.timestamp && record.status_id > self.status_id)
    }
}
