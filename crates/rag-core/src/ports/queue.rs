//! The job queues between submission and the pipelines (SQS, a local file queue).

use async_trait::async_trait;

/// Errors of a [`JobQueue`].
#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

/// Hands jobs to the background pipelines (SQS / the local queue).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends `job` to the queue of its pipeline (`job.pipeline`).
    async fn send(&self, job: &crate::domain::job::PipelineJob) -> Result<(), QueueError>;
}
