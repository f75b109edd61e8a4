//! [`MemoryIndex`]: the index ports in a process's memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::identity::Caller;
use crate::ports::{
    ChunkHit, ChunkRecord, DocumentRecord, DocumentSummary, Index, IndexError, IndexQuery,
    IndexResults, OtherModelDocument, PageHit, PageIndex, PageQuery, PageRecord, SearchScope,
    SparseQuery, StoredChunk,
};
use crate::search::bm25::{score, Posting};

/// [`Index`] and [`PageIndex`] over maps, for unit tests of what runs on top
/// of an index (pipelines, the query service): ownership, grants, scopes,
/// exact cosine, the index's own BM25 scorer, and MaxSim. Unlike
/// PostgreSQL's: no attribute filters (refused, as the port's default
/// does); the dense and BM25 lists are each the best `limit`, not the
/// union of both with both scores; ties are ordered by insertion; pages
/// and vectors are not checked against the range and the dimensions. Tests
/// of the index itself run on PostgreSQL.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    documents: BTreeMap<String, Stored>,
    /// The last chunk or page id given: ids are never reused, as a serial's.
    last_id: u64,
}

#[derive(Debug)]
struct Stored {
    record: DocumentRecord,
    /// By id.
    chunks: BTreeMap<u64, ChunkRecord>,
    /// By id.
    pages: BTreeMap<u64, PageRecord>,
    grantees: BTreeSet<String>,
}

impl MemoryIndex {
    /// The stored text of a document, its chunks in order joined by
    /// newlines; `None` if there is no such document.
    pub fn text(&self, document_id: &str) -> Option<String> {
        let state = self.lock().ok()?;
        let mut chunks: Vec<&ChunkRecord> =
            state.documents.get(document_id)?.chunks.values().collect();
        chunks.sort_by_key(|c| c.chunk_index);
        Some(
            chunks
                .iter()
                .map(|c| c.content.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// Changes the grantees of one of `owner`'s documents; `false` if they
    /// own no such document.
    fn with_grantees(
        &self,
        owner: &Caller,
        document_id: &str,
        change: impl FnOnce(&mut BTreeSet<String>),
    ) -> Result<bool, IndexError> {
        let mut state = self.lock()?;
        match state.documents.get_mut(document_id) {
            Some(d) if d.record.owner == owner.user => {
                change(&mut d.grantees);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, IndexError> {
        self.state
            .lock()
            .map_err(|_| IndexError::Backend("a writer panicked".into()))
    }
}

impl State {
    /// The document's entry for `doc`, created if new; refused if another
    /// user owns it. Its record is replaced by `doc`.
    fn claim(&mut self, doc: &DocumentRecord) -> Result<&mut Stored, IndexError> {
        let stored = self
            .documents
            .entry(doc.document_id.clone())
            .or_insert_with(|| Stored {
                record: doc.clone(),
                chunks: BTreeMap::new(),
                pages: BTreeMap::new(),
                grantees: BTreeSet::new(),
            });
        if stored.record.owner != doc.owner {
            return Err(IndexError::NotOwner {
                document_id: doc.document_id.clone(),
            });
        }
        stored.record = doc.clone();
        Ok(stored)
    }

    fn next_ids(&mut self, n: usize) -> Vec<u64> {
        let first = self.last_id + 1;
        self.last_id += n as u64;
        (first..=self.last_id).collect()
    }

    /// The caller's own document.
    fn owned(&self, caller: &Caller, document_id: &str) -> Option<&Stored> {
        self.documents
            .get(document_id)
            .filter(|d| d.record.owner == caller.user)
    }

    /// The documents `scope` may search.
    fn visible<'a>(
        &'a self,
        scope: &'a SearchScope,
    ) -> Result<impl Iterator<Item = &'a Stored> + 'a, IndexError> {
        if scope.filter.is_some() {
            return Err(IndexError::Backend(
                "this index cannot filter by attributes".into(),
            ));
        }
        Ok(self.documents.values().filter(move |d| {
            let user = &scope.caller.user;
            (d.record.owner == *user || d.grantees.contains(user))
                && scope
                    .document_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&d.record.document_id))
                && scope.pipeline.is_none_or(|p| p == d.record.pipeline)
        }))
    }
}

fn summary(d: &Stored) -> DocumentSummary {
    DocumentSummary {
        document_id: d.record.document_id.clone(),
        file_name: d.record.file_name.clone(),
        pipeline: d.record.pipeline,
        chunks: d.chunks.len() as u32,
        metadata: d.record.metadata.clone(),
    }
}

fn hit(d: &Stored, id: u64, c: &ChunkRecord) -> ChunkHit {
    let mut metadata = c.metadata.clone();
    if let serde_json::Value::Object(m) = &mut metadata {
        m.entry("file_name")
            .or_insert_with(|| d.record.file_name.clone().into());
    }
    ChunkHit {
        chunk_id: id.to_string(),
        document_id: d.record.document_id.clone(),
        content: c.content.clone(),
        page_num: c.page_num,
        pipeline: d.record.pipeline,
        metadata,
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    let norms = norm(a) * norm(b);
    if norms == 0.0 || a.len() != b.len() {
        0.0
    } else {
        dot / norms
    }
}

/// Best first, ties by id; at most `limit`.
fn ranked<T>(mut scored: Vec<(T, f64, u64)>, limit: usize) -> Vec<(T, f64)> {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    scored
        .into_iter()
        .take(limit)
        .map(|(t, s, _)| (t, s))
        .collect()
}

/// BM25 of each visible chunk holding a query term, scored by the index's
/// own scorer ([`crate::search::bm25::score`]) over the scope's postings.
fn bm25(chunks: &[(&Stored, u64, &ChunkRecord)], query: &SparseQuery) -> Vec<(ChunkHit, f64)> {
    let n = chunks.len() as f64;
    let total: f64 = chunks.iter().map(|(_, _, c)| f64::from(c.term_count)).sum();
    let mut postings = Vec::new();
    for (d, id, c) in chunks {
        for (term, tf) in &c.terms {
            if query.terms.iter().any(|(t, _)| t == term) {
                postings.push(Posting {
                    term: term.clone(),
                    chunk_id: *id as i64,
                    document_id: d.record.document_id.clone(),
                    tf: *tf as i32,
                    chunk_len: c.term_count as i32,
                });
            }
        }
    }
    let hits: HashMap<i64, ChunkHit> = chunks
        .iter()
        .map(|(d, id, c)| (*id as i64, hit(d, *id, c)))
        .collect();
    score(&postings, &query.terms, n, total / n.max(1.0), query.params)
        .into_iter()
        .take(query.limit)
        .filter_map(|s| Some((hits.get(&s.chunk_id)?.clone(), s.score)))
        .collect()
}

#[async_trait]
impl Index for MemoryIndex {
    async fn replace_document(
        &self,
        doc: &DocumentRecord,
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError> {
        let mut state = self.lock()?;
        state.claim(doc)?;
        let ids = state.next_ids(chunks.len());
        let stored = state.claim(doc)?;
        stored.pages.clear();
        stored.chunks = ids.into_iter().zip(chunks.iter().cloned()).collect();
        Ok(())
    }

    async fn delete_document(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<bool, IndexError> {
        let mut state = self.lock()?;
        if state.owned(caller, document_id).is_none() {
            return Ok(false);
        }
        Ok(state.documents.remove(document_id).is_some())
    }

    async fn search(&self, query: &IndexQuery) -> Result<IndexResults, IndexError> {
        let vector = match &query.dense {
            Some(dense) => Some(dense.vector.get().await?),
            None => None,
        };
        let state = self.lock()?;
        let chunks: Vec<(&Stored, u64, &ChunkRecord)> = state
            .visible(&query.scope)?
            .flat_map(|d| d.chunks.iter().map(move |(id, c)| (d, *id, c)))
            .collect();
        let dense = match (&query.dense, vector) {
            (Some(dense), Some(vector)) => ranked(
                chunks
                    .iter()
                    .filter(|(d, _, _)| d.record.embedding_model == dense.model)
                    .map(|(d, id, c)| (hit(d, *id, c), cosine(&vector, &c.embedding), *id))
                    .collect(),
                dense.limit,
            ),
            _ => Vec::new(),
        };
        let sparse = query
            .sparse
            .as_ref()
            .map_or_else(Vec::new, |q| bm25(&chunks, q));
        Ok(IndexResults { dense, sparse })
    }

    async fn documents(&self, caller: &Caller) -> Result<Vec<DocumentSummary>, IndexError> {
        let state = self.lock()?;
        Ok(state
            .documents
            .values()
            .filter(|d| d.record.owner == caller.user)
            .map(summary)
            .collect())
    }

    async fn document(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<DocumentSummary>, IndexError> {
        Ok(self.lock()?.owned(caller, document_id).map(summary))
    }

    async fn chunks(
        &self,
        caller: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<StoredChunk>>, IndexError> {
        let state = self.lock()?;
        Ok(state.owned(caller, document_id).map(|d| {
            let mut chunks: Vec<StoredChunk> = d
                .chunks
                .values()
                .map(|c| StoredChunk {
                    chunk_index: c.chunk_index,
                    content: c.content.clone(),
                    page_num: c.page_num,
                })
                .collect();
            chunks.sort_by_key(|c| c.chunk_index);
            chunks
        }))
    }

    async fn documents_not_of_model(
        &self,
        model: &str,
        scope: Option<&SearchScope>,
        limit: usize,
    ) -> Result<Vec<OtherModelDocument>, IndexError> {
        let state = self.lock()?;
        let candidates: Vec<&Stored> = match scope {
            Some(scope) => state.visible(scope)?.collect(),
            None => state.documents.values().collect(),
        };
        Ok(candidates
            .into_iter()
            .filter(|d| {
                d.record.pipeline == crate::domain::classify::Pipeline::TextRag
                    && d.record.embedding_model != model
            })
            .take(limit)
            .map(|d| OtherModelDocument {
                document_id: d.record.document_id.clone(),
                owner: d.record.owner.clone(),
                embedding_model: d.record.embedding_model.clone(),
                chunks: d.chunks.len() as u32,
            })
            .collect())
    }

    async fn replace_vectors(
        &self,
        owner: &Caller,
        document_id: &str,
        model: &str,
        vectors: &[(u32, Vec<f32>)],
    ) -> Result<bool, IndexError> {
        let mut state = self.lock()?;
        let Some(stored) = state
            .documents
            .get_mut(document_id)
            .filter(|d| d.record.owner == owner.user)
        else {
            return Ok(false);
        };
        let by_index: HashMap<u32, &Vec<f32>> = vectors.iter().map(|(i, v)| (*i, v)).collect();
        for chunk in stored.chunks.values_mut() {
            if let Some(v) = by_index.get(&chunk.chunk_index) {
                chunk.embedding = (*v).clone();
            }
        }
        stored.record.embedding_model = model.to_owned();
        Ok(true)
    }

    async fn purge(&self, caller: &Caller) -> Result<u64, IndexError> {
        let mut state = self.lock()?;
        let before = state.documents.len();
        state.documents.retain(|_, d| d.record.owner != caller.user);
        Ok((before - state.documents.len()) as u64)
    }

    async fn grant(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError> {
        self.with_grantees(owner, document_id, |g| {
            g.insert(grantee.to_owned());
        })
    }

    async fn revoke(
        &self,
        owner: &Caller,
        document_id: &str,
        grantee: &str,
    ) -> Result<bool, IndexError> {
        self.with_grantees(owner, document_id, |g| {
            g.remove(grantee);
        })
    }

    async fn grantees(
        &self,
        owner: &Caller,
        document_id: &str,
    ) -> Result<Option<Vec<String>>, IndexError> {
        Ok(self
            .lock()?
            .owned(owner, document_id)
            .map(|d| d.grantees.iter().cloned().collect()))
    }
}

#[async_trait]
impl PageIndex for MemoryIndex {
    async fn replace_pages(
        &self,
        doc: &DocumentRecord,
        first: u32,
        last: u32,
        pages: &[PageRecord],
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError> {
        let mut state = self.lock()?;
        state.claim(doc)?;
        let page_ids = state.next_ids(pages.len());
        let chunk_ids = state.next_ids(chunks.len());
        let stored = state.claim(doc)?;
        let past = doc.page_count.unwrap_or(u32::MAX);
        let kept = |page: Option<u32>| page.is_some_and(|p| (p < first || p > last) && p <= past);
        stored.pages.retain(|_, p| kept(Some(p.page_num)));
        stored.chunks.retain(|_, c| kept(c.page_num));
        stored
            .pages
            .extend(page_ids.into_iter().zip(pages.iter().cloned()));
        stored
            .chunks
            .extend(chunk_ids.into_iter().zip(chunks.iter().cloned()));
        Ok(())
    }

    async fn search_pages(&self, query: &PageQuery) -> Result<Vec<PageHit>, IndexError> {
        let state = self.lock()?;
        let scored = state
            .visible(&query.scope)?
            .filter(|d| d.record.embedding_model == query.model)
            .flat_map(|d| d.pages.iter().map(move |(id, p)| (d, *id, p)))
            .filter(|(_, _, p)| !p.vectors.is_empty())
            .map(|(d, id, p)| {
                let score = query
                    .vectors
                    .iter()
                    .map(|q| {
                        p.vectors
                            .iter()
                            .map(|v| cosine(q, v))
                            .fold(f64::MIN, f64::max)
                    })
                    .sum();
                let hit = PageHit {
                    page_id: id.to_string(),
                    document_id: d.record.document_id.clone(),
                    bucket: d.record.bucket.clone(),
                    file_name: d.record.file_name.clone(),
                    page_num: p.page_num,
                    content: p.content.clone(),
                    image_key: p.image_key.clone(),
                    text_source: p.text_source,
                    score,
                    metadata: p.metadata.clone(),
                };
                (hit, score, id)
            })
            .collect();
        Ok(ranked(scored, query.limit)
            .into_iter()
            .map(|(hit, _)| hit)
            .collect())
    }
}
