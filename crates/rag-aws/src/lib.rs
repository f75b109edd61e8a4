//! AWS adapters of the core's ports, on the official AWS SDK for Rust.
//!
//! | port | adapter | service |
//! |---|---|---|
//! | [`BlobStore`](rag_core::ports::BlobStore) | [`S3BlobStore`] | S3 |
//! | [`StatusStore`](rag_core::ports::StatusStore) | [`DynamoStatusStore`] | DynamoDB (status table) |
//! | [`ConnectionStore`](rag_core::ports::ConnectionStore) | [`DynamoConnectionStore`] | DynamoDB (connections table) |
//! | [`JobQueue`](rag_core::ports::JobQueue) | [`SqsJobQueue`] | SQS |
//! | [`Notifier`](rag_core::ports::Notifier) | [`ApiGatewayNotifier`] | API Gateway Management API |
//! | [`TokenVerifier`](rag_core::ports::TokenVerifier) | [`CognitoVerifier`] | Cognito user pool JWKS |
//! | [`LegacyCatalog`](rag_core::ingest::legacy::LegacyCatalog) | [`DynamoLegacyCatalog`] | the old system's DynamoDB tables |
//!
//! plus [`resolve_secret`] (Secrets Manager) for the database password.
//!
//! Every client is built from [`config::sdk_config`]: endpoints, region and
//! credentials come only from the SDK's standard configuration, so
//! `AWS_ENDPOINT_URL` points the whole crate at an emulator (moto in the
//! tests) without a special code path. The one deliberate exception is the
//! WebSocket management endpoint, which *is* the API's own URL.

#![warn(missing_docs)]

pub mod cognito;
pub mod config;
pub mod dead_letters;
pub mod dynamo_connections;
pub mod dynamo_status;
pub mod emulator;
mod error;
pub mod legacy_tables;
pub mod notifier;
pub mod s3;
pub mod secrets;
pub mod sqs;

pub use cognito::{CognitoConfig, CognitoConfigError, CognitoVerifier, TokenUse};
pub use config::{local_sdk_config, sdk_config};
pub use dead_letters::{DeadLetter, SqsDeadLetters};
pub use dynamo_connections::DynamoConnectionStore;
pub use dynamo_status::DynamoStatusStore;
pub use legacy_tables::{DynamoLegacyCatalog, LegacyTableNames};
pub use notifier::{ApiGatewayNotifier, InvalidEndpoint};
pub use s3::{s3_client, S3BlobStore};
pub use secrets::{resolve_secret, SecretError};
pub use sqs::SqsJobQueue;
