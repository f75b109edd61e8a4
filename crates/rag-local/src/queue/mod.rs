//! A persistent job queue with SQS's delivery rules, in a directory.
//!
//! The local gateway runs the pipelines in-process, and a restart must lose
//! no queued work; so every message is a JSON file under `messages/`,
//! written atomically, and dead letters are files under `dead/`. The rules
//! are those of the production queues (visibility timeout, at-least-once
//! delivery, `maxReceiveCount` then the dead-letter queue), so a pipeline
//! that is correct locally is correct on SQS:
//!
//! - [`FileJobQueue::receive`] hides what it returns for the visibility
//!   timeout; a message not deleted by then comes back, with its
//!   `receive_count` one higher.
//! - A message received `max_receives` times and still not deleted is moved
//!   to the dead letters on the receive after its last one, as SQS does.
//! - Every receive hands out a new receipt; only the latest one deletes, so a
//!   slow consumer cannot delete a message that was redelivered to another.
//!
//! One process owns a queue directory at a time (the state is cached in
//! memory); messages it left in flight when it died become visible again
//! when their persisted visibility deadline passes.

mod consumer;
mod jobs;

pub use consumer::{consume, consume_with, ConsumeOptions};
pub use jobs::LocalJobQueues;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::fsio;

/// Delivery rules of a [`FileJobQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a received message stays hidden before it is delivered
    /// again (SQS `VisibilityTimeout`).
    pub visibility_timeout: Duration,
    /// Deliveries before a message goes to the dead letters (the redrive
    /// policy's `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for QueueConfig {
    /// 60 s visibility (jobs on a laptop are short; production uses 900 s)
    /// and 3 receives, the production `maxReceiveCount`.
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(60),
            max_receives: 3,
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Reading or writing the queue directory failed.
    #[error("queue storage error at {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A message could not be encoded.
    #[error("cannot encode queue message: {0}")]
    Encode(#[source] serde_json::Error),
    /// The body is over SQS's message size limit; it would fail in production.
    #[error("message is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The body's size in bytes.
        size: usize,
        /// [`FileJobQueue::MAX_BODY_BYTES`].
        limit: usize,
    },
    /// A thread panicked while holding the queue state.
    #[error("queue state is poisoned")]
    Poisoned,
    /// A blocking queue operation could not be run or was cancelled.
    #[error("queue task failed: {0}")]
    Task(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A message handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message id (stable across deliveries, like SQS's `MessageId`).
    pub id: String,
    /// What was sent (a JSON [`rag_core::domain::job::PipelineJob`] for job queues).
    pub body: String,
    /// Deliveries so far, this one included.
    pub receive_count: u32,
    /// Deletes (or extends) this delivery only; a redelivery gets another.
    pub receipt: String,
}

/// A message that exhausted its deliveries, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id it had on the queue.
    pub id: String,
    /// What was sent.
    pub body: String,
    /// Deliveries it had (the queue's `max_receives`).
    pub receive_count: u32,
    /// When it was first sent, epoch milliseconds.
    pub sent_at: i64,
    /// When it was moved to the dead letters, epoch milliseconds.
    pub dead_at: i64,
}

/// Counts of a queue, for status pages and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages that a receive would return now.
    pub visible: usize,
    /// Messages received and hidden until their visibility timeout.
    pub in_flight: usize,
    /// Dead letters.
    pub dead: usize,
}

/// One message as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredMessage {
    id: String,
    body: String,
    receive_count: u32,
    /// Epoch ms; hidden from receives until then.
    visible_at: i64,
    /// Epoch ms of the send.
    sent_at: i64,
    /// Send order among messages of the same millisecond.
    #[serde(default)]
    seq: u64,
    /// The receipt of the latest delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt: Option<String>,
    /// Epoch ms of the move to the dead letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_at: Option<i64>,
}

/// Delivery order: oldest first.
type OrderKey = (i64, u64, String);

impl StoredMessage {
    fn order_key(&self) -> OrderKey {
        (self.sent_at, self.seq, self.id.clone())
    }
}

#[derive(Debug, Default)]
struct State {
    messages: BTreeMap<OrderKey, StoredMessage>,
    by_id: HashMap<String, OrderKey>,
    next_seq: u64,
    dead: usize,
}

impl State {
    fn insert(&mut self, message: StoredMessage) {
        let key = message.order_key();
        self.by_id.insert(message.id.clone(), key.clone());
        self.messages.insert(key, message);
    }

    fn remove(&mut self, id: &str) -> Option<StoredMessage> {
        let key = self.by_id.remove(id)?;
        self.messages.remove(&key)
    }

    fn get(&self, id: &str) -> Option<&StoredMessage> {
        self.by_id.get(id).and_then(|k| self.messages.get(k))
    }
}

/// A persistent local queue with SQS's semantics (see the module docs).
#[derive(Debug)]
pub struct FileJobQueue {
    dir: PathBuf,
    messages_dir: PathBuf,
    dead_dir: PathBuf,
    config: QueueConfig,
    state: Mutex<State>,
    notify: Notify,
}

/// Epoch milliseconds now.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl FileJobQueue {
    /// SQS's maximum message size (256 KiB): a bigger job would fail there.
    pub const MAX_BODY_BYTES: usize = 256 * 1024;

    /// Opens (creating if needed) the queue in `dir`, loading what a previous
    /// process left: queued messages, messages it had in flight (visible again
    /// once their deadline passes) and dead letters.
    pub fn open(dir: impl Into<PathBuf>, config: QueueConfig) -> Result<Self, QueueError> {
        let dir = dir.into();
        let messages_dir = dir.join("messages");
        let dead_dir = dir.join("dead");
        for d in [&messages_dir, &dead_dir] {
            std::fs::create_dir_all(d).map_err(io_error(d))?;
            fsio::remove_stale_temps(d).map_err(io_error(d))?;
        }
        let dead_files = fsio::json_files(&dead_dir).map_err(io_error(&dead_dir))?;
        let dead_ids: std::collections::HashSet<String> = dead_files
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        let mut state = State {
            dead: dead_files.len(),
            ..State::default()
        };
        for path in fsio::json_files(&messages_dir).map_err(io_error(&messages_dir))? {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if dead_ids.contains(&stem) {
                // Dead-lettered, but the process died before removing it.
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            match serde_json::from_str::<StoredMessage>(&text) {
                Ok(message) if message.id == stem => {
                    state.next_seq = state.next_seq.max(message.seq + 1);
                    state.insert(message);
                }
                Ok(_) | Err(_) => {
                    // Not ours or damaged: set aside for inspection, never
                    // delivered and never loaded again.
                    let aside = path.with_extension("corrupt");
                    tracing::warn!(path = %path.display(), moved_to = %aside.display(), "unreadable queue message set aside");
                    std::fs::rename(&path, &aside).map_err(io_error(&path))?;
                }
            }
        }
        tracing::info!(queue = %dir.display(), messages = state.messages.len(), dead = state.dead, "queue opened");
        Ok(Self {
            dir,
            messages_dir,
            dead_dir,
            config,
            state: Mutex::new(state),
            notify: Notify::new(),
        })
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The delivery rules in force.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, QueueError> {
        self.state.lock().map_err(|_| QueueError::Poisoned)
    }

    fn message_path(&self, id: &str) -> PathBuf {
        self.messages_dir.join(format!("{id}.json"))
    }

    fn write(&self, path: &Path, message: &StoredMessage, durable: bool) -> Result<(), QueueError> {
        let bytes = serde_json::to_vec(message).map_err(QueueError::Encode)?;
        fsio::write_atomic(path, &bytes, durable).map_err(io_error(path))
    }

    /// Enqueues `body`, durably (flushed to disk before returning), and
    /// wakes a waiting consumer. Returns the message id.
    pub fn send_body(&self, body: String) -> Result<String, QueueError> {
        if body.len() > Self::MAX_BODY_BYTES {
            return Err(QueueError::TooLarge {
                size: body.len(),
                limit: Self::MAX_BODY_BYTES,
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        {
            let mut state = self.lock()?;
            let now = now_ms();
            let message = StoredMessage {
                id: id.clone(),
                body,
                receive_count: 0,
                visible_at: now,
                sent_at: now,
                seq: state.next_seq,
                receipt: None,
                dead_at: None,
            };
            self.write(&self.message_path(&id), &message, true)?;
            state.next_seq += 1;
            state.insert(message);
        }
        tracing::debug!(queue = %self.dir.display(), message_id = %id, "message sent");
        self.wake();
        Ok(id)
    }

    /// Up to `max` visible messages, oldest first, each hidden for the
    /// visibility timeout. Messages that already had their last delivery
    /// are moved to the dead letters instead.
    pub fn receive(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let mut received = Vec::new();
        if max == 0 {
            return Ok(received);
        }
        let mut state = self.lock()?;
        let now = now_ms();
        let visible: Vec<String> = state
            .messages
            .values()
            .filter(|m| m.visible_at <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in visible {
            if received.len() == max {
                break;
            }
            let Some(current) = state.get(&id).cloned() else {
                continue;
            };
            let outcome = if current.receive_count >= self.config.max_receives {
                self.dead_letter(&mut state, current, now).map(|()| None)
            } else {
                self.deliver(&mut state, current, now).map(Some)
            };
            match outcome {
                Ok(Some(r)) => received.push(r),
                Ok(None) => {}
                // Return what was already delivered: those messages are
                // hidden now, and a caller that got nothing would leave them
                // invisible for the whole timeout.
                Err(e) if !received.is_empty() => {
                    tracing::warn!(queue = %self.dir.display(), error = %e, "receive stopped early");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(received)
    }

    fn deliver(
        &self,
        state: &mut State,
        mut message: StoredMessage,
        now: i64,
    ) -> Result<Received, QueueError> {
        let receipt = format!("{}:{}", message.id, uuid::Uuid::new_v4().simple());
        message.receive_count += 1;
        message.visible_at = now.saturating_add(millis(self.config.visibility_timeout));
        message.receipt = Some(receipt.clone());
        // Not flushed: losing this update to a power cut only means an
        // earlier redelivery, which at-least-once allows.
        self.write(&self.message_path(&message.id), &message, false)?;
        let received = Received {
            id: message.id.clone(),
            body: message.body.clone(),
            receive_count: message.receive_count,
            receipt,
        };
        state.insert(message);
        Ok(received)
    }

    fn dead_letter(
        &self,
        state: &mut State,
        mut message: StoredMessage,
        now: i64,
    ) -> Result<(), QueueError> {
        message.dead_at = Some(now);
        message.receipt = None;
        let dead_path = self.dead_dir.join(format!("{}.json", message.id));
        self.write(&dead_path, &message, true)?;
        let path = self.message_path(&message.id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // The dead letter exists; `open` removes the leftover.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a dead-lettered message")
            }
        }
        state.remove(&message.id);
        state.dead += 1;
        tracing::warn!(queue = %self.dir.display(), message_id = %message.id, receive_count = message.receive_count, "message moved to the dead letters");
        Ok(())
    }

    /// The message of `receipt`, if that receipt is its latest delivery.
    fn current<'s>(state: &'s State, receipt: &str) -> Option<&'s StoredMessage> {
        let (id, _) = receipt.split_once(':')?;
        state
            .get(id)
            .filter(|m| m.receipt.as_deref() == Some(receipt))
    }

    /// Deletes the message of `receipt`; `false` (and nothing deleted) if the
    /// message is gone or was redelivered since, so the receipt is stale.
    pub fn delete(&self, receipt: &str) -> Result<bool, QueueError> {
        let mut state = self.lock()?;
        let Some(id) = Self::current(&state, receipt).map(|m| m.id.clone()) else {
            return Ok(false);
        };
        let path = self.message_path(&id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        state.remove(&id);
        tracing::debug!(queue = %self.dir.display(), message_id = %id, "message deleted");
        Ok(true)
    }

    /// Hides the message of `receipt` for another visibility timeout from
    /// now (SQS `ChangeMessageVisibility`): a consumer still working on a long
    /// job keeps it from being delivered twice. `false` if the receipt is stale.
    pub fn extend_visibility(&self, receipt: &str) -> Result<bool, QueueError> {
        let mut state = self.lock()?;
        let Some(mut message) = Self::current(&state, receipt).cloned() else {
            return Ok(false);
        };
        message.visible_at = now_ms().saturating_add(millis(self.config.visibility_timeout));
        self.write(&self.message_path(&message.id), &message, false)?;
        state.insert(message);
        Ok(true)
    }

    /// Hands the message of `receipt` back unprocessed: visible at once, and
    /// this delivery not counted against `max_receives` (an interrupted
    /// attempt, such as at shutdown, is not a failure). `false` if the
    /// receipt is stale.
    pub fn release(&self, receipt: &str) -> Result<bool, QueueError> {
        let mut state = self.lock()?;
        let Some(mut message) = Self::current(&state, receipt).cloned() else {
            return Ok(false);
        };
        message.visible_at = now_ms();
        message.receive_count = message.receive_count.saturating_sub(1);
        message.receipt = None;
        self.write(&self.message_path(&message.id), &message, true)?;
        state.insert(message);
        drop(state);
        self.wake();
        Ok(true)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        // Holding the lock keeps the listing consistent with concurrent moves.
        let _state = self.lock()?;
        let mut letters = Vec::new();
        for path in fsio::json_files(&self.dead_dir).map_err(io_error(&self.dead_dir))? {
            let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            match serde_json::from_str::<StoredMessage>(&text) {
                Ok(m) => letters.push(DeadLetter {
                    dead_at: m.dead_at.unwrap_or(m.sent_at),
                    id: m.id,
                    body: m.body,
                    receive_count: m.receive_count,
                    sent_at: m.sent_at,
                }),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable dead letter skipped")
                }
            }
        }
        letters.sort_by(|a, b| (a.dead_at, &a.id).cmp(&(b.dead_at, &b.id)));
        Ok(letters)
    }

    /// How many messages are visible, in flight and dead.
    pub fn stats(&self) -> Result<QueueStats, QueueError> {
        let state = self.lock()?;
        let now = now_ms();
        let visible = state
            .messages
            .values()
            .filter(|m| m.visible_at <= now)
            .count();
        Ok(QueueStats {
            visible,
            in_flight: state.messages.len() - visible,
            dead: state.dead,
        })
    }

    /// How long until the next hidden message becomes visible (zero if one
    /// is visible now); `None` when the queue is empty. Lets a consumer sleep
    /// exactly until a retry is due.
    pub fn next_visible_in(&self) -> Option<Duration> {
        let state = self.state.lock().ok()?;
        let next = state.messages.values().map(|m| m.visible_at).min()?;
        Some(Duration::from_millis(
            u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0),
        ))
    }

    /// Wakes a consumer waiting in [`FileJobQueue::notified`] (one; if none is
    /// waiting, the next wait returns at once). Sends call it, so a new job
    /// starts without waiting for the poll interval.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Completes at the next [`FileJobQueue::wake`] (or at once if one
    /// happened while nobody was waiting).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

/// Runs a blocking queue operation off the async runtime's workers.
pub(crate) async fn blocking<T, F>(queue: &Arc<FileJobQueue>, op: F) -> Result<T, QueueError>
where
    T: Send + 'static,
    F: FnOnce(&FileJobQueue) -> Result<T, QueueError> + Send + 'static,
{
    let queue = Arc::clone(queue);
    tokio::task::spawn_blocking(move || op(&queue))
        .await
        .map_err(|e| QueueError::Task(e.to_string()))?
}
