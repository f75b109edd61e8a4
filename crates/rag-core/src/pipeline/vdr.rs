//! The VDR pipeline's entry point.
//!
//! Until page images are embedded (multi-vector page embeddings), a VDR
//! document is indexed by the text of each page, so presentations, forms and
//! scans routed here are searchable from day one: every chunk carries its
//! `page_num` and `pipeline: "vdr"`, and the status says `vdr_mode:
//! "page_text"`.

use super::text::Flavor;
use super::{RunOutcome, TextPipeline, TransientError};
use crate::job::PipelineJob;

/// Processes documents routed to VDR.
pub struct VdrPipeline {
    /// The per-page text indexing it runs today.
    pub pages: TextPipeline,
}

impl VdrPipeline {
    /// Processes one job; same contract as [`TextPipeline::run`].
    pub async fn run(&self, job: &PipelineJob) -> Result<RunOutcome, TransientError> {
        self.pages.run_as(job, Flavor::VdrPageText).await
    }
}
