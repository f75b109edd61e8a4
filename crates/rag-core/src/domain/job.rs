//! The message a pipeline consumes: one document to process.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::attributes::Attributes;
use crate::domain::classify::{
    classify, file_name as file_name_of, DocumentFacts, Pipeline, Route, UnsupportedType,
};
use crate::domain::ownership::OWNER_METADATA;
use crate::domain::status::StatusRecord;
use crate::ports::{BlobMeta, BlobRef};

/// A queued request to process one document (the SQS message body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineJob {
    /// `bucket#key`; also the document id in the index.
    pub status_id: String,
    /// The processing run this job belongs to (see [`crate::domain::status`]).
    pub run_id: String,
    /// The owner, taken from the verified identity of the submitter.
    pub user: String,
    /// The object's bucket (the part of `statusId` before `#`).
    pub bucket: String,
    /// The object's key in `bucket`.
    pub key: String,
    /// The pipeline that consumes the job; the queue it is sent to follows
    /// from it.
    pub pipeline: Pipeline,
    /// The name the user gave the file (`metadata.fileName`), else the
    /// key's last segment: extraction goes by its extension, and it is
    /// shown in status messages and stored in the index.
    pub file_name: String,
    /// MIME type from the object's HEAD, or from the request's
    /// `metadata.contentType` when the object has none or a generic one;
    /// `None` when neither tells.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Object size in bytes at submission.
    #[serde(default)]
    pub size: u64,
    /// Whether the submitter forced a new run (`force_reprocess`). Carried
    /// for the record only: the run was started before the job was sent,
    /// and no worker reads it.
    #[serde(default)]
    pub force_reprocess: bool,
    /// The password the uploader gave for an encrypted PDF. It travels
    /// only in the queue message (encrypted at rest), never in a status
    /// record or a log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<DocumentPassword>,
    /// The pages this job processes and the part of the split document
    /// they belong to, when the document was split into page-range jobs;
    /// `None` is the whole document. On the wire, the message's `pages` and
    /// `part` (absent in older messages).
    #[serde(flatten)]
    pub range: Option<PartRange>,
    /// Only embed the stored chunks again with the configured model (a
    /// document indexed before the model changed: [`crate::ingest::reembed`]); the
    /// file is not read. Absent in other jobs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reembed: bool,
    /// What the caller said about the document (tags, knowledge base, own
    /// fields), stored with it for filtered searches.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// A page-range job's share of a split document: the two travel together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRange {
    /// The pages this job processes: its part's range, or the tail of it
    /// when an earlier job of the part handed the rest back before its time
    /// ran out.
    pub pages: PageRange,
    /// Which part of the split document the pages belong to.
    pub part: JobPart,
}

/// Pages `first..=last` (1-based) of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRange {
    /// First page of the range, 1-based.
    pub first: u32,
    /// Last page of the range, inclusive; below `first`, the range is empty.
    pub last: u32,
}

impl PageRange {
    /// How many pages the range holds.
    pub fn len(&self) -> u32 {
        (self.last + 1).saturating_sub(self.first)
    }

    /// Whether page `number` (1-based) is in the range.
    pub fn contains(&self, number: u32) -> bool {
        self.first <= number && number <= self.last
    }

    /// Whether the range holds no page.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `total` pages cut into consecutive ranges of at most `size` pages:
    /// the parts of a split document.
    pub fn split(total: u32, size: u32) -> Vec<PageRange> {
        let size = size.max(1);
        (0..total.div_ceil(size))
            .map(|i| PageRange {
                first: i * size + 1,
                last: ((i + 1) * size).min(total),
            })
            .collect()
    }
}

/// One part of a document split into page ranges: what a worker needs to
/// report its share of the run's progress and to know when it is the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPart {
    /// 0-based part number.
    pub index: u32,
    /// How many parts the document was split into.
    pub total: u32,
    /// The part's whole range (a continuation job's `pages` is its tail).
    pub range: PageRange,
    /// Pages in the whole document.
    pub pages_total: u32,
    /// When the run's first job started (Unix milliseconds), so that the
    /// range that completes the document can report the whole run's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
}

/// A document's password: shown as `***` by `Debug`, so a logged job or
/// request never leaks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentPassword(String);

impl DocumentPassword {
    /// Wraps a password the caller supplied.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the extractor.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DocumentPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl PipelineJob {
    /// What the `queued` status of a run records about its job, so that a
    /// job lost on its way to the queue can be rebuilt from the record
    /// ([`PipelineJob::from_record`]). A password is never recorded, only
    /// that there was one.
    pub fn queued_facts(&self) -> Map<String, Value> {
        let mut facts = Map::new();
        facts.insert("file_name".into(), json!(self.file_name));
        facts.insert("size".into(), json!(self.size));
        if let Some(content_type) = &self.content_type {
            facts.insert("content_type".into(), json!(content_type));
        }
        if self.password.is_some() {
            facts.insert("password_protected".into(), json!(true));
        }
        if !self.attributes.is_empty() {
            facts.insert("attributes".into(), json!(self.attributes));
        }
        facts
    }

    /// A job that embeds `doc`'s stored chunks again with the configured
    /// model, as a new run `run_id` of its owner; `None` if its id is not
    /// `bucket#key`.
    pub fn reembedding(doc: &crate::ports::OtherModelDocument, run_id: String) -> Option<Self> {
        let (bucket, key) = doc.document_id.split_once('#')?;
        Some(Self {
            status_id: doc.document_id.clone(),
            run_id,
            user: doc.owner.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            pipeline: Pipeline::TextRag,
            file_name: key.rsplit('/').next().unwrap_or(key).to_owned(),
            content_type: None,
            size: 0,
            force_reprocess: true,
            password: None,
            range: None,
            reembed: true,
            attributes: Attributes::default(),
        })
    }

    /// The whole-document job of the run `record` holds, rebuilt from what
    /// [`PipelineJob::queued_facts`] recorded; `None` when the record does
    /// not say enough, or the job needs a password it never stores.
    pub fn from_record(record: &StatusRecord) -> Option<Self> {
        let facts = &record.metadata;
        if facts.get("password_protected").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let (bucket, key) = record.status_id.split_once('#')?;
        Some(Self {
            status_id: record.status_id.clone(),
            run_id: record.run_id.clone(),
            user: record.user.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            pipeline: record.pipeline?,
            file_name: facts.get("file_name")?.as_str()?.to_owned(),
            content_type: facts
                .get("content_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            size: facts.get("size").and_then(Value::as_u64).unwrap_or(0),
            force_reprocess: false,
            password: None,
            range: None,
            reembed: false,
            attributes: facts
                .get("attributes")
                .and_then(|a| serde_json::from_value(a.clone()).ok())
                .unwrap_or_default(),
        })
    }

    /// The object to read.
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }
}

impl PipelineJob {
    /// The job for an object, routed by the classifier from what a HEAD
    /// tells (name, type, size, user metadata): what every entry point
    /// does when a document is submitted. Refuses types no pipeline reads.
    /// `file_name` is the name the user gave the file, when the key is not
    /// it (Amplify stores uploads under generated keys).
    pub fn for_object(
        blob: &BlobRef,
        meta: &BlobMeta,
        file_name: Option<&str>,
        user: &str,
        run_id: String,
        force_reprocess: bool,
    ) -> Result<(Self, Route), UnsupportedType> {
        // Hints about the document, not who uploaded it: a user named
        // "scanlon" does not make every upload a scan.
        let metadata: Vec<(String, String)> = meta
            .metadata
            .iter()
            .filter(|(k, _)| k.as_str() != OWNER_METADATA)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let name = file_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| file_name_of(&blob.key));
        let route = classify(&DocumentFacts {
            key: name,
            content_type: meta.content_type.as_deref(),
            size: meta.size,
            metadata: &metadata,
            pdf_without_text: false,
        })?;
        let job = Self {
            status_id: blob.status_id(),
            run_id,
            user: user.to_owned(),
            bucket: blob.bucket.clone(),
            key: blob.key.clone(),
            pipeline: route.pipeline,
            file_name: name.to_owned(),
            content_type: meta.content_type.clone(),
            size: meta.size,
            force_reprocess,
            password: None,
            range: None,
            reembed: false,
            attributes: Attributes::default(),
        };
        Ok((job, route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reembedding_job_is_a_new_run_of_the_owners_document_reading_no_file() {
        let doc = crate::ports::OtherModelDocument {
            document_id: "files#alice/2024/report.pdf".into(),
            owner: "alice".into(),
            embedding_model: "old".into(),
            chunks: 3,
        };
        let job = PipelineJob::reembedding(&doc, "r2".into()).unwrap();
        assert_eq!(
            (
                job.bucket.as_str(),
                job.key.as_str(),
                job.file_name.as_str(),
                job.user.as_str()
            ),
            ("files", "alice/2024/report.pdf", "report.pdf", "alice")
        );
        assert!(job.reembed && job.force_reprocess && job.range.is_none());
        assert_eq!(job.pipeline, Pipeline::TextRag);
        let back: PipelineJob =
            serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert!(back.reembed);
        let no_key = crate::ports::OtherModelDocument {
            document_id: "nohash".into(),
            ..doc
        };
        assert!(PipelineJob::reembedding(&no_key, "r3".into()).is_none());
    }
    use crate::domain::classify::RouteReason;

    #[test]
    fn a_password_is_carried_but_never_shown() {
        let body = r#"{"statusId":"b#k","runId":"r","user":"u","bucket":"b","key":"k","pipeline":"text_rag","fileName":"k","password":"s3cret"}"#;
        let job: PipelineJob = serde_json::from_str(body).unwrap();
        assert_eq!(job.password.as_ref().map(|p| p.reveal()), Some("s3cret"));
        assert!(!format!("{job:?}").contains("s3cret"));
        assert!(serde_json::to_string(&job)
            .unwrap()
            .contains(r#""password":"s3cret""#));
        let without: PipelineJob =
            serde_json::from_str(&body.replace(r#","password":"s3cret""#, "")).unwrap();
        assert!(!serde_json::to_string(&without)
            .unwrap()
            .contains("password"));
    }

    #[test]
    fn old_messages_parse_and_ranges_travel() {
        let body = r#"{"statusId":"b#k","runId":"r","user":"u","bucket":"b","key":"k","pipeline":"vdr","fileName":"k"}"#;
        let mut job: PipelineJob = serde_json::from_str(body).unwrap();
        assert_eq!(job.range, None);
        assert!(!serde_json::to_string(&job).unwrap().contains("pages"));
        let range = PageRange {
            first: 51,
            last: 100,
        };
        job.range = Some(PartRange {
            pages: range,
            part: JobPart {
                index: 1,
                total: 6,
                range,
                pages_total: 300,
                started_at_ms: Some(1_764_000_000_000),
            },
        });
        let text = serde_json::to_string(&job).unwrap();
        assert!(
            text.contains(r#""pages":{"first":51,"last":100}"#),
            "{text}"
        );
        assert!(text.contains(r#""pagesTotal":300"#), "{text}");
        assert!(text.contains(r#""startedAtMs":1764000000000"#), "{text}");
        assert_eq!(serde_json::from_str::<PipelineJob>(&text).unwrap(), job);
        // One without the other is no range: the whole document.
        let pages_only = text.replace(r#""part":"#, r#""partOld":"#);
        assert_eq!(
            serde_json::from_str::<PipelineJob>(&pages_only)
                .unwrap()
                .range,
            None
        );
    }

    #[test]
    fn a_queued_record_says_enough_to_send_its_job_again() {
        let blob = BlobRef {
            bucket: "b".into(),
            key: "alice/2026/notes.txt".into(),
        };
        let meta = BlobMeta {
            size: 42,
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        let (job, _) =
            PipelineJob::for_object(&blob, &meta, Some("notes.txt"), "alice", "r1".into(), false)
                .unwrap();
        let queued = |job: &PipelineJob| {
            let update = crate::domain::status::StatusUpdate {
                starts_run: true,
                pipeline: Some(job.pipeline),
                metadata: job.queued_facts(),
                ..crate::domain::status::StatusUpdate::new(
                    &job.status_id,
                    &job.user,
                    &job.run_id,
                    crate::domain::status::Stage::Queued,
                    5,
                    "queued",
                )
            };
            crate::domain::status::StatusRecord::applied(None, &update, chrono::Utc::now(), 60)
        };
        assert_eq!(PipelineJob::from_record(&queued(&job)), Some(job.clone()));
        // Its attributes too: a job sent again is filtered like the first.
        let described = PipelineJob {
            attributes: crate::domain::attributes::Attributes::new(
                serde_json::json!({"tags": ["q3"], "knowledge_base_id": "kb-1"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                "metadata",
            )
            .unwrap(),
            ..job.clone()
        };
        assert_eq!(
            PipelineJob::from_record(&queued(&described)),
            Some(described)
        );
        // A password is never recorded, so its job cannot be rebuilt.
        let locked = PipelineJob {
            password: Some(DocumentPassword::new("s3cret")),
            ..job
        };
        let record = queued(&locked);
        assert!(!serde_json::to_string(&record).unwrap().contains("s3cret"));
        assert_eq!(PipelineJob::from_record(&record), None);
    }

    #[test]
    fn documents_split_into_consecutive_ranges() {
        let parts = PageRange::split(300, 50);
        assert_eq!(parts.len(), 6);
        assert_eq!(
            parts[5],
            PageRange {
                first: 251,
                last: 300
            }
        );
        let parts = PageRange::split(101, 50);
        assert_eq!(parts.iter().map(PageRange::len).sum::<u32>(), 101);
        assert_eq!(
            parts[2],
            PageRange {
                first: 101,
                last: 101
            }
        );
        assert!(PageRange::split(0, 50).is_empty());
    }

    #[test]
    fn object_metadata_reaches_the_classifier() {
        let blob = BlobRef {
            bucket: "b".into(),
            key: "u/letter.pdf".into(),
        };
        let mut meta = BlobMeta {
            size: 10,
            content_type: Some("application/pdf".into()),
            ..Default::default()
        };
        let (job, route) =
            PipelineJob::for_object(&blob, &meta, None, "alice", "r1".into(), false).unwrap();
        assert_eq!(
            (
                job.status_id.as_str(),
                job.file_name.as_str(),
                route.pipeline
            ),
            ("b#u/letter.pdf", "letter.pdf", Pipeline::TextRag)
        );
        meta.metadata
            .insert(OWNER_METADATA.into(), "scanner-operator".into());
        let (job, _) =
            PipelineJob::for_object(&blob, &meta, None, "alice", "r1".into(), false).unwrap();
        assert_eq!(job.pipeline, Pipeline::TextRag, "the uploader is no hint");
        meta.metadata.insert("scanned".into(), "true".into());
        let (job, route) =
            PipelineJob::for_object(&blob, &meta, None, "alice", "r1".into(), false).unwrap();
        assert_eq!(
            (job.pipeline, route.reason),
            (Pipeline::Vdr, RouteReason::Scanned)
        );
        let zip = BlobRef {
            bucket: "b".into(),
            key: "u/a.zip".into(),
        };
        assert!(PipelineJob::for_object(
            &zip,
            &BlobMeta::default(),
            None,
            "alice",
            "r1".into(),
            false
        )
        .is_err());
    }
}
