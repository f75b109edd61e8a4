//! Queue consumption: one batch of messages in, the ids of the ones to retry
//! out (SQS partial batch responses), so one bad message never fails or
//! replays its neighbours.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{RunOutcome, RunReporter, TextPipeline, TransientError, VdrPipeline};
use crate::domain::job::PipelineJob;
use crate::ports::StatusStore;

/// When the invocation running a job must have finished (Lambda's
/// `deadline`): a job that may outlive it hands the rest of its work back to
/// the queue instead of being killed mid-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No limit (a CLI run, a test).
    pub fn none() -> Self {
        Self(None)
    }

    /// The invocation ends at `at`.
    pub fn at(at: Instant) -> Self {
        Self(Some(at))
    }

    /// The invocation ends `after` from now.
    pub fn after(after: Duration) -> Self {
        Self(Instant::now().checked_add(after))
    }

    /// The invocation ends at `epoch_ms` (milliseconds since the Unix
    /// epoch, as the Lambda runtime gives it).
    pub fn at_epoch_ms(epoch_ms: u64) -> Self {
        let end = UNIX_EPOCH + Duration::from_millis(epoch_ms);
        let left = end
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Self::after(left)
    }

    /// Time left, `None` without a limit.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether less than `margin` is left.
    pub fn within(&self, margin: Duration) -> bool {
        self.remaining().is_some_and(|left| left < margin)
    }
}

/// A pipeline a consumer can drive.
#[async_trait]
pub trait JobRunner: Send + Sync {
    /// Runs `job` knowing when the invocation ends: both pipelines hand
    /// unfinished work back to the queue before it rather than be killed.
    /// `Ok` however the document fared ([`RunOutcome`]), `Err` for a fault
    /// a retry may cure.
    async fn run_until(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError>;

    /// Runs `job` with no deadline (the CLI, tests).
    async fn run(&self, job: &PipelineJob) -> Result<RunOutcome, TransientError> {
        self.run_until(job, Deadline::none()).await
    }
}

#[async_trait]
impl JobRunner for TextPipeline {
    async fn run_until(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        TextPipeline::run_until(self, job, deadline).await
    }
}

#[async_trait]
impl JobRunner for VdrPipeline {
    async fn run_until(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        VdrPipeline::run_until(self, job, deadline).await
    }
}

/// One received queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The queue's id of the message (SQS `messageId`): what
    /// [`JobConsumer::handle_batch`] returns for a message to retry.
    pub message_id: String,
    /// A [`PipelineJob`] as JSON; a body that does not parse is left on the
    /// queue to reach the dead-letter queue.
    pub body: String,
    /// How many times the queue has delivered it, this time included.
    pub receive_count: u32,
    /// When it was sent, in milliseconds since the Unix epoch (SQS's
    /// `SentTimestamp`), if the queue says: its wait is a metric.
    pub sent_at_ms: Option<u64>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done with (processed, failed for good, or a duplicate): delete it.
    Done,
    /// Leave it on the queue: it is retried, and after the last receive the
    /// queue moves it to the dead-letter queue.
    Retry,
}

/// Runs queued jobs with at-least-once delivery in mind.
pub struct JobConsumer {
    /// The pipeline the queue's jobs run through.
    pub runner: Arc<dyn JobRunner>,
    /// Read to skip stale and duplicate deliveries; written when a job still
    /// fails on its last receive.
    pub status: Arc<dyn StatusStore>,
    /// The queue's `maxReceiveCount`: on that receive, a job that still
    /// fails has its run recorded as `failed` before the queue dead-letters it.
    pub max_receives: u32,
}

impl JobConsumer {
    /// Processes a batch in order; returns the ids of messages to retry.
    pub async fn handle_batch(&self, messages: &[QueueMessage]) -> Vec<String> {
        self.handle_batch_until(messages, Deadline::none()).await
    }

    /// [`JobConsumer::handle_batch`] within an invocation ending at `deadline`.
    pub async fn handle_batch_until(
        &self,
        messages: &[QueueMessage],
        deadline: Deadline,
    ) -> Vec<String> {
        let mut retry = Vec::new();
        for message in messages {
            if self.handle_until(message, deadline).await == Disposition::Retry {
                retry.push(message.message_id.clone());
            }
        }
        retry
    }

    /// Processes one message.
    pub async fn handle(&self, message: &QueueMessage) -> Disposition {
        self.handle_until(message, Deadline::none()).await
    }

    /// Processes one message within an invocation ending at `deadline`.
    pub async fn handle_until(&self, message: &QueueMessage, deadline: Deadline) -> Disposition {
        let last_try = message.receive_count >= self.max_receives;
        let job: PipelineJob = match serde_json::from_str(&message.body) {
            Ok(job) => job,
            Err(e) => {
                // Kept (not deleted) so that it reaches the dead-letter queue
                // for inspection instead of vanishing.
                tracing::error!(message_id = %message.message_id, receive_count = message.receive_count, dead_letter = last_try, error = %e, "malformed job message");
                return Disposition::Retry;
            }
        };
        let Some(job) = self.job_to_run(job, message.receive_count).await else {
            return Disposition::Done;
        };
        tracing::info!(statusId = %job.status_id, run_id = %job.run_id, message_id = %message.message_id, receive_count = message.receive_count, pages = ?job.range.map(|r| r.pages), "job started");
        if let Some(sent) = message.sent_at_ms.filter(|_| message.receive_count == 1) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let wait = Duration::from_millis(now.saturating_sub(sent));
            super::telemetry::queue_wait(&job.status_id, job.pipeline, wait);
        }
        match self.runner.run_until(&job, deadline).await {
            Ok(RunOutcome::Completed { chunks, pages }) => {
                tracing::info!(statusId = %job.status_id, chunks, pages, "job completed");
                super::telemetry::stored(job.pipeline, chunks, pages);
                Disposition::Done
            }
            Ok(RunOutcome::HandedOver { to, reason }) => {
                tracing::info!(statusId = %job.status_id, to = %to.as_str(), reason = %reason, "job handed over");
                Disposition::Done
            }
            Ok(RunOutcome::Failed(failure)) => {
                tracing::info!(statusId = %job.status_id, code = failure.code, error = %failure.error, "job failed for good");
                Disposition::Done
            }
            Ok(RunOutcome::Cancelled) => Disposition::Done,
            Err(e) if last_try => {
                tracing::error!(statusId = %job.status_id, error = %e, code = e.fault.code(), receive_count = message.receive_count, "job failed on its last attempt; dead-lettered");
                RunReporter::new(self.status.clone(), &job)
                    .fail(&e.failure(message.receive_count))
                    .await;
                Disposition::Retry
            }
            Err(e) => {
                tracing::warn!(statusId = %job.status_id, error = %e, receive_count = message.receive_count, "job failed; will retry");
                Disposition::Retry
            }
        }
    }

    /// The job to run for a delivered one: itself; `None` when its run is
    /// already over or superseded by a newer run (a redelivered or stale
    /// message that must do nothing) or its document was deleted; or, for a dead letter moved back to
    /// the queue, a new run of its document ([`super::redrive`]). A
    /// redelivered job of a live run renews the run's lease first: its own
    /// early stages are behind the record's and would not.
    async fn job_to_run(&self, job: PipelineJob, receive_count: u32) -> Option<PipelineJob> {
        let settled = match self.status.get(&job.status_id).await {
            Ok(Some(record))
                if receive_count == 1
                    && record.run_id == job.run_id
                    && super::ran_out_of_attempts(&record) =>
            {
                return super::replay(self.status.clone(), &job, Some(&record)).await;
            }
            Ok(Some(record))
                if receive_count > 1
                    && record.run_id == job.run_id
                    && !record.status.is_terminal() =>
            {
                RunReporter::new(self.status.clone(), &job)
                    .renew(
                        &record,
                        super::meta(serde_json::json!({"attempt": receive_count})),
                    )
                    .await;
                false
            }
            Ok(Some(record)) if record.run_id != job.run_id => {
                tracing::info!(statusId = %job.status_id, run_id = %job.run_id, current_run = %record.run_id, "job of a superseded run skipped");
                true
            }
            Ok(Some(record)) if record.status.is_terminal() => {
                tracing::info!(statusId = %job.status_id, run_id = %job.run_id, status = %record.status, "duplicate delivery of a finished run skipped");
                true
            }
            Ok(Some(_)) => false,
            Ok(None) => {
                // Every sender records the run before it queues the job
                // (submit, redrive, reembed, page ranges, hand-over), so no
                // record means the document was deleted while its job
                // waited: running it would index the document again.
                tracing::info!(statusId = %job.status_id, run_id = %job.run_id, "job of a deleted document skipped");
                true
            }
            Err(e) => {
                // The status is advisory here; the index write is idempotent.
                tracing::warn!(statusId = %job.status_id, error = %e, "status read failed; processing anyway");
                false
            }
        };
        (!settled).then_some(job)
    }
}
