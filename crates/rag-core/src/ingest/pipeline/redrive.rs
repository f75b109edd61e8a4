//! Dead letters, replayed: a job that failed every attempt, sent again as a
//! new run of its whole document.
//!
//! Two paths lead here. `ragctl dlq redrive` takes a message off a
//! dead-letter queue, starts the new run and sends it to the pipeline's
//! queue ([`Redrive`]). The SQS console's "Start DLQ redrive" moves the
//! message back unchanged: the consumer then meets a first delivery of a
//! run that failed because its attempts ran out ([`ran_out_of_attempts`]),
//! and starts the new run itself ([`replay`]). Either way the status record
//! says it was replayed and why the last run failed.

use std::sync::Arc;

use super::failure::WORKER_LOST;
use super::{Fault, RunReporter};
use crate::domain::job::PipelineJob;
use crate::domain::status::{Stage, StatusRecord};
use crate::ports::{JobQueue, QueueError, StatusStore};

/// Whether `record` ended because its job failed on every attempt (a fault
/// on the last receive, or a worker lost on it): the runs whose job sits in
/// a dead-letter queue. A document that failed on its own (corrupt,
/// encrypted, too long) never is: replaying it would fail the same way.
pub fn ran_out_of_attempts(record: &StatusRecord) -> bool {
    record.status == Stage::Failed
        && record
            .error_code
            .as_deref()
            .is_some_and(|code| code == WORKER_LOST || Fault::from_code(code).is_some())
}

/// `job` as a new run of its whole document: a fresh run id, and no page
/// range (a dead-lettered part of a split document replays the document).
/// Records the run as queued, naming the failed run and its error, unless
/// the record moved on since (a newer run: nothing is replayed, `None`).
pub async fn replay(
    status: Arc<dyn StatusStore>,
    job: &PipelineJob,
    last: Option<&StatusRecord>,
) -> Option<PipelineJob> {
    if last.is_some_and(|r| r.run_id != job.run_id) {
        tracing::info!(statusId = %job.status_id, run_id = %job.run_id, "dead letter of a superseded run not replayed");
        return None;
    }
    let replayed = PipelineJob {
        run_id: uuid::Uuid::new_v4().to_string(),
        range: None,
        force_reprocess: true,
        ..job.clone()
    };
    let why = last
        .and_then(|r| r.error.as_deref())
        .unwrap_or("no record of why");
    let started = RunReporter::new(status, &replayed)
        .start_run(
            true,
            format!(
                "Replayed from the dead-letter queue (run {} failed: {why})",
                job.run_id
            ),
        )
        .await;
    tracing::info!(statusId = %job.status_id, previous_run = %job.run_id, run_id = %replayed.run_id, started, "dead letter replayed as a new run");
    started.then_some(replayed)
}

/// Errors of [`Redrive::redrive`].
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The body does not parse as a [`PipelineJob`]; holds the JSON error.
    #[error("the message is not a job: {0}")]
    NotAJob(String),
    /// The document's status record belongs to a newer run than the dead
    /// letter's.
    #[error("dead letter of a superseded run: the document was submitted again since")]
    Superseded,
    /// The document has no status record any more (deleted after the job
    /// was dead-lettered).
    #[error("the document was deleted since: its dead letter has nothing to process")]
    Deleted,
    /// Reading the status record failed; holds the store's error.
    #[error("the document's status cannot be read or written now ({0}); try again")]
    Status(String),
    /// The new run is not the one recorded after the replay: another run
    /// took the record meanwhile, or the replay's status write failed.
    #[error("a run of the document is in progress: the dead letter is not replayed")]
    Busy,
    /// Sending the new run to its pipeline's queue failed (its run is
    /// already recorded as queued).
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// `ragctl dlq redrive`: dead letters back to their pipeline as new runs.
pub struct Redrive {
    /// Read to check the dead letter's run is still the document's latest,
    /// and where the new run is recorded as queued before it is sent.
    pub status: Arc<dyn StatusStore>,
    /// Where the new run is sent: the queue of its pipeline.
    pub queue: Arc<dyn JobQueue>,
}

impl Redrive {
    /// Starts a new run for the job in `body` and queues it; the caller
    /// deletes the dead letter once this returns `Ok`.
    pub async fn redrive(&self, body: &str) -> Result<PipelineJob, RedriveError> {
        let job: PipelineJob =
            serde_json::from_str(body).map_err(|e| RedriveError::NotAJob(e.to_string()))?;
        // Consumers skip a job without a record (its document was
        // deleted), so a replay is only queued once its run is recorded.
        let last = match self.status.get(&job.status_id).await {
            Ok(Some(last)) => last,
            Ok(None) => return Err(RedriveError::Deleted),
            Err(e) => return Err(RedriveError::Status(e.to_string())),
        };
        if last.run_id != job.run_id {
            return Err(RedriveError::Superseded);
        }
        let replayed = replay(self.status.clone(), &job, Some(&last))
            .await
            .ok_or(RedriveError::Busy)?;
        // `replay` goes ahead when the store fails (the consumer runs its
        // replay in place); a queued one would be skipped without its record.
        match self.status.get(&job.status_id).await {
            Ok(Some(now)) if now.run_id == replayed.run_id => {}
            Ok(_) => return Err(RedriveError::Busy),
            Err(e) => return Err(RedriveError::Status(e.to_string())),
        }
        self.queue.send(&replayed).await?;
        Ok(replayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str, code: Option<&str>) -> StatusRecord {
        serde_json::from_value(serde_json::json!({
            "statusId": "b#k", "user": "u", "runId": "r", "status": status, "progress": 0,
            "message": "", "errorCode": code, "error": code.map(|_| "why"),
            "metadata": {}, "timestamp": "2026-12-04T00:00:00Z", "ttl": 0
        }))
        .unwrap()
    }

    #[test]
    fn only_runs_whose_attempts_ran_out_are_replayed() {
        for code in [
            "index_unavailable",
            "embedding_unavailable",
            "storage_unavailable",
            "worker_lost",
        ] {
            assert!(ran_out_of_attempts(&record("failed", Some(code))), "{code}");
        }
        for code in [
            "corrupt_file",
            "encrypted",
            "no_text",
            "limit_exceeded",
            "never_started",
        ] {
            assert!(
                !ran_out_of_attempts(&record("failed", Some(code))),
                "{code}"
            );
        }
        assert!(!ran_out_of_attempts(&record("completed", None)));
        assert!(!ran_out_of_attempts(&record("embedding", None)));
    }
}
