//! What operators watch: one log event per stage a run leaves and per run
//! that ends, each with `statusId`, `pipeline_type`, `stage` and
//! `duration_ms` (what the Logs Insights queries of `infra/README.md`
//! read), and the same facts as metrics through the `metrics` facade (the
//! processors emit them in CloudWatch's embedded metric format; the
//! dashboard in the YAML charts them).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::classify::Pipeline;
use crate::domain::status::Stage;

/// The CloudWatch namespace of the service's own metrics.
pub const NAMESPACE: &str = "AmplifyRagAsync";
/// Runs completed, by `pipeline_type`.
pub const DOCUMENTS_COMPLETED: &str = "DocumentsCompleted";
/// Runs failed, by `pipeline_type`.
pub const DOCUMENTS_FAILED: &str = "DocumentsFailed";
/// Time in each stage (ms), by `pipeline_type` and `stage`.
pub const STAGE_DURATION: &str = "StageDuration";
/// A worker's time on a run, first stage to its end (ms), by `pipeline_type`.
pub const RUN_DURATION: &str = "RunDuration";
/// Time a job waited in its queue (ms), by `pipeline_type`.
pub const QUEUE_WAIT: &str = "QueueWait";
/// Chunks stored per job, by `pipeline_type`.
pub const CHUNKS_STORED: &str = "ChunksStored";
/// Pages stored per job, by `pipeline_type`.
pub const PAGES_STORED: &str = "PagesStored";
/// Every metric the service emits.
pub const METRICS: [&str; 7] = [
    DOCUMENTS_COMPLETED,
    DOCUMENTS_FAILED,
    STAGE_DURATION,
    RUN_DURATION,
    QUEUE_WAIT,
    CHUNKS_STORED,
    PAGES_STORED,
];

/// Gives each metric its unit; call once where a recorder is installed.
pub fn describe_metrics() {
    use metrics::Unit;
    for name in [
        DOCUMENTS_COMPLETED,
        DOCUMENTS_FAILED,
        CHUNKS_STORED,
        PAGES_STORED,
    ] {
        metrics::describe_counter!(name, Unit::Count, "");
    }
    for name in [STAGE_DURATION, RUN_DURATION, QUEUE_WAIT] {
        metrics::describe_histogram!(name, Unit::Milliseconds, "");
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// When a run's current stage and the run began, shared by the clones of
/// its reporter.
#[derive(Clone)]
pub(crate) struct StageClock(Arc<Mutex<(Option<Stage>, Instant, Instant)>>);

impl StageClock {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self(Arc::new(Mutex::new((None, now, now))))
    }

    /// Records that the run of `status_id` reached `stage`: the stage it
    /// leaves gets its duration; a terminal stage ends the run.
    pub(crate) fn reached(&self, status_id: &str, pipeline: Pipeline, stage: Stage) {
        let Ok(mut clock) = self.0.lock() else {
            return;
        };
        let now = Instant::now();
        let (current, since, run_start) = *clock;
        if current == Some(stage) {
            return;
        }
        if let Some(left) = current {
            let took = ms(now.duration_since(since));
            tracing::info!(
                statusId = status_id,
                pipeline_type = pipeline.as_str(),
                stage = left.as_str(),
                duration_ms = took,
                "stage done"
            );
            metrics::histogram!(STAGE_DURATION, "pipeline_type" => pipeline.as_str(), "stage" => left.as_str())
                .record(took as f64);
        }
        *clock = (Some(stage), now, run_start);
        if matches!(stage, Stage::Completed | Stage::Failed) {
            if current.is_some() {
                let took = ms(now.duration_since(run_start));
                tracing::info!(
                    statusId = status_id,
                    pipeline_type = pipeline.as_str(),
                    stage = stage.as_str(),
                    duration_ms = took,
                    "run done"
                );
                metrics::histogram!(RUN_DURATION, "pipeline_type" => pipeline.as_str())
                    .record(took as f64);
            } else {
                // Ended by someone who saw none of it (the sweeper failing a
                // lapsed run): no duration to tell.
                tracing::info!(
                    statusId = status_id,
                    pipeline_type = pipeline.as_str(),
                    stage = stage.as_str(),
                    "run done"
                );
            }
            let counter = if stage == Stage::Completed {
                DOCUMENTS_COMPLETED
            } else {
                DOCUMENTS_FAILED
            };
            metrics::counter!(counter, "pipeline_type" => pipeline.as_str()).increment(1);
        }
    }
}

/// A job of `pipeline` waited `wait` in its queue.
pub(crate) fn queue_wait(status_id: &str, pipeline: Pipeline, wait: Duration) {
    let took = ms(wait);
    tracing::info!(
        statusId = status_id,
        pipeline_type = pipeline.as_str(),
        stage = "queued",
        duration_ms = took,
        "queue wait"
    );
    metrics::histogram!(QUEUE_WAIT, "pipeline_type" => pipeline.as_str()).record(took as f64);
}

/// A job of `pipeline` stored `chunks` chunks and `pages` pages.
pub(crate) fn stored(pipeline: Pipeline, chunks: usize, pages: usize) {
    metrics::counter!(CHUNKS_STORED, "pipeline_type" => pipeline.as_str()).increment(chunks as u64);
    metrics::counter!(PAGES_STORED, "pipeline_type" => pipeline.as_str()).increment(pages as u64);
}
