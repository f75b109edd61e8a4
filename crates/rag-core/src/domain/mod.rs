//! What the service is about, free of any I/O: a document's processing job,
//! its status record and stages, how a document is routed to a pipeline, who
//! the caller is and what they own, and the attributes a document carries.

pub mod attributes;
pub mod classify;
pub mod formats;
pub mod identity;
pub mod job;
pub mod ownership;
pub mod status;
