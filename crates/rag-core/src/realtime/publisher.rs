//! Pushing status records to subscribed connections.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use crate::domain::status::{StatusRecord, StatusUpdate};
use crate::ports::{
    ConnectionStore, Notifier, NotifyError, StatusStore, StatusStoreError, StatusWrite,
};

/// Pushes at most this many messages at once: enough to reach a crowd of
/// subscribers in one round-trip time, few enough not to trip API Gateway's
/// per-connection throttles.
const PUSH_CONCURRENCY: usize = 32;

/// What one publish did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Subscribers the message was delivered to.
    pub sent: usize,
    /// Connections found gone (and removed).
    pub gone: usize,
    /// Pushes that failed for another reason (logged); their connections
    /// are kept.
    pub failed: usize,
}

/// Sends `document_status_update` messages to a record's subscribers.
#[derive(Clone)]
pub struct StatusPublisher {
    /// Connections and their subscriptions: who gets a record, and where
    /// gone connections are removed.
    pub connections: Arc<dyn ConnectionStore>,
    /// Sends a message to one connection and reports it gone.
    pub notifier: Arc<dyn Notifier>,
}

impl StatusPublisher {
    /// Pushes `record` to every connection subscribed to it that belongs to
    /// the record's owner, concurrently. A gone connection is removed at
    /// once; no failure is returned, since a push must never fail the work
    /// it reports on.
    pub async fn publish(&self, record: &StatusRecord) -> PublishReport {
        let subscribers = match self.connections.subscribers(&record.status_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(statusId = %record.status_id, error = %e, "subscriber lookup failed");
                return PublishReport::default();
            }
        };
        let message = Arc::new(record.to_push_message());
        // A subscription made before the record existed must not leak
        // another user's progress.
        let pushes: Vec<_> = subscribers
            .into_iter()
            .filter(|s| s.user == record.user)
            .map(|s| {
                let (this, message) = (self.clone(), message.clone());
                async move {
                    let outcome = this.notifier.send(&s.connection_id, &message).await;
                    if matches!(outcome, Err(NotifyError::Gone)) {
                        this.forget(&s.connection_id).await;
                    }
                    outcome
                }
            })
            .collect();
        let outcomes: Vec<Result<(), NotifyError>> = stream::iter(pushes)
            .buffer_unordered(PUSH_CONCURRENCY)
            .collect()
            .await;
        let mut report = PublishReport::default();
        for outcome in outcomes {
            match outcome {
                Ok(()) => report.sent += 1,
                Err(NotifyError::Gone) => report.gone += 1,
                Err(NotifyError::Failed(e)) => {
                    tracing::warn!(statusId = %record.status_id, error = %e, "push failed");
                    report.failed += 1;
                }
            }
        }
        if report != PublishReport::default() {
            tracing::debug!(statusId = %record.status_id, status = %record.status, sent = report.sent, gone = report.gone, failed = report.failed, "status pushed");
        }
        report
    }

    /// Removes a connection API Gateway reported gone.
    pub async fn forget(&self, connection_id: &str) {
        tracing::info!(connection_id, "connection gone, removed");
        if let Err(e) = self.connections.remove(connection_id).await {
            tracing::warn!(connection_id, error = %e, "removing a gone connection failed");
        }
    }
}

/// A [`StatusStore`] that publishes every applied change: wrapping the
/// pipelines' store in it is what makes every stage reach subscribers.
pub struct NotifyingStatusStore {
    /// The store that keeps the records; every call is passed to it.
    pub inner: Arc<dyn StatusStore>,
    /// Pushes each record `inner` applied; reads, part counts and deletes
    /// are not pushed.
    pub publisher: StatusPublisher,
}

#[async_trait]
impl StatusStore for NotifyingStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        let outcome = self.inner.apply(update).await?;
        if let StatusWrite::Applied(record) = &outcome {
            self.publisher.publish(record).await;
        }
        Ok(outcome)
    }

    async fn record_part(
        &self,
        report: &crate::domain::status::PartReport,
    ) -> Result<Option<crate::domain::status::PartProgress>, StatusStoreError> {
        self.inner.record_part(report).await
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        self.inner.get(status_id).await
    }

    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.expired(now, limit).await
    }

    async fn list_for_user(
        &self,
        user: &str,
        listing: &crate::ports::Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        self.inner.list_for_user(user, listing).await
    }

    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        self.inner.delete(status_id).await
    }
}
