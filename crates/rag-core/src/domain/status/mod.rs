//! Document status: stages, monotonic progress and terminal states.
//!
//! The rules live here, as pure functions, so that every [`StatusStore`]
//! adapter (DynamoDB conditional writes, the local store) enforces the same
//! thing: within one processing *run*, progress never goes backwards, and a
//! terminal state is never reopened by a late or duplicated message. Only a
//! new run (a new `queued`, e.g. a forced reprocess) starts over.
//!
//! [`StatusStore`]: crate::ports::StatusStore

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::classify::Pipeline;

mod parts;

pub use parts::{PartCounters, PartProgress, PartReport, MAX_COUNTED_PAGES};

/// A processing stage, in pipeline order (the order is the declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The file is in the bucket but not submitted yet: a stage of the
    /// original's lifecycle that no service code here writes (the gateway
    /// console shows it on its own side before submitting).
    Uploaded,
    /// The request is being checked: a stage of the original's lifecycle
    /// that no code here writes, since the API validates before its first
    /// status write.
    Validating,
    /// Waiting in a pipeline queue. Every run starts here (`starts_run`):
    /// the API, a scanned PDF handed to VDR, a dead-letter replay, `ragctl`.
    Queued,
    /// A worker took the job and is reading the object.
    ProcessingStarted,
    /// VDR: opening the document and rendering its pages to images (also
    /// the reading stage of VDR's page-text fallback). Shares its progress
    /// band with `extracting_text`.
    ConvertingPages,
    /// Text RAG: extracting the document's text.
    ExtractingText,
    /// Text RAG with a vision model: scoring the document's images to pick
    /// the ones worth transcribing.
    ProcessingVisuals,
    /// Text RAG with a vision model: transcribing the picked images into
    /// the text (the original's name for the step).
    ClassifyingVisuals,
    /// Splitting the extracted text into chunks.
    Chunking,
    /// Text RAG: embedding the chunks, batch by batch.
    Embedding,
    /// VDR: embedding rendered pages (and their text chunks), storing them
    /// range by range. Shares its progress band with `embedding`.
    EmbeddingPages,
    /// Writing chunks, vectors and postings to the index.
    Storing,
    /// Terminal: the document is indexed and searchable; progress is 100.
    Completed,
    /// Terminal: the run stopped on an error; the record carries `error`,
    /// `error_code` and `failed_at_stage`, and keeps the progress reached.
    Failed,
    /// Terminal: the owner cancelled the run (or deleted the document); its
    /// workers stop and withdraw what they stored. Keeps the progress reached.
    Cancelled,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 15] = [
        Stage::Uploaded,
        Stage::Validating,
        Stage::Queued,
        Stage::ProcessingStarted,
        Stage::ConvertingPages,
        Stage::ExtractingText,
        Stage::ProcessingVisuals,
        Stage::ClassifyingVisuals,
        Stage::Chunking,
        Stage::Embedding,
        Stage::EmbeddingPages,
        Stage::Storing,
        Stage::Completed,
        Stage::Failed,
        Stage::Cancelled,
    ];

    /// Whether this stage ends a run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Completed | Stage::Failed | Stage::Cancelled)
    }

    /// The wire name (`"extracting_text"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Uploaded => "uploaded",
            Stage::Validating => "validating",
            Stage::Queued => "queued",
            Stage::ProcessingStarted => "processing_started",
            Stage::ConvertingPages => "converting_pages",
            Stage::ExtractingText => "extracting_text",
            Stage::ProcessingVisuals => "processing_visuals",
            Stage::ClassifyingVisuals => "classifying_visuals",
            Stage::Chunking => "chunking",
            Stage::Embedding => "embedding",
            Stage::EmbeddingPages => "embedding_pages",
            Stage::Storing => "storing",
            Stage::Completed => "completed",
            Stage::Failed => "failed",
            Stage::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The progress band a stage covers, `[start, end]` in percent.
    ///
    /// Bands are disjoint and increasing in stage order, so progress reported
    /// through [`Stage::progress_at`] is monotonic whenever stages are.
    pub fn progress_band(self) -> (u8, u8) {
        match self {
            Stage::Uploaded => (0, 0),
            Stage::Validating => (2, 2),
            Stage::Queued => (5, 5),
            Stage::ProcessingStarted => (10, 10),
            Stage::ConvertingPages | Stage::ExtractingText => (15, 25),
            Stage::ProcessingVisuals => (26, 35),
            Stage::ClassifyingVisuals => (36, 40),
            Stage::Chunking => (41, 45),
            Stage::Embedding | Stage::EmbeddingPages => (46, 85),
            Stage::Storing => (86, 99),
            Stage::Completed => (100, 100),
            // Terminal failures keep the progress the run had reached.
            Stage::Failed | Stage::Cancelled => (0, 100),
        }
    }

    /// Progress for having done `fraction` (0..=1) of this stage.
    pub fn progress_at(self, fraction: f64) -> u8 {
        let (lo, hi) = self.progress_band();
        let f = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        lo + ((hi - lo) as f64 * f).floor() as u8
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored status of one document (one `statusId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    /// `bucket#key`.
    pub status_id: String,
    /// Owner of the document; the per-user listing is keyed by it.
    pub user: String,
    /// Identifies one processing run; updates of other runs are stale.
    pub run_id: String,
    /// Current stage (`status` on the wire, as in the original).
    pub status: Stage,
    /// 0..=100, never decreasing within a run.
    pub progress: u8,
    /// Human-readable description of the current step.
    pub message: String,
    /// The pipeline the document was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// Why the run failed (only on `failed`), in plain words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A stable code for `error` that clients can switch on (`encrypted`,
    /// `index_unavailable`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The stage the run was in when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at_stage: Option<Stage>,
    /// Stage-specific facts (chunk counts, page counts, timings).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// When this state was recorded.
    pub timestamp: DateTime<Utc>,
    /// Expiry, in epoch seconds (DynamoDB TTL).
    pub ttl: i64,
    /// Until when (epoch seconds) a live run counts as held by a worker or
    /// waiting in a queue; every write renews it, and a finished run has
    /// none. A run whose lease ran out has nobody left to finish it: the
    /// sweeper ([`crate::ingest::pipeline::Sweeper`]) queues it again or fails it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
}

/// A requested change of status, as a pipeline or the API sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// The record to change: `bucket#key`.
    pub status_id: String,
    /// The document's owner; no new run may change it
    /// ([`Rejection::OtherOwner`]).
    pub user: String,
    /// The run the update belongs to; updates of another run are dropped
    /// ([`Rejection::OtherRun`]) unless this one starts a run.
    pub run_id: String,
    /// The stage to record (the record's `status`).
    pub stage: Stage,
    /// Percent done, 0..=100, never below the record's within a run.
    /// Ignored on terminal stages: `completed` records 100, `failed` and
    /// `cancelled` keep the progress the run reached.
    pub progress: u8,
    /// Human-readable description of the step, shown to the user as is.
    pub message: String,
    /// The pipeline running the document; `None` keeps the one the run
    /// recorded.
    pub pipeline: Option<Pipeline>,
    /// Why the run failed (with `failed`), in plain words; replaces the
    /// record's, so `None` clears it.
    pub error: Option<String>,
    /// The stable code of `error` ([`StatusRecord::error_code`]); `None`
    /// clears it, as for `error`.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Extra facts merged into the record's metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Starts a new run, replacing whatever run the record held
    /// (`queued` by the API; a forced reprocess may replace a live run).
    #[serde(default)]
    pub starts_run: bool,
    /// With `starts_run`: replace even a run that has not finished.
    #[serde(default)]
    pub force: bool,
    /// How long the run's lease lasts after this write, in seconds:
    /// [`RUN_LEASE_SECS`] unless the run waits in a queue
    /// ([`QUEUE_LEASE_SECS`]).
    #[serde(default)]
    pub lease_secs: Option<i64>,
    /// Apply only if the run's lease has run out by then (epoch seconds):
    /// the sweeper's writes, so a worker that renewed the lease meanwhile
    /// keeps its run.
    #[serde(default)]
    pub if_lease_expired_at: Option<i64>,
}

impl StatusUpdate {
    /// An update of `stage` within run `run_id`, without extras; set the
    /// other fields with struct-update syntax.
    pub fn new(
        status_id: impl Into<String>,
        user: impl Into<String>,
        run_id: impl Into<String>,
        stage: Stage,
        progress: u8,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status_id: status_id.into(),
            user: user.into(),
            run_id: run_id.into(),
            stage,
            progress,
            message: message.into(),
            pipeline: None,
            error: None,
            error_code: None,
            metadata: Map::new(),
            starts_run: false,
            force: false,
            lease_secs: None,
            if_lease_expired_at: None,
        }
    }
}

/// Why an update was not applied. Not an error: races and redeliveries are
/// expected, and the stale update is simply dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No record exists and the update does not start a run.
    NoRun,
    /// The update belongs to another run.
    OtherRun,
    /// The run already ended.
    RunEnded,
    /// The update would move progress or stage backwards.
    Backwards,
    /// A new run may not replace one still in progress without `force`.
    RunInProgress,
    /// A new run may not change whose document it is, forced or not: the
    /// check that makes two users racing to submit one key end with one
    /// owner.
    OtherOwner,
    /// The sweeper found the run's lease renewed: a worker still holds it.
    LeaseHeld,
}

/// How long a record lives after its last write, unless a store is told
/// otherwise: long enough for any user to come back to a document's status.
pub const DEFAULT_TTL_SECS: i64 = 30 * 24 * 3600;

/// The lease of a run a worker holds. Workers write the status at every
/// stage and batch; a worker that is lost (killed at its timeout, out of
/// memory, crashed) leaves its job to the queue, which hands it out again
/// within its visibility timeout (900 s), and the new worker's first act
/// renews the lease. So 20 minutes without a write means no worker holds
/// the run and none will: the queue gave up on it.
pub const RUN_LEASE_SECS: i64 = 20 * 60;

/// The lease of a run waiting in a queue: submitted and not yet taken, or
/// split into page-range jobs that wait their turn. A queue an hour behind
/// is far beyond what the fleet's concurrency is sized for, so a run that
/// waits longer was lost on its way to the queue.
pub const QUEUE_LEASE_SECS: i64 = 60 * 60;

impl StatusRecord {
    /// Whether the record is past its TTL at `now` (epoch seconds). Stores
    /// delete expired records lazily (DynamoDB up to days later), so every
    /// store treats them as absent through this one rule.
    pub fn is_expired(&self, now: i64) -> bool {
        self.ttl < now
    }

    /// The order of a user's listing: newest first, ties by statusId, so
    /// every store lists alike.
    pub fn newest_first(a: &StatusRecord, b: &StatusRecord) -> std::cmp::Ordering {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| a.status_id.cmp(&b.status_id))
    }

    /// Decides whether `update` may be applied on top of `current`.
    pub fn check(current: Option<&StatusRecord>, update: &StatusUpdate) -> Result<(), Rejection> {
        if update.starts_run {
            return match current {
                Some(cur) if cur.user != update.user => Err(Rejection::OtherOwner),
                Some(cur) if cur.run_id == update.run_id => Err(Rejection::Backwards),
                Some(cur) if !cur.status.is_terminal() && !update.force => {
                    Err(Rejection::RunInProgress)
                }
                _ => Ok(()),
            };
        }
        let cur = current.ok_or(Rejection::NoRun)?;
        if cur.run_id != update.run_id {
            return Err(Rejection::OtherRun);
        }
        if cur.status.is_terminal() {
            return Err(Rejection::RunEnded);
        }
        if let Some(at) = update.if_lease_expired_at {
            if cur.lease_until.is_none_or(|until| until > at) {
                return Err(Rejection::LeaseHeld);
            }
        }
        if update.stage.is_terminal() {
            return Ok(());
        }
        if update.stage < cur.status || update.progress < cur.progress {
            return Err(Rejection::Backwards);
        }
        Ok(())
    }

    /// The record after applying an update that [`StatusRecord::check`]
    /// accepted. `ttl_secs` is how long the record lives after this write.
    pub fn applied(
        current: Option<&StatusRecord>,
        update: &StatusUpdate,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> StatusRecord {
        let same_run = current.filter(|c| c.run_id == update.run_id && !update.starts_run);
        let mut metadata = same_run.map(|c| c.metadata.clone()).unwrap_or_default();
        metadata.extend(update.metadata.clone());
        let progress = match update.stage {
            Stage::Completed => 100,
            Stage::Failed | Stage::Cancelled => same_run.map_or(0, |c| c.progress),
            _ => update.progress,
        };
        StatusRecord {
            status_id: update.status_id.clone(),
            user: update.user.clone(),
            run_id: update.run_id.clone(),
            status: update.stage,
            progress,
            message: update.message.clone(),
            pipeline: update.pipeline.or(same_run.and_then(|c| c.pipeline)),
            error: update.error.clone(),
            error_code: update.error_code.clone(),
            failed_at_stage: match update.stage {
                Stage::Failed => same_run.map(|c| c.status),
                _ => None,
            },
            metadata,
            timestamp: now,
            ttl: now.timestamp() + ttl_secs,
            lease_until: (!update.stage.is_terminal())
                .then(|| now.timestamp() + update.lease_secs.unwrap_or(RUN_LEASE_SECS)),
        }
    }

    /// Whether the run is live and its lease ran out before `now` (epoch
    /// seconds).
    pub fn lease_expired(&self, now: i64) -> bool {
        !self.status.is_terminal() && self.lease_until.is_some_and(|until| until < now)
    }

    /// The `document_status_update` message pushed to WebSocket subscribers.
    pub fn to_push_message(&self) -> Value {
        let mut metadata = self.metadata.clone();
        metadata.insert("progress".into(), self.progress.into());
        metadata.insert("message".into(), self.message.clone().into());
        if let Some(p) = self.pipeline {
            metadata.insert("pipeline".into(), p.as_str().into());
        }
        if let Some(e) = &self.error {
            metadata.insert("error".into(), e.clone().into());
        }
        if let Some(code) = &self.error_code {
            metadata.insert("error_code".into(), code.clone().into());
        }
        if let Some(s) = self.failed_at_stage {
            metadata.insert("failed_at_stage".into(), s.as_str().into());
        }
        serde_json::json!({
            "type": "document_status_update",
            "statusId": self.status_id,
            "status": self.status,
            "metadata": metadata,
            "timestamp": self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(run: &str, stage: Stage, progress: u8) -> StatusUpdate {
        StatusUpdate {
            starts_run: stage == Stage::Queued,
            ..StatusUpdate::new("b#k", "alice", run, stage, progress, "")
        }
    }

    fn apply(cur: Option<StatusRecord>, u: &StatusUpdate) -> Result<StatusRecord, Rejection> {
        StatusRecord::check(cur.as_ref(), u)?;
        Ok(StatusRecord::applied(cur.as_ref(), u, Utc::now(), 60))
    }

    #[test]
    fn stages_are_ordered_and_bands_increase() {
        let working: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        for pair in working.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(
                pair[0].progress_band().1 <= pair[1].progress_band().0
                    || pair[0].progress_band() == pair[1].progress_band(),
                "{:?} band overlaps {:?}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(Stage::Embedding.progress_at(0.5), 65);
        assert_eq!(Stage::Embedding.progress_at(f64::NAN), 46);
        assert_eq!(Stage::parse("embedding_pages"), Some(Stage::EmbeddingPages));
        assert_eq!(
            serde_json::to_value(Stage::ProcessingStarted).unwrap(),
            "processing_started"
        );
    }

    #[test]
    fn progress_never_goes_backwards_within_a_run() {
        let r = apply(None, &update("r1", Stage::Queued, 5)).unwrap();
        let r = apply(Some(r), &update("r1", Stage::Embedding, 60)).unwrap();
        assert_eq!(
            apply(Some(r.clone()), &update("r1", Stage::Embedding, 55)),
            Err(Rejection::Backwards)
        );
        assert_eq!(
            apply(Some(r.clone()), &update("r1", Stage::Chunking, 70)),
            Err(Rejection::Backwards)
        );
        let r = apply(Some(r), &update("r1", Stage::Embedding, 60))
            .expect("a duplicate at the same point is harmless");
        assert_eq!(r.progress, 60);
    }

    #[test]
    fn terminal_states_are_never_reopened_by_the_same_run() {
        let r = apply(None, &update("r1", Stage::Queued, 5)).unwrap();
        let r = apply(Some(r), &update("r1", Stage::Storing, 90)).unwrap();
        let done = apply(Some(r), &update("r1", Stage::Completed, 0)).unwrap();
        assert_eq!(done.progress, 100);
        assert_eq!(
            apply(Some(done.clone()), &update("r1", Stage::Embedding, 99)),
            Err(Rejection::RunEnded)
        );
        assert_eq!(
            apply(Some(done.clone()), &update("r1", Stage::Failed, 0)),
            Err(Rejection::RunEnded)
        );
        assert_eq!(
            apply(Some(done.clone()), &update("r1", Stage::Queued, 5)),
            Err(Rejection::Backwards)
        );
        let next = apply(Some(done), &update("r2", Stage::Queued, 5))
            .expect("a new run may start after the end");
        assert_eq!((next.status, next.progress), (Stage::Queued, 5));
    }

    #[test]
    fn failure_keeps_progress_and_records_the_stage() {
        let r = apply(None, &update("r1", Stage::Queued, 5)).unwrap();
        let r = apply(Some(r), &update("r1", Stage::ExtractingText, 20)).unwrap();
        let mut fail = update("r1", Stage::Failed, 0);
        fail.error = Some("PDF is encrypted".into());
        let f = apply(Some(r), &fail).unwrap();
        assert_eq!(
            (f.progress, f.failed_at_stage),
            (20, Some(Stage::ExtractingText))
        );
        let msg = f.to_push_message();
        assert_eq!(msg["type"], "document_status_update");
        assert_eq!(msg["metadata"]["failed_at_stage"], "extracting_text");
        assert_eq!(msg["metadata"]["error"], "PDF is encrypted");
    }

    #[test]
    fn other_runs_and_live_runs_are_protected() {
        let r = apply(None, &update("r1", Stage::Queued, 5)).unwrap();
        assert_eq!(
            apply(Some(r.clone()), &update("r0", Stage::Embedding, 70)),
            Err(Rejection::OtherRun)
        );
        assert_eq!(
            apply(Some(r.clone()), &update("r2", Stage::Queued, 5)),
            Err(Rejection::RunInProgress)
        );
        let mut forced = update("r2", Stage::Queued, 5);
        forced.force = true;
        assert_eq!(apply(Some(r), &forced).unwrap().run_id, "r2");
        assert_eq!(
            apply(None, &update("r1", Stage::Embedding, 50)),
            Err(Rejection::NoRun)
        );
    }

    #[test]
    fn a_lease_is_renewed_by_every_write_and_only_a_lapsed_one_is_swept() {
        let now = Utc::now();
        let queued = StatusUpdate {
            lease_secs: Some(QUEUE_LEASE_SECS),
            ..update("r1", Stage::Queued, 5)
        };
        let r = StatusRecord::applied(None, &queued, now, 60);
        assert_eq!(r.lease_until, Some(now.timestamp() + QUEUE_LEASE_SECS));
        let r = StatusRecord::applied(Some(&r), &update("r1", Stage::Embedding, 50), now, 60);
        assert_eq!(r.lease_until, Some(now.timestamp() + RUN_LEASE_SECS));
        assert!(!r.lease_expired(now.timestamp() + RUN_LEASE_SECS));
        assert!(r.lease_expired(now.timestamp() + RUN_LEASE_SECS + 1));
        // The sweeper's write needs the lease out at its time.
        let sweep = |at: i64| StatusUpdate {
            if_lease_expired_at: Some(at),
            ..update("r1", Stage::Failed, 0)
        };
        assert_eq!(
            StatusRecord::check(Some(&r), &sweep(now.timestamp() + 10)),
            Err(Rejection::LeaseHeld)
        );
        let failed = StatusRecord::check(Some(&r), &sweep(now.timestamp() + RUN_LEASE_SECS + 1));
        assert_eq!(failed, Ok(()));
        let done = StatusRecord::applied(Some(&r), &update("r1", Stage::Completed, 100), now, 60);
        assert_eq!(done.lease_until, None, "a finished run holds no lease");
        assert!(!done.lease_expired(i64::MAX));
    }

    #[test]
    fn no_new_run_changes_the_owner() {
        let live = apply(None, &update("r1", Stage::Queued, 5)).unwrap();
        let done = apply(Some(live.clone()), &update("r1", Stage::Completed, 100)).unwrap();
        for current in [live, done] {
            let mut bob = update("r2", Stage::Queued, 5);
            bob.user = "bob".into();
            bob.force = true;
            assert_eq!(apply(Some(current), &bob), Err(Rejection::OtherOwner));
        }
    }
}
