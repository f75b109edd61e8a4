//! `POST /v2/process-document`: validate, classify, queue, return at once.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api::body::{self, invalid};
use crate::api::error::ApiError;
use crate::domain::attributes::{self, Attributes};
use crate::domain::classify::{Pipeline, RouteReason};
use crate::domain::identity::Caller;
use crate::domain::job::{DocumentPassword, PipelineJob};
use crate::domain::ownership::{self, Claim};
use crate::domain::status::{Stage, StatusRecord, StatusUpdate, QUEUE_LEASE_SECS};
use crate::ingest::pipeline::{Failure, Fault, RunReporter};
use crate::ports::{BlobError, BlobMeta, BlobRef, BlobStore, JobQueue, StatusStore, StatusWrite};

/// Longest accepted object key (S3's own limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest accepted bucket name (S3's own limit).
pub const MAX_BUCKET_BYTES: usize = 63;
/// Longest `metadata.fileName`, in characters: what file systems allow.
/// Names are stored in the status record and every index row, so an
/// unbounded one would fail those writes (a `503`) instead of the request.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Longest `metadata.contentType`: RFC 6838 allows 127 characters for the
/// type and for the subtype, and parameters are short.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A validated `process-document` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDocumentRequest {
    /// The uploaded object's bucket, at most 63 bytes; one of
    /// [`ProcessConfig::allowed_buckets`] when any are set.
    pub bucket: String,
    /// The uploaded object's key, at most 1,024 bytes; the caller must
    /// have uploaded it ([`crate::domain::ownership`]).
    pub key: String,
    /// The name the user gave the file (`metadata.fileName`).
    pub file_name: Option<String>,
    /// `metadata.contentType`, used when the object itself has none.
    pub content_type: Option<String>,
    /// `force_reprocess` (default `false`): start a new run even when the
    /// document is completed or a run is still going (which it replaces).
    pub force_reprocess: bool,
    /// The password of an encrypted PDF, when the uploader knows it.
    pub password: Option<DocumentPassword>,
    /// `tags`, `knowledge_base_id` and every other field of `metadata`:
    /// kept with the document for filtered searches.
    pub attributes: Attributes,
}

/// Longest accepted document password.
const MAX_PASSWORD_CHARS: usize = 1024;

impl ProcessDocumentRequest {
    /// Parses and validates a request body (`400` naming the field).
    pub fn from_json(raw: &[u8]) -> Result<Self, ApiError> {
        let obj = body::object(raw)?;
        let bucket = body::required_str(&obj, "bucket")?;
        if bucket.len() > MAX_BUCKET_BYTES {
            return Err(invalid("bucket", "is longer than 63 bytes"));
        }
        let key = body::required_str(&obj, "key")?;
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid("key", "is longer than 1024 bytes"));
        }
        let empty = Map::new();
        let metadata = match body::present(&obj, "metadata") {
            None => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid("metadata", "must be an object")),
        };
        if serde_json::to_vec(metadata).map_or(0, |m| m.len()) > MAX_METADATA_BYTES {
            return Err(invalid(
                "metadata",
                &format!("is larger than {MAX_METADATA_BYTES} bytes"),
            ));
        }
        let file_name = body::optional_str(metadata, "fileName")?;
        if file_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_FILE_NAME_CHARS)
        {
            return Err(invalid(
                "fileName",
                &format!("is longer than {MAX_FILE_NAME_CHARS} characters"),
            ));
        }
        let content_type = body::optional_str(metadata, "contentType")?;
        if content_type
            .as_ref()
            .is_some_and(|t| t.len() > MAX_CONTENT_TYPE_BYTES)
        {
            return Err(invalid(
                "contentType",
                &format!("is longer than {MAX_CONTENT_TYPE_BYTES} bytes"),
            ));
        }
        if let Some(size) = body::present(metadata, "size") {
            if size.as_u64().is_none() {
                return Err(invalid("metadata.size", "must be a non-negative integer"));
            }
        }
        // Every other field of `metadata`, and the top-level `tags` and
        // `knowledge_base_id`, describe the document.
        let mut attributes: Map<String, Value> = metadata
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "fileName" | "contentType" | "size"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for name in [attributes::TAGS, attributes::KNOWLEDGE_BASE_ID] {
            if let Some(value) = body::present(&obj, name) {
                attributes.insert(name.to_owned(), value.clone());
            }
        }
        let attributes = Attributes::new(attributes, "metadata")?;
        let force_reprocess = body::optional_bool(&obj, "force_reprocess")?.unwrap_or(false);
        let password = body::optional_str(&obj, "password")?;
        if password
            .as_ref()
            .is_some_and(|p| p.chars().count() > MAX_PASSWORD_CHARS)
        {
            return Err(invalid("password", "is longer than 1024 characters"));
        }
        Ok(Self {
            bucket,
            key,
            file_name,
            content_type,
            force_reprocess,
            password: password.map(DocumentPassword::new),
            attributes,
        })
    }

    fn blob(&self) -> BlobRef {
        BlobRef {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }
}

/// The body of a successful `process-document` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// `202` when a run was queued, `200` when nothing needed doing.
    #[serde(skip)]
    pub http_status: u16,
    /// `statusId`, `bucket#key`: what to subscribe to and to read with
    /// `GET /v2/status/{statusId}`.
    pub status_id: String,
    /// `queued` for a new run; otherwise the stage of the existing run that
    /// made one unnecessary (`completed`, or a live run's stage).
    pub status: Stage,
    /// The pipeline the run goes to; when nothing was queued, the one the
    /// existing run recorded.
    pub pipeline: Pipeline,
    /// What happened, for the user: queued, or why nothing was.
    pub message: String,
}

/// Limits and switches of the endpoint.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Largest object accepted, in bytes (`413` above it).
    pub max_object_bytes: u64,
    /// Buckets documents may come from (`FILES_BUCKET`); any when empty.
    pub allowed_buckets: Vec<String>,
    /// With the VDR pipeline off (`ENABLE_VDR_PIPELINE=false`), documents
    /// it would take go to text RAG instead of waiting for it.
    pub enable_vdr: bool,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            max_object_bytes: 200 * 1024 * 1024,
            allowed_buckets: Vec::new(),
            enable_vdr: true,
        }
    }
}

/// Accepts documents for processing.
pub struct ProcessService {
    /// Where the object is looked up (one HEAD) before anything is recorded.
    pub blobs: Arc<dyn BlobStore>,
    /// Where the job is sent, to its pipeline's queue.
    pub queue: Arc<dyn JobQueue>,
    /// Status records: read for the owner and any current run, then
    /// written with the new run's `queued`.
    pub status: Arc<dyn StatusStore>,
    /// The endpoint's limits and switches.
    pub config: ProcessConfig,
}

impl ProcessService {
    /// Validates the object (it exists, fits, has a type a pipeline reads,
    /// the caller uploaded it: [`crate::domain::ownership`]), records `queued` and
    /// sends the job. Does no
    /// processing itself, so it answers in one HEAD, one status write and
    /// one queue send.
    pub async fn submit(
        &self,
        caller: &Caller,
        req: &ProcessDocumentRequest,
    ) -> Result<Accepted, ApiError> {
        let blob = req.blob();
        let status_id = blob.status_id();
        if !self.config.allowed_buckets.is_empty()
            && !self.config.allowed_buckets.contains(&req.bucket)
        {
            return Err(ApiError::forbidden(format!(
                "documents are accepted from bucket {} only",
                self.config.allowed_buckets.join(", ")
            )));
        }
        if ownership::is_service_key(&req.key) {
            return Err(refused(caller, Claim::ServiceKey));
        }
        let current = self.status.get(&status_id).await.map_err(|e| {
            tracing::error!(statusId = %status_id, error = %e, "status read failed");
            ApiError::unavailable("the status store is unavailable; try again")
        })?;
        if let Some(cur) = &current {
            if cur.user != caller.user {
                return Err(refused(caller, Claim::OwnedByAnother));
            }
        }
        let meta = self.head(&blob, req, caller).await?;
        let claim = ownership::claim(caller, &req.key, Some(&meta.metadata));
        if claim != Claim::Own {
            tracing::warn!(statusId = %status_id, user = %caller.user, ?claim, "submission of an object the caller did not upload refused");
            return Err(refused(caller, claim));
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let (mut job, route) = PipelineJob::for_object(
            &blob,
            &meta,
            req.file_name.as_deref(),
            &caller.user,
            run_id,
            req.force_reprocess,
        )
        .map_err(|e| ApiError::unsupported_type(e.to_string()))?;
        job.password = req.password.clone();
        job.attributes = req.attributes.clone();
        let mut reason = route.reason;
        if job.pipeline == Pipeline::Vdr && !self.config.enable_vdr {
            job.pipeline = Pipeline::TextRag;
            reason = RouteReason::Document;
        }
        if let Some(done) = current
            .as_ref()
            .filter(|c| !req.force_reprocess && c.status == Stage::Completed)
        {
            return Ok(Self::unchanged(
                done,
                job.pipeline,
                "Document already processed; set force_reprocess to process it again",
            ));
        }

        let mut metadata = job.queued_facts();
        metadata.insert("route_reason".into(), json!(reason));
        // A live run nobody will finish (its worker was lost) is no reason
        // to refuse a new one.
        let lapsed = current
            .as_ref()
            .is_some_and(|c| c.lease_expired(chrono::Utc::now().timestamp()));
        let queued = StatusUpdate {
            starts_run: true,
            force: req.force_reprocess || lapsed,
            pipeline: Some(job.pipeline),
            lease_secs: Some(QUEUE_LEASE_SECS),
            metadata,
            ..StatusUpdate::new(
                &status_id,
                &caller.user,
                &job.run_id,
                Stage::Queued,
                Stage::Queued.progress_at(0.0),
                "Document queued for async processing",
            )
        };
        match self.status.apply(&queued).await {
            Ok(StatusWrite::Applied(_)) => {}
            Ok(StatusWrite::Stale) => {
                // A run is still going and this call did not force a new one.
                let live = self.status.get(&status_id).await.ok().flatten();
                return Ok(match live {
                    // Another user's run started in between: one owner only.
                    Some(live) if live.user != caller.user => {
                        return Err(refused(caller, Claim::OwnedByAnother))
                    }
                    Some(live) => {
                        Self::unchanged(&live, job.pipeline, "Document is already being processed")
                    }
                    None => {
                        return Err(ApiError::unavailable(
                            "the document's status changed while queuing it; try again",
                        ))
                    }
                });
            }
            Err(e) => {
                tracing::error!(statusId = %status_id, error = %e, "status write failed");
                return Err(ApiError::unavailable(
                    "the status store is unavailable; try again",
                ));
            }
        }
        if let Err(e) = self.queue.send(&job).await {
            tracing::error!(statusId = %status_id, error = %e, "enqueue failed");
            RunReporter::new(self.status.clone(), &job)
                .fail(&Failure::new(
                    Fault::Queue.code(),
                    "the document could not be queued",
                ))
                .await;
            return Err(ApiError::unavailable(
                "the processing queue is unavailable; try again",
            ));
        }
        tracing::info!(statusId = %status_id, run_id = %job.run_id, pipeline = job.pipeline.as_str(), reason = ?reason, size = job.size, "document queued");
        Ok(Accepted {
            http_status: 202,
            status_id,
            status: Stage::Queued,
            pipeline: job.pipeline,
            message: "Document queued for async processing".into(),
        })
    }

    /// The object's HEAD, with the request's type filling in a missing one.
    /// A missing object outside the caller's prefix is refused like another
    /// user's, so that refusals tell nobody which of their keys exist.
    async fn head(
        &self,
        blob: &BlobRef,
        req: &ProcessDocumentRequest,
        caller: &Caller,
    ) -> Result<BlobMeta, ApiError> {
        let mut meta = match self.blobs.head(blob).await {
            Ok(meta) => meta,
            Err(BlobError::NotFound) => {
                let claim = ownership::claim(caller, &blob.key, None);
                if claim != Claim::Own {
                    return Err(refused(caller, claim));
                }
                return Err(ApiError::not_found(format!(
                    "no object {} in bucket {}",
                    blob.key, blob.bucket
                )));
            }
            Err(BlobError::InvalidKey(why)) => {
                return Err(invalid("key", &format!("does not name an object ({why})")))
            }
            Err(e) => {
                tracing::error!(bucket = %blob.bucket, key = %blob.key, error = %e, "HEAD failed");
                return Err(ApiError::unavailable(
                    "the file store is unavailable; try again",
                ));
            }
        };
        if meta.size > self.config.max_object_bytes {
            return Err(ApiError::too_large(format!(
                "the document is {} bytes; the limit is {} bytes",
                meta.size, self.config.max_object_bytes
            )));
        }
        let generic =
            |t: &str| t.is_empty() || t == "application/octet-stream" || t == "binary/octet-stream";
        if meta.content_type.as_deref().is_none_or(generic) {
            if let Some(ct) = &req.content_type {
                meta.content_type = Some(ct.clone());
            }
        }
        Ok(meta)
    }

    fn unchanged(record: &StatusRecord, pipeline: Pipeline, message: &str) -> Accepted {
        Accepted {
            http_status: 200,
            status_id: record.status_id.clone(),
            status: record.status,
            pipeline: record.pipeline.unwrap_or(pipeline),
            message: message.into(),
        }
    }
}

/// The `403` for a claim on an object that is not the caller's upload.
fn refused(caller: &Caller, claim: Claim) -> ApiError {
    ApiError::forbidden(
        claim
            .refusal(caller)
            .unwrap_or_else(|| "this document belongs to another user".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_validated_field_by_field() {
        let ok = ProcessDocumentRequest::from_json(
            br#"{"bucket":"b","key":"k/a.pdf","metadata":{"fileName":"a.pdf","contentType":"application/pdf","size":12},"force_reprocess":true}"#,
        )
        .unwrap();
        assert_eq!(
            (ok.file_name.as_deref(), ok.force_reprocess),
            (Some("a.pdf"), true)
        );
        assert!(ok.attributes.is_empty());
        // Tags, a knowledge base and the caller's own metadata are kept.
        let described = ProcessDocumentRequest::from_json(
            br#"{"bucket":"b","key":"k/a.pdf","tags":["q3","legal"],"knowledge_base_id":"kb-1",
                 "metadata":{"fileName":"a.pdf","department":"legal","signed":"2024-05-01"}}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&described.attributes).unwrap(),
            serde_json::json!({"tags": ["q3", "legal"], "knowledge_base_id": "kb-1",
                               "department": "legal", "signed": "2024-05-01T00:00:00.000Z"})
        );
        let long_key = format!(r#"{{"bucket":"b","key":"{}"}}"#, "k".repeat(1025));
        let long_password = format!(
            r#"{{"bucket":"b","key":"k","password":"{}"}}"#,
            "p".repeat(1025)
        );
        let long_bucket = format!(r#"{{"bucket":"{}","key":"k"}}"#, "b".repeat(64));
        let long_name = format!(
            r#"{{"bucket":"b","key":"k","metadata":{{"fileName":"{}"}}}}"#,
            "n".repeat(256)
        );
        let long_type = format!(
            r#"{{"bucket":"b","key":"k","metadata":{{"contentType":"text/{}"}}}}"#,
            "x".repeat(256)
        );
        let big_metadata = format!(
            r#"{{"bucket":"b","key":"k","metadata":{{"notes":"{}"}}}}"#,
            "m".repeat(4096)
        );
        let with_password =
            ProcessDocumentRequest::from_json(br#"{"bucket":"b","key":"k","password":"s3cret"}"#)
                .unwrap();
        assert_eq!(
            with_password.password.as_ref().map(|p| p.reveal()),
            Some("s3cret")
        );
        assert!(!format!("{with_password:?}").contains("s3cret"));
        for (body, code, mentions) in [
            ("{", "invalid_json", "JSON"),
            ("[1]", "invalid_json", "object"),
            (r#"{"key":"k"}"#, "missing_field", "'bucket'"),
            (r#"{"bucket":"b"}"#, "missing_field", "'key'"),
            (r#"{"bucket":"b","key":" "}"#, "invalid_field", "'key'"),
            (r#"{"bucket":7,"key":"k"}"#, "invalid_field", "'bucket'"),
            (
                r#"{"bucket":"b","key":"k","metadata":"x"}"#,
                "invalid_field",
                "'metadata'",
            ),
            (
                r#"{"bucket":"b","key":"k","metadata":{"size":-1}}"#,
                "invalid_field",
                "'metadata.size'",
            ),
            (
                r#"{"bucket":"b","key":"k","metadata":{"fileName":1}}"#,
                "invalid_field",
                "'fileName'",
            ),
            (
                r#"{"bucket":"b","key":"k","force_reprocess":"yes"}"#,
                "invalid_field",
                "'force_reprocess'",
            ),
            (long_key.as_str(), "invalid_field", "'key'"),
            (
                r#"{"bucket":"b","key":"k","password":1234}"#,
                "invalid_field",
                "'password'",
            ),
            (long_password.as_str(), "invalid_field", "'password'"),
            (long_bucket.as_str(), "invalid_field", "'bucket'"),
            (long_name.as_str(), "invalid_field", "'fileName'"),
            (long_type.as_str(), "invalid_field", "'contentType'"),
            (big_metadata.as_str(), "invalid_field", "'metadata'"),
            (
                r#"{"bucket":"b","key":"k","tags":"legal"}"#,
                "invalid_field",
                "'tags'",
            ),
            (
                r#"{"bucket":"b","key":"k","knowledge_base_id":5}"#,
                "invalid_field",
                "'knowledge_base_id'",
            ),
            (
                r#"{"bucket":"b","key":"k","metadata":{"notes":{"deep":1}}}"#,
                "invalid_field",
                "'metadata.notes'",
            ),
        ] {
            let err = ProcessDocumentRequest::from_json(body.as_bytes()).unwrap_err();
            assert_eq!((err.status, err.code), (400, code), "{body}");
            assert!(err.error.contains(mentions), "{body}: {}", err.error);
        }
    }
}
