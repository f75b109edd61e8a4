//! Turning chunks and their vectors into index records: the one place that
//! decides what a stored chunk holds.

use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::ports::ChunkRecord;

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
