//! `/v2/documents`: what a frontend needs to manage the documents it
//! submitted: list them (paged, filtered), inspect one, cancel its run,
//! delete it, and share it with another user or stop sharing it.
//!
//! The status record says who owns a document (the submitter), as it does
//! for `GET /v2/status`; the index holds what was stored and who it is
//! shared with. Only the owner manages a document: anyone else gets the
//! same `403` a status read gives, and an unknown id a `404`.

use std::sync::Arc;

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::body::{self, invalid};
use crate::api::error::ApiError;
use crate::domain::classify::Pipeline;
use crate::domain::identity::Caller;
use crate::domain::status::{Stage, StatusRecord, StatusUpdate};
use crate::ports::{
    BlobStore, DocumentSummary, Index, IndexError, ListCursor, Listing, StatusStore,
    StatusStoreError, StatusWrite,
};

/// Most records one page of a listing returns.
pub const MAX_LISTING: usize = 100;
/// Records a page holds when the caller names no `limit`.
pub const DEFAULT_LISTING: usize = 50;
/// Longest user id a document can be shared with (Cognito's `sub` is 36
/// characters, an e-mail at most 254).
pub const MAX_GRANTEE_CHARS: usize = 256;

/// A listing as the query string asks for it: `limit`, `cursor` (from the
/// previous page's `next_cursor`), `status` (stages, comma-separated) and
/// `pipeline`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery(pub Listing);

impl ListQuery {
    /// Parses the query string's parameters (`param` answers one by name);
    /// a `400` names the parameter that is wrong.
    pub fn from_params<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Result<Self, ApiError> {
        let bad = |name: &str, why: &str| {
            ApiError::bad_request("invalid_field", format!("'{name}' {why}"))
        };
        // More than a page holds is a page, not an error.
        let limit = match param("limit") {
            None => DEFAULT_LISTING,
            Some(l) => match l.parse::<std::num::NonZeroUsize>() {
                Ok(n) => n.get().min(MAX_LISTING),
                Err(_) => return Err(bad("limit", "must be a positive integer")),
            },
        };
        let after = match param("cursor").filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                bad(
                    "cursor",
                    "is not a cursor this service issued; start from the first page",
                )
            })?),
        };
        let stages = match param("status").filter(|s| !s.is_empty()) {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|name| {
                        Stage::parse(name.trim()).ok_or_else(|| {
                            bad(
                                "status",
                                &format!("names an unknown stage '{}'", name.trim()),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let pipeline = match param("pipeline").filter(|p| !p.is_empty()) {
            None => None,
            Some("text_rag") => Some(Pipeline::TextRag),
            Some("vdr") => Some(Pipeline::Vdr),
            Some(_) => return Err(bad("pipeline", "must be 'text_rag' or 'vdr'")),
        };
        Ok(Self(Listing {
            limit,
            after,
            stages,
            pipeline,
        }))
    }
}

/// The opaque token of a cursor: base64url of its JSON.
fn encode_cursor(cursor: &ListCursor) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(token: &str) -> Option<ListCursor> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// One page of a listing: `{"documents": [...], "next_cursor": "..."}`,
/// the cursor absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListPage {
    /// The caller's status records, newest first, at most the query's
    /// `limit`.
    pub documents: Vec<StatusRecord>,
    /// The `cursor` of the next page; set whenever this page is full, so
    /// the page after a full last page is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Lists the caller's status records a page at a time: one listing for
/// `GET /v2/status` and `GET /v2/documents`.
pub async fn list_page(
    status: &dyn StatusStore,
    caller: &Caller,
    query: &ListQuery,
) -> Result<ListPage, ApiError> {
    let listing = &query.0;
    let documents = status
        .list_for_user(&caller.user, listing)
        .await
        .map_err(|e| {
            tracing::error!(user = %caller.user, error = %e, "status listing failed");
            status_unavailable()
        })?;
    let next_cursor = (documents.len() == listing.limit)
        .then(|| {
            documents
                .last()
                .map(|r| encode_cursor(&ListCursor::after(r)))
        })
        .flatten();
    Ok(ListPage {
        documents,
        next_cursor,
    })
}

/// A document as `GET /v2/documents/{id}` shows it: its status record, and
/// what the index holds of it once stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentView {
    /// The document's id, `bucket#key` (`statusId` on the wire, unlike the
    /// other fields).
    #[serde(rename = "statusId")]
    pub status_id: String,
    /// The current status record; `null` once expired (the index outlives
    /// records after 30 days).
    pub status: Option<StatusRecord>,
    /// Whether the document is searchable (its chunks are stored).
    pub indexed: bool,
    /// The file's name as the index stored it, else as the status record's
    /// metadata has it; `None` when neither does.
    pub file_name: Option<String>,
    /// The pipeline that stored it, else the one its status record names.
    pub pipeline: Option<Pipeline>,
    /// Text chunks the index holds for it; 0 until it is indexed.
    pub chunks: u32,
    /// Pages of the document, when known.
    pub pages: Option<u64>,
    /// What the pipeline recorded with it (format, pages, timings).
    pub metadata: Value,
    /// Users the document is shared with, sorted.
    pub shared_with: Vec<String>,
}

/// Manages the caller's own documents.
pub struct DocumentService {
    /// Status records: who owns each document, and the run to cancel.
    pub status: Arc<dyn StatusStore>,
    /// What was stored of each document and who it is shared with.
    pub index: Arc<dyn Index>,
    /// Where the VDR pipeline left rendered pages, deleted with the document.
    pub blobs: Arc<dyn BlobStore>,
}

impl DocumentService {
    /// `GET /v2/documents/{id}`.
    pub async fn get(&self, caller: &Caller, document_id: &str) -> Result<DocumentView, ApiError> {
        let record = self.owned_record(caller, document_id).await?;
        let indexed = self
            .index
            .document(caller, document_id)
            .await
            .map_err(index_unavailable)?;
        if record.is_none() && indexed.is_none() {
            return Err(not_found(document_id));
        }
        let shared_with = match &indexed {
            Some(_) => self
                .index
                .grantees(caller, document_id)
                .await
                .map_err(index_unavailable)?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(view(document_id, record, indexed, shared_with))
    }

    /// `POST /v2/documents/{id}/cancel`: ends a queued or running run as
    /// `cancelled`. Its workers stop at their next stage and withdraw what
    /// they stored; a run that ended first (completed, failed) is a `409`.
    pub async fn cancel(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<StatusRecord, ApiError> {
        let record = self
            .owned_record(caller, document_id)
            .await?
            .ok_or_else(|| not_found(document_id))?;
        self.cancel_run(&record).await
    }

    async fn cancel_run(&self, record: &StatusRecord) -> Result<StatusRecord, ApiError> {
        if record.status.is_terminal() {
            return Err(already_ended(record));
        }
        let update = StatusUpdate {
            pipeline: record.pipeline,
            ..StatusUpdate::new(
                &record.status_id,
                &record.user,
                &record.run_id,
                Stage::Cancelled,
                record.progress,
                "Cancelled by its owner",
            )
        };
        match self.status.apply(&update).await.map_err(store_fault)? {
            StatusWrite::Applied(cancelled) => {
                tracing::info!(statusId = %record.status_id, run_id = %record.run_id, from = %record.status, "run cancelled");
                Ok(cancelled)
            }
            // Completed, failed or replaced meanwhile: say what won.
            StatusWrite::Stale => match self.status.get(&record.status_id).await {
                Ok(Some(now)) => Err(already_ended(&now)),
                Ok(None) => Err(not_found(&record.status_id)),
                Err(e) => Err(store_fault(e)),
            },
        }
    }

    /// `DELETE /v2/documents/{id}`: cancels a live run, then removes the
    /// index rows (chunks, vectors, postings, pages, grants), the rendered
    /// page images and last the status record, so a delete that fails
    /// halfway can be sent again. The uploaded object itself stays: it is
    /// the frontend's file.
    pub async fn delete(&self, caller: &Caller, document_id: &str) -> Result<Value, ApiError> {
        let record = self.owned_record(caller, document_id).await?;
        if let Some(live) = record.as_ref().filter(|r| !r.status.is_terminal()) {
            match self.cancel_run(live).await {
                Ok(_) => {}
                // It ended meanwhile: delete what it left.
                Err(e) if e.status == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let indexed = self
            .index
            .delete_document(caller, document_id)
            .await
            .map_err(index_unavailable)?;
        if record.is_none() && !indexed {
            return Err(not_found(document_id));
        }
        let page_images = match document_id.split_once('#') {
            Some((bucket, key)) => {
                let prefix = crate::ingest::pipeline::page_images_prefix(key);
                self.blobs
                    .delete_prefix(bucket, &prefix)
                    .await
                    .map_err(|e| {
                        tracing::error!(statusId = %document_id, error = %e, "page images not deleted");
                        ApiError::unavailable("the rendered pages could not be deleted; try again")
                    })?
            }
            None => 0,
        };
        if record.is_some() {
            self.status.delete(document_id).await.map_err(store_fault)?;
        }
        tracing::info!(statusId = %document_id, indexed, page_images, "document deleted");
        Ok(json!({"deleted": document_id, "indexed": indexed, "page_images": page_images}))
    }

    /// `POST /v2/documents/{id}/share` with `{"user": "..."}`: the user may
    /// search the document from now on. Only a stored document can be
    /// shared (`409` while its first run is still going).
    pub async fn share(
        &self,
        caller: &Caller,
        document_id: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let record = self.owned_record(caller, document_id).await?;
        let obj = body::object(body)?;
        let grantee = body::required_str(&obj, "user")?;
        check_grantee(&grantee)?;
        if grantee == caller.user {
            return Err(invalid(
                "user",
                "is you: the owner always sees the document",
            ));
        }
        let granted = self
            .index
            .grant(caller, document_id, &grantee)
            .await
            .map_err(index_unavailable)?;
        if !granted {
            return Err(not_stored(document_id, record.is_some()));
        }
        tracing::info!(statusId = %document_id, grantee = %grantee, "document shared");
        self.shares(caller, document_id).await
    }

    /// `DELETE /v2/documents/{id}/share/{user}`: the user no longer finds
    /// the document (unsharing someone it was never shared with is no
    /// error).
    pub async fn unshare(
        &self,
        caller: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<Value, ApiError> {
        let record = self.owned_record(caller, document_id).await?;
        check_grantee(grantee)?;
        let owned = self
            .index
            .revoke(caller, document_id, grantee)
            .await
            .map_err(index_unavailable)?;
        if !owned {
            return Err(not_stored(document_id, record.is_some()));
        }
        tracing::info!(statusId = %document_id, grantee = %grantee, "document unshared");
        self.shares(caller, document_id).await
    }

    async fn shares(&self, caller: &Caller, document_id: &str) -> Result<Value, ApiError> {
        let shared_with = self
            .index
            .grantees(caller, document_id)
            .await
            .map_err(index_unavailable)?
            .unwrap_or_default();
        Ok(json!({"statusId": document_id, "shared_with": shared_with}))
    }

    /// The document's status record if the caller owns it (`None` once it
    /// expired); `403` if another user does.
    async fn owned_record(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<StatusRecord>, ApiError> {
        let record = self.status.get(document_id).await.map_err(store_fault)?;
        match record {
            Some(r) if r.user != caller.user => {
                Err(ApiError::forbidden("this document belongs to another user"))
            }
            other => Ok(other),
        }
    }
}

fn view(
    document_id: &str,
    record: Option<StatusRecord>,
    indexed: Option<DocumentSummary>,
    shared_with: Vec<String>,
) -> DocumentView {
    let pages = indexed
        .as_ref()
        .and_then(|d| d.metadata.get("pages"))
        .or_else(|| record.as_ref().and_then(|r| r.metadata.get("pages")))
        .and_then(Value::as_u64);
    DocumentView {
        status_id: document_id.to_owned(),
        indexed: indexed.is_some(),
        file_name: indexed.as_ref().map(|d| d.file_name.clone()).or_else(|| {
            record
                .as_ref()
                .and_then(|r| r.metadata.get("file_name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }),
        pipeline: indexed
            .as_ref()
            .map(|d| d.pipeline)
            .or_else(|| record.as_ref().and_then(|r| r.pipeline)),
        chunks: indexed.as_ref().map_or(0, |d| d.chunks),
        pages,
        metadata: indexed.map_or(Value::Object(Default::default()), |d| d.metadata),
        status: record,
        shared_with,
    }
}

fn not_found(document_id: &str) -> ApiError {
    ApiError::not_found(format!("no document {document_id}"))
}

/// A document the index does not hold: still being processed (`409`), or
/// unknown altogether (`404`).
fn not_stored(document_id: &str, submitted: bool) -> ApiError {
    if !submitted {
        return not_found(document_id);
    }
    ApiError::conflict(format!(
        "{document_id} is not stored yet; share it once its processing completed"
    ))
}

/// A user id a document can be shared with.
fn check_grantee(grantee: &str) -> Result<(), ApiError> {
    if grantee.is_empty()
        || grantee.chars().count() > MAX_GRANTEE_CHARS
        || grantee.trim() != grantee
    {
        return Err(invalid("user", "is not a user id"));
    }
    Ok(())
}

fn already_ended(record: &StatusRecord) -> ApiError {
    ApiError::conflict(format!(
        "the run already ended: {}; nothing to cancel",
        record.status
    ))
}

fn status_unavailable() -> ApiError {
    ApiError::unavailable("the status store is unavailable; try again")
}

fn store_fault(e: StatusStoreError) -> ApiError {
    tracing::error!(error = %e, "status store failed");
    status_unavailable()
}

fn index_unavailable(e: IndexError) -> ApiError {
    tracing::error!(error = %e, "index failed");
    ApiError::unavailable("the index is unavailable; try again")
}
