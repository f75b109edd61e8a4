//! The text-RAG pipeline: read, extract, chunk, embed, index.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::indexing::chunk_records;
use super::{RunOutcome, RunReporter, TransientError};
use crate::analyzer::Analyzer;
use crate::chunking::Chunker;
use crate::classify::{extension, Pipeline};
use crate::extraction::{ExtractError, ExtractInput, ExtractedDocument};
use crate::job::PipelineJob;
use crate::ports::{
    BlobError, BlobStore, DocumentRecord, Embedder, Extractor, Index, IndexError, JobQueue,
    StatusStore,
};
use crate::status::{Stage, StatusUpdate};
use crate::visuals::{VisionModel, VisualsConfig};

/// Limits and batch sizes of the text pipeline.
#[derive(Debug, Clone, Copy)]
pub struct TextPipelineConfig {
    /// Largest object read, in bytes.
    pub max_object_bytes: u64,
    /// Chunks per embedding call (one progress update per batch).
    pub embed_batch: usize,
    /// Budget of the selective visuals step (used when a model is set).
    pub visuals: VisualsConfig,
}

impl Default for TextPipelineConfig {
    fn default() -> Self {
        Self {
            max_object_bytes: 200 * 1024 * 1024,
            embed_batch: 32,
            visuals: VisualsConfig::default(),
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
    pub blobs: Arc<dyn BlobStore>,
    pub extractor: Arc<dyn Extractor>,
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<dyn Index>,
    pub status: Arc<dyn StatusStore>,
    pub chunker: Arc<Chunker>,
    pub analyzer: Arc<Analyzer>,
    pub config: TextPipelineConfig,
    /// The vision model that transcribes a document's important images
    /// (`ENABLE_SELECTIVE_VISUALS`); `None` leaves the text as extracted.
    pub visuals: Option<Arc<dyn VisionModel>>,
    /// Where a PDF without a text layer (a scan) goes on, as a new VDR run;
    /// `None` (no VDR pipeline) fails it as having no text.
    pub reroute: Option<Arc<dyn JobQueue>>,
}

fn meta(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl TextPipeline {
    /// Processes one job. Problems with the document end the run as
    /// `failed` (and return [`RunOutcome::Failed`]); infrastructure faults
    /// return [`TransientError`] and leave the run open for a retry.
    pub async fn run(&self, job: &PipelineJob) -> Result<RunOutcome, TransientError> {
        self.run_as(job, Flavor::Text).await
    }

    /// The run, with the stages and page numbering of `flavor`.
    pub(super) async fn run_as(
        &self,
        job: &PipelineJob,
        flavor: Flavor,
    ) -> Result<RunOutcome, TransientError> {
        let started = Instant::now();
        let read_stage = match flavor {
            Flavor::Text => Stage::ExtractingText,
            Flavor::VdrPageText => Stage::ConvertingPages,
        };
        let report = RunReporter::new(self.status.clone(), job);
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
                meta(json!({"file_name": job.file_name})),
            )
            .await;

        // Read
        let bytes = match self.read_object(job).await? {
            Ok(bytes) => bytes,
            Err(error) => return fail(error).await,
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
        let extracted = match self.extract(bytes, job).await {
            Ok(doc) => doc,
            Err(ExtractError::Empty) if flavor == Flavor::Text && is_pdf(job) => {
                if let Some(queue) = &self.reroute {
                    return self.hand_to_vdr(job, queue.as_ref()).await;
                }
                return fail(ExtractError::Empty.to_string()).await;
            }
            Err(e) => return fail(e.to_string()).await,
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

        // Transcribe the images that matter, in place
        let extracted = self.with_visuals(extracted, job, &report).await;

        // Chunk, per page so every chunk knows its page
        report
            .stage(Stage::Chunking, 0.0, "Chunking text", Map::new())
            .await;
        let mut chunks: Vec<(Option<u32>, String)> = Vec::new();
        for (i, page) in extracted.pages.iter().enumerate() {
            let number = match flavor {
                Flavor::Text => page.number,
                // Every VDR result points at a page, even for formats
                // without pages (a one-page form in plain text).
                Flavor::VdrPageText => page.number.or(Some(i as u32 + 1)),
            };
            for c in self.chunker.chunk(&page.text, extracted.kind) {
                chunks.push((number, c));
            }
        }
        if chunks.is_empty() {
            return fail(ExtractError::Empty.to_string()).await;
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

        // Embed, in batches, reporting each
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(total);
        let batch = self.config.embed_batch.max(1);
        for (i, group) in chunks.chunks(batch).enumerate() {
            let done = i * batch;
            report
                .stage(
                    Stage::Embedding,
                    done as f64 / total as f64,
                    format!("Embedding {done}/{total} chunks"),
                    Map::new(),
                )
                .await;
            let texts: Vec<String> = group.iter().map(|(_, t)| t.clone()).collect();
            let embedded = self
                .embedder
                .embed_documents(&texts)
                .await
                .map_err(|e| transient(Stage::Embedding, e.to_string()))?;
            if embedded.len() != texts.len() {
                return Err(transient(
                    Stage::Embedding,
                    format!(
                        "embedder returned {} vectors for {} texts",
                        embedded.len(),
                        texts.len()
                    ),
                ));
            }
            vectors.extend(embedded);
        }

        // Store, atomically replacing any earlier version
        report
            .stage(
                Stage::Storing,
                0.0,
                format!("Storing {total} chunks"),
                Map::new(),
            )
            .await;
        let records = chunk_records(
            &self.analyzer,
            chunks,
            vectors,
            &json!({"file_name": job.file_name}),
        );
        let document = DocumentRecord {
            document_id: job.status_id.clone(),
            owner: job.user.clone(),
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            file_name: job.file_name.clone(),
            content_type: job.content_type.clone(),
            pipeline: job.pipeline,
            embedding_model: self.embedder.model_id().to_owned(),
            metadata: json!({"format": extracted.format, "pages": pages}),
        };
        match self.index.replace_document(&document, &records).await {
            Ok(()) => {}
            Err(e @ IndexError::NotOwner { .. }) => return fail(e.to_string()).await,
            Err(e) => return Err(transient(Stage::Storing, e.to_string())),
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        report
            .complete(
                format!("Indexed {total} chunks from {pages} page(s)"),
                meta(json!({"chunks": total, "pages": pages, "elapsed_ms": elapsed_ms})),
            )
            .await;
        Ok(RunOutcome::Completed {
            chunks: total,
            pages,
        })
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
        let update = StatusUpdate {
            starts_run: true,
            force: true,
            pipeline: Some(Pipeline::Vdr),
            metadata: meta(json!({
                "file_name": job.file_name,
                "route_reason": "pdf_without_text",
                "previous_pipeline": job.pipeline,
            })),
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
            return Err(TransientError {
                stage: Stage::ExtractingText,
                message: e.to_string(),
            });
        }
        queue.send(&next).await.map_err(|e| TransientError {
            stage: Stage::ExtractingText,
            message: e.to_string(),
        })?;
        tracing::info!(status_id = %job.status_id, run_id = %next.run_id, "scanned PDF handed to the VDR pipeline");
        Ok(RunOutcome::HandedOver {
            to: Pipeline::Vdr,
            reason: reason.into(),
        })
    }

    /// The job's object: `Ok(Err(why))` when the document itself is the
    /// problem (gone, too large), `Err` for a storage fault worth a retry.
    pub(super) async fn read_object(
        &self,
        job: &PipelineJob,
    ) -> Result<Result<Vec<u8>, String>, TransientError> {
        match self
            .blobs
            .get(&job.blob(), self.config.max_object_bytes)
            .await
        {
            Ok(bytes) => Ok(Ok(bytes)),
            Err(BlobError::NotFound) => Ok(Err("the document no longer exists in storage".into())),
            Err(e @ (BlobError::TooLarge { .. } | BlobError::InvalidKey(_))) => {
                Ok(Err(e.to_string()))
            }
            Err(BlobError::Backend(e)) => Err(TransientError {
                stage: Stage::ProcessingStarted,
                message: e,
            }),
        }
    }

    /// Extraction on a blocking thread; a panic inside an extractor is
    /// contained and reported as a corrupt file.
    async fn extract(
        &self,
        bytes: Vec<u8>,
        job: &PipelineJob,
    ) -> Result<ExtractedDocument, ExtractError> {
        let extractor = self.extractor.clone();
        let file_name = job.file_name.clone();
        let content_type = job.content_type.clone();
        let password = job.password.clone();
        let result = tokio::task::spawn_blocking(move || {
            extractor.extract(ExtractInput {
                password: password.as_ref().map(|p| p.reveal()),
                ..ExtractInput::new(&bytes, &file_name, content_type.as_deref())
            })
        })
        .await;
        match result {
            Ok(Ok(doc)) if doc.is_empty() => Err(ExtractError::Empty),
            Ok(other) => other,
            Err(join) => {
                tracing::error!(status_id = %job.status_id, error = %join, "extractor crashed");
                Err(ExtractError::Corrupt {
                    format: "document",
                    detail: "the file could not be parsed".into(),
                })
            }
        }
    }
}

/// Whether the job's document is a PDF (by name or declared type).
fn is_pdf(job: &PipelineJob) -> bool {
    extension(&job.file_name) == "pdf"
        || job
            .content_type
            .as_deref()
            .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/pdf"))
}
