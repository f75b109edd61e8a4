//! A pipeline queue's dead-letter queue, read and emptied for `ragctl dlq`.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use rag_core::ports::QueueError;

use crate::error::describe;

/// One message of a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// SQS's id of the message (kept when moved between queues).
    pub message_id: String,
    /// The job, as the pipeline queue received it.
    pub body: String,
    /// Deliveries before it was dead-lettered, plus any reads since.
    pub receive_count: u32,
    /// When it was first sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: Option<i64>,
    receipt_handle: String,
}

/// The dead-letter queue of a queue, found through its redrive policy (so
/// only the queue URLs the functions already use are configured).
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    url: String,
}

/// How long a listing keeps the messages it read hidden; they are made
/// visible again as soon as it is done.
const PEEK_VISIBILITY_SECS: i32 = 30;

impl SqsDeadLetters {
    /// The dead-letter queue of the queue at `source_url`.
    pub async fn of_queue(config: &SdkConfig, source_url: &str) -> Result<Self, QueueError> {
        let client = crate::sqs::sqs_client(config);
        let attrs = client
            .get_queue_attributes()
            .queue_url(source_url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| {
                QueueError(format!(
                    "reading {source_url}'s redrive policy: {}",
                    describe(&e)
                ))
            })?;
        let policy = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| QueueError(format!("{source_url} has no dead-letter queue")))?;
        let arn = serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
            .ok_or_else(|| QueueError(format!("unreadable redrive policy: {policy}")))?;
        // arn:aws:sqs:<region>:<account>:<name>
        let mut parts = arn.rsplit(':');
        let (name, account) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let url = client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| QueueError(format!("finding the queue {arn}: {}", describe(&e))))?
            .queue_url
            .ok_or_else(|| QueueError(format!("no URL for {arn}")))?;
        Ok(Self { client, url })
    }

    /// The dead-letter queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every message in the queue, at most `limit`, oldest first. They are
    /// hidden while read (so each is read once) and visible again after.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut seen: BTreeMap<String, DeadLetter> = BTreeMap::new();
        while seen.len() < limit {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .visibility_timeout(PEEK_VISIBILITY_SECS)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| QueueError(format!("ReceiveMessage: {}", describe(&e))))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let attr = |k: MessageSystemAttributeName| {
                    m.attributes()
                        .and_then(|a| a.get(&k))
                        .and_then(|v| v.parse::<i64>().ok())
                };
                let letter = DeadLetter {
                    message_id: m.message_id.clone().unwrap_or_default(),
                    body: m.body.clone().unwrap_or_default(),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                    sent_at_ms: attr(MessageSystemAttributeName::SentTimestamp),
                    receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
                };
                seen.insert(letter.message_id.clone(), letter);
            }
        }
        let mut letters: Vec<DeadLetter> = seen.into_values().collect();
        for letter in &letters {
            // Back to visible at once: a listing moves nothing.
            let _ = self
                .client
                .change_message_visibility()
                .queue_url(&self.url)
                .receipt_handle(&letter.receipt_handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
        letters.sort_by_key(|l| (l.sent_at_ms, l.message_id.clone()));
        letters.truncate(limit);
        Ok(letters)
    }

    /// Removes a message read by [`SqsDeadLetters::list`].
    pub async fn delete(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError(format!("DeleteMessage: {}", describe(&e))))
    }
}
