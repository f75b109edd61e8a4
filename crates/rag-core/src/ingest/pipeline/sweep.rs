//! Runs that nobody will finish: queued again, or ended as `failed`.
//!
//! A run can lose its worker in ways the worker cannot report: the API dies
//! between recording `queued` and sending the job, a text job dies between
//! starting the VDR run of a scan and sending it, a worker is killed (its
//! timeout, out of memory, a crash in native code) on the queue's last
//! delivery. Every live run carries a lease that each status write renews
//! ([`crate::domain::status::RUN_LEASE_SECS`], [`crate::domain::status::QUEUE_LEASE_SECS`]); the sweeper
//! looks at runs whose lease ran out and decides:
//!
//! - still `queued`: the job never reached a worker, so it is sent again,
//!   once (rebuilt from the record, [`PipelineJob::from_record`]); a second
//!   lapse, or a job that needs a password the record never holds, fails;
//! - any later stage: a worker had it, and the queue's own redeliveries
//!   (which renew the lease) are over, so the run fails, with a code and a
//!   message its owner can act on.
//!
//! Every write is conditional on the lease still being out, so a worker
//! that renews it meanwhile keeps its run, and two sweepers act once.

use std::sync::Arc;

use serde_json::json;

use super::{meta, Failure, RunReporter};
use crate::domain::job::PipelineJob;
use crate::domain::status::{Stage, StatusRecord};
use crate::ports::{JobQueue, StatusStore, StatusStoreError};

/// How often a run lost on its way to the queue is sent again.
pub const MAX_REQUEUES: u64 = 1;

/// Settles runs whose lease ran out.
pub struct Sweeper {
    /// Lists the runs whose lease ran out, and records what each became;
    /// every write conditional on the lease still being out.
    pub status: Arc<dyn StatusStore>,
    /// Where jobs are sent again (both pipelines' queues).
    pub queue: Arc<dyn JobQueue>,
    /// Most runs settled by one sweep.
    pub batch: usize,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Runs whose job was sent again.
    pub requeued: usize,
    /// Runs ended as `failed`.
    pub failed: usize,
    /// Runs a worker renewed meanwhile (or another sweeper settled).
    pub kept: usize,
}

impl Sweeper {
    /// Settles the runs whose lease ran out before `now` (epoch seconds).
    pub async fn sweep(&self, now: i64) -> Result<SweepReport, StatusStoreError> {
        let lapsed = self.status.expired(now, self.batch).await?;
        let mut report = SweepReport::default();
        for record in &lapsed {
            match self.settle(record, now).await {
                Settled::Requeued => report.requeued += 1,
                Settled::Failed => report.failed += 1,
                Settled::Kept => report.kept += 1,
            }
        }
        if lapsed.is_empty() {
            tracing::debug!("no lapsed runs");
        } else {
            tracing::info!(
                requeued = report.requeued,
                failed = report.failed,
                kept = report.kept,
                "lapsed runs settled"
            );
        }
        Ok(report)
    }

    async fn settle(&self, record: &StatusRecord, now: i64) -> Settled {
        let reporter = RunReporter::for_lapsed(self.status.clone(), record, now);
        let requeued = record
            .metadata
            .get("requeued")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let job = PipelineJob::from_record(record);
        if let (Stage::Queued, true, Some(job)) = (record.status, requeued < MAX_REQUEUES, &job) {
            // Claim the requeue first: only one sweeper sends it.
            let claimed = reporter
                .renew(record, meta(json!({"requeued": requeued + 1})))
                .await;
            if claimed.is_none() {
                return Settled::Kept;
            }
            return match self.queue.send(job).await {
                Ok(()) => {
                    tracing::warn!(statusId = %record.status_id, run_id = %record.run_id, "queued run never reached a worker; its job was sent again");
                    Settled::Requeued
                }
                Err(e) => {
                    // The lease was renewed: the next lapse fails the run.
                    tracing::error!(statusId = %record.status_id, error = %e, "sending a lapsed run's job again failed");
                    Settled::Kept
                }
            };
        }
        let failure = match (record.status, job) {
            (Stage::Queued, None) => Failure::new(
                "never_started",
                "the document was queued but never reached a worker; submit it again (with its password, if it has one)",
            ),
            (Stage::Queued, Some(_)) => Failure::new(
                "never_started",
                "the document was queued twice but never reached a worker; submit it again",
            ),
            _ => Failure::new(
                super::failure::WORKER_LOST,
                "processing stopped: the worker handling the document was lost (it ran out of time or memory, or crashed) and no retry is left; submit it again",
            ),
        };
        match reporter.fail(&failure).await {
            Some(_) => {
                tracing::warn!(statusId = %record.status_id, run_id = %record.run_id, stage = %record.status, code = failure.code, "lapsed run failed");
                Settled::Failed
            }
            None => Settled::Kept,
        }
    }
}

enum Settled {
    Requeued,
    Failed,
    Kept,
}
