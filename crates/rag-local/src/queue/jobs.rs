//! The core's [`JobQueue`] port over two local queues, one per pipeline, as
//! production has one SQS queue per pipeline.

use std::sync::Arc;

use async_trait::async_trait;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::ports::{JobQueue, QueueError as PortError};

use super::{blocking, FileJobQueue};

/// Sends each job to the queue of its pipeline.
#[derive(Debug, Clone)]
pub struct LocalJobQueues {
    /// The text-RAG queue (`…-text-rag-queue` in production).
    pub text_rag: Arc<FileJobQueue>,
    /// The VDR queue (`…-vdr-queue` in production).
    pub vdr: Arc<FileJobQueue>,
}

impl LocalJobQueues {
    /// The queue that carries jobs of `pipeline`.
    pub fn queue_for(&self, pipeline: Pipeline) -> &Arc<FileJobQueue> {
        match pipeline {
            Pipeline::TextRag => &self.text_rag,
            Pipeline::Vdr => &self.vdr,
        }
    }
}

#[async_trait]
impl JobQueue for LocalJobQueues {
    async fn send(&self, job: &PipelineJob) -> Result<(), PortError> {
        let body =
            serde_json::to_string(job).map_err(|e| PortError(format!("cannot encode job: {e}")))?;
        let queue = self.queue_for(job.pipeline);
        let id = blocking(queue, move |q| q.send_body(body))
            .await
            .map_err(|e| {
                tracing::error!(statusId = %job.status_id, queue = %queue.dir().display(), error = %e, "cannot enqueue job");
                PortError(e.to_string())
            })?;
        tracing::debug!(statusId = %job.status_id, pipeline = %job.pipeline.as_str(), message_id = %id, "job enqueued");
        Ok(())
    }
}
