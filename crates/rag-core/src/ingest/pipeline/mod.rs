//! The background pipelines and what they share: status reporting and the
//! split between document problems (final) and infrastructure faults (retry).

mod consumer;
mod failure;
pub mod indexing;
mod parts;
mod redrive;
mod reporter;
mod sweep;
pub mod telemetry;
mod text;
mod vdr;
mod visuals;
mod work;

pub use consumer::{Deadline, Disposition, JobConsumer, JobRunner, QueueMessage};
pub use failure::{Failure, Fault};
pub use parts::PAGE_CHUNK_STRIDE;
pub use redrive::{ran_out_of_attempts, replay, Redrive, RedriveError};
pub use reporter::RunReporter;
pub use sweep::{SweepReport, Sweeper, MAX_REQUEUES};
pub use text::{FollowUp, TextPipeline, TextPipelineConfig, DEFAULT_TEXT_PAGES_PER_JOB};
pub use vdr::{
    converted_pdf_prefix, document_of_page_image, page_image_key, page_images_prefix, VdrConfig,
    VdrPipeline, VisualPages,
};

/// How a run ended when it ended because of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Indexed; `chunks` stored.
    Completed {
        /// Chunks this job stored (a page-range job counts only its own).
        chunks: usize,
        /// Pages this job stored (a page-range job counts only its own;
        /// 0 for a re-embedding).
        pages: usize,
    },
    /// The document cannot be processed (corrupt, encrypted, empty,
    /// unsupported, too large, owned by someone else). Recorded as `failed`;
    /// retrying would not help.
    Failed(Failure),
    /// The document's work went on to other jobs: another pipeline as a new
    /// run (a PDF with no text layer is a scan: the VDR pipeline renders and
    /// OCRs it), or page-range jobs of a document split for its length.
    HandedOver {
        /// The pipeline the work went on in: VDR for a scan, the job's own
        /// for page ranges.
        to: crate::domain::classify::Pipeline,
        /// Why, in plain words (logged; e.g. `split into 4 page-range jobs`).
        reason: String,
    },
    /// The document's owner cancelled the run (or deleted the document)
    /// while it ran: the job stopped at its next stage and withdrew what it
    /// had stored (`withdraw_cancelled`).
    Cancelled,
}

/// Ends a job whose run was cancelled under it: what it stored is removed
/// from the index, so a cancelled run never leaves its document searchable
/// (a range another job of the run stores later is removed by that job's
/// own check). `stored` says whether this job stored anything.
pub(crate) async fn withdraw_cancelled(
    index: &dyn crate::ports::Index,
    job: &crate::domain::job::PipelineJob,
    stored: bool,
) -> Result<RunOutcome, TransientError> {
    if stored {
        let owner = crate::Caller::new(job.user.clone());
        index
            .delete_document(&owner, &job.status_id)
            .await
            .map_err(|e| {
                TransientError::new(
                    crate::domain::status::Stage::Storing,
                    Fault::Index,
                    e.to_string(),
                )
            })?;
    }
    tracing::info!(statusId = %job.status_id, run_id = %job.run_id, stored, "run cancelled; job stopped");
    Ok(RunOutcome::Cancelled)
}

/// An infrastructure fault (database, embedding service, storage) that a
/// retry may cure. The run's status is left where it was; the queue consumer
/// retries and, after the last attempt, records the failure with
/// [`RunReporter::fail`]: as the [`Fault`]'s code and plain message, never
/// `message`, which is the adapter's own words (hosts, URLs, SQL) and only
/// logged.
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct TransientError {
    /// The stage the fault happened in, for the logs (the error's message).
    pub stage: crate::domain::status::Stage,
    /// Which dependency failed.
    pub fault: Fault,
    /// What the adapter said, for the logs.
    pub message: String,
}

impl TransientError {
    /// A fault of `fault` during `stage`.
    pub fn new(
        stage: crate::domain::status::Stage,
        fault: Fault,
        message: impl Into<String>,
    ) -> Self {
        Self {
            stage,
            fault,
            message: message.into(),
        }
    }

    /// What the run's owner is told when retries did not cure it.
    pub fn failure(&self, attempts: u32) -> Failure {
        Failure::new(
            self.fault.code(),
            format!(
                "{} (gave up after {attempts} attempts)",
                self.fault.public_message()
            ),
        )
    }
}

/// Status metadata from a `json!({...})` object literal.
pub(crate) fn meta(pairs: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match pairs {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
