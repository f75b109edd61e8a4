//! Pushing a message to one WebSocket connection (API Gateway Management API, the local gateway).

use async_trait::async_trait;
use serde_json::Value;

/// Errors of a [`Notifier`].
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The connection no longer exists (API Gateway's `410 Gone`).
    #[error("connection is gone")]
    Gone,
    /// Any other failure (encoding, a refused or throttled request, the
    /// network); the connection may still be open, so it is kept.
    #[error("push failed: {0}")]
    Failed(String),
}

/// Pushes a JSON message to one WebSocket connection through the API
/// Gateway Management API (the local gateway serves the same API).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Pushes `message`, as JSON text, to connection `connection_id`.
    async fn send(&self, connection_id: &str, message: &Value) -> Result<(), NotifyError>;
}
