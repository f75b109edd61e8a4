//! `ragctl ingest PATH...`: the text pipeline over local files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rag_core::job::PipelineJob;
use rag_core::pipeline::{RunOutcome, RunReporter, TextPipeline, TextPipelineConfig};
use rag_core::ports::{BlobRef, BlobStore, StatusStore};
use rag_extract::sandbox::{SandboxedExtractor, WorkerProgram};
use rag_extract::FileExtractor;
use rag_local::{FsBlobStore, MemoryStatusStore};
use serde::Serialize;

use crate::wiring::Services;

/// Local files are served from bucket `local`, keyed by absolute path.
const LOCAL_BUCKET: &str = "local";

#[derive(Serialize)]
struct Failure {
    file: String,
    error: String,
}

#[derive(Serialize, Default)]
struct Summary {
    documents: usize,
    chunks: usize,
    pages: usize,
    failed: Vec<Failure>,
    seconds: f64,
}

/// Every regular, non-hidden file under `paths`, sorted.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.is_file() {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for p in paths {
        let p = p
            .canonicalize()
            .with_context(|| format!("no such file or directory: {}", p.display()))?;
        if p.is_dir() {
            walk(&p, &mut files)?;
        } else {
            files.push(p);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Ingests every file, printing a summary; exits non-zero if any failed.
pub async fn run(paths: &[PathBuf], user: &str, json: bool) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let files = collect(paths)?;
    let services = Services::connect().await?;
    let blobs = Arc::new(FsBlobStore::new().with_bucket(LOCAL_BUCKET, "/"));
    let status: Arc<dyn StatusStore> = Arc::new(MemoryStatusStore::default());
    // Each file read by a worker that is ragctl again (main.rs), so that
    // one hostile file cannot stall or end the whole ingest.
    let worker =
        WorkerProgram::this_binary().context("locating ragctl for its document workers")?;
    let pipeline = TextPipeline {
        blobs: blobs.clone(),
        extractor: Arc::new(SandboxedExtractor::new(worker, FileExtractor::default())),
        embedder: services.embedder.clone(),
        index: services.index.clone(),
        status: status.clone(),
        chunker: services.chunker.clone(),
        analyzer: services.analyzer.clone(),
        config: TextPipelineConfig::default(),
        visuals: None,
        follow_up: None,
    };

    let bar = if std::io::stderr().is_terminal() && !json {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut summary = Summary::default();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(name.clone());
        let blob = BlobRef {
            bucket: LOCAL_BUCKET.into(),
            key: path.to_string_lossy().trim_start_matches('/').to_owned(),
        };
        let outcome = ingest_one(&pipeline, blobs.as_ref(), &status, &blob, user).await;
        match outcome {
            Ok(RunOutcome::Completed { chunks, pages }) => {
                summary.documents += 1;
                summary.chunks += chunks;
                summary.pages += pages;
            }
            Ok(RunOutcome::Failed(failure)) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: failure.error,
            }),
            // ragctl has no VDR queue to hand documents to (follow_up: None).
            Ok(RunOutcome::HandedOver { reason, .. }) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: reason,
            }),
            // Nothing else writes ragctl's in-memory status.
            Ok(RunOutcome::Cancelled) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: "cancelled".into(),
            }),
            Err(e) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: format!("{e:#}"),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;

    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "Indexed {} document(s), {} chunk(s) from {} page(s) for user '{user}' in {:.1}s",
            summary.documents, summary.chunks, summary.pages, summary.seconds
        );
        if !summary.failed.is_empty() {
            println!("{} failed:", summary.failed.len());
            for f in &summary.failed {
                println!("  {}: {}", f.file, f.error);
            }
        }
    }
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn ingest_one(
    pipeline: &TextPipeline,
    blobs: &dyn BlobStore,
    status: &Arc<dyn StatusStore>,
    blob: &BlobRef,
    user: &str,
) -> Result<RunOutcome> {
    let meta = blobs.head(blob).await?;
    let job = match PipelineJob::for_object(
        blob,
        &meta,
        None,
        user,
        uuid::Uuid::new_v4().to_string(),
        true,
    ) {
        Ok((job, _)) => job,
        Err(e) => {
            return Ok(RunOutcome::Failed(rag_core::pipeline::Failure::new(
                "unsupported_type",
                e.to_string(),
            )))
        }
    };
    RunReporter::new(status.clone(), &job)
        .start_run(true, "Queued by ragctl")
        .await;
    // ragctl has no queue to retry from: an infrastructure fault fails the file.
    match pipeline.run(&job).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            RunReporter::new(status.clone(), &job)
                .fail(&e.failure(1))
                .await;
            Err(e.into())
        }
    }
}
