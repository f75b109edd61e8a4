//! The domain of amplify-rag-async and its pipelines, written against ports.
//!
//! Nothing in this crate talks to the network, a database or the file system
//! directly: every side effect goes through a trait in [`ports`], so the same
//! pipeline runs inside a Lambda function (AWS adapters), the local gateway and
//! `ragctl` (local adapters), and in tests.

pub mod analyzer;
pub mod api;
pub mod attributes;
pub mod body;
pub mod chunking;
pub mod classify;
pub mod error;
pub mod eval;
pub mod extraction;
pub mod formats;
pub mod fusion;
pub mod identity;
pub mod job;
pub mod language;
pub mod legacy;
pub mod ownership;
pub mod page_spans;
pub mod pipeline;
pub mod ports;
pub mod query;
pub mod realtime;
pub mod reembed;
pub mod status;
pub mod visuals;

pub use error::ApiError;
pub use identity::Caller;
