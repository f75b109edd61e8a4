//! The in-process queue consumer: what the SQS event source mapping and the
//! Lambda runtime do in production, for the local gateway.
//!
//! It keeps up to `concurrency` jobs running, starts a new one the moment a
//! message is sent (no poll delay: upload-to-completed time is measured),
//! deletes a message when the core's [`JobConsumer`] is done with it and
//! leaves it for redelivery when it asks for a retry. While a job runs, its
//! message's visibility is extended, so a long job is not delivered twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rag_core::ingest::pipeline::{Deadline, Disposition, JobConsumer, QueueMessage};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{blocking, FileJobQueue, Received};

/// How a consumer loop runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeOptions {
    /// Longest sleep while the queue is empty (sends and due retries wake
    /// the loop earlier).
    pub poll: Duration,
    /// Jobs run at once (like Lambda's concurrency); each holds one message.
    pub concurrency: usize,
    /// The time each job is given, as a Lambda invocation's timeout: long
    /// jobs hand the rest of their work back to the queue before it ends.
    pub job_time_limit: Duration,
}

impl ConsumeOptions {
    /// Jobs at once by default: like a batch of 4 messages, without a slow
    /// job holding the others back.
    pub const DEFAULT_CONCURRENCY: usize = 4;
    /// Lambda's longest timeout: nothing local needs to hurry more.
    pub const DEFAULT_JOB_TIME_LIMIT: Duration = Duration::from_secs(900);

    /// Default concurrency, polling every `poll`.
    pub fn new(poll: Duration) -> Self {
        Self {
            poll,
            concurrency: Self::DEFAULT_CONCURRENCY,
            job_time_limit: Self::DEFAULT_JOB_TIME_LIMIT,
        }
    }
}

/// Consumes `queue` with `consumer` until `shutdown` turns true (or its
/// sender is dropped), with [`ConsumeOptions::DEFAULT_CONCURRENCY`] jobs at once.
pub async fn consume(
    queue: Arc<FileJobQueue>,
    consumer: Arc<JobConsumer>,
    poll: Duration,
    shutdown: watch::Receiver<bool>,
) {
    consume_with(queue, consumer, ConsumeOptions::new(poll), shutdown).await
}

/// [`consume`] with explicit options.
///
/// On shutdown, jobs still running are stopped and their messages handed
/// back ([`FileJobQueue::release`]): visible at once for the next start, and
/// the interrupted attempt not counted as a failure.
pub async fn consume_with(
    queue: Arc<FileJobQueue>,
    consumer: Arc<JobConsumer>,
    options: ConsumeOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let concurrency = options.concurrency.max(1);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut receipts: HashMap<tokio::task::Id, String> = HashMap::new();
    tracing::info!(queue = %queue.dir().display(), concurrency, "queue consumer started");
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let free = concurrency.saturating_sub(running.len());
        let mut wait = options.poll;
        if free > 0 {
            match blocking(&queue, move |q| q.receive(free)).await {
                Ok(batch) => {
                    for received in batch {
                        let receipt = received.receipt.clone();
                        let deadline = Deadline::after(options.job_time_limit);
                        let handle = running.spawn(handle_one(
                            queue.clone(),
                            consumer.clone(),
                            received,
                            deadline,
                        ));
                        receipts.insert(handle.id(), receipt);
                    }
                    // Sleep only until the next retry is due.
                    if let Some(next) = queue.next_visible_in() {
                        wait = wait.min(next);
                    }
                }
                Err(e) => {
                    tracing::error!(queue = %queue.dir().display(), error = %e, "receive failed");
                }
            }
        }
        let can_take = running.len() < concurrency;
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = queue.notified(), if can_take => {}
            _ = tokio::time::sleep(wait), if can_take => {}
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                finished(&mut receipts, done);
            }
        }
    }
    stop(&queue, running, receipts).await;
}

/// Forgets a finished job; a panicked one leaves its message to come back
/// after the visibility timeout.
fn finished(
    receipts: &mut HashMap<tokio::task::Id, String>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    match done {
        Ok((id, ())) => {
            receipts.remove(&id);
        }
        Err(e) => {
            receipts.remove(&e.id());
            if e.is_panic() {
                tracing::error!("job handler panicked; its message will be redelivered");
            }
        }
    }
}

/// Stops running jobs and hands their messages back.
async fn stop(
    queue: &Arc<FileJobQueue>,
    mut running: JoinSet<()>,
    mut receipts: HashMap<tokio::task::Id, String>,
) {
    let interrupted = running.len();
    running.abort_all();
    while let Some(done) = running.join_next_with_id().await {
        match done {
            Err(e) if e.is_cancelled() => {
                if let Some(receipt) = receipts.remove(&e.id()) {
                    if let Err(err) = blocking(queue, move |q| q.release(&receipt)).await {
                        tracing::warn!(queue = %queue.dir().display(), error = %err, "cannot hand an interrupted job back; it returns after its visibility timeout");
                    }
                }
            }
            other => finished(&mut receipts, other),
        }
    }
    tracing::info!(queue = %queue.dir().display(), interrupted, "queue consumer stopped");
}

/// Runs one message through the consumer, keeping it hidden while it runs,
/// and deletes it when the consumer is done with it.
async fn handle_one(
    queue: Arc<FileJobQueue>,
    consumer: Arc<JobConsumer>,
    received: Received,
    deadline: Deadline,
) {
    let Received {
        id,
        body,
        receive_count,
        receipt,
    } = received;
    let message = QueueMessage {
        message_id: id,
        body,
        receive_count,
        // The local queue keeps no send time: no queue-wait metric here.
        sent_at_ms: None,
    };
    let beat = (queue.config().visibility_timeout / 2).max(Duration::from_millis(10));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let work = consumer.handle_until(&message, deadline);
    tokio::pin!(work);
    let disposition = loop {
        tokio::select! {
            disposition = &mut work => break disposition,
            _ = heartbeat.tick() => {
                let receipt = receipt.clone();
                match blocking(&queue, move |q| q.extend_visibility(&receipt)).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(message_id = %message.message_id, "message was redelivered while its job ran"),
                    Err(e) => tracing::warn!(message_id = %message.message_id, error = %e, "cannot extend a running job's visibility"),
                }
            }
        }
    };
    match disposition {
        Disposition::Done => match blocking(&queue, move |q| q.delete(&receipt)).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(message_id = %message.message_id, "message was redelivered before it could be deleted")
            }
            Err(e) => {
                tracing::error!(message_id = %message.message_id, error = %e, "cannot delete a finished message; it will be redelivered")
            }
        },
        Disposition::Retry => {
            tracing::debug!(message_id = %message.message_id, receive_count, "message left for redelivery");
        }
    }
}
