//! The environment variables the functions read (names from the original
//! service), and which function needs which: the serverless configuration
//! is checked against [`REQUIRED`] by a test, so a function never deploys
//! without a variable it reads. Names the adapters read themselves are
//! spelled here too, so that a function without those adapters (the
//! WebSocket ones) need not link them; a test checks they agree.

use anyhow::{bail, Context, Result};

/// DynamoDB table of document status records.
pub const DOCUMENT_STATUS_TABLE: &str = "DOCUMENT_STATUS_TABLE";
/// DynamoDB table of WebSocket connections and subscriptions.
pub const WEBSOCKET_CONNECTIONS_TABLE: &str = "WEBSOCKET_CONNECTIONS_TABLE";
/// The WebSocket API's management endpoint, for pushes.
pub const WEBSOCKET_API_ENDPOINT: &str = "WEBSOCKET_API_ENDPOINT";
/// SQS queue of VDR jobs.
pub const VDR_PROCESSING_QUEUE_URL: &str = "VDR_PROCESSING_QUEUE_URL";
/// SQS queue of text RAG jobs.
pub const TEXT_RAG_PROCESSING_QUEUE_URL: &str = "TEXT_RAG_PROCESSING_QUEUE_URL";
/// The S3 bucket uploads go to.
pub const FILES_BUCKET: &str = "FILES_BUCKET";
/// Largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: &str = "MAX_DOCUMENT_BYTES";
/// Whether presentations, forms and scans go to VDR (else everything is text RAG).
pub const ENABLE_VDR_PIPELINE: &str = "ENABLE_VDR_PIPELINE";
/// Whether hybrid modes fuse both lists (else dense only).
pub const ENABLE_HYBRID_SEARCH: &str = "ENABLE_HYBRID_SEARCH";
/// Whether the text pipeline transcribes a document's important images.
pub const ENABLE_SELECTIVE_VISUALS: &str = "ENABLE_SELECTIVE_VISUALS";
/// Reader endpoint of the index database.
pub const RAG_POSTGRES_DB_READ_ENDPOINT: &str = "RAG_POSTGRES_DB_READ_ENDPOINT";
/// Writer endpoint of the index database.
pub const RAG_POSTGRES_DB_WRITE_ENDPOINT: &str = "RAG_POSTGRES_DB_WRITE_ENDPOINT";
/// Database user.
pub const RAG_POSTGRES_DB_USERNAME: &str = "RAG_POSTGRES_DB_USERNAME";
/// Database name.
pub const RAG_POSTGRES_DB_NAME: &str = "RAG_POSTGRES_DB_NAME";
/// Secrets Manager secret holding the database user's password.
pub const RAG_POSTGRES_DB_SECRET: &str = "RAG_POSTGRES_DB_SECRET";
/// The database port for endpoints given as a bare host.
pub const RAG_POSTGRES_DB_PORT: &str = "RAG_POSTGRES_DB_PORT";
/// Folder of the local embedding model (a Lambda layer).
pub const RAG_MODEL_DIR: &str = "RAG_MODEL_DIR";
/// The local model's engine (`onnx-int8`, `onnx-fp32`, `candle`), read by
/// `rag_embed::embedder_from_env`; the model layer holds its weights only.
pub const RAG_EMBED_ENGINE: &str = "RAG_EMBED_ENGINE";
/// The Cognito user pool whose tokens the WebSocket API accepts.
pub const COGNITO_USER_POOL_ID: &str = "COGNITO_USER_POOL_ID";
/// The app client those tokens are issued to.
pub const COGNITO_CLIENT_ID: &str = "COGNITO_CLIENT_ID";
/// Selective visuals' vision model (read by `rag_vision::vision_from_env`).
pub const VISION_PROVIDER: &str = "VISION_PROVIDER";
/// The vision model name.
pub const VISION_MODEL: &str = "VISION_MODEL";
/// Base URL of an OpenAI-compatible vision endpoint.
pub const VISION_API_BASE: &str = "VISION_API_BASE";
/// That endpoint's API key.
pub const VISION_API_KEY: &str = "VISION_API_KEY";
/// Most tokens a transcription may take.
pub const VISION_MAX_TOKENS: &str = "VISION_MAX_TOKENS";
/// Limit on one vision call.
pub const VISION_TIMEOUT_SECS: &str = "VISION_TIMEOUT_SECS";
/// Most images transcribed per document.
pub const VISUALS_MAX_IMAGES: &str = "VISUALS_MAX_IMAGES";
/// Vision calls in flight at once.
pub const VISUALS_CONCURRENCY: &str = "VISUALS_CONCURRENCY";
/// VDR's page model server (read by `rag_embed::page_embedder_from_env`).
pub const PAGE_EMBEDDER_URL: &str = "PAGE_EMBEDDER_URL";
/// The page model's name.
pub const PAGE_EMBEDDER_MODEL: &str = "PAGE_EMBEDDER_MODEL";
/// Length of its page vectors.
pub const PAGE_EMBEDDER_DIMENSIONS: &str = "PAGE_EMBEDDER_DIMENSIONS";
/// The query handler's reranker (read by `rag_embed::RerankConfig::from_env`).
pub const RERANK_URL: &str = "RERANK_URL";
/// The reranker's model name.
pub const RERANK_MODEL: &str = "RERANK_MODEL";
/// The reranker's API key.
pub const RERANK_API_KEY: &str = "RERANK_API_KEY";
/// VDR: documents with more pages are split into page-range jobs of at
/// most this many pages (default 50).
pub const VDR_MAX_PAGES_PER_JOB: &str = "VDR_MAX_PAGES_PER_JOB";
/// Workers of the text processor (its SQS `maximumConcurrency`): a long
/// document is split into at most this many page-range jobs.
pub const TEXT_RAG_WORKERS: &str = "TEXT_RAG_WORKERS";
/// VDR: a job hands the rest of its pages back to the queue when fewer
/// seconds than this are left in its invocation (default 120).
pub const VDR_DEADLINE_MARGIN_SECS: &str = "VDR_DEADLINE_MARGIN_SECS";
/// Local development only: a PostgreSQL URL instead of the `RAG_POSTGRES_DB_*` parts.
pub const DATABASE_URL: &str = "DATABASE_URL";

const PROCESSOR: &[&str] = &[
    DOCUMENT_STATUS_TABLE,
    WEBSOCKET_CONNECTIONS_TABLE,
    WEBSOCKET_API_ENDPOINT,
    RAG_POSTGRES_DB_WRITE_ENDPOINT,
    RAG_POSTGRES_DB_USERNAME,
    RAG_POSTGRES_DB_NAME,
    RAG_POSTGRES_DB_SECRET,
    RAG_MODEL_DIR,
];

/// The variables each function (by binary name) needs in production.
/// `DATABASE_URL` may replace the `RAG_POSTGRES_DB_*` parts locally.
pub const REQUIRED: &[(&str, &[&str])] = &[
    (
        "api-processor",
        &[
            DOCUMENT_STATUS_TABLE,
            WEBSOCKET_CONNECTIONS_TABLE,
            WEBSOCKET_API_ENDPOINT,
            VDR_PROCESSING_QUEUE_URL,
            TEXT_RAG_PROCESSING_QUEUE_URL,
            RAG_POSTGRES_DB_WRITE_ENDPOINT,
            RAG_POSTGRES_DB_USERNAME,
            RAG_POSTGRES_DB_NAME,
            RAG_POSTGRES_DB_SECRET,
        ],
    ),
    ("text-rag-processor", PROCESSOR),
    ("vdr-processor", PROCESSOR),
    (
        "query-handler",
        &[
            RAG_POSTGRES_DB_READ_ENDPOINT,
            RAG_POSTGRES_DB_USERNAME,
            RAG_POSTGRES_DB_NAME,
            RAG_POSTGRES_DB_SECRET,
            RAG_MODEL_DIR,
        ],
    ),
    (
        "ws-connect",
        &[
            WEBSOCKET_CONNECTIONS_TABLE,
            COGNITO_USER_POOL_ID,
            COGNITO_CLIENT_ID,
        ],
    ),
    ("ws-disconnect", &[WEBSOCKET_CONNECTIONS_TABLE]),
    (
        "ws-default",
        &[
            WEBSOCKET_CONNECTIONS_TABLE,
            DOCUMENT_STATUS_TABLE,
            WEBSOCKET_API_ENDPOINT,
        ],
    ),
];

/// Variables a function reads when set, with a default otherwise.
pub const OPTIONAL: &[&str] = &[
    FILES_BUCKET,
    RAG_POSTGRES_DB_PORT,
    MAX_DOCUMENT_BYTES,
    ENABLE_VDR_PIPELINE,
    ENABLE_HYBRID_SEARCH,
    ENABLE_SELECTIVE_VISUALS,
    VISION_PROVIDER,
    VISION_MODEL,
    VISION_API_BASE,
    VISION_API_KEY,
    VISION_MAX_TOKENS,
    VISION_TIMEOUT_SECS,
    VISUALS_MAX_IMAGES,
    VISUALS_CONCURRENCY,
    PAGE_EMBEDDER_URL,
    PAGE_EMBEDDER_MODEL,
    PAGE_EMBEDDER_DIMENSIONS,
    VDR_MAX_PAGES_PER_JOB,
    VDR_DEADLINE_MARGIN_SECS,
    TEXT_RAG_WORKERS,
    RAG_EMBED_ENGINE,
    VDR_PROCESSING_QUEUE_URL,
    DATABASE_URL,
    RERANK_URL,
    RERANK_MODEL,
    RERANK_API_KEY,
];

/// A variable that must be set and non-empty.
pub fn required(name: &str) -> Result<String> {
    optional(name).with_context(|| format!("environment variable {name} is not set"))
}

/// A variable, if set and non-empty.
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A boolean switch (`true`/`false`, `1`/`0`, `yes`/`no`), `default` if unset.
pub fn flag(name: &str, default: bool) -> Result<bool> {
    match optional(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => bail!("{name} must be true or false, not '{other}'"),
    }
}

/// A number of bytes, `default` if unset.
pub fn bytes(name: &str, default: u64) -> Result<u64> {
    optional(name)
        .map(|v| {
            v.parse::<u64>()
                .with_context(|| format!("{name} must be a number of bytes, not '{v}'"))
        })
        .transpose()
        .map(|v| v.unwrap_or(default))
}

/// A whole number, `default` if unset.
pub fn number(name: &str, default: u64) -> Result<u64> {
    optional(name)
        .map(|v| {
            v.parse::<u64>()
                .with_context(|| format!("{name} must be a whole number, not '{v}'"))
        })
        .transpose()
        .map(|v| v.unwrap_or(default))
}

#[cfg(all(test, feature = "ingest"))]
mod tests {
    use super::*;

    #[test]
    fn names_the_adapters_read_are_spelled_as_they_spell_them() {
        use rag_vision::env as vision;
        assert_eq!(RAG_EMBED_ENGINE, rag_embed::setup::ENGINE_VAR);
        // Every variable the vision setup reads is an optional one here, as
        // it spells it.
        let ours: Vec<&str> = OPTIONAL
            .iter()
            .copied()
            .filter(|v| v.starts_with("VISION_") || v.starts_with("VISUALS_"))
            .collect();
        assert_eq!(ours, vision::VARIABLES);
        for (ours, theirs) in [
            (RERANK_URL, rag_embed::rerank::URL_VAR),
            (RERANK_MODEL, rag_embed::rerank::MODEL_VAR),
            (RERANK_API_KEY, rag_embed::rerank::KEY_VAR),
        ] {
            assert_eq!(ours, theirs);
        }
    }
}
