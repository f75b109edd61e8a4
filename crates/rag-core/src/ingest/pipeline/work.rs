//! How much of a document one job takes on: the estimate that splits a long
//! text document into page-range jobs, so that several workers embed it at
//! once and it is searchable in seconds rather than minutes.
//!
//! The work of a document is its estimated chunks times what one chunk
//! costs to embed, as this process measured it (seeded by
//! [`super::TextPipelineConfig::seconds_per_chunk`] until the first
//! embedding): the page count alone says little, since a page of a slide
//! deck and a page of a law report differ tenfold.

use std::sync::Mutex;
use std::time::Duration;

/// Seconds per chunk measured in this process (an exponential moving
/// average over embedding calls), or `None` before the first. One figure per
/// process is the truth for a Lambda container, which runs one pipeline on
/// one model.
static SECONDS_PER_CHUNK: Mutex<Option<f64>> = Mutex::new(None);

/// Weight of the newest measurement in the moving average.
const NEWEST_WEIGHT: f64 = 0.3;

/// Records that embedding `chunks` chunks took `elapsed`.
pub(super) fn record_embedding(chunks: usize, elapsed: Duration) {
    if chunks == 0 {
        return;
    }
    let measured = elapsed.as_secs_f64() / chunks as f64;
    let mut average = SECONDS_PER_CHUNK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *average = Some(match *average {
        Some(before) => before + NEWEST_WEIGHT * (measured - before),
        None => measured,
    });
}

/// What one chunk costs to embed here: measured, or `seed` before anything
/// was.
pub(super) fn seconds_per_chunk(seed: f64) -> f64 {
    SECONDS_PER_CHUNK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .unwrap_or(seed)
}

/// What bounds a split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SplitLimits {
    /// Estimated embedding time one job should take at most.
    pub budget: Duration,
    /// Workers that can run at once: more parts would only wait.
    pub max_parts: u32,
    /// Pages one job may hold whatever the estimate.
    pub max_pages_per_job: u32,
}

/// Pages per job for a document of `pages` pages and about `chunks` chunks
/// costing `seconds_per_chunk` each, or `None` to run it whole: when its
/// work fits the budget (or there is one worker) and its pages fit one job,
/// or when it has a single page. Parts are of even size.
pub(super) fn pages_per_part(
    pages: u32,
    chunks: f64,
    seconds_per_chunk: f64,
    limits: SplitLimits,
) -> Option<u32> {
    let max_pages = limits.max_pages_per_job.max(1);
    let work = chunks.max(0.0) * seconds_per_chunk.max(0.0);
    let budget = limits.budget.as_secs_f64().max(f64::MIN_POSITIVE);
    // As many parts as the budget asks, no more than there are workers to
    // run them, no fewer than the job size needs, no more than pages.
    let by_work = (work / budget).ceil().min(f64::from(u32::MAX)) as u32;
    let by_pages = pages.div_ceil(max_pages);
    let parts = by_work.min(limits.max_parts).max(by_pages).min(pages);
    (parts > 1).then(|| pages.div_ceil(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SplitLimits = SplitLimits {
        budget: Duration::from_secs(2),
        max_parts: 10,
        max_pages_per_job: 200,
    };

    #[test]
    fn a_document_within_the_budget_runs_whole() {
        // 20 pages, 100 chunks at 10 ms: one second of work.
        assert_eq!(pages_per_part(20, 100.0, 0.01, LIMITS), None);
        assert_eq!(pages_per_part(1, 10_000.0, 0.01, LIMITS), None);
    }

    #[test]
    fn work_over_the_budget_is_spread_over_parts_of_the_budget() {
        // 100 pages, 560 chunks at 25 ms: 14 s of work, 7 parts of 2 s.
        assert_eq!(pages_per_part(100, 560.0, 0.025, LIMITS), Some(15));
        // Just over: two parts.
        assert_eq!(pages_per_part(30, 90.0, 0.025, LIMITS), Some(15));
    }

    #[test]
    fn never_more_parts_than_workers_nor_pages() {
        // 1,000 pages of 280 s of work: 10 parts, not 140.
        assert_eq!(pages_per_part(1_000, 5_600.0, 0.05, LIMITS), Some(100));
        // Three pages of heavy work: one page each.
        assert_eq!(pages_per_part(3, 3_000.0, 0.05, LIMITS), Some(1));
    }

    #[test]
    fn one_worker_runs_a_document_whole_unless_it_is_too_long_for_one_job() {
        let one = SplitLimits {
            max_parts: 1,
            ..LIMITS
        };
        assert_eq!(pages_per_part(100, 560.0, 0.025, one), None);
        assert_eq!(pages_per_part(1_000, 5_600.0, 0.05, one), Some(200));
    }

    #[test]
    fn the_job_size_limit_holds_even_for_light_pages() {
        // 1,000 nearly empty pages: little work, but at most 200 a job.
        assert_eq!(pages_per_part(1_000, 50.0, 0.01, LIMITS), Some(200));
        let few_workers = SplitLimits {
            max_parts: 2,
            ..LIMITS
        };
        assert_eq!(pages_per_part(1_000, 5_600.0, 0.05, few_workers), Some(200));
    }

    #[test]
    fn the_measured_cost_follows_the_embeddings() {
        // Other tests of this binary may record too: only the direction of
        // the average is asserted.
        record_embedding(10, Duration::from_secs(100));
        let high = seconds_per_chunk(0.0);
        assert!(high > 1.0, "{high}");
        record_embedding(10, Duration::from_millis(1));
        assert!(seconds_per_chunk(0.0) < high);
        record_embedding(0, Duration::from_secs(1));
    }
}
