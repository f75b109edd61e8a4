//! `ragctl reembed`: documents indexed with another embedding model,
//! embedded again with the configured one ([`rag_core::ingest::reembed`]).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rag_core::domain::job::PipelineJob;
use rag_core::ingest::pipeline::RunReporter;
use rag_core::ingest::reembed::Reembedder;
use rag_core::ports::JobQueue;
use rag_lambda::wiring::Resources;
use serde_json::json;

use crate::wiring::Services;

/// Options of `ragctl reembed`.
#[derive(Args, Debug)]
pub struct ReembedArgs {
    /// List what would be re-embedded, per model, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Queue one job per document for the text processors (the deployed
    /// fleet: `TEXT_RAG_PROCESSING_QUEUE_URL`, `VDR_PROCESSING_QUEUE_URL`,
    /// `DOCUMENT_STATUS_TABLE`) instead of embedding here.
    #[arg(long)]
    queue: bool,
    /// At most this many documents per run.
    #[arg(long, default_value_t = 100_000)]
    limit: usize,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Lists, then re-embeds or queues.
pub async fn run(a: ReembedArgs) -> Result<ExitCode> {
    let services = Services::connect().await?;
    let model = services.embedder.model_id().to_owned();
    let reembedder = Reembedder {
        index: services.index.clone(),
        embedder: services.embedder.clone(),
        batch: 32,
    };
    let stale = reembedder.stale(a.limit).await?;
    let mut per_model: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for d in &stale {
        let m = per_model.entry(&d.embedding_model).or_default();
        m.0 += 1;
        m.1 += u64::from(d.chunks);
    }
    for (old, (docs, chunks)) in &per_model {
        if a.json {
            println!(
                "{}",
                json!({"model": old, "documents": docs, "chunks": chunks, "to": model})
            );
        } else {
            println!("{old}: {docs} documents, {chunks} chunks to embed again with {model}");
        }
    }
    if stale.is_empty() {
        println!("every document's vectors are {model}'s");
        return Ok(ExitCode::SUCCESS);
    }
    if a.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    if a.queue {
        let sdk = rag_aws::sdk_config().await;
        let resources = Resources::from_env();
        let queue = resources.job_queue(&sdk)?;
        let status = resources.status_if_any_subscribers(&sdk)?;
        for d in &stale {
            let job = PipelineJob::reembedding(d, uuid::Uuid::new_v4().to_string())
                .with_context(|| format!("document id {} is not bucket#key", d.document_id))?;
            RunReporter::new(status.clone(), &job)
                .start_run(true, format!("Queued for re-embedding with {model}"))
                .await;
            queue.send(&job).await?;
        }
        println!("queued {} documents for re-embedding", stale.len());
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = stale.iter().map(|d| u64::from(d.chunks)).sum();
    let bar = super::progress(total as usize, "re-embedding", a.json);
    let (mut done, mut failed) = (0usize, 0usize);
    for d in &stale {
        match reembedder
            .reembed(&d.owner, &d.document_id, |n| bar.inc(n as u64))
            .await
        {
            Ok(_) => done += 1,
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("{}: {e}", d.document_id));
            }
        }
    }
    bar.finish_and_clear();
    println!("re-embedded {done} documents with {model}; {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
