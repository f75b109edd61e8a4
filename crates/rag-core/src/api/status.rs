//! `GET /v2/status/{statusId}` and the caller's recent documents.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::identity::Caller;
use crate::ports::StatusStore;
use crate::status::StatusRecord;

/// Most records a listing returns.
pub const MAX_LISTING: usize = 100;

/// Reads status records for their owners only.
pub struct StatusService {
    pub status: Arc<dyn StatusStore>,
}

impl StatusService {
    /// The record of `status_id` (already URL-decoded): `404` when unknown,
    /// `403` when it is another user's.
    pub async fn get(&self, caller: &Caller, status_id: &str) -> Result<StatusRecord, ApiError> {
        let record = self.status.get(status_id).await.map_err(|e| {
            tracing::error!(statusId = %status_id, error = %e, "status read failed");
            ApiError::unavailable("the status store is unavailable; try again")
        })?;
        match record {
            None => Err(ApiError::not_found(format!("no status for {status_id}"))),
            Some(r) if r.user != caller.user => {
                Err(ApiError::forbidden("this document belongs to another user"))
            }
            Some(r) => Ok(r),
        }
    }

    /// The caller's most recent records, newest first: `{"documents": [...]}`.
    pub async fn list(&self, caller: &Caller, limit: Option<usize>) -> Result<Value, ApiError> {
        let limit = limit.unwrap_or(50).clamp(1, MAX_LISTING);
        let records = self
            .status
            .list_for_user(&caller.user, limit)
            .await
            .map_err(|e| {
                tracing::error!(user = %caller.user, error = %e, "status listing failed");
                ApiError::unavailable("the status store is unavailable; try again")
            })?;
        Ok(json!({ "documents": records }))
    }
}
