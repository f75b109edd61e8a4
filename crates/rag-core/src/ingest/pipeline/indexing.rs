//! Turning chunks and their vectors into index records: the one place that
//! decides what a stored chunk holds.

use serde_json::Value;

use crate::domain::job::PipelineJob;
use crate::ingest::chunking::Citation;
use crate::ports::{ChunkRecord, DocumentRecord};
use crate::search::analyzer::Analyzer;

/// A chunk on its way to the index: its page, its text and, when the
/// pipeline knows it, where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PageChunk {
    /// 1-based page (or slide, or sheet) it came from; `None` for formats
    /// without pages.
    pub page_num: Option<u32>,
    /// The chunk's text: what is embedded, indexed for BM25 and returned.
    pub content: String,
    /// Where it sits in its page's text, stored in the chunk's metadata as
    /// `citation`; `None` when not known (chunks from the old system).
    pub citation: Option<Citation>,
}

impl From<(Option<u32>, String)> for PageChunk {
    fn from((page_num, content): (Option<u32>, String)) -> Self {
        Self {
            page_num,
            content,
            citation: None,
        }
    }
}

/// Index records for `chunks` with their `vectors`, numbered from 0, each
/// carrying `metadata` and its own `citation` (what search results cite).
pub fn chunk_records<C: Into<PageChunk>>(
    analyzer: &Analyzer,
    chunks: Vec<C>,
    vectors: Vec<Vec<f32>>,
    metadata: &Value,
) -> Vec<ChunkRecord> {
    chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (chunk, embedding))| {
            let PageChunk {
                page_num,
                content,
                citation,
            } = chunk.into();
            let (terms, term_count) = analyzer.document_terms(&content);
            let mut metadata = metadata.clone();
            if let (Value::Object(m), Some(citation)) = (&mut metadata, citation) {
                m.insert("citation".into(), serde_json::json!(citation));
            }
            ChunkRecord {
                chunk_index: i as u32,
                content,
                page_num,
                embedding,
                terms,
                term_count,
                metadata,
            }
        })
        .collect()
}

/// The document row a job stores: its id, owner and location come from the
/// job, the model and facts from the pipeline.
pub fn document_record(
    job: &PipelineJob,
    embedding_model: &str,
    metadata: Value,
) -> DocumentRecord {
    DocumentRecord {
        document_id: job.status_id.clone(),
        owner: job.user.clone(),
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        file_name: job.file_name.clone(),
        content_type: job.content_type.clone(),
        pipeline: job.pipeline,
        embedding_model: embedding_model.to_owned(),
        page_count: None,
        metadata: with_attributes(metadata, job),
    }
}

/// The document's facts with the caller's attributes beside them, under
/// `attributes`, where filtered searches read them.
fn with_attributes(mut metadata: Value, job: &PipelineJob) -> Value {
    if let (Value::Object(facts), false) = (&mut metadata, job.attributes.is_empty()) {
        facts.insert("attributes".into(), Value::Object(job.attributes.0.clone()));
    }
    metadata
}
