//! `GET /v2/status/{statusId}` and the caller's recent documents.

use std::sync::Arc;

use super::documents::{ListPage, ListQuery};
use crate::api::error::ApiError;
use crate::domain::identity::Caller;
use crate::domain::status::StatusRecord;
use crate::ports::StatusStore;

/// Reads status records for their owners only.
pub struct StatusService {
    /// Where the records are read; each record's `user` says who may see it.
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

    /// A page of the caller's records, newest first:
    /// `{"documents": [...], "next_cursor": ...}`.
    pub async fn list(&self, caller: &Caller, query: &ListQuery) -> Result<ListPage, ApiError> {
        super::documents::list_page(self.status.as_ref(), caller, query).await
    }
}
