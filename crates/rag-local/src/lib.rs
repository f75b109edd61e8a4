//! Adapters that run the core on one machine, without AWS: objects in
//! directories, a persistent job queue with SQS's rules, status records in
//! memory or in a directory, WebSocket connections in memory, and local
//! identity tokens verified like Cognito's. The local gateway (`ragctl dev`)
//! and the CLI wire these to the same core as the Lambda functions.

#![warn(missing_docs)]

mod blobs;
mod connections;
mod fsio;
mod queue;
mod status;
mod tokens;

pub use blobs::{FsBlobStore, Upload};
pub use connections::MemoryConnectionStore;
pub use queue::{
    consume, consume_with, ConsumeOptions, DeadLetter, FileJobQueue, LocalJobQueues, QueueConfig,
    QueueError, QueueStats, Received,
};
pub use status::{FileStatusStore, MemoryStatusStore, StatusFileError};
pub use tokens::{LocalTokens, TokenError};
