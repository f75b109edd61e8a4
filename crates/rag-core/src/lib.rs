//! The domain of amplify-rag-async and its pipelines, written against ports.
//!
//! Nothing in this crate talks to the network, a database or the file system
//! directly: every side effect goes through a trait in [`ports`], so the same
//! pipeline runs inside a Lambda function (AWS adapters), the local gateway and
//! `ragctl` (local adapters), and in tests.

pub mod api;
pub mod domain;
pub mod ingest;
pub mod ports;
pub mod realtime;
pub mod search;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use api::error::ApiError;
pub use domain::identity::Caller;
