//! The queue consumers: SQS events in, partial batch responses out.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use rag_core::pipeline::{JobConsumer, QueueMessage};

/// Processes an SQS batch; failed messages are reported one by one
/// (`ReportBatchItemFailures`), so their neighbours are not redelivered.
pub async fn handle(consumer: &JobConsumer, event: SqsEvent) -> SqsBatchResponse {
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
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let retry = consumer.handle_batch(&messages).await;
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
