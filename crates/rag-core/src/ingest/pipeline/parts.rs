//! Splitting a long document into page-range jobs that run in parallel, and
//! numbering its chunks by page so that those jobs never collide: what the
//! text and VDR pipelines share.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::{meta, Deadline, Fault, RunOutcome, RunReporter, TransientError};
use crate::domain::job::{JobPart, PageRange, PartRange, PipelineJob};
use crate::domain::status::{PartProgress, PartReport, Stage};
use crate::ports::{Index, JobQueue, StatusStore};
use crate::Caller;

/// Chunk numbers of a document stored by page are `page * PAGE_CHUNK_STRIDE
/// + i`, so that workers writing different page ranges never collide.
pub const PAGE_CHUNK_STRIDE: u32 = 10_000;

/// The number of the `i`th chunk (0-based) of page `page`.
pub(super) fn page_chunk_number(page: u32, i: u32) -> u32 {
    page * PAGE_CHUNK_STRIDE + i
}

/// Numbers chunks by page ([`page_chunk_number`]), so that page ranges
/// stored by different jobs never collide.
pub(super) fn number_by_page(records: &mut [crate::ports::ChunkRecord]) {
    let mut on_page = (0u32, 0u32);
    for record in records {
        let page = record.page_num.unwrap_or(0);
        on_page = if on_page.0 == page {
            (page, on_page.1 + 1)
        } else {
            (page, 0)
        };
        record.chunk_index = page_chunk_number(page, on_page.1);
    }
}

/// Records the plan (at `stage`, fully done) and sends one job per range of
/// at most `per_job` pages, each knowing when the run `started`; the job
/// that split the document is then done. Sending again after a failure only
/// duplicates parts, which the shared counters count once.
pub(super) async fn fan_out(
    jobs: &dyn JobQueue,
    status: Arc<dyn StatusStore>,
    job: &PipelineJob,
    total: u32,
    per_job: u32,
    stage: Stage,
    started: Instant,
) -> Result<RunOutcome, TransientError> {
    let started_at_ms = Some(wall_clock_ms(started));
    let ranges = PageRange::split(total, per_job);
    let parts = ranges.len() as u32;
    RunReporter::new(status, job)
        .waiting_on_queue()
        .stage(
            stage,
            1.0,
            format!("{total} pages split into {parts} jobs of up to {per_job} pages"),
            meta(json!({"pages": total, "parts_total": parts, "pages_per_job": per_job})),
        )
        .await;
    for (index, range) in (0u32..).zip(ranges) {
        let part_job = PipelineJob {
            range: Some(PartRange {
                pages: range,
                part: JobPart {
                    index,
                    total: parts,
                    range,
                    pages_total: total,
                    started_at_ms,
                },
            }),
            ..job.clone()
        };
        jobs.send(&part_job).await.map_err(|e| {
            TransientError::new(
                stage,
                Fault::Queue,
                format!("sending page-range job {index}: {e}"),
            )
        })?;
        tracing::info!(statusId = %job.status_id, part = index, parts, first = range.first, last = range.last, "page-range job sent");
    }
    Ok(RunOutcome::HandedOver {
        to: job.pipeline,
        reason: format!("split into {parts} page-range jobs"),
    })
}

/// The wall-clock time (Unix milliseconds) at which `started` was taken:
/// the form in which a run's start travels to jobs on other machines
/// ([`JobPart::started_at_ms`]).
pub(super) fn wall_clock_ms(started: Instant) -> i64 {
    chrono::Utc::now().timestamp_millis()
        - i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the run of a document started, by the wall clock (its
/// jobs may run on different machines); `None` for a job sent before jobs
/// carried the start.
pub(super) fn run_elapsed_ms(part: &JobPart) -> Option<u64> {
    let since = part.started_at_ms?;
    u64::try_from(chrono::Utc::now().timestamp_millis() - since).ok()
}

/// How many chunks the index holds for a split document, read by the range
/// that completes it: every range is stored by then, and no range knows the
/// others' counts. `None` (logged) if the index cannot say; the document is
/// complete all the same.
pub(super) async fn chunk_total(index: &dyn Index, job: &PipelineJob) -> Option<u32> {
    match index
        .document(&Caller::new(job.user.clone()), &job.status_id)
        .await
    {
        Ok(found) => found.map(|d| d.chunks),
        Err(e) => {
            tracing::warn!(statusId = %job.status_id, error = %e, "cannot read the chunk total of a split document");
            None
        }
    }
}

/// Counts a stored batch of a part in the run's shared counters and reports
/// the document's progress from them at `stage`, so that parallel jobs never
/// move it backwards. `None` when the run ended or was superseded (the job
/// stops); otherwise the counters, and whether this report finished the
/// document (the caller then records `completed` with its own facts).
pub(super) async fn count_stored(
    status: &dyn StatusStore,
    report: &RunReporter,
    counted: &PartReport,
    pages_total: u32,
    stage: Stage,
) -> Result<Option<(PartProgress, bool)>, TransientError> {
    let progress = match status.record_part(counted).await {
        Ok(Some(progress)) => progress,
        Ok(None) => {
            tracing::info!(statusId = %counted.status_id, run_id = %counted.run_id, part = counted.part, "run ended or superseded; page-range job stops");
            return Ok(None);
        }
        Err(e) => {
            return Err(TransientError::new(
                Stage::Storing,
                Fault::Status,
                e.to_string(),
            ))
        }
    };
    report
        .stage(
            stage,
            f64::from(progress.pages_done) / f64::from(pages_total.max(1)),
            format!("Stored {} of {pages_total} pages", progress.pages_done),
            meta(json!({
                "pages_done": progress.pages_done,
                "parts_done": progress.parts_done,
                "parts_total": counted.parts_total,
            })),
        )
        .await;
    let finished = counted.part_done && progress.all_done(counted.parts_total);
    Ok(Some((progress, finished)))
}

/// Sends `rest` of a page-range job's range back to the queue for another
/// invocation, because this one's `deadline` is near; `false` (logged) if
/// it cannot be sent, and the job goes on as long as it can.
pub(super) async fn hand_back(
    jobs: &dyn JobQueue,
    job: &PipelineJob,
    part: JobPart,
    rest: PageRange,
    deadline: Deadline,
) -> bool {
    let continuation = PipelineJob {
        range: Some(PartRange { pages: rest, part }),
        ..job.clone()
    };
    match jobs.send(&continuation).await {
        Ok(()) => {
            tracing::info!(statusId = %job.status_id, part = part.index, first = rest.first, last = rest.last, remaining_ms = deadline.remaining().map(|d| d.as_millis() as u64), "time nearly up; rest of the range handed back to the queue");
            true
        }
        Err(e) => {
            tracing::warn!(statusId = %job.status_id, error = %e, "cannot hand the rest of the range back; going on");
            false
        }
    }
}
