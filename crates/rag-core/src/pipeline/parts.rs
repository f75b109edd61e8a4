//! Splitting a long document into page-range jobs that run in parallel:
//! what the text and VDR pipelines share.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{RunReporter, TransientError};
use crate::job::{JobPart, PageRange, PipelineJob};
use crate::ports::{JobQueue, StatusStore};
use crate::status::Stage;

/// Records the plan (at `stage`, fully done) and sends one job per range of
/// at most `per_job` pages; returns how many. Sending again after a failure
/// only duplicates parts, which the shared counters count once.
pub(super) async fn send_parts(
    jobs: &dyn JobQueue,
    status: Arc<dyn StatusStore>,
    job: &PipelineJob,
    total: u32,
    per_job: u32,
    stage: Stage,
) -> Result<u32, TransientError> {
    let ranges = PageRange::split(total, per_job);
    let parts = ranges.len() as u32;
    let plan = json!({"pages": total, "parts_total": parts, "pages_per_job": per_job});
    RunReporter::new(status, job)
        .stage(
            stage,
            1.0,
            format!("{total} pages split into {parts} jobs of up to {per_job} pages"),
            match plan {
                Value::Object(m) => m,
                _ => Default::default(),
            },
        )
        .await;
    for (index, range) in (0u32..).zip(ranges) {
        let part_job = PipelineJob {
            pages: Some(range),
            part: Some(JobPart {
                index,
                total: parts,
                range,
                pages_total: total,
            }),
            ..job.clone()
        };
        jobs.send(&part_job).await.map_err(|e| TransientError {
            stage,
            message: format!("sending page-range job {index}: {e}"),
        })?;
        tracing::info!(status_id = %job.status_id, part = index, parts, first = range.first, last = range.last, "page-range job sent");
    }
    Ok(parts)
}
