//! Progress of a run split into page-range parts (a large document fanned
//! out to many workers).
//!
//! Every worker reports the pages it stored and, at the end of its range,
//! its part as done. The counters are *sets* (of page numbers, of part
//! numbers), so a redelivered or retried range that reports the same pages
//! again counts nothing twice, and the shared totals only grow: progress
//! derived from them can never go backwards, whichever worker reports.
//! Every [`StatusStore`] keeps them atomically with the status record (a
//! conditional UpdateItem in DynamoDB, a lock locally); the rule itself is
//! here so all stores agree.
//!
//! [`StatusStore`]: crate::ports::StatusStore

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::StatusRecord;

/// Most pages one run can count, so the most a document split into page
/// ranges may have: every store keeps a run's counters in its status record,
/// and a DynamoDB item holds at most 400 KB. Each page is counted in
/// `pagesDone` and, at worst, in `ocrPages` or `blankPages` too: page
/// numbers below 100,000 take 4 bytes in a number set, so 8 bytes a page,
/// and 40,000 pages take 320 KB, leaving room for the record itself (a key
/// of 1 KB, metadata, messages). `rag-aws`'s status tests count a worst
/// case by DynamoDB's sizing rules: 295 KB at 40,000 pages, 451 KB at
/// 60,000.
pub const MAX_COUNTED_PAGES: u32 = 40_000;

/// What one worker of a split run reports after storing a batch of pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReport {
    /// The document's statusId.
    pub status_id: String,
    /// The run the worker belongs to; reports of other runs are dropped.
    pub run_id: String,
    /// The part (0-based) the pages belong to.
    pub part: u32,
    /// How many parts the run was split into.
    pub parts_total: u32,
    /// Pages stored by this batch.
    pub pages: Vec<u32>,
    /// Of those, pages whose text came from OCR.
    pub ocr_pages: Vec<u32>,
    /// Of those, pages with neither a text layer nor OCR text.
    pub blank_pages: Vec<u32>,
    /// Whether this batch ends the part (all its pages are stored).
    pub part_done: bool,
}

/// The run's shared totals after a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartProgress {
    /// Distinct parts finished so far.
    pub parts_done: u32,
    /// Distinct pages stored so far.
    pub pages_done: u32,
    /// Distinct pages read by OCR so far.
    pub ocr_pages: u32,
    /// Pages stored without any text, in order.
    pub blank_pages: Vec<u32>,
    /// Whether this report finished its part (false when the part had been
    /// counted already: a redelivered range).
    pub newly_done: bool,
}

impl PartProgress {
    /// Whether every part of the run is done: the document is complete.
    pub fn all_done(&self, parts_total: u32) -> bool {
        self.parts_done >= parts_total
    }
}

/// The counters a store keeps per statusId for the run that is splitting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartCounters {
    /// The run these counters belong to; a new run starts from zero.
    pub run_id: String,
    /// Parts (0-based numbers) reported done, every page of them stored.
    pub parts_done: BTreeSet<u32>,
    /// Pages (1-based numbers) stored so far, by any worker.
    pub pages_done: BTreeSet<u32>,
    /// Of those, pages whose text came from OCR.
    pub ocr_pages: BTreeSet<u32>,
    /// Of those, pages stored without any text (neither a text layer nor
    /// OCR text).
    pub blank_pages: BTreeSet<u32>,
}

impl PartCounters {
    /// Applies `report` to `counters` (this statusId's, if any) given the
    /// current status record. `None` when the report is stale: no record,
    /// another run, or a run that already ended.
    pub fn record(
        counters: Option<&PartCounters>,
        current: Option<&StatusRecord>,
        report: &PartReport,
    ) -> Option<(PartCounters, PartProgress)> {
        let record = current?;
        if record.run_id != report.run_id || record.status.is_terminal() {
            return None;
        }
        let mut next = counters
            .filter(|c| c.run_id == report.run_id)
            .cloned()
            .unwrap_or_else(|| PartCounters {
                run_id: report.run_id.clone(),
                ..PartCounters::default()
            });
        let newly_done = report.part_done && !next.parts_done.contains(&report.part);
        // A part counted already had all its pages counted with it.
        if !report.part_done || newly_done {
            next.pages_done.extend(&report.pages);
            next.ocr_pages.extend(&report.ocr_pages);
            next.blank_pages.extend(&report.blank_pages);
            if newly_done {
                next.parts_done.insert(report.part);
            }
        }
        let progress = next.progress(newly_done);
        Some((next, progress))
    }

    /// The totals these counters hold.
    pub fn progress(&self, newly_done: bool) -> PartProgress {
        let count = |s: &BTreeSet<u32>| u32::try_from(s.len()).unwrap_or(u32::MAX);
        PartProgress {
            parts_done: count(&self.parts_done),
            pages_done: count(&self.pages_done),
            ocr_pages: count(&self.ocr_pages),
            blank_pages: self.blank_pages.iter().copied().collect(),
            newly_done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::{Stage, StatusUpdate};
    use chrono::Utc;

    fn record(run: &str, stage: Stage) -> StatusRecord {
        let u = StatusUpdate::new("b#k", "alice", run, stage, 50, "");
        StatusRecord::applied(None, &u, Utc::now(), 60)
    }

    fn report(part: u32, pages: std::ops::RangeInclusive<u32>, done: bool) -> PartReport {
        PartReport {
            status_id: "b#k".into(),
            run_id: "r1".into(),
            part,
            parts_total: 2,
            pages: pages.collect(),
            ocr_pages: vec![],
            blank_pages: vec![],
            part_done: done,
        }
    }

    #[test]
    fn repeated_reports_count_once_and_totals_only_grow() {
        let live = record("r1", Stage::EmbeddingPages);
        let (c, p) = PartCounters::record(None, Some(&live), &report(0, 1..=5, false)).unwrap();
        assert_eq!((p.pages_done, p.parts_done), (5, 0));
        let (c, p) = PartCounters::record(Some(&c), Some(&live), &report(0, 1..=5, false)).unwrap();
        assert_eq!(p.pages_done, 5, "a retried batch counts nothing twice");
        let (c, p) = PartCounters::record(Some(&c), Some(&live), &report(0, 6..=10, true)).unwrap();
        assert!(p.newly_done && !p.all_done(2));
        let (c, p) = PartCounters::record(Some(&c), Some(&live), &report(0, 6..=10, true)).unwrap();
        assert!(!p.newly_done, "a redelivered part is not done twice");
        assert_eq!((p.pages_done, p.parts_done), (10, 1));
        let (_, p) =
            PartCounters::record(Some(&c), Some(&live), &report(1, 11..=12, true)).unwrap();
        assert!(p.newly_done && p.all_done(2));
        assert_eq!(p.pages_done, 12);
    }

    #[test]
    fn stale_reports_are_dropped_and_new_runs_start_from_zero() {
        let live = record("r1", Stage::EmbeddingPages);
        let (c, _) = PartCounters::record(None, Some(&live), &report(0, 1..=5, true)).unwrap();
        let done = record("r1", Stage::Completed);
        assert_eq!(
            PartCounters::record(Some(&c), Some(&done), &report(1, 6..=9, true)),
            None
        );
        assert_eq!(
            PartCounters::record(Some(&c), None, &report(1, 6..=9, true)),
            None
        );
        let next = record("r2", Stage::EmbeddingPages);
        let mut r2 = report(1, 6..=9, false);
        r2.run_id = "r2".into();
        let (_, p) = PartCounters::record(Some(&c), Some(&next), &r2).unwrap();
        assert_eq!((p.pages_done, p.parts_done), (4, 0));
    }
}
