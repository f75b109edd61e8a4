//! Why a run failed, in the words its owner sees: a stable code a client can
//! switch on and a plain message. Status records and WebSocket pushes reach
//! users, so they never carry what an adapter said about a failure (host
//! names, endpoint URLs, file paths, SQL): that goes to the logs.

use crate::ports::ExtractError;

/// A run's failure as recorded in its status (`error`, `errorCode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable, machine-readable (`encrypted`, `index_unavailable`, ...).
    pub code: &'static str,
    /// What went wrong, in words the owner can act on.
    pub error: String,
}

impl Failure {
    /// A failure with `code` and a message about the document.
    pub fn new(code: &'static str, error: impl Into<String>) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }
}

impl From<&ExtractError> for Failure {
    fn from(e: &ExtractError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<ExtractError> for Failure {
    fn from(e: ExtractError) -> Self {
        Self::from(&e)
    }
}

/// The dependency an infrastructure fault came from (see
/// [`super::TransientError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The object store (S3, the local directory).
    Storage,
    /// The index (PostgreSQL).
    Index,
    /// The text or page embedding model.
    Embedding,
    /// The status store (DynamoDB).
    Status,
    /// The job queue (SQS).
    Queue,
    /// The page renderer (PDFium, LibreOffice).
    Rendering,
}

/// The code of a run whose worker was lost (out of time or memory, a crash)
/// on its last delivery: recorded by the sweeper, replayed by a redrive.
pub const WORKER_LOST: &str = "worker_lost";

impl Fault {
    /// Every fault, for reading a recorded code back.
    pub const ALL: [Fault; 6] = [
        Fault::Storage,
        Fault::Index,
        Fault::Embedding,
        Fault::Status,
        Fault::Queue,
        Fault::Rendering,
    ];

    /// The fault a recorded `errorCode` names, if it names one.
    pub fn from_code(code: &str) -> Option<Fault> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    /// The stable code recorded when the fault ends a run.
    pub fn code(self) -> &'static str {
        match self {
            Fault::Storage => "storage_unavailable",
            Fault::Index => "index_unavailable",
            Fault::Embedding => "embedding_unavailable",
            Fault::Status => "status_unavailable",
            Fault::Queue => "queue_unavailable",
            Fault::Rendering => "renderer_unavailable",
        }
    }

    /// What the owner is told, instead of the adapter's own words.
    pub fn public_message(self) -> &'static str {
        match self {
            Fault::Storage => "the file store could not be reached",
            Fault::Index => "the search index could not be reached",
            Fault::Embedding => "the embedding model could not be reached",
            Fault::Status => "the status store could not be reached",
            Fault::Queue => "the processing queue could not be reached",
            Fault::Rendering => "the page renderer failed",
        }
    }
}
