//! Building each function's services, once per container: AWS clients,
//! the database pool and the embedding model are created here, outside the
//! handler, and reused by every invocation.
//!
//! Each builder has two halves: `*_from` takes explicit settings (tests and
//! the local gateway use it), and the bare one reads the environment.
//!
//! What a function links follows the crate's features: the WebSocket
//! functions need this module alone; `documents` adds the database
//! ([`database`]: the api-processor's document routes), `query` the
//! embedding model and search ([`search`]), `ingest` the document readers,
//! vision models and queue consumers ([`ingest`]).

use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_config::SdkConfig;
use rag_aws::{
    ApiGatewayNotifier, CognitoConfig, CognitoVerifier, DynamoConnectionStore, DynamoStatusStore,
    SqsJobQueue,
};
use rag_core::domain::status::{StatusRecord, StatusUpdate};
use rag_core::ports::{
    AuthError, ConnectionStore, Notifier, NotifyError, StatusStore, StatusStoreError, StatusWrite,
    TokenVerifier,
};
use rag_core::realtime::{
    NotifyingStatusStore, StatusPublisher, WebSocketConfig, WebSocketService,
};
use rag_core::Caller;
use serde_json::Value;

use crate::env;

#[cfg(feature = "documents")]
mod database;
#[cfg(feature = "ingest")]
mod ingest;
#[cfg(feature = "query")]
mod search;

#[cfg(feature = "documents")]
pub use database::*;
#[cfg(feature = "ingest")]
pub use ingest::*;
#[cfg(feature = "query")]
pub use search::*;

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
