//! Moving the old `amplify-rag` index into this one (`ragctl migrate-legacy`).
//!
//! The old system keeps chunks in one `embeddings` table keyed by `src`, a
//! content-hash id (`global/<sha256>.content.json`), not by the user's file:
//! DynamoDB tables map a user's file key (`<user>/<date>/<uuid>.json`) to
//! that hash (hash-files), describe the file (files) and grant access to the
//! hash (object-access). Here a document is a user's file: one per file key,
//! owned by the key's user, holding the old chunks of its hash, and shared
//! with the principals the old grants named. Vectors are copied when they
//! come from the configured model, else the chunks are embedded again.
//!
//! A document is written in one transaction ([`Index::replace_document`]),
//! and one already holding all its old chunks is skipped: a run killed at
//! any point resumes where it stopped and never duplicates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::domain::classify::Pipeline;
use crate::domain::identity::Caller;
use crate::ingest::pipeline::indexing::chunk_records;
use crate::ports::{DocumentRecord, EmbedError, Embedder, Index, IndexError};
use crate::search::analyzer::Analyzer;
use crate::search::query::{QueryRequest, QueryService, SearchMode};

/// Errors of reading the old system.
#[derive(Debug, thiserror::Error)]
#[error("reading the old system: {0}")]
pub struct LegacyError(pub String);

/// One row of the old `embeddings` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyChunk {
    /// The row's `id`: breaks ties in document order and is kept as
    /// `legacy_id` in the migrated chunk's metadata.
    pub id: i64,
    /// The chunk's text, copied unchanged.
    pub content: String,
    /// `{"page_number": n}`, `{"slide_number": n}`, `{"row_number": n}` or
    /// `{"line_number": n}`; anything else is kept but gives no page.
    pub locations: Option<Value>,
    /// The old `char_index` column, kept as `char_index` in the migrated
    /// chunk's metadata and otherwise unused.
    pub char_index: Option<i32>,
    /// The chunk's place in its document, which orders the migrated chunks;
    /// rows without one come last.
    pub embedding_index: Option<i32>,
    /// `vector_embedding`, when it was read.
    pub vector: Option<Vec<f32>>,
}

/// A `src` of the old table, with its row count.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacySource {
    /// The content-hash id the old rows are keyed by,
    /// `global/<sha256>.content.json`.
    pub src: String,
    /// Rows of the old table with this `src`.
    pub chunks: u64,
}

/// A user's file as the old DynamoDB tables describe it (hash-files joined
/// with files).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegacyFile {
    /// The user's object key, `<user>/<date>/<uuid>.json`.
    pub key: String,
    /// The `src` of its chunks (hash-files' `textLocationKey`).
    pub src: String,
    /// The file's name (files' `name`); when missing or empty the
    /// document is named after the key's last segment.
    pub name: Option<String>,
    /// The file's MIME type (files' `type`).
    pub content_type: Option<String>,
    /// Files' `tags`, empty when absent.
    pub tags: Vec<String>,
    /// Files' `knowledgeBase`.
    pub knowledge_base: Option<String>,
    /// Files' `createdBy`: the owner when the key has no `<user>/` segment.
    pub created_by: Option<String>,
}

/// An object-access row on a `src`.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyGrant {
    /// The `src` the grant is on (object-access `object_id`).
    pub src: String,
    /// Who is granted (`principal_id`): a user, named as document owners are.
    pub principal: String,
    /// `read`, `write` or `owner`.
    pub permission: String,
}

/// The old `embeddings` table.
#[async_trait]
pub trait LegacyTable: Send + Sync {
    /// Every `src` with its row count, by `src`.
    async fn sources(&self) -> Result<Vec<LegacySource>, LegacyError>;
    /// The rows of one `src`, in document order (`embedding_index`, then
    /// `id`); vectors only when asked for.
    async fn chunks(&self, src: &str, vectors: bool) -> Result<Vec<LegacyChunk>, LegacyError>;
    /// The dimension of `vector_embedding`.
    async fn dimensions(&self) -> Result<Option<usize>, LegacyError>;
}

/// The old DynamoDB tables.
#[async_trait]
pub trait LegacyCatalog: Send + Sync {
    /// Every file with a hash entry, by key.
    async fn files(&self) -> Result<Vec<LegacyFile>, LegacyError>;
    /// Every grant on an embedding (`objectType` `fileEmbedding`).
    async fn grants(&self) -> Result<Vec<LegacyGrant>, LegacyError>;
}

/// One document the migration writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDocument {
    /// The old `src` whose rows become its chunks; recorded in the
    /// document's metadata as `migratedFrom.src`.
    pub src: String,
    /// The user's file key; the document id is `bucket#key`.
    pub key: String,
    /// The user who owns it: the key's first segment, else the file's
    /// `createdBy`.
    pub owner: String,
    /// The file's name, else the key's last segment.
    pub file_name: String,
    /// The file's MIME type, when the files table has one.
    pub content_type: Option<String>,
    /// Rows of its `src` in the old table.
    pub chunks: u64,
    /// Users the old grants let read it, besides its owner.
    pub grantees: Vec<String>,
    /// The file's tags, kept in the document's metadata as `tags`.
    pub tags: Vec<String>,
    /// The file's knowledge base, kept in the document's metadata as
    /// `knowledgeBase`.
    pub knowledge_base: Option<String>,
}

/// What a migration would move.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Documents to write, one per file with rows and an owner, by file key.
    pub documents: Vec<PlannedDocument>,
    /// Sources no file points at (their hash entry is gone): not migrated,
    /// since nobody could be their owner.
    pub orphans: Vec<LegacySource>,
    /// File keys whose `src` has no rows in the old table.
    pub empty_files: Vec<String>,
    /// File keys with no user: not under `<user>/` and no `createdBy`.
    pub unowned_files: Vec<String>,
}

impl Plan {
    /// `(user, documents, chunks)` per owner, by user.
    pub fn per_user(&self) -> Vec<(String, usize, u64)> {
        let mut users: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
        for d in &self.documents {
            let u = users.entry(&d.owner).or_default();
            u.0 += 1;
            u.1 += d.chunks;
        }
        users
            .into_iter()
            .map(|(u, (d, c))| (u.to_owned(), d, c))
            .collect()
    }
}

/// The owner of a file: the first segment of its key (Amplify's layout,
/// the rule [`crate::domain::ownership`] applies to uploads), else its `createdBy`.
fn owner_of(file: &LegacyFile) -> Option<String> {
    match file.key.split_once('/') {
        Some((user, rest)) if !user.is_empty() && !rest.is_empty() => Some(user.to_owned()),
        _ => file.created_by.clone().filter(|u| !u.is_empty()),
    }
}

/// Joins the old table's sources with the files that point at them and the
/// grants on them. A hash shared by several files (two users uploaded the
/// same bytes) becomes a document per file; a grant on the hash goes to the
/// first of its documents by key whose owner is not the grantee, so a
/// grantee finds the text once.
pub fn plan(sources: &[LegacySource], files: &[LegacyFile], grants: &[LegacyGrant]) -> Plan {
    let counts: HashMap<&str, u64> = sources.iter().map(|s| (s.src.as_str(), s.chunks)).collect();
    let mut out = Plan::default();
    let mut files: Vec<&LegacyFile> = files.iter().collect();
    files.sort_by(|a, b| a.key.cmp(&b.key));
    for file in files {
        let Some(&chunks) = counts.get(file.src.as_str()) else {
            out.empty_files.push(file.key.clone());
            continue;
        };
        let Some(owner) = owner_of(file) else {
            out.unowned_files.push(file.key.clone());
            continue;
        };
        let file_name = file
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| file.key.rsplit('/').next().unwrap_or(&file.key).to_owned());
        out.documents.push(PlannedDocument {
            src: file.src.clone(),
            key: file.key.clone(),
            owner,
            file_name,
            content_type: file.content_type.clone(),
            chunks,
            grantees: Vec::new(),
            tags: file.tags.clone(),
            knowledge_base: file.knowledge_base.clone(),
        });
    }
    for g in grants {
        let already_owner = out
            .documents
            .iter()
            .any(|d| d.src == g.src && d.owner == g.principal);
        let target = out
            .documents
            .iter_mut()
            .filter(|d| d.src == g.src)
            .find(|d| d.owner != g.principal);
        if let Some(doc) = target.filter(|_| !already_owner) {
            if !doc.grantees.contains(&g.principal) {
                doc.grantees.push(g.principal.clone());
            }
        }
    }
    let used: std::collections::HashSet<&str> =
        out.documents.iter().map(|d| d.src.as_str()).collect();
    out.orphans = sources
        .iter()
        .filter(|s| !used.contains(s.src.as_str()))
        .cloned()
        .collect();
    out
}

/// The page (or slide) of an old chunk, and whether its `locations` was
/// readable: an object with a numeric `page_number`, `slide_number`,
/// `row_number` or `line_number`.
pub fn page_of(locations: Option<&Value>) -> (Option<u32>, bool) {
    let Some(Value::Object(l)) = locations else {
        return (None, locations.is_none_or(Value::is_null));
    };
    let number = |k: &str| {
        l.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    match (number("page_number"), number("slide_number")) {
        (Some(p), _) | (None, Some(p)) => (Some(p), true),
        _ => (
            None,
            number("row_number").is_some() || number("line_number").is_some(),
        ),
    }
}

/// Errors of migrating one document.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// Reading the old `embeddings` table failed.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// Reading or writing this index failed (in a verify, also its search).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Embedding the chunks again with the configured model failed.
    #[error(transparent)]
    Embedding(#[from] EmbedError),
}

/// How a document's vectors came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrated {
    /// Written with the old vectors.
    Copied,
    /// Written with vectors of the configured model.
    Embedded,
    /// Already here, whole: nothing written.
    Present,
}

/// Documents written at once: enough to overlap one document's database
/// writes with another's embedding, few enough for two cores and a pool of
/// a handful of connections.
const CONCURRENT_DOCUMENTS: usize = 4;

/// Documents of a run by what happened to them, and chunks written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Documents written with the old vectors ([`Migrated::Copied`]).
    pub copied: usize,
    /// Documents written with vectors of the configured model
    /// ([`Migrated::Embedded`]).
    pub embedded: usize,
    /// Documents skipped as already here whole ([`Migrated::Present`]).
    pub present: usize,
    /// Chunks of the copied and embedded documents, as the plan counted
    /// them (old rows per `src`).
    pub chunks_written: u64,
}

impl Tally {
    fn count(&mut self, how: Migrated, chunks: u64) {
        match how {
            Migrated::Copied => self.copied += 1,
            Migrated::Embedded => self.embedded += 1,
            Migrated::Present => self.present += 1,
        }
        if how != Migrated::Present {
            self.chunks_written += chunks;
        }
    }
}

/// The migration of documents from the old system.
pub struct LegacyMigration {
    /// The old `embeddings` table, read one `src` at a time.
    pub table: Arc<dyn LegacyTable>,
    /// This index: written one document per transaction, and read to skip
    /// documents already here and to verify.
    pub index: Arc<dyn Index>,
    /// The configured model: embeds chunks whose old vectors cannot be
    /// copied, and is recorded as each document's `embedding_model`.
    pub embedder: Arc<dyn Embedder>,
    /// Turns each chunk's text into the terms of its BM25 postings.
    pub analyzer: Arc<Analyzer>,
    /// The bucket of the users' files: document ids are `bucket#key`.
    pub bucket: String,
    /// Whether the old vectors are this embedder's (same model and
    /// dimension): decided once per run by the caller.
    pub copy_vectors: bool,
}

impl LegacyMigration {
    /// The document id of a planned document.
    pub fn document_id(&self, doc: &PlannedDocument) -> String {
        format!("{}#{}", self.bucket, doc.key)
    }

    /// Writes one document with its grants, unless it is already here whole.
    pub async fn migrate(&self, doc: &PlannedDocument) -> Result<Migrated, MigrationError> {
        let owner = Caller::new(doc.owner.clone());
        let document_id = self.document_id(doc);
        if let Some(present) = self.index.document(&owner, &document_id).await? {
            let from = present.metadata.pointer("/migratedFrom/src");
            if u64::from(present.chunks) == doc.chunks && from == Some(&json!(doc.src)) {
                self.grant(doc, &owner, &document_id).await?;
                return Ok(Migrated::Present);
            }
        }
        let rows = self.table.chunks(&doc.src, self.copy_vectors).await?;
        let dims = self.embedder.dimensions();
        let usable = |c: &LegacyChunk| c.vector.as_ref().is_some_and(|v| v.len() == dims);
        let (vectors, how) = if self.copy_vectors && rows.iter().all(usable) {
            let vectors = rows
                .iter()
                .map(|c| unit(c.vector.clone().unwrap_or_default()))
                .collect();
            (vectors, Migrated::Copied)
        } else {
            // The embedder batches its forward passes itself.
            let texts: Vec<String> = rows.iter().map(|c| c.content.clone()).collect();
            (
                self.embedder.embed_documents(&texts).await?,
                Migrated::Embedded,
            )
        };
        let chunks: Vec<(Option<u32>, String)> = rows
            .iter()
            .map(|c| (page_of(c.locations.as_ref()).0, c.content.clone()))
            .collect();
        let mut records = chunk_records(&self.analyzer, chunks, vectors, &Value::Null);
        for (record, row) in records.iter_mut().zip(&rows) {
            record.metadata = json!({
                "legacy_id": row.id,
                "locations": row.locations,
                "char_index": row.char_index,
            });
        }
        let record = DocumentRecord {
            document_id: document_id.clone(),
            owner: doc.owner.clone(),
            bucket: self.bucket.clone(),
            key: doc.key.clone(),
            file_name: doc.file_name.clone(),
            content_type: doc.content_type.clone(),
            pipeline: Pipeline::TextRag,
            embedding_model: self.embedder.model_id().to_owned(),
            page_count: None,
            metadata: json!({
                "migratedFrom": {"system": "amplify-rag", "src": doc.src},
                "tags": doc.tags,
                "knowledgeBase": doc.knowledge_base,
            }),
        };
        self.index.replace_document(&record, &records).await?;
        self.grant(doc, &owner, &document_id).await?;
        Ok(how)
    }

    /// Migrates `plan`'s documents `batch` at a time (a few at once within
    /// a batch), calling `done` after each. Documents already here whole are
    /// skipped, so a rerun after a kill resumes; the first failure stops
    /// the run after its batch, the documents before it staying migrated.
    pub async fn run(
        &self,
        plan: &Plan,
        batch: usize,
        mut done: impl FnMut(&PlannedDocument, Migrated),
    ) -> Result<Tally, MigrationError> {
        let mut tally = Tally::default();
        for (n, docs) in plan.documents.chunks(batch.max(1)).enumerate() {
            use futures::StreamExt;
            let results: Vec<_> = futures::stream::iter(docs)
                .map(|d| self.migrate(d))
                .buffered(CONCURRENT_DOCUMENTS)
                .collect()
                .await;
            let mut failure = None;
            for (doc, result) in docs.iter().zip(results) {
                match result {
                    Ok(how) => {
                        tally.count(how, doc.chunks);
                        done(doc, how);
                    }
                    Err(e) => {
                        tracing::error!(src = %doc.src, key = %doc.key, error = %e, "document not migrated");
                        failure.get_or_insert(e);
                    }
                }
            }
            tracing::info!(
                batch = n + 1,
                documents = docs.len(),
                copied = tally.copied,
                embedded = tally.embedded,
                present = tally.present,
                "legacy batch done"
            );
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(tally)
    }

    async fn grant(
        &self,
        doc: &PlannedDocument,
        owner: &Caller,
        document_id: &str,
    ) -> Result<(), IndexError> {
        for grantee in &doc.grantees {
            self.index.grant(owner, document_id, grantee).await?;
        }
        Ok(())
    }

    /// What differs between a migrated document and its old rows: chunk
    /// count, every chunk's text and page, and whether a search of its
    /// owner's documents by one of its own sentences finds it. Empty when
    /// the copy is faithful.
    pub async fn verify(
        &self,
        doc: &PlannedDocument,
        search: &QueryService,
    ) -> Result<Vec<String>, MigrationError> {
        let owner = Caller::new(doc.owner.clone());
        let document_id = self.document_id(doc);
        let Some(stored) = self.index.chunks(&owner, &document_id).await? else {
            return Ok(vec!["not migrated".to_owned()]);
        };
        let old = self.table.chunks(&doc.src, false).await?;
        let mut problems = Vec::new();
        if stored.len() != old.len() {
            problems.push(format!(
                "{} chunks here, {} in the old table",
                stored.len(),
                old.len()
            ));
        }
        for (i, (new, old)) in stored.iter().zip(&old).enumerate() {
            if new.content != old.content {
                problems.push(format!("chunk {i} (old row {}) differs in text", old.id));
            } else if new.page_num != page_of(old.locations.as_ref()).0 {
                problems.push(format!("chunk {i} (old row {}) differs in page", old.id));
            }
        }
        if let Some(sentence) = old.iter().find_map(|c| probe_sentence(&c.content)) {
            let mut req = QueryRequest::new(sentence.clone());
            req.search_mode = SearchMode::Hybrid;
            let found = search
                .search(&owner, &req)
                .await
                .map_err(|e| IndexError::Backend(e.error))?;
            if !found.results.iter().any(|r| r.document_id == document_id) {
                problems.push(format!("a search for \"{sentence}\" does not find it"));
            }
        }
        Ok(problems)
    }
}

/// The longest sentence of `text`, cut to 30 words: a query only this
/// document is likely to answer best.
fn probe_sentence(text: &str) -> Option<String> {
    text.split(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| s.split_whitespace().count() >= 3)
        .max_by_key(|s| s.len())
        .map(|s| s.split_whitespace().take(30).collect::<Vec<_>>().join(" "))
}

/// `v` scaled to unit length: the old index compared by inner product,
/// this one by cosine; a zero vector stays zero.
fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str, src: &str) -> LegacyFile {
        LegacyFile {
            key: key.into(),
            src: src.into(),
            ..LegacyFile::default()
        }
    }

    fn grant(src: &str, who: &str, level: &str) -> LegacyGrant {
        LegacyGrant {
            src: src.into(),
            principal: who.into(),
            permission: level.into(),
        }
    }

    #[test]
    fn a_plan_gives_every_file_its_owner_and_keeps_orphans_out() {
        let sources = [
            LegacySource {
                src: "global/a.content.json".into(),
                chunks: 3,
            },
            LegacySource {
                src: "global/b.content.json".into(),
                chunks: 2,
            },
            LegacySource {
                src: "global/orphan.content.json".into(),
                chunks: 5,
            },
        ];
        let files = [
            file("bob@x.org/2024-05-01/2.json", "global/a.content.json"),
            file("alice@x.org/2024-05-01/1.json", "global/a.content.json"),
            file("alice@x.org/2024-05-02/3.json", "global/b.content.json"),
            file("carol@x.org/2024-05-02/4.json", "global/gone.content.json"),
            file("loose.json", "global/b.content.json"),
        ];
        let grants = [
            // Bob owns a copy of a: no grant needed.
            grant("global/a.content.json", "bob@x.org", "read"),
            grant("global/b.content.json", "bob@x.org", "read"),
            grant("global/b.content.json", "bob@x.org", "write"),
            grant("global/b.content.json", "alice@x.org", "owner"),
        ];
        let p = plan(&sources, &files, &grants);
        let owners: Vec<(&str, &str, u64)> = p
            .documents
            .iter()
            .map(|d| (d.key.as_str(), d.owner.as_str(), d.chunks))
            .collect();
        assert_eq!(
            owners,
            [
                ("alice@x.org/2024-05-01/1.json", "alice@x.org", 3),
                ("alice@x.org/2024-05-02/3.json", "alice@x.org", 2),
                ("bob@x.org/2024-05-01/2.json", "bob@x.org", 3),
            ]
        );
        assert!(p.documents[0].grantees.is_empty());
        assert_eq!(p.documents[1].grantees, ["bob@x.org"]);
        assert_eq!(p.orphans.len(), 1);
        assert_eq!(p.orphans[0].src, "global/orphan.content.json");
        assert_eq!(p.empty_files, ["carol@x.org/2024-05-02/4.json"]);
        assert_eq!(p.unowned_files, ["loose.json"]);
        assert_eq!(
            p.per_user(),
            [("alice@x.org".into(), 2, 5), ("bob@x.org".into(), 1, 3)]
        );
    }

    #[test]
    fn pages_come_from_page_or_slide_numbers_and_bad_locations_give_none() {
        assert_eq!(page_of(Some(&json!({"page_number": 4}))), (Some(4), true));
        assert_eq!(page_of(Some(&json!({"slide_number": 2}))), (Some(2), true));
        assert_eq!(page_of(Some(&json!({"row_number": 17}))), (None, true));
        assert_eq!(page_of(Some(&json!({"line_number": 3}))), (None, true));
        assert_eq!(page_of(None), (None, true));
        assert_eq!(
            page_of(Some(&json!({"page_number": "four"}))),
            (None, false)
        );
        assert_eq!(page_of(Some(&json!("page 4"))), (None, false));
        assert_eq!(page_of(Some(&json!({"page_number": -1}))), (None, false));
    }

    #[test]
    fn the_probe_is_a_real_sentence() {
        assert_eq!(
            probe_sentence("Hi. Solar panels turn light into power. Ok").as_deref(),
            Some("Solar panels turn light into power")
        );
        assert_eq!(probe_sentence("a b"), None);
    }
}
