//! The local gateway: what `serverless-offline` is to Node services, for
//! this fleet. One process serves the REST routes and the WebSocket API of
//! DESIGN.md by calling the very handlers the Lambda functions run
//! (`rag-lambda`), serves the API Gateway Management API's wire format so the
//! production notifier pushes through it unchanged, accepts S3-style uploads
//! into a local directory, runs both queue consumers in-process over
//! persistent local queues, and serves the developer console.

mod console;
mod events;
mod guard;
mod hub;
mod routes;
mod server;

pub use server::{Gateway, GatewayConfig, Running};
