//! Building each function's services, once per container: AWS clients,
//! the database pool and the embedding model are created here, outside the
//! handler, and reused by every invocation.
//!
//! Each builder has two halves: `*_from` takes explicit settings (tests and
//! the local gateway use it), and the bare one reads the environment.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_config::SdkConfig;
use rag_aws::{
    ApiGatewayNotifier, CognitoConfig, CognitoVerifier, DynamoConnectionStore, DynamoStatusStore,
    S3BlobStore, SqsJobQueue,
};
use rag_core::api::{DocumentService, ProcessConfig, ProcessService, StatusService};
use rag_core::domain::status::{StatusRecord, StatusUpdate};
use rag_core::ingest::chunking::{Chunker, ChunkingConfig};
use rag_core::ingest::page_spans::TextSpanPageEmbedder;
use rag_core::ingest::pipeline::{
    FollowUp, JobConsumer, JobRunner, Sweeper, TextPipeline, TextPipelineConfig, VdrConfig,
    VdrPipeline, VisualPages,
};
use rag_core::ports::{
    AuthError, BlobLinker, BlobStore, ConnectionStore, Extractor, Index, JobQueue, Notifier,
    NotifyError, PageEmbedder, PageIndex, PageRenderer, Reranker, StatusStore, StatusStoreError,
    StatusWrite, TokenVerifier,
};
use rag_core::realtime::{
    NotifyingStatusStore, StatusPublisher, WebSocketConfig, WebSocketService,
};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{PageSearch, QueryConfig, QueryService};
use rag_core::Caller;
use rag_embed::{embedder_from_env, EmbedderSetup};
use rag_extract::sandbox::{SandboxedExtractor, SandboxedRenderer, WorkerProgram};
use rag_extract::{FileExtractor, Limits, PdfPageRenderer};
use rag_index_pg::{PasswordSource, PgConfig, PgIndex};
use serde_json::Value;

use crate::api_processor::ApiProcessor;
use crate::env;
use crate::query_handler::QueryHandler;

/// Where the model layer mounts the default embedding model.
pub const LAMBDA_MODEL_DIR: &str = "/opt/models/all-MiniLM-L6-v2";
/// SQS `maxReceiveCount` of the processing queues (DESIGN.md).
pub const MAX_RECEIVES: u32 = 3;
/// Most lapsed runs one scheduled sweep settles (a few seconds of writes;
/// more wait for the next one).
pub const SWEEP_BATCH: usize = 200;
/// Largest document accepted by default (`MAX_DOCUMENT_BYTES`).
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 200 * 1024 * 1024;

/// The deployed resources a function talks to.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// The status table (`DOCUMENT_STATUS_TABLE`).
    pub status_table: Option<String>,
    /// The connections table (`WEBSOCKET_CONNECTIONS_TABLE`).
    pub connections_table: Option<String>,
    /// The WebSocket API's `https://` management endpoint.
    pub websocket_endpoint: Option<String>,
    /// The text RAG queue (`TEXT_RAG_PROCESSING_QUEUE_URL`).
    pub text_rag_queue_url: Option<String>,
    /// The VDR queue (`VDR_PROCESSING_QUEUE_URL`).
    pub vdr_queue_url: Option<String>,
}

impl Resources {
    /// From `DOCUMENT_STATUS_TABLE`, `WEBSOCKET_CONNECTIONS_TABLE`,
    /// `WEBSOCKET_API_ENDPOINT` and the two queue URLs.
    pub fn from_env() -> Self {
        Self {
            status_table: env::optional(env::DOCUMENT_STATUS_TABLE),
            connections_table: env::optional(env::WEBSOCKET_CONNECTIONS_TABLE),
            websocket_endpoint: env::optional(env::WEBSOCKET_API_ENDPOINT),
            text_rag_queue_url: env::optional(env::TEXT_RAG_PROCESSING_QUEUE_URL),
            vdr_queue_url: env::optional(env::VDR_PROCESSING_QUEUE_URL),
        }
    }

    fn need<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str> {
        value
            .as_deref()
            .with_context(|| format!("environment variable {name} is not set"))
    }

    fn connections(&self, sdk: &SdkConfig) -> Result<Arc<dyn ConnectionStore>> {
        let table = Self::need(&self.connections_table, env::WEBSOCKET_CONNECTIONS_TABLE)?;
        Ok(Arc::new(DynamoConnectionStore::from_config(sdk, table)))
    }

    fn publisher(&self, sdk: &SdkConfig) -> Result<StatusPublisher> {
        let endpoint = Self::need(&self.websocket_endpoint, env::WEBSOCKET_API_ENDPOINT)?;
        let notifier = ApiGatewayNotifier::new(sdk, endpoint)
            .with_context(|| format!("{} is not a usable URL", env::WEBSOCKET_API_ENDPOINT))?;
        Ok(StatusPublisher {
            connections: self.connections(sdk)?,
            notifier: Arc::new(notifier),
        })
    }

    fn plain_status(&self, sdk: &SdkConfig) -> Result<Arc<dyn StatusStore>> {
        let table = Self::need(&self.status_table, env::DOCUMENT_STATUS_TABLE)?;
        Ok(Arc::new(DynamoStatusStore::from_config(sdk, table)))
    }

    /// The status store, pushing every change to subscribers when the
    /// WebSocket API is configured: for tools run beside the fleet
    /// (`ragctl dlq`), which may not know its endpoint.
    pub fn status_if_any_subscribers(&self, sdk: &SdkConfig) -> Result<Arc<dyn StatusStore>> {
        if self.websocket_endpoint.is_some() && self.connections_table.is_some() {
            self.status(sdk)
        } else {
            self.plain_status(sdk)
        }
    }

    /// Both pipeline queues.
    pub fn job_queue(&self, sdk: &SdkConfig) -> Result<SqsJobQueue> {
        Ok(SqsJobQueue::from_config(
            sdk,
            Self::need(&self.text_rag_queue_url, env::TEXT_RAG_PROCESSING_QUEUE_URL)?,
            Self::need(&self.vdr_queue_url, env::VDR_PROCESSING_QUEUE_URL)?,
        ))
    }

    /// The status store whose every change is pushed to subscribers.
    pub fn status(&self, sdk: &SdkConfig) -> Result<Arc<dyn StatusStore>> {
        Ok(Arc::new(NotifyingStatusStore {
            inner: self.plain_status(sdk)?,
            publisher: self.publisher(sdk)?,
        }))
    }
}

/// `async-v2-api-processor` with explicit settings.
/// `index` holds the documents the `/v2/documents` routes manage.
pub fn api_processor_from(
    sdk: &SdkConfig,
    resources: &Resources,
    config: ProcessConfig,
    index: Arc<dyn Index>,
) -> Result<ApiProcessor> {
    let status = resources.status(sdk)?;
    let queue: Arc<dyn JobQueue> = Arc::new(resources.job_queue(sdk)?);
    let blobs = Arc::new(S3BlobStore::from_config(sdk));
    Ok(ApiProcessor {
        process: ProcessService {
            blobs: blobs.clone(),
            queue: queue.clone(),
            status: status.clone(),
            config,
        },
        status: StatusService {
            status: status.clone(),
        },
        documents: DocumentService {
            status: status.clone(),
            index,
            blobs,
        },
        sweeper: Sweeper {
            status,
            queue,
            batch: SWEEP_BATCH,
        },
    })
}

/// `async-v2-api-processor` from the environment.
pub async fn api_processor() -> Result<ApiProcessor> {
    let sdk = rag_aws::sdk_config().await;
    let config = ProcessConfig {
        max_object_bytes: env::bytes(env::MAX_DOCUMENT_BYTES, DEFAULT_MAX_DOCUMENT_BYTES)?,
        allowed_buckets: env::optional(env::FILES_BUCKET).into_iter().collect(),
        enable_vdr: env::flag(env::ENABLE_VDR_PIPELINE, true)?,
    };
    // The write endpoint (deletes and shares write), connected on the
    // first document request: submitting and status reads need no database.
    let settings = DatabaseSettings::from_env(true)?;
    let mut index = PgIndex::for_documents(settings.resolve(&sdk).await?.connect_lazy()?);
    if let Some(password) = settings.password_source(&sdk) {
        index = index.with_password_source(password);
    }
    api_processor_from(&sdk, &Resources::from_env(), config, Arc::new(index))
}

/// Which queue a processor consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// `text-rag-processor`.
    TextRag,
    /// `vdr-processor`.
    Vdr,
}

/// The index and model a processor or the query handler uses.
pub struct SearchParts {
    /// The text index.
    pub index: Arc<dyn Index>,
    /// The text embedder and its token counter.
    pub embedder: EmbedderSetup,
    /// VDR pages: the page model and where page vectors are searched.
    pub pages: PageParts,
    /// What `rerank: true` queries reorder with (`RERANK_URL`), if any.
    pub reranker: Option<Arc<dyn Reranker>>,
}

/// The page embedder and the page index (the same database as the text
/// index).
#[derive(Clone)]
pub struct PageParts {
    /// Embeds pages and page queries.
    pub embedder: Arc<dyn PageEmbedder>,
    /// Stores and searches page vectors.
    pub index: Arc<dyn PageIndex>,
}

/// Spans of page text the local page embedder embeds: a sentence or two,
/// so one matching sentence decides a page's MaxSim score.
const PAGE_SPANS: ChunkingConfig = ChunkingConfig {
    max_tokens: 48,
    overlap_tokens: 8,
};

/// The page model from the environment (`PAGE_EMBEDDER_URL`, a
/// ColPali-style service), or else the local stand-in that embeds spans of
/// page text with the text model `text`.
pub fn page_embedder(text: &EmbedderSetup) -> Result<Arc<dyn PageEmbedder>> {
    Ok(match rag_embed::page_embedder_from_env()? {
        Some(remote) => remote,
        None => Arc::new(TextSpanPageEmbedder::new(
            text.embedder.clone(),
            Chunker::new(text.counter.clone(), PAGE_SPANS)?,
        )),
    })
}

impl SearchParts {
    /// Loads the model (`RAG_MODEL_DIR`, or the layer's) and connects to
    /// the read or write endpoint, re-reading a rotated password from its
    /// secret whenever the database refuses a login.
    pub async fn from_env(sdk: &SdkConfig, write: bool) -> Result<Self> {
        let embedder = embedder_from_env(Path::new(LAMBDA_MODEL_DIR))?;
        let settings = DatabaseSettings::from_env(write)?;
        let pool = settings.resolve(sdk).await?.connect().await?;
        Self::over_with(pool, embedder, settings.password_source(sdk))
    }

    /// The parts over a database pool, with the [`page_embedder`] the
    /// environment names.
    pub fn over(pool: rag_index_pg::PgPool, embedder: EmbedderSetup) -> Result<Self> {
        Self::over_with(pool, embedder, None)
    }

    /// [`SearchParts::over`], re-reading the password from `password` when
    /// the database refuses a login.
    pub fn over_with(
        pool: rag_index_pg::PgPool,
        embedder: EmbedderSetup,
        password: Option<Arc<dyn PasswordSource>>,
    ) -> Result<Self> {
        let pages = page_embedder(&embedder)?;
        let mut index = PgIndex::new(pool, embedder.embedder.dimensions())
            .with_page_dimensions(pages.dimensions());
        if let Some(password) = password {
            index = index.with_password_source(password);
        }
        let index = Arc::new(index);
        Ok(Self {
            index: index.clone(),
            embedder,
            pages: PageParts {
                embedder: pages,
                index,
            },
            reranker: reranker_from_env()?,
        })
    }

    /// The query service's page search.
    pub fn page_search(&self) -> PageSearch {
        PageSearch {
            embedder: self.pages.embedder.clone(),
            index: self.pages.index.clone(),
            candidates_per_vector: PAGE_CANDIDATES_PER_VECTOR,
        }
    }
}

/// Nearest page vectors fetched through HNSW per query vector, whose pages
/// are re-ranked by exact MaxSim: HNSW's default search breadth (pgvector's
/// `ef_search` = 40) covers 40 anyway.
const PAGE_CANDIDATES_PER_VECTOR: usize = 40;

/// Where the database is, as the functions are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSettings {
    /// A full URL (`DATABASE_URL`, local development).
    Url(String),
    /// The `RAG_POSTGRES_DB_*` parts: the password is in a Secrets Manager
    /// secret named `secret` (never the password itself).
    Parts {
        /// Host, or host:port.
        endpoint: String,
        /// For an endpoint without a port (`RAG_POSTGRES_DB_PORT`, 5432).
        port: u16,
        /// Database user.
        username: String,
        /// Database name.
        database: String,
        /// Name of the secret holding the password.
        secret: String,
    },
}

/// PostgreSQL's own port, for an endpoint that names none and no
/// `RAG_POSTGRES_DB_PORT` (the YAML sets the old system's 3306).
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;

impl DatabaseSettings {
    /// `DATABASE_URL` if set, otherwise the parts for the read or the write
    /// endpoint.
    pub fn from_env(write: bool) -> Result<Self> {
        if let Some(url) = env::optional(env::DATABASE_URL) {
            return Ok(Self::Url(url));
        }
        Ok(Self::Parts {
            endpoint: env::required(if write {
                env::RAG_POSTGRES_DB_WRITE_ENDPOINT
            } else {
                env::RAG_POSTGRES_DB_READ_ENDPOINT
            })?,
            port: match env::optional(env::RAG_POSTGRES_DB_PORT) {
                Some(p) => p
                    .parse()
                    .with_context(|| format!("{} is not a port: {p}", env::RAG_POSTGRES_DB_PORT))?,
                None => DEFAULT_POSTGRES_PORT,
            },
            username: env::required(env::RAG_POSTGRES_DB_USERNAME)?,
            database: env::required(env::RAG_POSTGRES_DB_NAME)?,
            secret: env::required(env::RAG_POSTGRES_DB_SECRET)?,
        })
    }

    /// Where the password is re-read from when the database refuses a login
    /// (the secret, for the parts; a URL's password does not change).
    pub fn password_source(&self, sdk: &SdkConfig) -> Option<Arc<dyn PasswordSource>> {
        match self {
            Self::Url(_) => None,
            Self::Parts { secret, .. } => Some(Arc::new(SecretPassword {
                client: rag_aws::config::secrets_client(sdk),
                secret: secret.clone(),
            })),
        }
    }

    /// Connection settings, resolving the password from Secrets Manager.
    pub async fn resolve(&self, sdk: &SdkConfig) -> Result<PgConfig> {
        let mut config = match self {
            Self::Url(url) => PgConfig::new(url.clone()),
            Self::Parts {
                endpoint,
                port,
                username,
                database,
                secret,
            } => {
                let client = rag_aws::config::secrets_client(sdk);
                let password = rag_aws::resolve_secret(&client, secret)
                    .await
                    .with_context(|| format!("resolving the database secret {secret}"))?;
                PgConfig::from_parts(endpoint, *port, username, &password, database)
            }
        };
        // One invocation at a time per container: a couple of connections is
        // all it can use, and RDS connection slots are shared by the fleet
        // (infra/README.md, "Database connections", does the arithmetic).
        config.max_connections = 2;
        Ok(config)
    }
}

/// The database password as its Secrets Manager secret holds it now.
struct SecretPassword {
    client: aws_sdk_secretsmanager::Client,
    secret: String,
}

#[async_trait]
impl PasswordSource for SecretPassword {
    async fn password(&self) -> Result<String, String> {
        rag_aws::resolve_secret(&self.client, &self.secret)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The database settings of this function, resolved.
pub async fn database(sdk: &SdkConfig, write: bool) -> Result<PgConfig> {
    DatabaseSettings::from_env(write)?.resolve(sdk).await
}

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

/// What a processor may take on: the largest document, and how many
/// workers (its concurrency) run a long document's page ranges at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessorLimits {
    /// Largest object a processor downloads (`MAX_DOCUMENT_BYTES`).
    pub max_object_bytes: u64,
    /// Page-range jobs one document is split into at most
    /// (`TextPipelineConfig::workers`).
    pub workers: u32,
}

impl ProcessorLimits {
    /// `max_object_bytes`, with the default number of workers.
    pub fn new(max_object_bytes: u64) -> Self {
        Self {
            max_object_bytes,
            workers: TextPipelineConfig::default().workers,
        }
    }

    /// `MAX_DOCUMENT_BYTES` and `TEXT_RAG_WORKERS` (the text processor's
    /// `maximumConcurrency`), defaults otherwise.
    pub fn from_env() -> Result<Self> {
        let defaults = Self::new(env::bytes(
            env::MAX_DOCUMENT_BYTES,
            DEFAULT_MAX_DOCUMENT_BYTES,
        )?);
        let workers = env::number(env::TEXT_RAG_WORKERS, u64::from(defaults.workers))?;
        Ok(Self {
            workers: u32::try_from(workers.max(1))
                .with_context(|| format!("{} is too large", env::TEXT_RAG_WORKERS))?,
            ..defaults
        })
    }
}

/// A queue consumer with explicit settings and parts.
pub fn consumer_from(
    sdk: &SdkConfig,
    resources: &Resources,
    parts: &SearchParts,
    processor: Processor,
    limits: ProcessorLimits,
    readers: &Readers,
) -> Result<JobConsumer> {
    // The VDR processor sends page-range jobs and hand-backs to its own
    // queue; without the URL, every document runs in one job.
    let jobs: Option<Arc<dyn JobQueue>> = match (processor, &resources.vdr_queue_url) {
        (Processor::Vdr, Some(vdr)) => Some(Arc::new(SqsJobQueue::from_config(
            sdk,
            resources.text_rag_queue_url.clone().unwrap_or_default(),
            vdr.clone(),
        ))),
        (Processor::Vdr, None) => {
            tracing::warn!(
                "{} is not set: long documents are not split",
                env::VDR_PROCESSING_QUEUE_URL
            );
            None
        }
        // The text processor sends page ranges to its own queue and scanned
        // PDFs to the VDR queue.
        (Processor::TextRag, _) => match &resources.text_rag_queue_url {
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
        limits,
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
/// uses directories and files). The vision model for selective visuals
/// comes from the environment in every wiring ([`visuals_from_env`]).
/// `jobs` is the queue the VDR processor sends page-range jobs to (its own).
pub fn consumer_with(
    blobs: Arc<dyn BlobStore>,
    status: Arc<dyn StatusStore>,
    parts: &SearchParts,
    processor: Processor,
    limits: ProcessorLimits,
    jobs: Option<Arc<dyn JobQueue>>,
    readers: &Readers,
) -> Result<JobConsumer> {
    let vision = visuals_from_env()?;
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
            max_object_bytes: limits.max_object_bytes,
            workers: limits.workers,
            visuals: vision.as_ref().map(|v| v.visuals).unwrap_or_default(),
            scans_to_vdr: env::flag(env::ENABLE_VDR_PIPELINE, true)?,
            ..TextPipelineConfig::default()
        },
        visuals: vision.map(|v| v.model),
        // Scanned PDFs go on to the VDR queue, long documents' page ranges
        // to the text queue.
        follow_up: match (processor, &jobs) {
            (Processor::TextRag, Some(jobs)) => Some(FollowUp {
                jobs: jobs.clone(),
                ranges: parts.pages.index.clone(),
            }),
            _ => None,
        },
    };
    let runner: Arc<dyn JobRunner> = match processor {
        Processor::TextRag => Arc::new(text),
        Processor::Vdr => Arc::new(VdrPipeline {
            text,
            visual: Some(VisualPages {
                renderer: readers.renderer.clone(),
                embedder: parts.pages.embedder.clone(),
                index: parts.pages.index.clone(),
                config: vdr_config_from_env()?,
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
pub async fn consumer(processor: Processor) -> Result<JobConsumer> {
    let sdk = rag_aws::sdk_config().await;
    let parts = SearchParts::from_env(&sdk, true).await?;
    let readers = Readers::isolated_in_this_binary()?;
    consumer_from(
        &sdk,
        &Resources::from_env(),
        &parts,
        processor,
        ProcessorLimits::from_env()?,
        &readers,
    )
}

/// `async-v2-query-handler` over explicit parts; `links` makes the
/// `image_url` of page results.
pub fn query_handler_from(
    parts: &SearchParts,
    enable_hybrid: bool,
    links: Option<Arc<dyn BlobLinker>>,
) -> QueryHandler {
    QueryHandler {
        service: QueryService {
            embedder: parts.embedder.embedder.clone(),
            index: parts.index.clone(),
            analyzer: Arc::new(Analyzer::new()),
            config: QueryConfig {
                hybrid: enable_hybrid,
                ..QueryConfig::default()
            },
            pages: Some(parts.page_search()),
            links,
            reranker: parts.reranker.clone(),
        },
    }
}

/// The reranker `RERANK_URL` names (a Cohere- or Jina-compatible
/// `/rerank` endpoint), or none.
pub fn reranker_from_env() -> Result<Option<Arc<dyn Reranker>>> {
    Ok(match rag_embed::RerankConfig::from_env()? {
        Some(config) => Some(Arc::new(rag_embed::HttpReranker::new(config)?)),
        None => None,
    })
}

/// `async-v2-query-handler` from the environment.
pub async fn query_handler() -> Result<QueryHandler> {
    let sdk = rag_aws::sdk_config().await;
    let parts = SearchParts::from_env(&sdk, false).await?;
    Ok(query_handler_from(
        &parts,
        env::flag(env::ENABLE_HYBRID_SEARCH, true)?,
        Some(Arc::new(S3BlobStore::from_config(&sdk))),
    ))
}

/// The WebSocket route a function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRoute {
    /// `$connect`: verify the token, record the connection.
    Connect,
    /// `$disconnect`: forget it and its subscriptions.
    Disconnect,
    /// `$default`: subscribe, unsubscribe, ping.
    Default,
}

/// The WebSocket service for `route`, with explicit settings: `$connect`
/// needs the verifier, `$default` the status table and the management API,
/// `$disconnect` only the connections table. What a route does not need is
/// left [`Unconfigured`], so each function deploys with its own variables.
pub fn websocket_from(
    sdk: &SdkConfig,
    resources: &Resources,
    route: WsRoute,
    verifier: Option<Arc<dyn TokenVerifier>>,
    config: WebSocketConfig,
) -> Result<WebSocketService> {
    let unconfigured = Arc::new(Unconfigured);
    let (status, publisher): (Arc<dyn StatusStore>, StatusPublisher) = match route {
        WsRoute::Default => (resources.plain_status(sdk)?, resources.publisher(sdk)?),
        WsRoute::Connect | WsRoute::Disconnect => (
            unconfigured.clone(),
            StatusPublisher {
                connections: resources.connections(sdk)?,
                notifier: unconfigured.clone(),
            },
        ),
    };
    Ok(WebSocketService {
        status,
        verifier: verifier.unwrap_or(unconfigured),
        publisher,
        config,
    })
}

/// `async-v2-websocket-*` from the environment.
pub async fn websocket(route: WsRoute) -> Result<WebSocketService> {
    let sdk = rag_aws::sdk_config().await;
    let config = WebSocketConfig::default();
    let verifier: Option<Arc<dyn TokenVerifier>> = match route {
        WsRoute::Connect => {
            let cognito = CognitoConfig::from_env().context("configuring token verification")?;
            Some(Arc::new(CognitoVerifier::new(cognito)?))
        }
        _ => None,
    };
    websocket_from(&sdk, &Resources::from_env(), route, verifier, config)
}

/// Stands in for a part a function was not configured with; any use is a
/// deployment mistake and fails loudly rather than silently doing nothing.
pub struct Unconfigured;

const NOT_CONFIGURED: &str = "not configured for this function";

#[async_trait]
impl StatusStore for Unconfigured {
    async fn apply(&self, _: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        Err(StatusStoreError(NOT_CONFIGURED.into()))
    }
    async fn get(&self, _: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        Err(StatusStoreError(NOT_CONFIGURED.into()))
    }
    async fn list_for_user(
        &self,
        _: &str,
        _: &rag_core::ports::Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        Err(StatusStoreError(NOT_CONFIGURED.into()))
    }
}

#[async_trait]
impl Notifier for Unconfigured {
    async fn send(&self, _: &str, _: &Value) -> Result<(), NotifyError> {
        Err(NotifyError::Failed(NOT_CONFIGURED.into()))
    }
}

#[async_trait]
impl TokenVerifier for Unconfigured {
    async fn verify(&self, _: &str) -> Result<Caller, AuthError> {
        Err(AuthError::Unavailable(NOT_CONFIGURED.into()))
    }
}
