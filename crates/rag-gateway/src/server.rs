//! Building the gateway's services from local adapters and serving them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use rag_aws::ApiGatewayNotifier;
use rag_core::api::ProcessConfig;
use rag_core::domain::classify::Pipeline;
use rag_core::ports::{BlobStore, ConnectionStore, JobQueue, StatusStore};
use rag_core::realtime::{
    NotifyingStatusStore, StatusPublisher, WebSocketConfig, WebSocketService,
};
use rag_extract::sandbox::WorkerProgram;
use rag_lambda::wiring::{
    consumer_with, query_handler_from, ProcessorSettings, Readers, SearchParts,
};
use rag_local::{
    consume_with, ConsumeOptions, FileJobQueue, FileStatusStore, FsBlobStore, LocalJobQueues,
    LocalTokens, MemoryConnectionStore, QueueConfig,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::console;
use crate::hub::Hub;
use crate::routes::{self, AppState};

/// Largest REST or Management API body: API Gateway's payload limit.
const API_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The bucket uploads go to (`PUT /files/local/...`).
pub const LOCAL_BUCKET: &str = "local";

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// Files, status records, queues and the token secret live here.
    pub data_dir: PathBuf,
    /// Run the text-RAG and VDR consumers in this process.
    pub consumers: bool,
    /// Jobs each consumer runs at once (Lambda's concurrency per queue); a
    /// long text document is split into at most this many page-range jobs.
    pub workers: usize,
    /// SQS visibility timeout of the local queues.
    pub visibility_timeout: Duration,
    /// Largest upload accepted, in bytes.
    pub max_document_bytes: u64,
    /// The user the console's automatic token names.
    pub dev_user: String,
    /// How often runs whose worker was lost are settled (the fleet's
    /// scheduled sweep).
    pub sweep_every: Duration,
    /// Where documents are read: in worker processes of this program
    /// (`rag_extract::sandbox`; `ragctl dev` uses itself), or in this
    /// process with `None`.
    pub extraction_worker: Option<WorkerProgram>,
    /// Let `/ws?user=<name>` connect as that user without a token, as the
    /// original service did. Anyone who can reach the port can then act as
    /// anyone: local development only, off by default.
    #[cfg(feature = "trust-user-param")]
    pub trust_user_param: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: PathBuf::from(".local/dev"),
            consumers: true,
            workers: ConsumeOptions::DEFAULT_CONCURRENCY,
            visibility_timeout: Duration::from_secs(300),
            max_document_bytes: rag_lambda::wiring::DEFAULT_MAX_DOCUMENT_BYTES,
            dev_user: "dev-user".into(),
            sweep_every: Duration::from_secs(60),
            extraction_worker: None,
            #[cfg(feature = "trust-user-param")]
            trust_user_param: false,
        }
    }
}

/// The local gateway.
pub struct Gateway;

/// A started gateway.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Issues the local tokens its users sign in with.
    pub tokens: Arc<LocalTokens>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops serving and consuming; queued work stays on disk.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Serves until Ctrl-C, then stops.
    pub async fn until_interrupted(self) {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

impl Gateway {
    /// Binds, wires every service to local adapters and starts serving.
    pub async fn start(config: GatewayConfig, parts: SearchParts) -> Result<Running> {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let data = &config.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;

        let tokens = Arc::new(LocalTokens::load_or_create(data.join("secret"))?);
        let hub = Hub::default();
        // The production notifier, posting to this gateway's Management API.
        let notifier = Arc::new(ApiGatewayNotifier::new(
            &rag_aws::local_sdk_config("us-east-1"),
            &url,
        )?);
        let connections: Arc<dyn ConnectionStore> = Arc::new(MemoryConnectionStore::default());
        let publisher = StatusPublisher {
            connections: connections.clone(),
            notifier,
        };
        let stored: Arc<dyn StatusStore> = Arc::new(FileStatusStore::open(data.join("status"))?);
        let status: Arc<dyn StatusStore> = Arc::new(NotifyingStatusStore {
            inner: stored.clone(),
            publisher: publisher.clone(),
        });
        let blobs = Arc::new(
            FsBlobStore::new().with_bucket(LOCAL_BUCKET, data.join("files").join(LOCAL_BUCKET)),
        );
        let queue_config = QueueConfig {
            visibility_timeout: config.visibility_timeout,
            ..QueueConfig::default()
        };
        let text_queue = Arc::new(FileJobQueue::open(
            data.join("queues/text-rag"),
            queue_config.clone(),
        )?);
        let vdr_queue = Arc::new(FileJobQueue::open(data.join("queues/vdr"), queue_config)?);

        let jobs: Arc<dyn JobQueue> = Arc::new(LocalJobQueues {
            text_rag: text_queue.clone(),
            vdr: vdr_queue.clone(),
        });
        let api = rag_lambda::wiring::api_processor_with(
            blobs.clone(),
            status.clone(),
            jobs.clone(),
            parts.index.clone(),
            ProcessConfig {
                max_object_bytes: config.max_document_bytes,
                allowed_buckets: vec![LOCAL_BUCKET.into()],
                enable_vdr: true,
            },
        );
        let status_reader = stored.clone();
        let state = Arc::new(AppState {
            api,
            query: query_handler_from(
                &parts,
                true,
                Some(Arc::new(routes::GatewayLinks { base: url.clone() })),
            ),
            websocket: WebSocketService {
                status: stored.clone(),
                verifier: tokens.clone(),
                publisher,
                config: WebSocketConfig::default(),
            },
            hub,
            tokens: tokens.clone(),
            blobs: blobs.clone(),
            status: status_reader,
            buckets: vec![LOCAL_BUCKET.into()],
            max_upload_bytes: config.max_document_bytes,
            bound: addr,
            dev_user: config.dev_user.clone(),
            token_ttl: Duration::from_secs(3600),
            #[cfg(feature = "trust-user-param")]
            trust_user_param: config.trust_user_param,
        });

        let sweeping = state.clone();
        // Bodies: API Gateway's 10 MB payload limit on the API and the
        // Management API; uploads stream to disk up to the document limit.
        let api = axum::Router::new()
            .route("/v2/process-document", post(routes::process_document))
            .route("/v2/query", post(routes::query))
            .route("/v2/status", get(routes::listing))
            .route("/v2/status/{*status_id}", get(routes::status_get))
            .route("/v2/documents", get(routes::listing))
            .route(
                "/v2/documents/{*document}",
                get(routes::document)
                    .delete(routes::document)
                    .post(routes::document),
            )
            .route(
                "/@connections/{connection_id}",
                post(routes::post_to_connection),
            )
            .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
        let files = axum::Router::new().route(
            "/files/{bucket}/{*key}",
            put(routes::upload).get(routes::rendered_page),
        );
        let app = axum::Router::new()
            .route("/", get(console::index))
            .route("/app.js", get(console::app))
            .route("/client/{file}", get(console::client))
            .route("/style.css", get(console::style))
            .route("/healthz", get(routes::health))
            .route("/dev/token", get(routes::dev_token))
            .route("/ws", get(routes::websocket))
            .merge(api)
            .merge(files)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::guard::local_only,
            ))
            .with_state(state);

        let (shutdown, mut stop) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "gateway stopped");
            }
        }));
        {
            // The fleet's scheduled sweep, as a loop.
            let state = sweeping;
            let mut stop = shutdown.subscribe();
            let every = config.sweep_every;
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    let now = chrono::Utc::now().timestamp();
                    if let Err(e) = state.api.sweeper.sweep(now).await {
                        tracing::warn!(error = %e, "sweep failed");
                    }
                }
            }));
        }
        if config.consumers {
            let blobs: Arc<dyn BlobStore> = blobs;
            let readers = match &config.extraction_worker {
                Some(program) => Readers::isolated(program.clone()),
                None => Readers::in_process(),
            };
            // VDR settings and the vision model as the environment says.
            let settings = ProcessorSettings::from_env()?;
            for (queue, processor) in [(text_queue, Pipeline::TextRag), (vdr_queue, Pipeline::Vdr)]
            {
                let consumer = Arc::new(consumer_with(
                    blobs.clone(),
                    status.clone(),
                    &parts,
                    processor,
                    ProcessorSettings {
                        max_object_bytes: config.max_document_bytes,
                        workers: u32::try_from(config.workers.max(1)).unwrap_or(u32::MAX),
                        ..settings.clone()
                    },
                    Some(jobs.clone()),
                    &readers,
                )?);
                let options = ConsumeOptions {
                    concurrency: config.workers.max(1),
                    ..ConsumeOptions::new(Duration::from_millis(500))
                };
                tasks.push(tokio::spawn(consume_with(
                    queue,
                    consumer,
                    options,
                    shutdown.subscribe(),
                )));
            }
        }
        tracing::info!(url = %url, data_dir = %data.display(), consumers = config.consumers, "local gateway listening");
        Ok(Running {
            url,
            tokens,
            shutdown,
            tasks,
        })
    }
}
