//! The VDR pipeline: pages rendered to images, embedded as multi-vector
//! page representations, stored for MaxSim search.
//!
//! Page by page, in batches: render (and read the text layer, or OCR a
//! scan), store the image next to the document, embed the pages with the
//! [`PageEmbedder`] and their text chunks with the text model, then replace
//! that batch's rows in one transaction. Memory stays flat however long
//! the document, and progress is reported as pages complete.
//!
//! No size limit: a document of more than [`VdrConfig::max_pages_per_job`]
//! pages is split into page-range jobs sent back to the queue, which many
//! workers run in parallel. Each reports the pages it stored to the run's
//! shared counters ([`StatusStore::record_part`]); progress is derived from
//! those totals, so it only grows whichever worker reports, and the worker
//! whose report finishes the last part records `completed` (the status
//! rules make that happen once). A job near its invocation's deadline stops
//! taking batches and hands the rest of its range back to the queue.
//!
//! [`StatusStore::record_part`]: crate::ports::StatusStore::record_part
//!
//! Without a renderer for the document (no PDFium, or an Office file and no
//! LibreOffice), the document is indexed by the text of each page instead,
//! and the status says so (`vdr_mode: "page_text"`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map};

use super::indexing::{chunk_records, document_record, PageChunk};
use super::parts::{chunk_total, count_stored, hand_back, run_elapsed_ms, wall_clock_ms};
use super::text::{changed_while_processed, is_pdf, refused_by_index, Flavor, Object};
use super::{
    meta, Deadline, Failure, Fault, RunOutcome, RunReporter, TextPipeline, TransientError,
};
use crate::domain::job::{JobPart, PageRange, PartRange, PipelineJob};
use crate::domain::ownership::RENDERED_PAGES_PREFIX;
use crate::domain::status::{PartReport, Stage, MAX_COUNTED_PAGES};
use crate::ingest::chunking::{Headings, TextKind};
use crate::ports::ExtractInput;
use crate::ports::{
    BlobError, BlobRef, ChunkRecord, DocumentRecord, JobQueue, PageEmbedder, PageIndex, PageRecord,
    PageRenderer, PageSource, PageTextSource, RenderError, RenderedPage,
};

/// Rendering and batching of the visual pipeline.
#[derive(Debug, Clone, Copy)]
pub struct VdrConfig {
    /// Resolution pages are rendered at: 150 DPI keeps 10-point print
    /// legible for OCR and vision models at about 1,275 x 1,650 pixels.
    pub dpi: u32,
    /// Pages rendered, embedded and stored together (one progress update
    /// and one transaction per batch).
    pub batch_pages: u32,
    /// Documents with more pages are split into page-range jobs of at most
    /// this many pages, run in parallel: 50 pages at 150 DPI take a few
    /// minutes, well inside a 15-minute Lambda.
    pub max_pages_per_job: u32,
    /// A job stops taking new batches when less than this is left before
    /// its invocation's deadline, and hands the rest of its range back: a
    /// batch must be able to finish inside it.
    pub deadline_margin: Duration,
    /// Most pages a document may have, checked before any page-range job
    /// is sent: a small file can declare a million pages.
    pub max_document_pages: u32,
}

impl Default for VdrConfig {
    fn default() -> Self {
        Self {
            dpi: 150,
            batch_pages: 8,
            max_pages_per_job: 50,
            deadline_margin: Duration::from_secs(120),
            max_document_pages: MAX_COUNTED_PAGES,
        }
    }
}

/// What rendering pages takes, wired once per process.
pub struct VisualPages {
    /// Opens a document and renders its pages to PNG images, each with its
    /// text (the text layer, or OCR of a scan).
    pub renderer: Arc<dyn PageRenderer>,
    /// The page model: multi-vector embeddings of the rendered pages.
    pub embedder: Arc<dyn PageEmbedder>,
    /// Stores a batch of pages and their text chunks in one transaction,
    /// leaving the document's other pages alone.
    pub index: Arc<dyn PageIndex>,
    /// Resolution, batch size and splitting of long documents.
    pub config: VdrConfig,
    /// The VDR queue, for page-range jobs and hand-backs; `None` runs every
    /// document in one job, however long (the CLI).
    pub jobs: Option<Arc<dyn JobQueue>>,
}

/// Processes documents routed to VDR.
pub struct VdrPipeline {
    /// The shared ports (storage, status, text model) and the per-page text
    /// indexing used when pages cannot be rendered.
    pub text: TextPipeline,
    /// Page rendering and embedding; `None` indexes page text only.
    pub visual: Option<VisualPages>,
}

/// Where page `n` of a document is stored: beside it, under a prefix of
/// its own so listings of the uploads stay clean.
pub fn page_image_key(document_key: &str, page_num: u32) -> String {
    format!("{}page-{page_num:05}.png", page_images_prefix(document_key))
}

/// The folder every rendered page of a document is stored in (what a
/// delete removes).
pub fn page_images_prefix(document_key: &str) -> String {
    format!("{RENDERED_PAGES_PREFIX}{document_key}/")
}

/// Where the splitting job of run `run_id` keeps the PDF it converted an
/// Office document into, for the run's page-range jobs: under the
/// document's rendered pages (a delete removes it with them), in a folder
/// of the run's own, which the run's completing job removes; a later
/// split of the document removes what runs that never completed left.
pub fn converted_pdf_prefix(document_key: &str, run_id: &str) -> String {
    format!("{}{run_id}/", conversions_prefix(document_key))
}

/// The folder of every run's shared conversion of a document.
fn conversions_prefix(document_key: &str) -> String {
    format!("{}converted/", page_images_prefix(document_key))
}

/// The shared conversion of the job's run ([`converted_pdf_prefix`]).
fn conversion_blob(job: &PipelineJob) -> BlobRef {
    BlobRef {
        bucket: job.bucket.clone(),
        key: format!(
            "{}document.pdf",
            converted_pdf_prefix(&job.key, &job.run_id)
        ),
    }
}

/// The document a rendered page belongs to (the inverse of
/// [`page_image_key`]), so that whoever serves the image can check that the
/// caller may see that document.
pub fn document_of_page_image(key: &str) -> Option<(&str, u32)> {
    let rest = key.strip_prefix(RENDERED_PAGES_PREFIX)?;
    let (document, file) = rest.rsplit_once('/')?;
    let page = file.strip_prefix("page-")?.strip_suffix(".png")?;
    let page = page.parse().ok().filter(|&p| p >= 1)?;
    (!document.is_empty()).then_some((document, page))
}

impl VdrPipeline {
    /// Processes one job within an invocation ending at `deadline`: a whole
    /// document (split when long), or one page range of a split document;
    /// same contract as [`TextPipeline::run_until`].
    pub async fn run_until(
        &self,
        job: &PipelineJob,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        let Some(visual) = &self.visual else {
            return self.text.run_as(job, Flavor::VdrPageText, deadline).await;
        };
        if let Some(PartRange { part, pages: range }) = job.range {
            return self.run_part(visual, job, part, range, deadline).await;
        }
        let started = Instant::now();
        let base = &self.text;
        let report = RunReporter::new(base.status.clone(), job);

        report
            .stage(
                Stage::ProcessingStarted,
                0.0,
                "Processing started",
                meta(json!({"file_name": job.file_name, "vdr_mode": "visual"})),
            )
            .await;
        let bytes = match base.read_object(job).await? {
            Object::Read(bytes) => bytes,
            Object::Unreadable(error) => return report.failed(error).await,
        };

        // How many pages: decides between rendering and the text fallback.
        report
            .stage(
                Stage::ConvertingPages,
                0.0,
                format!("Opening {}", job.file_name),
                Map::new(),
            )
            .await;
        let source = match self.open(visual, bytes, job).await {
            Ok(source) => source,
            Err(RenderError::Document(e)) => return report.failed(e.into()).await,
            Err(RenderError::Unavailable(why)) => {
                // The reason names libraries and paths: logged, not shown.
                tracing::warn!(statusId = %job.status_id, reason = %why, "pages cannot be rendered; indexing page text");
                report
                    .stage(
                        Stage::ConvertingPages,
                        0.0,
                        "Pages cannot be rendered here; indexing the text of each page",
                        meta(json!({"vdr_mode": "page_text", "render_unavailable": true})),
                    )
                    .await;
                return base.run_as(job, Flavor::VdrPageText, deadline).await;
            }
        };
        let total = source.page_count();
        if total == 0 {
            return report
                .failed(Failure::new("no_pages", "the document has no pages"))
                .await;
        }
        if total > visual.config.max_document_pages {
            return report
                .failed(Failure::new(
                    "limit_exceeded",
                    format!(
                        "the document has {total} pages; at most {} can be processed",
                        visual.config.max_document_pages
                    ),
                ))
                .await;
        }
        report
            .stage(
                Stage::ConvertingPages,
                1.0,
                format!("{total} page(s) to render"),
                meta(json!({"pages": total, "dpi": visual.config.dpi})),
            )
            .await;
        if report.cancelled() {
            return super::withdraw_cancelled(base.index.as_ref(), job, false).await;
        }
        let per_job = visual.config.max_pages_per_job.max(1);
        if total > per_job {
            match &visual.jobs {
                Some(jobs) => {
                    self.share_conversion(&source, job).await;
                    return super::parts::fan_out(
                        jobs.as_ref(),
                        self.text.status.clone(),
                        job,
                        total,
                        per_job,
                        Stage::ConvertingPages,
                        started,
                    )
                    .await;
                }
                None => {
                    tracing::info!(statusId = %job.status_id, total, per_job, "no queue to split on; all pages in this job")
                }
            }
        }
        let range = PageRange {
            first: 1,
            last: total,
        };
        let part = JobPart {
            index: 0,
            total: 1,
            range,
            pages_total: total,
            started_at_ms: Some(wall_clock_ms(started)),
        };
        self.store_range(visual, &source, job, part, range, deadline)
            .await
    }

    /// One page-range job of a split document (or the continuation of one).
    async fn run_part(
        &self,
        visual: &VisualPages,
        job: &PipelineJob,
        part: JobPart,
        range: PageRange,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        let report = RunReporter::new(self.text.status.clone(), job);
        tracing::info!(statusId = %job.status_id, part = part.index, parts = part.total, first = range.first, last = range.last, "page-range job started");
        let opened = match self.shared_conversion(job).await {
            Some(pdf) => self.open_pdf(visual, pdf).await,
            None => {
                let bytes = match self.text.read_object(job).await? {
                    Object::Read(bytes) => bytes,
                    Object::Unreadable(error) => return report.failed(error).await,
                };
                self.open(visual, bytes, job).await
            }
        };
        let source = match opened {
            Ok(source) => source,
            Err(RenderError::Document(e)) => return report.failed(e.into()).await,
            // The document was rendered when it was split: a fault here.
            Err(RenderError::Unavailable(why)) => {
                return Err(TransientError::new(
                    Stage::ConvertingPages,
                    Fault::Rendering,
                    why,
                ))
            }
        };
        let pages = source.page_count();
        if pages != part.pages_total || range.last > part.range.last || range.is_empty() {
            return report
                .failed(changed_while_processed(pages, part.pages_total))
                .await;
        }
        self.store_range(visual, &source, job, part, range, deadline)
            .await
    }

    /// Renders, embeds and stores `range` batch by batch, reporting each
    /// batch to the run's shared counters; completes the document when the
    /// counters say every part is done; hands the rest back to the queue
    /// when the deadline nears.
    async fn store_range(
        &self,
        visual: &VisualPages,
        source: &Arc<dyn PageSource>,
        job: &PipelineJob,
        part: JobPart,
        range: PageRange,
        deadline: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        let base = &self.text;
        let report = RunReporter::new(base.status.clone(), job).of_started_run();
        let total = part.pages_total;
        let document = DocumentRecord {
            page_count: Some(total),
            ..document_record(
                job,
                visual.embedder.model_id(),
                json!({"format": "pages", "pages": total, "vdr_mode": "visual"}),
            )
        };
        let batch = visual.config.batch_pages.max(1);
        let (mut chunks_stored, mut pages_stored) = (0usize, 0usize);
        let mut first = range.first;
        while first <= range.last {
            // At least one batch per job, so a job always makes progress.
            if pages_stored > 0 && deadline.within(visual.config.deadline_margin) {
                if let Some(jobs) = &visual.jobs {
                    let rest = PageRange {
                        first,
                        last: range.last,
                    };
                    if hand_back(jobs.as_ref(), job, part, rest, deadline).await {
                        return Ok(RunOutcome::Completed {
                            chunks: chunks_stored,
                            pages: pages_stored,
                        });
                    }
                }
            }
            let last = (first + batch - 1).min(range.last);
            let mut rendered = Vec::with_capacity((last - first + 1) as usize);
            for n in first..=last {
                match render(source, n, visual.config.dpi).await {
                    Ok(page) => rendered.push(page),
                    Err(RenderError::Document(e)) => {
                        return report
                            .failed(Failure::new(e.code(), format!("page {n}: {e}")))
                            .await
                    }
                    Err(RenderError::Unavailable(why)) => {
                        return Err(TransientError::new(
                            Stage::ConvertingPages,
                            Fault::Rendering,
                            format!("page {n}: {why}"),
                        ))
                    }
                }
            }
            // Store each image before its page row points at it.
            for page in &rendered {
                let blob = BlobRef {
                    bucket: job.bucket.clone(),
                    key: page_image_key(&job.key, page.page_num),
                };
                base.blobs
                    .put(&blob, page.png.clone(), "image/png")
                    .await
                    .map_err(|e| {
                        TransientError::new(Stage::ConvertingPages, Fault::Storage, e.to_string())
                    })?;
            }
            let vectors = visual.embedder.embed_pages(&rendered).await.map_err(|e| {
                TransientError::new(Stage::EmbeddingPages, Fault::Embedding, e.to_string())
            })?;
            if vectors.len() != rendered.len() {
                return Err(TransientError::new(
                    Stage::EmbeddingPages,
                    Fault::Embedding,
                    format!(
                        "page embedder returned {} results for {} pages",
                        vectors.len(),
                        rendered.len()
                    ),
                ));
            }
            let chunks = self.page_chunks(&rendered, job).await?;
            chunks_stored += chunks.len();
            let mut counted = PartReport {
                status_id: job.status_id.clone(),
                run_id: job.run_id.clone(),
                part: part.index,
                parts_total: part.total,
                pages: (first..=last).collect(),
                ocr_pages: Vec::new(),
                blank_pages: Vec::new(),
                part_done: last == part.range.last,
            };
            let records: Vec<PageRecord> = rendered
                .into_iter()
                .zip(vectors)
                .map(|(page, vectors)| {
                    if vectors.is_empty() {
                        counted.blank_pages.push(page.page_num);
                    }
                    if page.text_source == PageTextSource::Ocr {
                        counted.ocr_pages.push(page.page_num);
                    }
                    PageRecord {
                        page_num: page.page_num,
                        image_key: Some(page_image_key(&job.key, page.page_num)),
                        content: page.text,
                        text_source: page.text_source,
                        vectors,
                        metadata: json!({"width": page.width, "height": page.height}),
                    }
                })
                .collect();
            match visual
                .index
                .replace_pages(&document, first, last, &records, &chunks)
                .await
            {
                Ok(()) => {}
                Err(e) => return report.failed(refused_by_index(e)?).await,
            }
            pages_stored += records.len();
            if !counted.blank_pages.is_empty() {
                tracing::warn!(statusId = %job.status_id, pages = ?counted.blank_pages, "pages without text or OCR stored unsearchable");
            }
            let counts = count_stored(
                base.status.as_ref(),
                &report,
                &counted,
                total,
                Stage::EmbeddingPages,
            )
            .await?;
            let Some((progress, finished)) = counts else {
                if report.was_cancelled().await {
                    return super::withdraw_cancelled(base.index.as_ref(), job, true).await;
                }
                return Ok(RunOutcome::Completed {
                    chunks: chunks_stored,
                    pages: pages_stored,
                });
            };
            tracing::info!(statusId = %job.status_id, part = part.index, first, last, pages_done = progress.pages_done, parts_done = progress.parts_done, total, "pages stored");
            if finished {
                let mut facts = meta(json!({
                    "pages": total,
                    "parts": part.total,
                    "ocr_pages": progress.ocr_pages,
                    "pages_without_text": progress.blank_pages,
                    "page_model": visual.embedder.model_id(),
                    "vdr_mode": "visual",
                }));
                // This job stored every chunk itself, or the index counts them.
                let chunks = if part.total == 1 && range.first == 1 {
                    Some(chunks_stored as u64)
                } else {
                    chunk_total(base.index.as_ref(), job).await.map(u64::from)
                };
                if let Some(chunks) = chunks {
                    facts.insert("chunks".into(), chunks.into());
                }
                if let Some(elapsed_ms) = run_elapsed_ms(&part) {
                    facts.insert("elapsed_ms".into(), elapsed_ms.into());
                }
                if report
                    .complete(format!("Indexed {total} page(s)"), facts)
                    .await
                    .is_some()
                {
                    tracing::info!(statusId = %job.status_id, part = part.index, parts = part.total, "document completed by its last part");
                    if part.total > 1 {
                        self.drop_conversion(job).await;
                    }
                } else if report.cancelled() {
                    return super::withdraw_cancelled(base.index.as_ref(), job, true).await;
                }
            }
            first = last + 1;
        }
        Ok(RunOutcome::Completed {
            chunks: chunks_stored,
            pages: pages_stored,
        })
    }

    /// Stores the PDF the renderer converted the document into (an Office
    /// deck), for the page-range jobs about to be sent: each then renders
    /// its pages from it instead of converting the whole deck again. What
    /// earlier runs that never completed left is removed first. Best
    /// effort: a job that finds none converts for itself.
    async fn share_conversion(&self, source: &Arc<dyn PageSource>, job: &PipelineJob) {
        let Some(pdf) = source.converted_pdf() else {
            return;
        };
        let blobs = &self.text.blobs;
        // Parts read it under the upload limit: larger is not shared.
        if pdf.len() as u64 > self.text.config.max_object_bytes {
            return;
        }
        if let Err(e) = blobs
            .delete_prefix(&job.bucket, &conversions_prefix(&job.key))
            .await
        {
            tracing::warn!(statusId = %job.status_id, error = %e, "earlier conversions left in place");
        }
        let blob = conversion_blob(job);
        match blobs
            .put(&blob, pdf.as_ref().clone(), "application/pdf")
            .await
        {
            Ok(()) => {
                tracing::info!(statusId = %job.status_id, key = %blob.key, bytes = pdf.len(), "conversion shared with the page-range jobs")
            }
            Err(e) => {
                tracing::warn!(statusId = %job.status_id, error = %e, "conversion not shared; each page-range job converts")
            }
        }
    }

    /// The PDF the run's splitting job converted the document into, if it
    /// shared one ([`Self::share_conversion`]); never looked for when the
    /// document is a PDF itself.
    async fn shared_conversion(&self, job: &PipelineJob) -> Option<Vec<u8>> {
        if is_pdf(job) {
            return None;
        }
        let blob = conversion_blob(job);
        match self
            .text
            .blobs
            .get(&blob, self.text.config.max_object_bytes)
            .await
        {
            Ok(pdf) => Some(pdf),
            Err(BlobError::NotFound) => None,
            Err(e) => {
                tracing::warn!(statusId = %job.status_id, error = %e, "shared conversion unreadable; converting again");
                None
            }
        }
    }

    /// Removes the run's shared conversion once its document is complete.
    async fn drop_conversion(&self, job: &PipelineJob) {
        if is_pdf(job) {
            return;
        }
        let prefix = converted_pdf_prefix(&job.key, &job.run_id);
        if let Err(e) = self.text.blobs.delete_prefix(&job.bucket, &prefix).await {
            tracing::warn!(statusId = %job.status_id, error = %e, "shared conversion left in place");
        }
    }

    /// Opens a PDF the run converted, on a blocking thread.
    async fn open_pdf(
        &self,
        visual: &VisualPages,
        pdf: Vec<u8>,
    ) -> Result<Arc<dyn PageSource>, RenderError> {
        let renderer = visual.renderer.clone();
        blocking(move || {
            renderer.open(ExtractInput::new(
                &pdf,
                "converted.pdf",
                Some("application/pdf"),
            ))
        })
        .await
    }

    /// Opens the document for rendering, on a blocking thread.
    async fn open(
        &self,
        visual: &VisualPages,
        bytes: Vec<u8>,
        job: &PipelineJob,
    ) -> Result<Arc<dyn PageSource>, RenderError> {
        let renderer = visual.renderer.clone();
        let job = job.clone();
        blocking(move || renderer.open(input(&bytes, &job))).await
    }

    /// The pages' text as chunks for the text index (hybrid and
    /// `hybrid_vdr_text` search), numbered by page.
    async fn page_chunks(
        &self,
        pages: &[RenderedPage],
        job: &PipelineJob,
    ) -> Result<Vec<ChunkRecord>, TransientError> {
        let base = &self.text;
        let mut texts: Vec<PageChunk> = Vec::new();
        let mut numbers = Vec::new();
        for page in pages {
            let cited =
                base.chunker
                    .chunk_cited(&page.text, TextKind::Plain, &mut Headings::default());
            for (i, (content, citation)) in cited.into_iter().enumerate() {
                numbers.push(super::parts::page_chunk_number(page.page_num, i as u32));
                texts.push(PageChunk {
                    page_num: Some(page.page_num),
                    content,
                    citation: Some(citation),
                });
            }
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let plain: Vec<String> = texts.iter().map(|c| c.content.clone()).collect();
        let vectors = base.embedder.embed_each(&plain).await.map_err(|e| {
            TransientError::new(Stage::EmbeddingPages, Fault::Embedding, e.to_string())
        })?;
        let mut records = chunk_records(
            &base.analyzer,
            texts,
            vectors,
            &json!({"file_name": job.file_name}),
        );
        for (record, number) in records.iter_mut().zip(numbers) {
            record.chunk_index = number;
        }
        Ok(records)
    }
}

/// Renders one page on a blocking thread.
async fn render(
    source: &Arc<dyn PageSource>,
    page_num: u32,
    dpi: u32,
) -> Result<RenderedPage, RenderError> {
    let source = source.clone();
    blocking(move || source.render(page_num, dpi)).await
}

/// Runs renderer work (PDFium, LibreOffice, a worker process) on a
/// blocking thread; a panic there is the renderer's failure.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RenderError> + Send + 'static,
) -> Result<T, RenderError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(RenderError::Unavailable(format!("renderer crashed: {e}"))))
}

/// The renderer's view of the job's object.
fn input<'a>(bytes: &'a [u8], job: &'a PipelineJob) -> ExtractInput<'a> {
    ExtractInput {
        password: job.password.as_ref().map(|p| p.reveal()),
        ..ExtractInput::new(bytes, &job.file_name, job.content_type.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_image_key_names_its_document_and_page() {
        let key = page_image_key("alice/reports/q3.pdf", 12);
        assert_eq!(key, "rendered-pages/alice/reports/q3.pdf/page-00012.png");
        assert_eq!(
            document_of_page_image(&key),
            Some(("alice/reports/q3.pdf", 12))
        );
        for other in [
            "alice/q3.pdf",
            "rendered-pages/page-00001.png",
            "rendered-pages/a.pdf/page-0.png",
            "rendered-pages/a.pdf/page-x.png",
            "rendered-pages/a.pdf/other.png",
        ] {
            assert_eq!(document_of_page_image(other), None, "{other}");
        }
    }
}
