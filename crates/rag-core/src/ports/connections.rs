//! WebSocket connections and who is subscribed to which document's status.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An open WebSocket connection and who opened it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// API Gateway's `connectionId`.
    pub connection_id: String,
    /// The verified user behind it.
    pub user: String,
    /// When the `$connect` was accepted (`connectedAt` when stored).
    pub connected_at: chrono::DateTime<chrono::Utc>,
    /// Expiry in epoch seconds; the connection and its subscriptions vanish
    /// after it even if `$disconnect` never arrives.
    pub ttl: i64,
}

/// A connection subscribed to a statusId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// API Gateway's `connectionId`: where pushes for the statusId go.
    pub connection_id: String,
    /// The user of the connection, so a push can be checked against the
    /// record's owner without another lookup.
    pub user: String,
}

/// Errors of a [`ConnectionStore`].
#[derive(Debug, thiserror::Error)]
#[error("connection store error: {0}")]
pub struct ConnectionStoreError(pub String);

/// WebSocket connections and their many-to-many subscriptions to statusIds
/// (DynamoDB table with an index by statusId / local).
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection.
    async fn put(&self, connection: &Connection) -> Result<(), ConnectionStoreError>;
    /// The connection, if it is known and not expired.
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, ConnectionStoreError>;
    /// Forgets the connection and every subscription it holds.
    async fn remove(&self, connection_id: &str) -> Result<(), ConnectionStoreError>;
    /// Subscribes the connection to `status_id` (idempotent).
    async fn subscribe(
        &self,
        connection: &Connection,
        status_id: &str,
    ) -> Result<(), ConnectionStoreError>;
    /// Drops one subscription, or all of the connection's with `None`.
    async fn unsubscribe(
        &self,
        connection_id: &str,
        status_id: Option<&str>,
    ) -> Result<(), ConnectionStoreError>;
    /// Every connection subscribed to `status_id`.
    async fn subscribers(&self, status_id: &str) -> Result<Vec<Subscriber>, ConnectionStoreError>;
    /// How many subscriptions the connection holds, so that one connection
    /// cannot grow the table (and every push's fan-out lookup) without bound.
    async fn subscription_count(&self, connection_id: &str) -> Result<usize, ConnectionStoreError>;
}
