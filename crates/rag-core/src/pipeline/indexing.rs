//! Turning chunks and their vectors into index records: the one place that
//! decides what a stored chunk holds.

use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::job::PipelineJob;
use crate::ports::{ChunkRecord, DocumentRecord};

/// Index records for `chunks` (page number and text) with their `vectors`,
/// numbered from 0, each carrying `metadata`.
pub fn chunk_records(
    analyzer: &Analyzer,
    chunks: Vec<(Option<u32>, String)>,
    vectors: Vec<Vec<f32>>,
    metadata: &Value,
) -> Vec<ChunkRecord> {
    chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, ((page_num, content), embedding))| {
            let (terms, term_count) = analyzer.document_terms(&content);
            ChunkRecord {
                chunk_index: i as u32,
                content,
                page_num,
                embedding,
                terms,
                term_count,
                metadata: metadata.clone(),
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
