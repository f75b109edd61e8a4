//! The text-RAG pipeline: read, extract, chunk, embed, index.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map};

use super::indexing::{chunk_records, document_record, PageChunk};
use super::parts::{chunk_total, count_stored, hand_back, run_elapsed_ms};
use super::{meta, Deadline, Failure, Fault, RunOutcome, RunReporter, TransientError};
use crate::domain::classify::{extension, Pipeline};
use crate::domain::job::{JobPart, PageRange, PartRange, PipelineJob};
use crate::domain::status::PartReport;
use crate::domain::status::{Stage, StatusUpdate, QUEUE_LEASE_SECS};
use crate::ingest::chunking::{Chunker, Headings, TextKind};
use crate::ingest::visuals::VisualsConfig;
use crate::ports::VisionModel;
use crate::ports::{
    BlobError, BlobStore, DocumentRecord, Embedder, Extractor, Index, IndexError, JobQueue,
    PageIndex, StatusStore,
};
use crate::ports::{ExtractError, ExtractInput, ExtractedDocument, ExtractedPage};
use crate::search::analyzer::Analyzer;

/// Most pages in one text job, however light: text is cheap per page
/// (about 6 chunks a page), so 200 pages keep a job far inside Lambda's 15
/// minutes. Documents are split well before that by their estimated work
/// ([`TextPipelineConfig::seconds_per_job`]).
pub const DEFAULT_TEXT_PAGES_PER_JOB: u32 = 200;

/// Limits and batch sizes of the text pipeline.
#[derive(Debug, Clone, Copy)]
pub struct TextPipelineConfig {
    /// Largest object read, in bytes.
    pub max_object_bytes: u64,
    /// Chunks per embedding call (one progress update per batch).
    pub embed_batch: usize,
    /// Budget of the selective visuals step (used when a model is set).
    pub visuals: VisualsConfig,
    /// A document with more pages is split into page-range jobs that run in
    /// parallel (when the pipeline has a [`FollowUp`] queue).
    pub max_pages_per_job: u32,
    /// A document whose estimated embedding time (chunks times the measured
    /// cost of one, see `pipeline::work`) is longer is split into page-range
    /// jobs of about this much work each, so that parallel workers make it
    /// searchable sooner.
    pub seconds_per_job: std::time::Duration,
    /// Workers that can run page-range jobs at once (the processor's
    /// concurrency): a document is split into at most this many jobs.
    pub workers: u32,
    /// What one chunk costs to embed until this process has measured it.
    pub seconds_per_chunk: f64,
    /// Whether a scanned PDF goes on to the VDR pipeline (`ENABLE_VDR_PIPELINE`)
    /// rather than failing as having no text.
    pub scans_to_vdr: bool,
    /// A page-range job stores its pages this many at a time, and between
    /// two such batches may hand the rest of its range back to the queue.
    pub pages_per_batch: u32,
    /// A job with less than this left before its invocation's deadline
    /// stops: a page-range job hands the rest of its range back, a whole
    /// document is split into page ranges (or, without pages, fails
    /// clearly), rather than being killed mid-way.
    pub deadline_margin: std::time::Duration,
}

impl Default for TextPipelineConfig {
    fn default() -> Self {
        Self {
            max_object_bytes: 200 * 1024 * 1024,
            embed_batch: 32,
            visuals: VisualsConfig::default(),
            max_pages_per_job: DEFAULT_TEXT_PAGES_PER_JOB,
            // A page-range job costs about a second beyond its embedding
            // (reading and parsing the file, storing, the queue hand-off):
            // two seconds of embedding keep that overhead a third.
            seconds_per_job: std::time::Duration::from_secs(2),
            workers: 10,
            // The default engine (onnx-int8) on one Lambda vCPU, measured
            // by rag-embed's engines example: about 40 chunks a second.
            seconds_per_chunk: 0.025,
            scans_to_vdr: true,
            pages_per_batch: 20,
            deadline_margin: std::time::Duration::from_secs(60),
        }
    }
}

/// How a run reads and reports a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// The text-RAG pipeline.
    Text,
    /// The VDR pipeline's text-layer mode: pages read as text, every chunk
    /// numbered with its page.
    VdrPageText,
}

/// Everything the text pipeline needs, wired once per process.
pub struct TextPipeline {
    /// Where the uploaded documents are read from (and, for VDR, rendered
    /// page images written to).
    pub blobs: Arc<dyn BlobStore>,
    /// Turns a document's bytes into the text of its pages.
    pub extractor: Arc<dyn Extractor>,
    /// The text model: embeds chunks, and its id is recorded as the
    /// document's `embedding_model`.
    pub embedder: Arc<dyn Embedder>,
    /// Where whole documents are stored, each replacing its earlier version
    /// atomically.
    pub index: Arc<dyn Index>,
    /// Where every stage and the outcome of a run are reported.
    pub status: Arc<dyn StatusStore>,
    /// Splits each page's text into chunks sized in the model's tokens.
    pub chunker: Arc<Chunker>,
    /// Turns each chunk's text into the terms of its BM25 postings.
    pub analyzer: Arc<Analyzer>,
    /// Limits, batch sizes and splitting of long documents.
    pub config: TextPipelineConfig,
    /// The vision model that transcribes a document's important images
    /// (`ENABLE_SELECTIVE_VISUALS`); `None` leaves the text as extracted.
    pub visuals: Option<Arc<dyn VisionModel>>,
    /// Where follow-up work goes: a PDF without a text layer (a scan) on to
    /// the VDR pipeline, a long document's page ranges to parallel text
    /// jobs. `None`: scans fail as having no text, long documents run whole.
    pub follow_up: Option<FollowUp>,
}

/// The queue follow-up jobs go to, and the index page ranges are stored in.
#[derive(Clone)]
pub struct FollowUp {
    /// Receives the follow-up jobs: page ranges, their hand-backs, and
    /// scans sent on to the VDR pipeline.
    pub jobs: Arc<dyn JobQueue>,
    /// Stores one page range's chunks without touching the others'.
    pub ranges: Arc<dyn PageIndex>,
}

impl TextPipeline {
    /// Processes one job within an invocation ending at `deadline`
    /// ([`TextPipelineConfig::deadline_margin`]). Problems with the
    /// document end the run as `failed` (and return
    /// [`RunOutcome::Failed`]); infrastructure faults return
    /// [`TransientError`] and leave the run open for a retry. Without a
    /// deadline: [`JobRunner::run`](super::JobRunner::run).
    pub async fn run_until(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        self.run_as(job, Flavor::Text, deadline).await
    }

    /// A re-embedding job: the stored chunks embedded again with the
    /// configured model, their vectors swapped in ([`crate::ingest::reembed`]).
    async fn reembed(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        let report = RunReporter::new(self.status.clone(), job);
        let model = self.embedder.model_id();
        let index_fault =
            |e: IndexError| TransientError::new(Stage::Storing, Fault::Index, e.to_string());
        let owner = crate::Caller::new(job.user.clone());
        let gone = || Failure::new("not_found", "the document is no longer indexed");
        let Some(stored) = self
            .index
            .chunks(&owner, &job.status_id)
            .await
            .map_err(index_fault)?
        else {
            return report.failed(gone()).await;
        };
        // The same batches, progress and deadline as a first embedding.
        let chunks: Vec<PageChunk> = stored
            .iter()
            .map(|c| (c.page_num, c.content.clone()).into())
            .collect();
        let vectors = match self
            .embed_chunks(&chunks, Some(&report), Some(deadline))
            .await?
        {
            Embedded::Vectors(vectors) => vectors,
            Embedded::Cancelled => {
                return super::withdraw_cancelled(self.index.as_ref(), job, false).await
            }
            Embedded::OutOfTime => {
                return report.failed(Failure::new(
                "too_slow",
                format!("the document's {} chunks could not be embedded again within one invocation; run `ragctl reembed` where time is not limited", chunks.len()),
            )).await;
            }
        };
        let vectors: Vec<(u32, Vec<f32>)> =
            stored.iter().map(|c| c.chunk_index).zip(vectors).collect();
        if !self
            .index
            .replace_vectors(&owner, &job.status_id, model, &vectors)
            .await
            .map_err(index_fault)?
        {
            return report.failed(gone()).await;
        }
        report
            .complete(
                format!("Re-embedded {} chunks with {model}", vectors.len()),
                Map::new(),
            )
            .await;
        Ok(RunOutcome::Completed {
            chunks: vectors.len(),
            pages: 0,
        })
    }

    /// The run, with the stages and page numbering of `flavor`.
    pub(super) async fn run_as(
        &self,
        job: &PipelineJob,
        flavor: Flavor,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        if let (Flavor::Text, Some(PartRange { part, pages: range }), Some(follow)) =
            (flavor, job.range, &self.follow_up)
        {
            return self.run_part(job, part, range, follow, deadline).await;
        }
        if job.reembed {
            return self.reembed(job, deadline).await;
        }
        let started = Instant::now();
        let read_stage = match flavor {
            Flavor::Text => Stage::ExtractingText,
            Flavor::VdrPageText => Stage::ConvertingPages,
        };
        let report = RunReporter::new(self.status.clone(), job);

        report
            .stage(
                Stage::ProcessingStarted,
                0.0,
                "Processing started",
                meta(json!({"file_name": job.file_name})),
            )
            .await;

        // Read
        let bytes = match self.read_object(job).await? {
            Object::Read(bytes) => bytes,
            Object::Unreadable(error) => return report.failed(error).await,
        };

        // Extract
        report
            .stage(
                read_stage,
                0.0,
                format!("Extracting text from {}", job.file_name),
                match flavor {
                    Flavor::Text => Map::new(),
                    // Honest about what VDR does until page embeddings exist.
                    Flavor::VdrPageText => meta(json!({"vdr_mode": "page_text"})),
                },
            )
            .await;
        let bytes = Arc::new(bytes);
        // A PDF that may be split is read one range deep first: the page
        // count that gives decides below, so a long one is never read whole
        // here (each range job reads its own pages, within the extractor's
        // limits). One without text in that range is read whole after all,
        // to tell a scan from a document that starts with blank pages.
        let per_job = self.config.max_pages_per_job.max(1);
        let first_range = (flavor == Flavor::Text && self.follow_up.is_some() && is_pdf(job))
            .then_some(PageRange {
                first: 1,
                last: per_job,
            });
        let mut read = self.extract(bytes.clone(), job, first_range).await;
        let mut read_range = first_range;
        if first_range.is_some() && read.as_ref().is_ok_and(|doc| doc.is_empty()) {
            read = self.extract(bytes, job, None).await;
            read_range = None;
        }
        let extracted = match read {
            Ok(doc) => doc,
            Err(ExtractError::Empty) if flavor == Flavor::Text && is_pdf(job) => {
                if let (Some(follow), true) = (&self.follow_up, self.config.scans_to_vdr) {
                    // Handing over starts a new run, which would replace a
                    // cancelled one: look first.
                    if report.was_cancelled().await {
                        return super::withdraw_cancelled(self.index.as_ref(), job, false).await;
                    }
                    return self.hand_to_vdr(job, follow.jobs.as_ref()).await;
                }
                return report.failed(ExtractError::Empty.into()).await;
            }
            Err(e) => return report.failed(e.into()).await,
        };
        let pages = extracted.pages.len();
        report
            .stage(
                read_stage,
                1.0,
                format!(
                    "Extracted {} ({pages} page{})",
                    extracted.format,
                    if pages == 1 { "" } else { "s" }
                ),
                meta(json!({"pages": pages, "format": extracted.format})),
            )
            .await;
        if report.cancelled() {
            return super::withdraw_cancelled(self.index.as_ref(), job, false).await;
        }

        // A long document: page ranges in parallel jobs. The estimate
        // chunks the pages read; when that is all of them, those chunks are
        // the document's unless the visuals step changes its text.
        let mut chunked = None;
        if let (Flavor::Text, Some(follow)) = (flavor, &self.follow_up) {
            let read = read_range.map_or(pages, |r| (r.last as usize).min(pages));
            let numbered = extracted.pages.iter().all(|p| p.number.is_some());
            if numbered && read > 0 {
                let chunks = self.page_chunks(&extracted.pages[..read], extracted.kind, flavor);
                if let Some(per_part) = self.pages_per_part(job, pages, chunks.len(), read) {
                    return super::parts::fan_out(
                        follow.jobs.as_ref(),
                        self.status.clone(),
                        job,
                        pages as u32,
                        per_part,
                        Stage::Chunking,
                        started,
                    )
                    .await;
                }
                chunked = (read == pages && self.visuals.is_none()).then_some(chunks);
            }
        }

        // Transcribe the images that matter, in place
        let extracted = self.with_visuals(extracted, job, &report).await;

        // Chunk, per page so every chunk knows its page
        report
            .stage(Stage::Chunking, 0.0, "Chunking text", Map::new())
            .await;
        let chunks = match chunked {
            Some(chunks) => chunks,
            None => self.page_chunks(&extracted.pages, extracted.kind, flavor),
        };
        if chunks.is_empty() {
            return report.failed(ExtractError::Empty.into()).await;
        }
        let total = chunks.len();
        report
            .stage(
                Stage::Chunking,
                1.0,
                format!("Created {total} chunks"),
                meta(json!({"chunks": total})),
            )
            .await;
        if report.cancelled() {
            return super::withdraw_cancelled(self.index.as_ref(), job, false).await;
        }

        // Embed, in batches, reporting each
        let vectors = match self
            .embed_chunks(&chunks, Some(&report), Some(deadline))
            .await?
        {
            Embedded::Vectors(vectors) => vectors,
            Embedded::OutOfTime => return self.out_of_time(job, &extracted, flavor, total).await,
            Embedded::Cancelled => {
                return super::withdraw_cancelled(self.index.as_ref(), job, false).await
            }
        };

        // Store, atomically replacing any earlier version
        report
            .stage(
                Stage::Storing,
                0.0,
                format!("Storing {total} chunks"),
                Map::new(),
            )
            .await;
        if report.cancelled() {
            return super::withdraw_cancelled(self.index.as_ref(), job, false).await;
        }
        let records = chunk_records(
            &self.analyzer,
            chunks,
            vectors,
            &json!({"file_name": job.file_name}),
        );
        let document = document_record(
            job,
            self.embedder.model_id(),
            json!({"format": extracted.format, "pages": pages}),
        );
        match self.index.replace_document(&document, &records).await {
            Ok(()) => {}
            Err(e) => return report.failed(refused_by_index(e)?).await,
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        report
            .complete(
                format!("Indexed {total} chunks from {pages} page(s)"),
                meta(json!({"chunks": total, "pages": pages, "elapsed_ms": elapsed_ms})),
            )
            .await;
        // Cancelled while the chunks were stored: the run never completes.
        if report.cancelled() {
            return super::withdraw_cancelled(self.index.as_ref(), job, true).await;
        }
        Ok(RunOutcome::Completed {
            chunks: total,
            pages,
        })
    }

    /// Pages per page-range job for a document of `pages` numbered pages
    /// whose first `read` made `chunks_read` chunks, or `None` to run it
    /// whole ([`super::work`]).
    fn pages_per_part(
        &self,
        job: &PipelineJob,
        pages: usize,
        chunks_read: usize,
        read: usize,
    ) -> Option<u32> {
        let pages = pages as u32;
        let chunks = chunks_read as f64 * f64::from(pages) / read as f64;
        let seconds_per_chunk = super::work::seconds_per_chunk(self.config.seconds_per_chunk);
        let per_part = super::work::pages_per_part(
            pages,
            chunks,
            seconds_per_chunk,
            super::work::SplitLimits {
                budget: self.config.seconds_per_job,
                max_parts: self.config.workers,
                max_pages_per_job: self.config.max_pages_per_job,
            },
        );
        tracing::info!(statusId = %job.status_id, pages, read, chunks = chunks.round(), seconds_per_chunk, ?per_part, "estimated the document's work");
        per_part
    }

    /// Chunks of every page, each with its page number.
    fn page_chunks(
        &self,
        pages: &[ExtractedPage],
        kind: TextKind,
        flavor: Flavor,
    ) -> Vec<PageChunk> {
        let mut chunks = Vec::new();
        // Headings carry over from page to page.
        let mut headings = Headings::default();
        for (i, page) in pages.iter().enumerate() {
            let number = match flavor {
                Flavor::Text => page.number,
                // Every VDR result points at a page, even for formats
                // without pages (a one-page form in plain text).
                Flavor::VdrPageText => page.number.or(Some(i as u32 + 1)),
            };
            for (content, citation) in self.chunker.chunk_cited(&page.text, kind, &mut headings) {
                chunks.push(PageChunk {
                    page_num: number,
                    content,
                    citation: Some(citation),
                });
            }
        }
        chunks
    }

    /// Vectors of `chunks`, embedded in batches; each batch reported when a
    /// reporter is given (a page-range job reports through the shared
    /// counters instead).
    async fn embed_chunks(
        &self,
        chunks: &[PageChunk],
        report: Option<&RunReporter>,
        deadline: Option<Deadline>,
    ) -> Result<Embedded, TransientError> {
        let transient =
            |message: String| TransientError::new(Stage::Embedding, Fault::Embedding, message);
        let total = chunks.len();
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(total);
        let batch = self.config.embed_batch.max(1);
        for (i, group) in chunks.chunks(batch).enumerate() {
            let done = i * batch;
            if deadline.is_some_and(|d| d.within(self.config.deadline_margin)) {
                return Ok(Embedded::OutOfTime);
            }
            if let Some(report) = report {
                report
                    .stage(
                        Stage::Embedding,
                        done as f64 / total as f64,
                        format!("Embedding {done}/{total} chunks"),
                        Map::new(),
                    )
                    .await;
                if report.cancelled() {
                    return Ok(Embedded::Cancelled);
                }
            }
            let texts: Vec<String> = group.iter().map(|c| c.content.clone()).collect();
            let embedding = Instant::now();
            let embedded = self
                .embedder
                .embed_each(&texts)
                .await
                .map_err(|e| transient(e.to_string()))?;
            super::work::record_embedding(texts.len(), embedding.elapsed());
            vectors.extend(embedded);
        }
        Ok(Embedded::Vectors(vectors))
    }

    /// One page range of a split document: its pages extracted, chunked,
    /// embedded and stored without touching other ranges; counted in the
    /// run's shared counters, and the document completed by the range that
    /// finishes them. Progress comes only from those counters, so parallel
    /// jobs never move it backwards.
    async fn run_part(
        &self,
        job: &PipelineJob,
        part: JobPart,
        range: PageRange,
        follow: &FollowUp,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        let report = RunReporter::new(self.status.clone(), job);
        tracing::info!(statusId = %job.status_id, part = part.index, parts = part.total, first = range.first, last = range.last, "page-range job started");
        let bytes = match self.read_object(job).await? {
            Object::Read(bytes) => bytes,
            Object::Unreadable(error) => return report.failed(error).await,
        };
        let mut extracted = match self.extract(Arc::new(bytes), job, Some(range)).await {
            Ok(doc) => doc,
            Err(e) => return report.failed(e.into()).await,
        };
        if extracted.pages.len() as u32 != part.pages_total {
            return report
                .failed(changed_while_processed(
                    extracted.pages.len() as u32,
                    part.pages_total,
                ))
                .await;
        }
        extracted
            .pages
            .retain(|p| p.number.is_some_and(|n| range.contains(n)));
        // Page ranges keep no images: the visuals step runs on whole documents.
        extracted.images.clear();
        let mut unstored = std::mem::take(&mut extracted.pages).into_iter().peekable();
        let document = DocumentRecord {
            page_count: Some(part.pages_total),
            ..document_record(
                job,
                self.embedder.model_id(),
                json!({"format": extracted.format, "pages": part.pages_total, "parts": part.total}),
            )
        };
        let total = part.pages_total;
        let batch = self.config.pages_per_batch.max(1);
        let (mut chunks_stored, mut pages_stored) = (0usize, 0usize);
        let mut first = range.first;
        while first <= range.last {
            // At least one batch per job, so a job always makes progress.
            let rest = PageRange {
                first,
                last: range.last,
            };
            if pages_stored > 0
                && deadline.within(self.config.deadline_margin)
                && hand_back(follow.jobs.as_ref(), job, part, rest, deadline).await
            {
                break;
            }
            let last = (first + batch - 1).min(range.last);
            let mut pages = Vec::new();
            while let Some(page) = unstored.next_if(|p| p.number.is_some_and(|n| n <= last)) {
                pages.push(page);
            }
            let chunks = self.page_chunks(&pages, extracted.kind, Flavor::Text);
            // The first batch always runs to its end: a job makes progress.
            let watch = (pages_stored > 0).then_some(deadline);
            let Embedded::Vectors(vectors) = self.embed_chunks(&chunks, None, watch).await? else {
                if hand_back(follow.jobs.as_ref(), job, part, rest, deadline).await {
                    break;
                }
                return Err(TransientError::new(
                    Stage::Embedding,
                    Fault::Queue,
                    "out of time, and the rest of the range could not be handed back",
                ));
            };
            let mut records = chunk_records(
                &self.analyzer,
                chunks,
                vectors,
                &json!({"file_name": job.file_name}),
            );
            super::parts::number_by_page(&mut records);
            match follow
                .ranges
                .replace_pages(&document, first, last, &[], &records)
                .await
            {
                Ok(()) => {}
                Err(e) => return report.failed(refused_by_index(e)?).await,
            }
            chunks_stored += records.len();
            pages_stored += (last - first + 1) as usize;
            let counted = PartReport {
                status_id: job.status_id.clone(),
                run_id: job.run_id.clone(),
                part: part.index,
                parts_total: part.total,
                pages: (first..=last).collect(),
                ocr_pages: Vec::new(),
                blank_pages: Vec::new(),
                part_done: last == part.range.last,
            };
            let counts = count_stored(
                self.status.as_ref(),
                &report,
                &counted,
                total,
                Stage::Storing,
            );
            match counts.await? {
                None if report.was_cancelled().await => {
                    return super::withdraw_cancelled(self.index.as_ref(), job, true).await
                }
                // The run ended or was superseded: stop.
                None => break,
                Some((_, true)) => {
                    let mut facts = meta(json!({"pages": total, "parts": part.total}));
                    if let Some(elapsed_ms) = run_elapsed_ms(&part) {
                        facts.insert("elapsed_ms".into(), elapsed_ms.into());
                    }
                    let message = match chunk_total(self.index.as_ref(), job).await {
                        Some(chunks) => {
                            facts.insert("chunks".into(), chunks.into());
                            format!(
                                "Indexed {chunks} chunks from {total} pages in {} parts",
                                part.total
                            )
                        }
                        None => format!("Indexed {total} pages in {} parts", part.total),
                    };
                    // Cancelled between the count and the completion: the
                    // run never completes, its ranges are withdrawn.
                    if report.complete(message, facts).await.is_none() && report.cancelled() {
                        return super::withdraw_cancelled(self.index.as_ref(), job, true).await;
                    }
                }
                Some((_, false)) => {}
            }
            first = last + 1;
        }
        Ok(RunOutcome::Completed {
            chunks: chunks_stored,
            pages: pages_stored,
        })
    }

    /// A whole document whose embedding could not finish before the
    /// invocation's deadline: split into page ranges that parallel jobs
    /// (each able to hand its rest back) can finish, or, without pages to
    /// split at, failed clearly rather than killed mid-way.
    async fn out_of_time(
        &self,
        job: &PipelineJob,
        extracted: &ExtractedDocument,
        flavor: Flavor,
        chunks: usize,
    ) -> Result<RunOutcome, TransientError> {
        let pages = extracted.pages.len() as u32;
        let numbered = extracted.pages.iter().all(|p| p.number.is_some());
        if let (Flavor::Text, Some(follow), true, true) =
            (flavor, &self.follow_up, numbered, pages > 1)
        {
            // Four parts run in parallel; each finishes in time or hands its
            // rest back.
            let per_job = pages.div_ceil(4).max(1);
            tracing::warn!(statusId = %job.status_id, pages, chunks, per_job, "out of time embedding a whole document; splitting it into page ranges");
            return super::parts::fan_out(
                follow.jobs.as_ref(),
                self.status.clone(),
                job,
                pages,
                per_job,
                Stage::Chunking,
                Instant::now(),
            )
            .await;
        }
        let failure = Failure::new(
            "too_slow",
            format!(
                "the document's {chunks} chunks could not be embedded within one invocation, and it has no pages to split it at"
            ),
        );
        RunReporter::new(self.status.clone(), job)
            .failed(failure)
            .await
    }

    /// Sends a scanned PDF to the VDR pipeline as a new run: the status
    /// becomes `queued` again (pipeline `vdr`, why in `route_reason`), so the
    /// VDR stages are reported from the start.
    async fn hand_to_vdr(
        &self,
        job: &PipelineJob,
        queue: &dyn JobQueue,
    ) -> Result<RunOutcome, TransientError> {
        let next = PipelineJob {
            run_id: uuid::Uuid::new_v4().to_string(),
            pipeline: Pipeline::Vdr,
            ..job.clone()
        };
        let reason = "the PDF has no text layer (a scan): rendering and OCR it";
        let mut facts = next.queued_facts();
        facts.extend(meta(json!({
            "route_reason": "pdf_without_text",
            "previous_pipeline": job.pipeline,
        })));
        let update = StatusUpdate {
            starts_run: true,
            force: true,
            pipeline: Some(Pipeline::Vdr),
            lease_secs: Some(QUEUE_LEASE_SECS),
            metadata: facts,
            ..StatusUpdate::new(
                &next.status_id,
                &next.user,
                &next.run_id,
                Stage::Queued,
                Stage::Queued.progress_at(0.0),
                format!("Queued for visual processing: {reason}"),
            )
        };
        if let Err(e) = self.status.apply(&update).await {
            return Err(TransientError::new(
                Stage::ExtractingText,
                Fault::Status,
                e.to_string(),
            ));
        }
        queue
            .send(&next)
            .await
            .map_err(|e| TransientError::new(Stage::ExtractingText, Fault::Queue, e.to_string()))?;
        tracing::info!(statusId = %job.status_id, run_id = %next.run_id, "scanned PDF handed to the VDR pipeline");
        Ok(RunOutcome::HandedOver {
            to: Pipeline::Vdr,
            reason: reason.into(),
        })
    }

    /// The job's object, or why the document itself cannot be read (gone,
    /// too large); `Err` for a storage fault worth a retry.
    pub(super) async fn read_object(&self, job: &PipelineJob) -> Result<Object, TransientError> {
        match self
            .blobs
            .get(&job.blob(), self.config.max_object_bytes)
            .await
        {
            Ok(bytes) => Ok(Object::Read(bytes)),
            Err(BlobError::NotFound) => Ok(Object::Unreadable(Failure::new(
                "not_found",
                "the document no longer exists in storage",
            ))),
            Err(e @ BlobError::TooLarge { .. }) => {
                Ok(Object::Unreadable(Failure::new("too_large", e.to_string())))
            }
            Err(BlobError::InvalidKey(why)) => {
                tracing::warn!(statusId = %job.status_id, reason = %why, "object key refused by the store");
                Ok(Object::Unreadable(Failure::new(
                    "invalid_key",
                    "the document's key does not name a stored object",
                )))
            }
            Err(BlobError::Backend(e)) => Err(TransientError::new(
                Stage::ProcessingStarted,
                Fault::Storage,
                e,
            )),
        }
    }

    /// Extraction on a blocking thread, of `pages` only when given; a panic
    /// inside an extractor is contained and reported as a corrupt file. A
    /// read that covered the whole document and found no text is
    /// [`ExtractError::Empty`]; a page range of a longer document without
    /// text is not an error (it stores no chunks).
    async fn extract(
        &self,
        bytes: Arc<Vec<u8>>,
        job: &PipelineJob,
        pages: Option<PageRange>,
    ) -> Result<ExtractedDocument, ExtractError> {
        let extractor = self.extractor.clone();
        let file_name = job.file_name.clone();
        let content_type = job.content_type.clone();
        let password = job.password.clone();
        let result = tokio::task::spawn_blocking(move || {
            extractor.extract(ExtractInput {
                password: password.as_ref().map(|p| p.reveal()),
                pages,
                ..ExtractInput::new(&bytes, &file_name, content_type.as_deref())
            })
        })
        .await;
        match result {
            Ok(Ok(doc))
                if doc.is_empty()
                    && pages.is_none_or(|r| r.first <= 1 && doc.pages.len() as u32 <= r.last) =>
            {
                Err(ExtractError::Empty)
            }
            Ok(other) => other,
            Err(join) => {
                tracing::error!(statusId = %job.status_id, error = %join, "extractor crashed");
                Err(ExtractError::Corrupt {
                    format: "document",
                    detail: "the file could not be parsed".into(),
                })
            }
        }
    }
}

/// What embedding a document's chunks came to.
enum Embedded {
    /// One vector per chunk, in order.
    Vectors(Vec<Vec<f32>>),
    /// The deadline came too near before every batch was done.
    OutOfTime,
    /// The run was cancelled between two batches.
    Cancelled,
}

/// The failure of a document the index refused (another user's), or the
/// fault to retry.
pub(super) fn refused_by_index(e: IndexError) -> Result<Failure, TransientError> {
    match e {
        IndexError::NotOwner { .. } => Ok(Failure::new("not_owner", e.to_string())),
        other => Err(TransientError::new(
            Stage::Storing,
            Fault::Index,
            other.to_string(),
        )),
    }
}

/// A page-range job found a different document than the one that was split.
pub(super) fn changed_while_processed(pages: u32, expected: u32) -> Failure {
    Failure::new(
        "document_changed",
        format!("the document changed while it was processed ({pages} pages, {expected} expected)"),
    )
}

/// Whether the job's document is a PDF (by name or declared type).
pub(super) fn is_pdf(job: &PipelineJob) -> bool {
    extension(&job.file_name) == "pdf"
        || job
            .content_type
            .as_deref()
            .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/pdf"))
}

/// A job's object as read for its run.
pub(super) enum Object {
    /// Its bytes.
    Read(Vec<u8>),
    /// Why the document itself cannot be read (gone, too large, a bad key):
    /// the run fails for good.
    Unreadable(Failure),
}
