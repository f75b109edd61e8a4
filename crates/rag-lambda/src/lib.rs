//! What every Lambda function of the fleet runs: the handlers that turn API
//! Gateway and SQS events into calls of the core's services and back, and
//! the wiring that builds those services from the environment once per
//! container. The binaries in `functions/` only pick one of each.
//!
//! Handlers are plain async functions over `aws_lambda_events` types, so
//! tests (and the local gateway) drive them with real event payloads without
//! a Lambda runtime.

pub mod api_processor;
pub mod emf;
pub mod env;
pub mod http;
pub mod logging;
pub mod query_handler;
mod serve;
pub mod sqs;
pub mod websocket;
pub mod wiring;

/// Every processor's `main` calls it first: the process may be a document
/// reader its parent started (see `rag_extract::sandbox`).
pub use rag_extract::sandbox::serve_if_worker;
pub use serve::{processor_main, serve, serve_until};
