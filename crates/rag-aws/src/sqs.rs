//! [`JobQueue`] on SQS: one queue per pipeline.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::ports::{JobQueue, QueueError};

use crate::error::describe;

/// An SQS client from the shared configuration, with the quick timeouts
/// of calls that never wait on the queue (no long polling).
pub(crate) fn sqs_client(config: &SdkConfig) -> Client {
    Client::from_conf(
        aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(crate::config::quick_timeouts())
            .build(),
    )
}

/// Sends each job, as its JSON, to the queue of its pipeline; SQS's redrive
/// policy (maxReceiveCount 3, dead-letter queue) handles retries.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    text_rag_queue_url: String,
    vdr_queue_url: String,
}

impl SqsJobQueue {
    /// A queue pair by URL (`TEXT_RAG_PROCESSING_QUEUE_URL`,
    /// `VDR_PROCESSING_QUEUE_URL`).
    pub fn new(
        client: Client,
        text_rag_queue_url: impl Into<String>,
        vdr_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            text_rag_queue_url: text_rag_queue_url.into(),
            vdr_queue_url: vdr_queue_url.into(),
        }
    }

    /// The same, on a client from the shared configuration.
    pub fn from_config(
        config: &SdkConfig,
        text_rag_queue_url: impl Into<String>,
        vdr_queue_url: impl Into<String>,
    ) -> Self {
        Self::new(sqs_client(config), text_rag_queue_url, vdr_queue_url)
    }

    /// The queue a pipeline consumes.
    pub fn queue_url(&self, pipeline: Pipeline) -> &str {
        match pipeline {
            Pipeline::TextRag => &self.text_rag_queue_url,
            Pipeline::Vdr => &self.vdr_queue_url,
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, job: &PipelineJob) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(job).map_err(|e| QueueError(format!("encoding job: {e}")))?;
        let queue_url = self.queue_url(job.pipeline);
        let out = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                let detail = describe(&e);
                tracing::warn!(queue_url, statusId = %job.status_id, error = %detail, "SendMessage failed");
                QueueError(format!("SendMessage: {detail}"))
            })?;
        tracing::debug!(
            queue_url,
            statusId = %job.status_id,
            run_id = %job.run_id,
            message_id = out.message_id().unwrap_or_default(),
            "job queued"
        );
        Ok(())
    }
}
