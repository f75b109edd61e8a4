//! Status reporting for one processing run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Failure, RunOutcome, TransientError};
use crate::api::error::redact_internals;
use crate::domain::classify::Pipeline;
use crate::domain::job::PipelineJob;
use crate::domain::status::{Stage, StatusRecord, StatusUpdate, QUEUE_LEASE_SECS, RUN_LEASE_SECS};
use crate::ports::{StatusStore, StatusWrite};

/// Records the stages of one run. A failed or stale status write never stops
/// the pipeline: the work matters more than its progress report.
#[derive(Clone)]
pub struct RunReporter {
    store: Arc<dyn StatusStore>,
    status_id: String,
    user: String,
    run_id: String,
    pipeline: Pipeline,
    /// The run's lease after each write ([`crate::domain::status::RUN_LEASE_SECS`]
    /// or [`QUEUE_LEASE_SECS`]).
    lease_secs: i64,
    /// Write only if the run's lease ran out by then (the sweeper's).
    if_lease_expired_at: Option<i64>,
    /// Stage and run durations, for logs and metrics.
    clock: super::telemetry::StageClock,
    /// What this reporter learnt of its run, shared by its clones.
    run: Arc<RunState>,
    /// The part of a split document this job runs, for logs.
    part: Option<u32>,
}

/// What a reporter knows of its run beyond its own writes.
#[derive(Debug, Default)]
struct RunState {
    /// The run's record is known to have existed: a write of it was
    /// applied, or the job is a page range of a run split earlier. A record
    /// missing after that was deleted with its document.
    existed: AtomicBool,
    /// A dropped write found the run cancelled (or its document deleted).
    cancelled: AtomicBool,
}

impl RunReporter {
    /// A reporter for the run of `job`. A page-range job's run waits for
    /// its other ranges in the queue, so its writes renew the lease for as
    /// long as a queue may take.
    pub fn new(store: Arc<dyn StatusStore>, job: &PipelineJob) -> Self {
        Self {
            store,
            status_id: job.status_id.clone(),
            user: job.user.clone(),
            run_id: job.run_id.clone(),
            pipeline: job.pipeline,
            lease_secs: if job.range.is_some() {
                QUEUE_LEASE_SECS
            } else {
                RUN_LEASE_SECS
            },
            if_lease_expired_at: None,
            clock: super::telemetry::StageClock::new(),
            run: Arc::new(RunState {
                existed: AtomicBool::new(job.range.is_some()),
                cancelled: AtomicBool::new(false),
            }),
            part: job.range.map(|r| r.part.index),
        }
    }

    /// A reporter for the run a record holds, writing only while its lease
    /// has run out at `now`: the sweeper's, so that a worker renewing the
    /// lease meanwhile keeps its run.
    pub fn for_lapsed(store: Arc<dyn StatusStore>, record: &StatusRecord, now: i64) -> Self {
        Self {
            store,
            status_id: record.status_id.clone(),
            user: record.user.clone(),
            run_id: record.run_id.clone(),
            pipeline: record.pipeline.unwrap_or(Pipeline::TextRag),
            lease_secs: QUEUE_LEASE_SECS,
            if_lease_expired_at: Some(now),
            clock: super::telemetry::StageClock::new(),
            run: Arc::new(RunState {
                existed: AtomicBool::new(true),
                cancelled: AtomicBool::new(false),
            }),
            part: None,
        }
    }

    /// The same reporter for a job of a run that is known to have begun
    /// (its record was written before the job started), so that a record
    /// found missing means the document was deleted.
    pub fn of_started_run(self) -> Self {
        self.run.existed.store(true, Ordering::Relaxed);
        self
    }

    /// Whether a write of this reporter's was dropped because the run was
    /// cancelled or its document deleted: the job stops at its next stage
    /// (`withdraw_cancelled`).
    pub fn cancelled(&self) -> bool {
        self.run.cancelled.load(Ordering::Relaxed)
    }

    /// Reads the run's record now: whether its owner cancelled this run, or
    /// deleted the document after the run began. A store fault says no: the
    /// work goes on.
    pub async fn was_cancelled(&self) -> bool {
        let cancelled = match self.store.get(&self.status_id).await {
            Ok(Some(record)) => record.run_id == self.run_id && record.status == Stage::Cancelled,
            Ok(None) => self.run.existed.load(Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(statusId = %self.status_id, error = %e, "status read failed");
                false
            }
        };
        if cancelled {
            self.run.cancelled.store(true, Ordering::Relaxed);
        }
        cancelled
    }

    /// The same reporter for writes after which the run waits in a queue
    /// (a document just split into page-range jobs).
    pub fn waiting_on_queue(mut self) -> Self {
        self.lease_secs = QUEUE_LEASE_SECS;
        self
    }

    /// Renews the run's lease without moving it: the record's stage,
    /// progress and message again, with `metadata` added. What a
    /// redelivered job does first, since its own early stages are behind
    /// the record's and would be dropped.
    pub async fn renew(
        &self,
        current: &StatusRecord,
        metadata: Map<String, Value>,
    ) -> Option<StatusRecord> {
        let update = StatusUpdate {
            metadata,
            ..self.update(current.status, current.progress, current.message.clone())
        };
        self.record(&update).await
    }

    /// Starts the run: records `queued`, replacing a finished run (or, with
    /// `force`, one still in progress). `false` if a live run was kept.
    pub async fn start_run(&self, force: bool, message: impl Into<String>) -> bool {
        let update = StatusUpdate {
            starts_run: true,
            force,
            ..self.update(
                Stage::Queued,
                Stage::Queued.progress_at(0.0),
                message.into(),
            )
        };
        // A store fault does not stop the work: the run goes ahead unrecorded.
        match self.apply(&update).await {
            Some(StatusWrite::Stale) => false,
            Some(StatusWrite::Applied(_)) => {
                self.run.existed.store(true, Ordering::Relaxed);
                true
            }
            None => true,
        }
    }

    /// Records `stage` at `fraction` (0..=1) of its progress band.
    pub async fn stage(
        &self,
        stage: Stage,
        fraction: f64,
        message: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Option<StatusRecord> {
        self.write(stage, stage.progress_at(fraction), message.into(), metadata)
            .await
    }

    /// Records the end of the run.
    pub async fn complete(
        &self,
        message: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Option<StatusRecord> {
        self.write(Stage::Completed, 100, message.into(), metadata)
            .await
    }

    /// Ends the run as failed for good: logs why, records it, and gives the
    /// outcome a pipeline returns. The one way every stage of every
    /// pipeline fails a document.
    pub async fn failed(&self, failure: Failure) -> Result<RunOutcome, TransientError> {
        tracing::warn!(statusId = %self.status_id, part = ?self.part, code = failure.code, error = %failure.error, "document failed");
        self.fail(&failure).await;
        Ok(RunOutcome::Failed(failure))
    }

    /// Records `failed` with the code and reason shown to the user. The
    /// reason is redacted once more ([`crate::api::error::redact_internals`])
    /// in case an adapter's words slipped into it.
    pub async fn fail(&self, failure: &Failure) -> Option<StatusRecord> {
        let error = redact_internals(&failure.error);
        let update = StatusUpdate {
            error: Some(error.clone()),
            error_code: Some(failure.code.to_owned()),
            ..self.update(Stage::Failed, 0, format!("Processing failed: {error}"))
        };
        self.record(&update).await
    }

    async fn write(
        &self,
        stage: Stage,
        progress: u8,
        message: String,
        metadata: Map<String, Value>,
    ) -> Option<StatusRecord> {
        let update = StatusUpdate {
            metadata,
            ..self.update(stage, progress, message)
        };
        self.record(&update).await
    }

    /// Applies `update`, logging what became of it.
    async fn record(&self, update: &StatusUpdate) -> Option<StatusRecord> {
        let stage = update.stage;
        match self.apply(update).await? {
            StatusWrite::Applied(record) => {
                self.run.existed.store(true, Ordering::Relaxed);
                tracing::info!(statusId = %self.status_id, stage = %stage, progress = record.progress, status_message = %record.message, "status");
                self.clock.reached(&self.status_id, self.pipeline, stage);
                Some(record)
            }
            StatusWrite::Stale => {
                tracing::debug!(statusId = %self.status_id, stage = %stage, "stale status update dropped");
                if self.was_cancelled().await {
                    tracing::info!(statusId = %self.status_id, stage = %stage, "run cancelled; the job stops");
                }
                None
            }
        }
    }

    fn update(&self, stage: Stage, progress: u8, message: String) -> StatusUpdate {
        StatusUpdate {
            pipeline: Some(self.pipeline),
            lease_secs: Some(self.lease_secs),
            if_lease_expired_at: self.if_lease_expired_at,
            ..StatusUpdate::new(
                &self.status_id,
                &self.user,
                &self.run_id,
                stage,
                progress,
                message,
            )
        }
    }

    /// Writes an update; a store fault is logged and yields `None`.
    async fn apply(&self, update: &StatusUpdate) -> Option<StatusWrite> {
        match self.store.apply(update).await {
            Ok(outcome) => Some(outcome),
            Err(e) => {
                tracing::warn!(statusId = %self.status_id, stage = %update.stage, error = %e, "status write failed");
                None
            }
        }
    }
}
