//! `ragctl ingest PATH...`: local files through the pipelines the service
//! runs, routed as `POST /v2/process-document` routes them (presentations,
//! forms, scans and big PDFs to VDR).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rag_core::domain::attributes::Attributes;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::ingest::pipeline::{JobRunner, RunOutcome, RunReporter, TextPipelineConfig};
use rag_core::ports::{BlobRef, BlobStore, JobQueue, QueueError, StatusStore};
use rag_extract::sandbox::WorkerProgram;
use rag_lambda::wiring::{self, ProcessorSettings, Readers};
use rag_local::MemoryStatusStore;
use serde::Serialize;

use crate::files::LocalFiles;
use crate::wiring::Services;
use crate::IngestArgs;

#[derive(Serialize)]
struct Failure {
    file: String,
    error: String,
}

#[derive(Serialize, Default)]
struct Summary {
    documents: usize,
    /// Documents indexed by each pipeline.
    text_rag: usize,
    vdr: usize,
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
pub async fn run(a: IngestArgs) -> Result<ExitCode> {
    let (user, json) = (a.user.as_str(), a.json);
    let attributes = attributes(&a)?;
    let started = std::time::Instant::now();
    let files = collect(&a.paths)?;
    let services = Services::connect().await?;
    let status: Arc<dyn StatusStore> = Arc::new(MemoryStatusStore::default());
    // Each file read (and rendered) by a worker that is ragctl again
    // (main.rs), so that one hostile file cannot stall or end the ingest.
    let readers = Readers::isolated(
        WorkerProgram::this_binary().context("locating ragctl for its document workers")?,
    );
    let handed = Arc::new(HandedOn::default());
    let pipeline = |processor| {
        wiring::consumer_with(
            services.files.clone(),
            status.clone(),
            &services.parts,
            processor,
            // One document at a time: split only where one job could not
            // hold it (over 200 pages).
            ProcessorSettings {
                workers: 1,
                max_object_bytes: TextPipelineConfig::default().max_object_bytes,
                ..ProcessorSettings::from_env()?
            },
            Some(handed.clone()),
            &readers,
        )
        .map(|consumer| consumer.runner)
    };
    let pipelines = Pipelines {
        text: pipeline(Pipeline::TextRag)?,
        vdr: pipeline(Pipeline::Vdr)?,
        handed,
        status,
        attributes,
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
        let blob = LocalFiles::blob(path);
        let outcome = pipelines.ingest(services.files.as_ref(), &blob, user).await;
        match outcome {
            Ok((pipeline, RunOutcome::Completed { chunks, pages })) => {
                summary.documents += 1;
                match pipeline {
                    Pipeline::TextRag => summary.text_rag += 1,
                    Pipeline::Vdr => summary.vdr += 1,
                }
                summary.chunks += chunks;
                summary.pages += pages;
            }
            Ok((_, RunOutcome::Failed(failure))) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: failure.error,
            }),
            // Every job handed on was run (Pipelines::ingest).
            Ok((_, RunOutcome::HandedOver { reason, .. })) => summary.failed.push(Failure {
                file: path.display().to_string(),
                error: reason,
            }),
            // Nothing else writes ragctl's in-memory status.
            Ok((_, RunOutcome::Cancelled)) => summary.failed.push(Failure {
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

/// `--tag`, `--knowledge-base-id` and `--attribute`, validated as
/// process-document validates them.
fn attributes(a: &IngestArgs) -> Result<Attributes> {
    let mut fields: serde_json::Map<String, serde_json::Value> =
        a.attributes.iter().cloned().collect();
    if !a.tags.is_empty() {
        fields.insert(
            rag_core::domain::attributes::TAGS.into(),
            serde_json::json!(a.tags),
        );
    }
    if let Some(kb) = &a.knowledge_base_id {
        fields.insert(
            rag_core::domain::attributes::KNOWLEDGE_BASE_ID.into(),
            serde_json::json!(kb),
        );
    }
    Attributes::new(fields, "attributes").map_err(|e| anyhow::anyhow!(e.error))
}

/// The two pipelines as the processors wire them, and the queue between
/// them run in this process.
struct Pipelines {
    text: Arc<dyn JobRunner>,
    vdr: Arc<dyn JobRunner>,
    handed: Arc<HandedOn>,
    status: Arc<dyn StatusStore>,
    /// What every file is described by, as process-document's attributes.
    attributes: Attributes,
}

impl Pipelines {
    /// Routes the file as `POST /v2/process-document` does and runs its
    /// job, then every job that hands on (a scan to the VDR pipeline, the
    /// page ranges of a long document); the document's outcome and the
    /// pipeline that finished it.
    async fn ingest(
        &self,
        files: &dyn BlobStore,
        blob: &BlobRef,
        user: &str,
    ) -> Result<(Pipeline, RunOutcome)> {
        let meta = files.head(blob).await?;
        let job = match PipelineJob::for_object(
            blob,
            &meta,
            None,
            user,
            uuid::Uuid::new_v4().to_string(),
            true,
        ) {
            Ok((job, _)) => PipelineJob {
                attributes: self.attributes.clone(),
                ..job
            },
            Err(e) => {
                return Ok((
                    Pipeline::TextRag,
                    RunOutcome::Failed(rag_core::ingest::pipeline::Failure::new(
                        "unsupported_type",
                        e.to_string(),
                    )),
                ))
            }
        };
        RunReporter::new(self.status.clone(), &job)
            .start_run(true, "Queued by ragctl")
            .await;
        let mut pending = VecDeque::from([job]);
        let (mut chunks, mut pages) = (0, 0);
        let mut last = (Pipeline::TextRag, RunOutcome::Cancelled);
        while let Some(job) = pending.pop_front() {
            let runner = match job.pipeline {
                Pipeline::TextRag => &self.text,
                Pipeline::Vdr => &self.vdr,
            };
            // ragctl has no queue to retry from: an infrastructure fault
            // fails the file.
            let outcome = match runner.run(&job).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    RunReporter::new(self.status.clone(), &job)
                        .fail(&e.failure(1))
                        .await;
                    return Err(e.into());
                }
            };
            pending.extend(self.handed.take());
            match outcome {
                RunOutcome::Completed {
                    chunks: c,
                    pages: p,
                } => {
                    chunks += c;
                    pages += p;
                    last = (job.pipeline, RunOutcome::Completed { chunks, pages });
                }
                RunOutcome::HandedOver { .. } if !pending.is_empty() => {}
                other => return Ok((job.pipeline, other)),
            }
        }
        Ok(last)
    }
}

/// The jobs the pipelines hand on, kept for [`Pipelines::ingest`] to run:
/// the service's queues, in one process.
#[derive(Default)]
struct HandedOn(Mutex<Vec<PipelineJob>>);

impl HandedOn {
    fn take(&self) -> Vec<PipelineJob> {
        self.0
            .lock()
            .map(|mut jobs| std::mem::take(&mut *jobs))
            .unwrap_or_default()
    }
}

#[async_trait]
impl JobQueue for HandedOn {
    async fn send(&self, job: &PipelineJob) -> Result<(), QueueError> {
        self.0
            .lock()
            .map_err(|_| QueueError("the job list is poisoned".into()))?
            .push(job.clone());
        Ok(())
    }
}
