//! The queue consumers: SQS events in, partial batch responses out.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use rag_core::ingest::pipeline::{JobConsumer, QueueMessage};

/// The end of an invocation, as the handlers take it.
pub use rag_core::ingest::pipeline::Deadline;

/// Processes an SQS batch; failed messages are reported one by one
/// (`ReportBatchItemFailures`), so their neighbours are not redelivered.
pub async fn handle(consumer: &JobConsumer, event: SqsEvent) -> SqsBatchResponse {
    handle_until(consumer, event, Deadline::none()).await
}

/// [`handle`] within an invocation ending at `deadline` (the Lambda
/// context's), so long jobs hand their rest back to the queue in time.
pub async fn handle_until(
    consumer: &JobConsumer,
    event: SqsEvent,
    deadline: Deadline,
) -> SqsBatchResponse {
    let messages: Vec<QueueMessage> = event
        .records
        .into_iter()
        .map(|m| QueueMessage {
            message_id: m.message_id.unwrap_or_default(),
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            sent_at_ms: m
                .attributes
                .get("SentTimestamp")
                .and_then(|t| t.parse().ok()),
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let retry = consumer.handle_batch_until(&messages, deadline).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = retry
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
