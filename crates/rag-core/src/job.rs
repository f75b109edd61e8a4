//! The message a pipeline consumes: one document to process.

use serde::{Deserialize, Serialize};

use crate::classify::Pipeline;
use crate::ports::BlobRef;

/// A queued request to process one document (the SQS message body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineJob {
    /// `bucket#key`; also the document id in the index.
    pub status_id: String,
    /// The processing run this job belongs to (see [`crate::status`]).
    pub run_id: String,
    /// The owner, taken from the verified identity of the submitter.
    pub user: String,
    pub bucket: String,
    pub key: String,
    pub pipeline: Pipeline,
    pub file_name: String,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Object size in bytes at submission.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub force_reprocess: bool,
}

impl PipelineJob {
    /// The object to read.
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }
}
