//! What every Lambda function of the fleet runs: the handlers that turn API
//! Gateway and SQS events into calls of the core's services and back, and
//! the wiring that builds those services from the environment once per
//! container. The binaries in `functions/` only pick one of each.
//!
//! Features choose what a function links: none for the WebSocket
//! functions, `documents` (the database) for the api-processor, `query`
//! (and the embedding model) for the query handler, `ingest` (document
//! readers, vision models, queue consumers) for the processors.
//!
//! Handlers are plain async functions over `aws_lambda_events` types, so
//! tests (and the local gateway) drive them with real event payloads without
//! a Lambda runtime.

#[cfg(feature = "documents")]
pub mod api_processor;
pub mod emf;
pub mod env;
pub mod http;
pub mod logging;
#[cfg(feature = "query")]
pub mod query_handler;
mod serve;
#[cfg(feature = "ingest")]
pub mod sqs;
pub mod websocket;
pub mod wiring;

/// Every processor's `main` calls it first: the process may be a document
/// reader its parent started (see `rag_extract::sandbox`).
#[cfg(feature = "ingest")]
pub use rag_extract::sandbox::serve_if_worker;
#[cfg(feature = "ingest")]
pub use serve::processor_main;
pub use serve::{serve, serve_until};
