//! The queue consumers of the two processors: document readers, vision
//! models and the pipelines.

use std::sync::Arc;

use anyhow::Result;
use aws_config::SdkConfig;
use rag_aws::{S3BlobStore, SqsJobQueue};
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::chunking::Chunker;
use rag_core::ingest::pipeline::{
    FollowUp, JobConsumer, JobRunner, TextPipeline, TextPipelineConfig, VdrConfig, VdrPipeline,
    VisualPages,
};
use rag_core::ports::{BlobStore, Extractor, JobQueue, PageRenderer, StatusStore};
use rag_core::search::analyzer::Analyzer;
use rag_extract::sandbox::{SandboxedExtractor, SandboxedRenderer, WorkerProgram};
use rag_extract::{FileExtractor, Limits, PdfPageRenderer};

use crate::env;

use super::*;

/// SQS `maxReceiveCount` of the processing queues (DESIGN.md).
pub const MAX_RECEIVES: u32 = 3;

/// The document readers a processor uses: in this process, or in worker
/// processes (`rag_extract::sandbox`) so that a hostile file cannot stall or
/// crash the processor.
#[derive(Clone)]
pub struct Readers {
    /// Documents to Markdown pages.
    pub extractor: Arc<dyn Extractor>,
    /// Pages to images, for VDR.
    pub renderer: Arc<dyn PageRenderer>,
}

impl Readers {
    /// Reading in this process: for binaries that cannot serve as their
    /// own workers (test harnesses).
    pub fn in_process() -> Self {
        Self {
            extractor: Arc::new(FileExtractor::default()),
            renderer: Arc::new(PdfPageRenderer::default()),
        }
    }

    /// Every document read in a worker started from `program`.
    pub fn isolated(program: WorkerProgram) -> Self {
        Self {
            extractor: Arc::new(SandboxedExtractor::new(
                program.clone(),
                FileExtractor::default(),
            )),
            renderer: Arc::new(SandboxedRenderer::new(program, Limits::default())),
        }
    }

    /// Workers of this very binary, whose `main` calls
    /// [`crate::serve_if_worker`] first: what the processors and `ragctl`
    /// use.
    pub fn isolated_in_this_binary() -> Result<Self> {
        let program = WorkerProgram::this_binary().context("locating this binary")?;
        Ok(Self::isolated(program))
    }
}

/// How a processor works: the largest document, how many workers (its
/// concurrency) run a long document's page ranges at once, whether scans go
/// on to VDR, how VDR renders and splits, and the vision model of selective
/// visuals. Given whole to [`consumer_with`], which reads no environment.
#[derive(Clone)]
pub struct ProcessorSettings {
    /// Largest object a processor downloads (`MAX_DOCUMENT_BYTES`).
    pub max_object_bytes: u64,
    /// Page-range jobs one document is split into at most
    /// (`TextPipelineConfig::workers`).
    pub workers: u32,
    /// Scanned PDFs are handed to the VDR pipeline (`ENABLE_VDR_PIPELINE`).
    pub scans_to_vdr: bool,
    /// VDR's rendering, batching and splitting.
    pub vdr: VdrConfig,
    /// The vision model that reads a document's important images, if any.
    pub vision: Option<rag_vision::VisionSetup>,
}

impl ProcessorSettings {
    /// `max_object_bytes`, with every other setting at its default and no
    /// vision model.
    pub fn new(max_object_bytes: u64) -> Self {
        Self {
            max_object_bytes,
            workers: TextPipelineConfig::default().workers,
            scans_to_vdr: true,
            vdr: VdrConfig::default(),
            vision: None,
        }
    }

    /// `MAX_DOCUMENT_BYTES`, `TEXT_RAG_WORKERS` (the text processor's
    /// `maximumConcurrency`), `ENABLE_VDR_PIPELINE`, the VDR variables
    /// ([`vdr_config_from_env`]) and the vision model
    /// ([`visuals_from_env`]), defaults otherwise.
    pub fn from_env() -> Result<Self> {
        let defaults = Self::new(env::bytes(
            env::MAX_DOCUMENT_BYTES,
            DEFAULT_MAX_DOCUMENT_BYTES,
        )?);
        let workers = env::number(env::TEXT_RAG_WORKERS, u64::from(defaults.workers))?;
        Ok(Self {
            workers: u32::try_from(workers.max(1))
                .with_context(|| format!("{} is too large", env::TEXT_RAG_WORKERS))?,
            scans_to_vdr: env::flag(env::ENABLE_VDR_PIPELINE, true)?,
            vdr: vdr_config_from_env()?,
            vision: visuals_from_env()?,
            ..defaults
        })
    }
}

/// A queue consumer with explicit settings and parts.
pub fn consumer_from(
    sdk: &SdkConfig,
    resources: &Resources,
    parts: &SearchParts,
    processor: Pipeline,
    settings: ProcessorSettings,
    readers: &Readers,
) -> Result<JobConsumer> {
    // The VDR processor sends page-range jobs and hand-backs to its own
    // queue; without the URL, every document runs in one job.
    let jobs: Option<Arc<dyn JobQueue>> = match (processor, &resources.vdr_queue_url) {
        (Pipeline::Vdr, Some(vdr)) => Some(Arc::new(SqsJobQueue::from_config(
            sdk,
            resources.text_rag_queue_url.clone().unwrap_or_default(),
            vdr.clone(),
        ))),
        (Pipeline::Vdr, None) => {
            tracing::warn!(
                "{} is not set: long documents are not split",
                env::VDR_PROCESSING_QUEUE_URL
            );
            None
        }
        // The text processor sends page ranges to its own queue and scanned
        // PDFs to the VDR queue.
        (Pipeline::TextRag, _) => match &resources.text_rag_queue_url {
            Some(text) => Some(Arc::new(SqsJobQueue::from_config(
                sdk,
                text.clone(),
                resources.vdr_queue_url.clone().unwrap_or_default(),
            ))),
            None => None,
        },
    };
    consumer_with(
        Arc::new(S3BlobStore::from_config(sdk)),
        resources.status(sdk)?,
        parts,
        processor,
        settings,
        jobs,
        readers,
    )
}

/// The VDR settings from `VDR_MAX_PAGES_PER_JOB` and
/// `VDR_DEADLINE_MARGIN_SECS`, defaults otherwise.
pub fn vdr_config_from_env() -> Result<VdrConfig> {
    let defaults = VdrConfig::default();
    let per_job = env::number(
        env::VDR_MAX_PAGES_PER_JOB,
        u64::from(defaults.max_pages_per_job),
    )?;
    let margin = env::number(
        env::VDR_DEADLINE_MARGIN_SECS,
        defaults.deadline_margin.as_secs(),
    )?;
    Ok(VdrConfig {
        max_pages_per_job: u32::try_from(per_job.max(1))
            .with_context(|| format!("{} is too large", env::VDR_MAX_PAGES_PER_JOB))?,
        deadline_margin: std::time::Duration::from_secs(margin),
        ..defaults
    })
}

/// A queue consumer over any storage and status store (the local gateway
/// uses directories and files), exactly as `settings` say. `jobs` is the
/// queue the VDR processor sends page-range jobs to (its own).
pub fn consumer_with(
    blobs: Arc<dyn BlobStore>,
    status: Arc<dyn StatusStore>,
    parts: &SearchParts,
    processor: Pipeline,
    settings: ProcessorSettings,
    jobs: Option<Arc<dyn JobQueue>>,
    readers: &Readers,
) -> Result<JobConsumer> {
    let vision = settings.vision;
    let text = TextPipeline {
        blobs,
        extractor: readers.extractor.clone(),
        embedder: parts.embedder.embedder.clone(),
        index: parts.index.clone(),
        status: status.clone(),
        chunker: Arc::new(Chunker::new(
            parts.embedder.counter.clone(),
            parts.embedder.chunking,
        )?),
        analyzer: Arc::new(Analyzer::new()),
        config: TextPipelineConfig {
            max_object_bytes: settings.max_object_bytes,
            workers: settings.workers,
            visuals: vision.as_ref().map(|v| v.visuals).unwrap_or_default(),
            scans_to_vdr: settings.scans_to_vdr,
            ..TextPipelineConfig::default()
        },
        visuals: vision.map(|v| v.model),
        // Scanned PDFs go on to the VDR queue, long documents' page ranges
        // to the text queue.
        follow_up: match (processor, &jobs) {
            (Pipeline::TextRag, Some(jobs)) => Some(FollowUp {
                jobs: jobs.clone(),
                ranges: parts.pages.index.clone(),
            }),
            _ => None,
        },
    };
    let runner: Arc<dyn JobRunner> = match processor {
        Pipeline::TextRag => Arc::new(text),
        Pipeline::Vdr => Arc::new(VdrPipeline {
            text,
            visual: Some(VisualPages {
                renderer: readers.renderer.clone(),
                embedder: parts.pages.embedder.clone(),
                index: parts.pages.index.clone(),
                config: settings.vdr,
                jobs,
            }),
        }),
    };
    Ok(JobConsumer {
        runner,
        status,
        max_receives: MAX_RECEIVES,
    })
}

/// The vision model of selective visuals: `None` unless
/// `ENABLE_SELECTIVE_VISUALS` is on (the default) and `VISION_PROVIDER`
/// names one; without it documents keep their images' alt text only.
pub fn visuals_from_env() -> Result<Option<rag_vision::VisionSetup>> {
    if !env::flag(env::ENABLE_SELECTIVE_VISUALS, true)? {
        return Ok(None);
    }
    Ok(rag_vision::vision_from_env()?)
}

/// `async-v2-{text-rag,vdr}-processor` from the environment.
pub async fn consumer(processor: Pipeline) -> Result<JobConsumer> {
    let sdk = rag_aws::sdk_config().await;
    let parts = SearchParts::from_env(&sdk, true).await?;
    let readers = Readers::isolated_in_this_binary()?;
    consumer_from(
        &sdk,
        &Resources::from_env(),
        &parts,
        processor,
        ProcessorSettings::from_env()?,
        &readers,
    )
}
