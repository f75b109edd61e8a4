//! The index database: where it is, its password, and the api-processor
//! whose document routes use it.

use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;
use aws_config::SdkConfig;
use rag_aws::S3BlobStore;
use rag_core::api::{DocumentService, ProcessConfig, ProcessService, StatusService};
use rag_core::ingest::pipeline::Sweeper;
use rag_core::ports::{BlobStore, Index, JobQueue, StatusStore};
use rag_index_pg::{PasswordSource, PgConfig, PgIndex};

use crate::api_processor::ApiProcessor;
use crate::env;

use super::*;

/// Most lapsed runs one scheduled sweep settles (a few seconds of writes;
/// more wait for the next one).
pub const SWEEP_BATCH: usize = 200;

/// `async-v2-api-processor` with explicit settings.
/// `index` holds the documents the `/v2/documents` routes manage.
pub fn api_processor_from(
    sdk: &SdkConfig,
    resources: &Resources,
    config: ProcessConfig,
    index: Arc<dyn Index>,
) -> Result<ApiProcessor> {
    Ok(api_processor_with(
        Arc::new(S3BlobStore::from_config(sdk)),
        resources.status(sdk)?,
        Arc::new(resources.job_queue(sdk)?),
        index,
        config,
    ))
}

/// The api-processor's services over any storage, status store, queues
/// and index: the function's (S3, DynamoDB, SQS) and the local gateway's
/// (directories and files) are built here alike.
pub fn api_processor_with(
    blobs: Arc<dyn BlobStore>,
    status: Arc<dyn StatusStore>,
    queue: Arc<dyn JobQueue>,
    index: Arc<dyn Index>,
    config: ProcessConfig,
) -> ApiProcessor {
    ApiProcessor {
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
    }
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
