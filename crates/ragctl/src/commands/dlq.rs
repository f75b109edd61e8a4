//! `ragctl dlq list|show|redrive`: the pipelines' dead letters.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use rag_aws::{DeadLetter, SqsDeadLetters};
use rag_core::domain::job::PipelineJob;
use rag_core::ingest::pipeline::Redrive;
use rag_core::ports::StatusStore;
use rag_lambda::wiring::Resources;
use serde_json::{json, Value};

/// Most messages one command reads from a dead-letter queue.
const MAX_LETTERS: usize = 1000;

/// Which pipeline's dead letters.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    Text,
    Vdr,
    All,
}

/// `ragctl dlq` subcommands. The queues are the functions' own
/// (`TEXT_RAG_PROCESSING_QUEUE_URL`, `VDR_PROCESSING_QUEUE_URL`; their
/// dead-letter queues are found through their redrive policies), the status
/// table `DOCUMENT_STATUS_TABLE`.
#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// Dead letters: document, run, attempts, when, and why the run failed.
    List {
        #[arg(long, value_enum, default_value = "all")]
        queue: Queue,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter: its job and its document's status record.
    Show { message_id: String },
    /// Send dead letters to their pipeline again, each as a new run of its
    /// whole document (recorded in the status with the failed run's error),
    /// and remove them from the dead-letter queue.
    Redrive {
        /// The message to redrive.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        message_id: Option<String>,
        /// Every dead letter of --queue.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "all")]
        queue: Queue,
    },
}

/// Runs a `dlq` subcommand.
pub async fn run(command: DlqCommand) -> Result<ExitCode> {
    let sdk = rag_aws::sdk_config().await;
    let resources = Resources::from_env();
    let queue_of = match &command {
        DlqCommand::List { queue, .. } | DlqCommand::Redrive { queue, .. } => *queue,
        DlqCommand::Show { .. } => Queue::All,
    };
    let mut queues = Vec::new();
    for (which, url, name) in [
        (
            Queue::Text,
            &resources.text_rag_queue_url,
            "TEXT_RAG_PROCESSING_QUEUE_URL",
        ),
        (
            Queue::Vdr,
            &resources.vdr_queue_url,
            "VDR_PROCESSING_QUEUE_URL",
        ),
    ] {
        if queue_of != Queue::All && queue_of != which {
            continue;
        }
        let url = url
            .as_deref()
            .with_context(|| format!("{name} is not set"))?;
        queues.push((which, SqsDeadLetters::of_queue(&sdk, url).await?));
    }
    let status = resources.status_if_any_subscribers(&sdk)?;
    let mut letters: Vec<(Queue, &SqsDeadLetters, DeadLetter)> = Vec::new();
    for (which, dlq) in &queues {
        for letter in dlq.list(MAX_LETTERS).await? {
            letters.push((*which, dlq, letter));
        }
    }

    match command {
        DlqCommand::List { json, .. } => {
            for (which, _, letter) in &letters {
                let row = describe(*which, letter, status.as_ref()).await;
                if json {
                    println!("{row}");
                } else {
                    println!(
                        "{}  {:<4} {}  run {}  attempts {}  {}",
                        letter.message_id,
                        row["queue"].as_str().unwrap_or(""),
                        row["statusId"].as_str().unwrap_or("(not a job)"),
                        row["runId"].as_str().unwrap_or("-"),
                        letter.receive_count,
                        row["reason"].as_str().unwrap_or("no status record"),
                    );
                }
            }
            if !json {
                println!("{} dead letters", letters.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { message_id } => {
            let Some((which, _, letter)) = letters.iter().find(|l| l.2.message_id == message_id)
            else {
                bail!("no dead letter {message_id}");
            };
            let mut row = describe(*which, letter, status.as_ref()).await;
            row["job"] = serde_json::from_str(&letter.body)
                .map(|mut job: Value| {
                    // A document's password is no one's to read here.
                    if let Some(p) = job.get_mut("password") {
                        *p = json!("(redacted)");
                    }
                    job
                })
                .unwrap_or(Value::String(letter.body.clone()));
            println!("{}", serde_json::to_string_pretty(&row)?);
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Redrive {
            message_id, all, ..
        } => {
            let redrive = Redrive {
                status: status.clone(),
                queue: Arc::new(resources.job_queue(&sdk)?),
            };
            let chosen: Vec<_> = letters
                .iter()
                .filter(|l| all || Some(&l.2.message_id) == message_id.as_ref())
                .collect();
            if chosen.is_empty() {
                bail!("no dead letter {}", message_id.unwrap_or_default());
            }
            let mut failed = 0;
            for (_, dlq, letter) in chosen {
                match redrive.redrive(&letter.body).await {
                    Ok(job) => {
                        dlq.delete(letter).await?;
                        println!(
                            "{}: {} queued again as run {}",
                            letter.message_id, job.status_id, job.run_id
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        println!("{}: kept: {e}", letter.message_id);
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// A dead letter with what its document's status record says.
async fn describe(which: Queue, letter: &DeadLetter, status: &dyn StatusStore) -> Value {
    let job: Option<PipelineJob> = serde_json::from_str(&letter.body).ok();
    let record = match &job {
        Some(job) => status.get(&job.status_id).await.ok().flatten(),
        None => None,
    };
    let reason = match (&job, &record) {
        (None, _) => "the message is not a job".to_owned(),
        (Some(_), None) => "no status record".to_owned(),
        (Some(job), Some(r)) if r.run_id != job.run_id => {
            format!("superseded: run {} is now {}", r.run_id, r.status)
        }
        (Some(_), Some(r)) => match (&r.error, &r.error_code) {
            (Some(e), Some(code)) => format!("{} ({code}): {e}", r.status),
            _ => format!("{}: {}", r.status, r.message),
        },
    };
    json!({
        "messageId": letter.message_id,
        "queue": format!("{which:?}").to_lowercase(),
        "statusId": job.as_ref().map(|j| j.status_id.clone()),
        "runId": job.as_ref().map(|j| j.run_id.clone()),
        "user": job.as_ref().map(|j| j.user.clone()),
        "pages": job.as_ref().and_then(|j| j.range).map(|r| format!("{}-{}", r.pages.first, r.pages.last)),
        "attempts": letter.receive_count,
        "sentAtMs": letter.sent_at_ms,
        "reason": reason,
    })
}
