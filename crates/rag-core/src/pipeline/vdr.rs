//! The VDR pipeline: pages rendered to images, embedded as multi-vector
//! page representations, stored for MaxSim search.
//!
//! Page by page, in batches: render (and read the text layer, or OCR a
//! scan), store the image next to the document, embed the pages with the
//! [`PageEmbedder`] and their text chunks with the text model, then replace
//! that batch's rows in one transaction. Memory stays flat however long
//! the document, and progress is reported as pages complete.
//!
//! Without a renderer for the document (no PDFium, or an Office file and no
//! LibreOffice), the document is indexed by the text of each page instead,
//! and the status says so (`vdr_mode: "page_text"`).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::indexing::chunk_records;
use super::text::Flavor;
use super::{RunOutcome, RunReporter, TextPipeline, TransientError};
use crate::chunking::TextKind;
use crate::extraction::ExtractInput;
use crate::job::PipelineJob;
use crate::ports::{
    BlobRef, ChunkRecord, DocumentRecord, IndexError, PageEmbedder, PageIndex, PageRecord,
    PageRenderer, PageSource, PageTextSource, RenderError, RenderedPage,
};
use crate::status::Stage;

/// Chunk numbers of a VDR document are `page * PAGE_CHUNK_STRIDE + i`, so
/// that workers writing different page ranges never collide.
pub const PAGE_CHUNK_STRIDE: u32 = 10_000;

/// Rendering and batching of the visual pipeline.
#[derive(Debug, Clone, Copy)]
pub struct VdrConfig {
    /// Resolution pages are rendered at: 150 DPI keeps 10-point print
    /// legible for OCR and vision models at about 1,275 x 1,650 pixels.
    pub dpi: u32,
    /// Pages rendered, embedded and stored together (one progress update
    /// and one transaction per batch).
    pub batch_pages: u32,
}

impl Default for VdrConfig {
    fn default() -> Self {
        Self {
            dpi: 150,
            batch_pages: 8,
        }
    }
}

/// What rendering pages takes, wired once per process.
pub struct VisualPages {
    pub renderer: Arc<dyn PageRenderer>,
    pub embedder: Arc<dyn PageEmbedder>,
    pub index: Arc<dyn PageIndex>,
    pub config: VdrConfig,
}

/// Processes documents routed to VDR.
pub struct VdrPipeline {
    /// The shared ports (storage, status, text model) and the per-page text
    /// indexing used when pages cannot be rendered.
    pub pages: TextPipeline,
    /// Page rendering and embedding; `None` indexes page text only.
    pub visual: Option<VisualPages>,
}

fn meta(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Where page `n` of a document is stored: beside it, under a prefix of
/// its own so listings of the uploads stay clean.
pub fn page_image_key(document_key: &str, page_num: u32) -> String {
    format!("rendered-pages/{document_key}/page-{page_num:05}.png")
}

impl VdrPipeline {
    /// Processes one job; same contract as [`TextPipeline::run`].
    pub async fn run(&self, job: &PipelineJob) -> Result<RunOutcome, TransientError> {
        let Some(visual) = &self.visual else {
            return self.pages.run_as(job, Flavor::VdrPageText).await;
        };
        let started = Instant::now();
        let base = &self.pages;
        let report = RunReporter::new(base.status.clone(), job);
        let fail = |error: String| async {
            tracing::warn!(status_id = %job.status_id, error = %error, "document failed");
            report.fail(&error).await;
            Ok(RunOutcome::Failed { error })
        };
        let transient = |stage: Stage, message: String| TransientError { stage, message };

        report
            .stage(
                Stage::ProcessingStarted,
                0.0,
                "Processing started",
                meta(json!({"file_name": job.file_name, "vdr_mode": "visual"})),
            )
            .await;
        let bytes = match base.read_object(job).await? {
            Ok(bytes) => bytes,
            Err(error) => return fail(error).await,
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
            Err(RenderError::Document(e)) => return fail(e.to_string()).await,
            Err(RenderError::Unavailable(why)) => {
                tracing::warn!(status_id = %job.status_id, reason = %why, "pages cannot be rendered; indexing page text");
                report
                    .stage(
                        Stage::ConvertingPages,
                        0.0,
                        "Pages cannot be rendered here; indexing the text of each page",
                        meta(json!({"vdr_mode": "page_text", "render_unavailable": why})),
                    )
                    .await;
                return base.run_as(job, Flavor::VdrPageText).await;
            }
        };
        let total = source.page_count();
        if total == 0 {
            return fail("the document has no pages".into()).await;
        }
        report
            .stage(
                Stage::ConvertingPages,
                1.0,
                format!("{total} page(s) to render"),
                meta(json!({"pages": total, "dpi": visual.config.dpi})),
            )
            .await;

        let document = DocumentRecord {
            document_id: job.status_id.clone(),
            owner: job.user.clone(),
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            file_name: job.file_name.clone(),
            content_type: job.content_type.clone(),
            pipeline: job.pipeline,
            embedding_model: visual.embedder.model_id().to_owned(),
            metadata: json!({"format": "pages", "pages": total, "vdr_mode": "visual"}),
        };
        let batch = visual.config.batch_pages.max(1);
        let (mut chunks_stored, mut unreadable, mut ocr_pages) = (0usize, Vec::new(), 0u32);
        let mut first = 1;
        while first <= total {
            let last = (first + batch - 1).min(total);
            report
                .stage(
                    Stage::EmbeddingPages,
                    f64::from(first - 1) / f64::from(total),
                    format!("Processing pages {first}-{last} of {total}"),
                    Map::new(),
                )
                .await;
            let mut rendered = Vec::with_capacity((last - first + 1) as usize);
            for n in first..=last {
                match render(&source, n, visual.config.dpi).await {
                    Ok(page) => rendered.push(page),
                    Err(RenderError::Document(e)) => return fail(format!("page {n}: {e}")).await,
                    Err(RenderError::Unavailable(why)) => {
                        return Err(transient(
                            Stage::ConvertingPages,
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
                    .map_err(|e| transient(Stage::ConvertingPages, e.to_string()))?;
            }
            let vectors = visual
                .embedder
                .embed_pages(&rendered)
                .await
                .map_err(|e| transient(Stage::EmbeddingPages, e.to_string()))?;
            if vectors.len() != rendered.len() {
                return Err(transient(
                    Stage::EmbeddingPages,
                    format!(
                        "page embedder returned {} results for {} pages",
                        vectors.len(),
                        rendered.len()
                    ),
                ));
            }
            let chunks = self.page_chunks(&rendered, job).await?;
            chunks_stored += chunks.len();
            let records: Vec<PageRecord> = rendered
                .into_iter()
                .zip(vectors)
                .map(|(page, vectors)| {
                    if vectors.is_empty() {
                        unreadable.push(page.page_num);
                    }
                    if page.text_source == PageTextSource::Ocr {
                        ocr_pages += 1;
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
                Err(e @ IndexError::NotOwner { .. }) => return fail(e.to_string()).await,
                Err(e) => return Err(transient(Stage::Storing, e.to_string())),
            }
            tracing::info!(status_id = %job.status_id, first, last, total, "pages stored");
            first = last + 1;
        }

        let elapsed_ms = started.elapsed().as_millis() as u64;
        if !unreadable.is_empty() {
            tracing::warn!(status_id = %job.status_id, pages = ?unreadable, "pages without text or OCR stored unsearchable");
        }
        report
            .complete(
                format!("Indexed {total} page(s)"),
                meta(json!({
                    "pages": total,
                    "chunks": chunks_stored,
                    "ocr_pages": ocr_pages,
                    "pages_without_text": unreadable,
                    "page_model": visual.embedder.model_id(),
                    "vdr_mode": "visual",
                    "elapsed_ms": elapsed_ms,
                })),
            )
            .await;
        Ok(RunOutcome::Completed {
            chunks: chunks_stored,
            pages: total as usize,
        })
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
        tokio::task::spawn_blocking(move || renderer.open(input(&bytes, &job)))
            .await
            .unwrap_or_else(|e| Err(RenderError::Unavailable(format!("renderer crashed: {e}"))))
    }

    /// The pages' text as chunks for the text index (hybrid and
    /// `hybrid_vdr_text` search), numbered by page.
    async fn page_chunks(
        &self,
        pages: &[RenderedPage],
        job: &PipelineJob,
    ) -> Result<Vec<ChunkRecord>, TransientError> {
        let base = &self.pages;
        let mut texts: Vec<(Option<u32>, String)> = Vec::new();
        let mut numbers = Vec::new();
        for page in pages {
            for (i, chunk) in base
                .chunker
                .chunk(&page.text, TextKind::Plain)
                .into_iter()
                .enumerate()
            {
                numbers.push(page.page_num * PAGE_CHUNK_STRIDE + i as u32);
                texts.push((Some(page.page_num), chunk));
            }
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let plain: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
        let vectors = base
            .embedder
            .embed_documents(&plain)
            .await
            .map_err(|e| TransientError {
                stage: Stage::EmbeddingPages,
                message: e.to_string(),
            })?;
        if vectors.len() != plain.len() {
            return Err(TransientError {
                stage: Stage::EmbeddingPages,
                message: format!("{} vectors for {} chunks", vectors.len(), plain.len()),
            });
        }
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
    tokio::task::spawn_blocking(move || source.render(page_num, dpi))
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
