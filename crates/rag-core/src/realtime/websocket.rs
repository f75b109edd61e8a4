//! The WebSocket routes: `$connect`, `$disconnect` and the actions.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};

use super::StatusPublisher;
use crate::api::error::ApiError;
use crate::ports::{AuthError, Connection, NotifyError, StatusStore, TokenVerifier};
use crate::search::query::MAX_DOCUMENT_ID_BYTES;

/// Settings of the WebSocket routes.
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// How long a connection and its subscriptions live without `$disconnect`
    /// (API Gateway closes connections after 2 hours at most).
    pub connection_ttl_secs: i64,
    /// Most statusIds one connection may be subscribed to at once.
    pub max_subscriptions: usize,
    /// Largest message a client may send, in bytes (API Gateway allows
    /// 128 KB; every action of the protocol fits in a few hundred bytes).
    pub max_message_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            connection_ttl_secs: 2 * 3600 + 600,
            max_subscriptions: 100,
            max_message_bytes: 8 * 1024,
        }
    }
}

/// Handles the WebSocket API's routes. Connections live in the publisher's
/// store, the one pushes are sent from.
pub struct WebSocketService {
    /// Read on `subscribe`: who owns the document, and its current state
    /// to send at once.
    pub status: Arc<dyn StatusStore>,
    /// Checks the `?token=` id token on `$connect` and names its user.
    pub verifier: Arc<dyn TokenVerifier>,
    /// Its connection store records connections and subscriptions; its
    /// notifier sends the replies.
    pub publisher: StatusPublisher,
    /// Connection TTL and the limits on subscriptions and message size.
    pub config: WebSocketConfig,
}

impl WebSocketService {
    /// `$connect`: verifies `?token=` and records the connection; a refusal
    /// (`401`) makes API Gateway reject the handshake. Nothing else names
    /// the user: the original's `?user=` is not trusted here (the local
    /// gateway can turn it into a token, behind a cargo feature no Lambda
    /// function is built with).
    pub async fn connect(
        &self,
        connection_id: &str,
        query: &HashMap<String, String>,
    ) -> Result<Connection, ApiError> {
        let token = query
            .get("token")
            .map(String::as_str)
            .filter(|t| !t.is_empty());
        let caller = match token {
            Some(token) => self.verifier.verify(token).await.map_err(|e| match e {
                AuthError::Unavailable(why) => {
                    tracing::error!(connection_id, error = %why, "token keys unavailable");
                    ApiError::unavailable("identity provider unavailable; try again")
                }
                other => {
                    tracing::info!(connection_id, reason = %other, "connection refused");
                    ApiError::unauthorized(format!("connection refused: {other}"))
                }
            })?,
            None => {
                return Err(ApiError::unauthorized(
                    "connection refused: a ?token= with a valid id token is required",
                ))
            }
        };
        let now = Utc::now();
        let connection = Connection {
            connection_id: connection_id.to_owned(),
            user: caller.user,
            connected_at: now,
            ttl: now.timestamp() + self.config.connection_ttl_secs,
        };
        self.publisher
            .connections
            .put(&connection)
            .await
            .map_err(|e| {
                tracing::error!(connection_id, error = %e, "recording the connection failed");
                ApiError::internal()
            })?;
        tracing::info!(connection_id, user = %connection.user, "connected");
        Ok(connection)
    }

    /// `$disconnect`: forgets the connection and its subscriptions.
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), ApiError> {
        self.publisher
            .connections
            .remove(connection_id)
            .await
            .map_err(|e| {
                tracing::error!(connection_id, error = %e, "removing the connection failed");
                ApiError::internal()
            })?;
        tracing::info!(connection_id, "disconnected");
        Ok(())
    }

    /// `$default` and the named actions: answers on the connection itself
    /// and returns the messages sent, in order.
    pub async fn message(&self, connection_id: &str, body: Option<&str>) -> Vec<Value> {
        let replies = self.replies(connection_id, body.unwrap_or("")).await;
        for reply in &replies {
            match self.publisher.notifier.send(connection_id, reply).await {
                Ok(()) => {}
                Err(NotifyError::Gone) => {
                    self.publisher.forget(connection_id).await;
                    break;
                }
                Err(NotifyError::Failed(e)) => {
                    tracing::warn!(connection_id, error = %e, "reply failed");
                }
            }
        }
        replies
    }

    async fn replies(&self, connection_id: &str, body: &str) -> Vec<Value> {
        if body.len() > self.config.max_message_bytes {
            tracing::info!(
                connection_id,
                bytes = body.len(),
                "oversized message refused"
            );
            return vec![error(&format!(
                "Message too large: {} bytes; the limit is {}",
                body.len(),
                self.config.max_message_bytes
            ))];
        }
        let request: Value = match serde_json::from_str(body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return vec![error(
                    "Invalid message: expected a JSON object with an 'action'",
                )]
            }
            Err(e) => return vec![error(&format!("Invalid JSON: {e}"))],
        };
        let action = request.get("action").and_then(Value::as_str);
        let status_id = request.get("statusId").and_then(Value::as_str);
        match action {
            Some("ping") => vec![
                json!({"type": "pong", "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}),
            ],
            Some("subscribe") => self.subscribe(connection_id, status_id).await,
            Some("unsubscribe") => self.unsubscribe(connection_id, status_id).await,
            Some(other) => vec![error(&format!("Unknown action: {other}"))],
            None => vec![error("Unknown action: a message needs an 'action'")],
        }
    }

    async fn subscribe(&self, connection_id: &str, status_id: Option<&str>) -> Vec<Value> {
        let Some(status_id) = status_id.filter(|s| !s.is_empty()) else {
            return vec![error("subscribe needs a 'statusId'")];
        };
        if status_id.len() > MAX_DOCUMENT_ID_BYTES {
            return vec![error(&format!(
                "'statusId' is longer than {MAX_DOCUMENT_ID_BYTES} bytes"
            ))];
        }
        let connection = match self.publisher.connections.get(connection_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return vec![error("Connection not registered; reconnect")],
            Err(e) => {
                tracing::error!(connection_id, error = %e, "connection lookup failed");
                return vec![error("Subscription failed; try again")];
            }
        };
        let current = match self.status.get(status_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(connection_id, status_id, error = %e, "status read failed");
                return vec![error("Subscription failed; try again")];
            }
        };
        if current.as_ref().is_some_and(|r| r.user != connection.user) {
            tracing::warn!(connection_id, status_id, user = %connection.user, "subscription to another user's document refused");
            return vec![
                json!({"type": "error", "error": "Not authorized to subscribe to this document", "statusId": status_id}),
            ];
        }
        match self
            .publisher
            .connections
            .subscription_count(connection_id)
            .await
        {
            Ok(held) if held >= self.config.max_subscriptions => {
                tracing::info!(connection_id, held, "subscription limit reached");
                return vec![json!({
                    "type": "error",
                    "error": format!(
                        "Too many subscriptions: a connection holds at most {}; unsubscribe first",
                        self.config.max_subscriptions
                    ),
                    "statusId": status_id,
                })];
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(connection_id, error = %e, "subscription count failed");
                return vec![error("Subscription failed; try again")];
            }
        }
        if let Err(e) = self
            .publisher
            .connections
            .subscribe(&connection, status_id)
            .await
        {
            tracing::error!(connection_id, status_id, error = %e, "subscribing failed");
            return vec![error("Subscription failed; try again")];
        }
        tracing::info!(connection_id, status_id, "subscribed");
        let mut replies = vec![json!({"type": "subscription_confirmed", "statusId": status_id})];
        // The current state at once, so a late subscriber misses nothing.
        replies.extend(current.map(|r| r.to_push_message()));
        replies
    }

    async fn unsubscribe(&self, connection_id: &str, status_id: Option<&str>) -> Vec<Value> {
        match self
            .publisher
            .connections
            .unsubscribe(connection_id, status_id)
            .await
        {
            Ok(()) => {
                let mut reply = json!({"type": "unsubscribed"});
                if let Some(s) = status_id {
                    reply["statusId"] = s.into();
                }
                vec![reply]
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "unsubscribing failed");
                vec![error("Unsubscribe failed; try again")]
            }
        }
    }
}

fn error(message: &str) -> Value {
    json!({"type": "error", "error": message})
}
