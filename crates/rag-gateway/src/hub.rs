//! The open WebSocket connections of this process: what API Gateway keeps
//! for a WebSocket API, and what its Management API posts into.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

/// Outgoing text frames per connection id.
#[derive(Clone, Default)]
pub(crate) struct Hub {
    senders: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>,
}

impl Hub {
    /// Registers a connection; frames sent to it arrive on the receiver.
    pub(crate) fn open(&self, connection_id: &str) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(connection_id.to_owned(), tx);
        rx
    }

    /// Forgets a connection.
    pub(crate) fn close(&self, connection_id: &str) {
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(connection_id);
    }

    /// Queues a frame; `false` when the connection is gone (a `410`).
    pub(crate) fn send(&self, connection_id: &str, text: String) -> bool {
        let senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        senders
            .get(connection_id)
            .is_some_and(|tx| tx.send(text).is_ok())
    }
}
