//! Pushing a message to one WebSocket connection (API Gateway Management API, the local gateway).

use async_trait::async_trait;
use serde_json::Value;

/// Errors of a [`Notifier`].
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The connection no longer exists (API Gateway's `410 Gone`).
    #[error("connection is gone")]
    Gone,
    #[error("push failed: {0}")]
    Failed(String),
}

/// Pushes a JSON message to one WebSocket connection (API Gateway Management
/// API / local WebSocket hub).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, connection_id: &str, message: &Value) -> Result<(), NotifyError>;
}
