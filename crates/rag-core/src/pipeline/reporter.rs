//! Status reporting for one processing run.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Failure;
use crate::classify::Pipeline;
use crate::error::redact_internals;
use crate::job::PipelineJob;
use crate::ports::{StatusStore, StatusWrite};
use crate::status::{Stage, StatusRecord, StatusUpdate};

/// Records the stages of one run. A failed or stale status write never stops
/// the pipeline: the work matters more than its progress report.
#[derive(Clone)]
pub struct RunReporter {
    store: Arc<dyn StatusStore>,
    status_id: String,
    user: String,
    run_id: String,
    pipeline: Pipeline,
}

impl RunReporter {
    /// A reporter for the run of `job`.
    pub fn new(store: Arc<dyn StatusStore>, job: &PipelineJob) -> Self {
        Self {
            store,
            status_id: job.status_id.clone(),
            user: job.user.clone(),
            run_id: job.run_id.clone(),
            pipeline: job.pipeline,
        }
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
        !matches!(self.apply(&update).await, Some(StatusWrite::Stale))
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

    /// Records a failure, with the code and reason shown to the user. The
    /// reason is redacted once more ([`crate::error::redact_internals`]) in
    /// case an adapter's words slipped into it.
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
                tracing::info!(status_id = %self.status_id, stage = %stage, progress = record.progress, message = %record.message, "status");
                Some(record)
            }
            StatusWrite::Stale => {
                tracing::debug!(status_id = %self.status_id, stage = %stage, "stale status update dropped");
                None
            }
        }
    }

    fn update(&self, stage: Stage, progress: u8, message: String) -> StatusUpdate {
        StatusUpdate {
            pipeline: Some(self.pipeline),
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
                tracing::warn!(status_id = %self.status_id, stage = %update.stage, error = %e, "status write failed");
                None
            }
        }
    }
}
