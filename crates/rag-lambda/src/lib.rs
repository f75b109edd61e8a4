//! What every Lambda function of the fleet runs: the handlers that turn API
//! Gateway and SQS events into calls of the core's services and back, and
//! the wiring that builds those services from the environment once per
//! container. The binaries in `functions/` only pick one of each.
//!
//! Handlers are plain async functions over `aws_lambda_events` types, so
//! tests (and the local gateway) drive them with real event payloads without
//! a Lambda runtime.

pub mod api_processor;
pub mod env;
pub mod http;
pub mod logging;
pub mod query_handler;
mod serve;
pub mod sqs;
pub mod websocket;
pub mod wiring;

pub use serve::{serve, serve_until};
