//! `ragctl documents` and `ragctl delete`.

use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Result;
use rag_core::api::DocumentService;
use rag_core::ports::Index;
use rag_core::Caller;
use rag_local::MemoryStatusStore;
use serde_json::json;

use crate::files::LocalFiles;
use crate::wiring;

/// Lists the user's documents with their chunk counts.
pub async fn list(user: &str, as_json: bool) -> Result<ExitCode> {
    let embedder = wiring::embedder()?.embedder;
    let index = wiring::index(embedder.dimensions()).await?;
    let docs = index.documents(&Caller::new(user)).await?;
    if as_json {
        let rows: Vec<_> = docs
            .iter()
            .map(|d| json!({"document_id": d.document_id, "file_name": d.file_name, "pipeline": d.pipeline, "chunks": d.chunks, "metadata": d.metadata}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{} document(s) for user '{user}'", docs.len());
        for d in &docs {
            println!(
                "  {:>5} chunks  {:<8}  {}",
                d.chunks,
                d.pipeline.as_str(),
                d.document_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes one document as `DELETE /v2/documents/{id}` does: its index
/// rows and the pages rendered from it; exit code 1 if the user owns no
/// such document.
pub async fn delete(document_id: &str, user: &str) -> Result<ExitCode> {
    let embedder = wiring::embedder()?.embedder;
    let index = wiring::index(embedder.dimensions()).await?;
    let documents = DocumentService {
        // ragctl keeps no status records beyond one run.
        status: Arc::new(MemoryStatusStore::default()),
        index: Arc::new(index),
        blobs: Arc::new(LocalFiles::from_env()),
    };
    match documents.delete(&Caller::new(user), document_id).await {
        Ok(deleted) => {
            println!(
                "deleted {document_id} ({} page images)",
                deleted["page_images"].as_u64().unwrap_or(0)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.status == 404 => {
            eprintln!("error: user '{user}' owns no document '{document_id}'");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => anyhow::bail!("{}", e.error),
    }
}
