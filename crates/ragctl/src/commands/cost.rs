//! `ragctl cost`: what processing a document costs, per pipeline, from the
//! processors' own log lines (`stage done`, `run done`, `job started`:
//! `rag_core::ingest::pipeline::telemetry`) and the memory the YAML deploys them
//! with. Lambda compute and requests only: S3, SQS, DynamoDB and the
//! database are billed on their own and are small beside it per document.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rag_core::search::eval::percentile;
use serde_json::{json, Value};

/// Options of `ragctl cost`.
#[derive(Args, Debug)]
pub struct CostArgs {
    /// The processors' JSON log lines (`-` for stdin): as the functions
    /// write them, or CloudWatch export objects carrying the line in
    /// `message` (`aws logs filter-log-events ... --output json`, one event
    /// a line).
    logs: PathBuf,
    /// The serverless configuration whose memory sizes and architecture are
    /// billed.
    #[arg(long, default_value = "infra/serverless-async-separate.yml")]
    config: PathBuf,
    /// USD per GB-second (default: Lambda's us-east-1 price for the
    /// configuration's architecture).
    #[arg(long)]
    gb_second_usd: Option<f64>,
    /// USD per million invocations.
    #[arg(long, default_value_t = 0.20)]
    request_usd_per_million: f64,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lambda's us-east-1 prices per GB-second (first pricing tier).
const X86_GB_SECOND_USD: f64 = 0.000_016_666_7;
const ARM_GB_SECOND_USD: f64 = 0.000_013_333_4;

/// What one document took, summed over its jobs.
#[derive(Debug, Default, Clone)]
struct DocumentUse {
    pipeline: Option<String>,
    /// Milliseconds in stages, every job of every run.
    busy_ms: f64,
    /// Jobs started (invocations' worth of work).
    jobs: u32,
    /// Time per stage.
    stages: BTreeMap<String, f64>,
    ended: bool,
}

/// The event in `raw`: the line itself (the functions' flattened JSON),
/// its `fields` (tracing's nested JSON, as `ragctl -v` writes it), or the
/// JSON in its `message` (a CloudWatch export object).
fn log_line(raw: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(raw.trim()).ok()?;
    if let Some(fields) = v.get("fields").filter(|f| f.is_object()) {
        return Some(fields.clone());
    }
    match v.get("message").and_then(Value::as_str) {
        Some(inner) if inner.trim_start().starts_with('{') => serde_json::from_str(inner).ok(),
        _ => Some(v),
    }
}

/// Every document's use, by statusId.
fn tally(lines: impl Iterator<Item = String>) -> BTreeMap<String, DocumentUse> {
    let mut docs: BTreeMap<String, DocumentUse> = BTreeMap::new();
    for line in lines.filter_map(|l| log_line(&l)) {
        let Some(id) = line.get("statusId").and_then(Value::as_str) else {
            continue;
        };
        let doc = docs.entry(id.to_owned()).or_default();
        if let Some(p) = line.get("pipeline_type").and_then(Value::as_str) {
            doc.pipeline = Some(p.to_owned());
        }
        match line.get("message").and_then(Value::as_str) {
            Some("stage done") => {
                let ms = line["duration_ms"].as_f64().unwrap_or(0.0);
                doc.busy_ms += ms;
                let stage = line["stage"].as_str().unwrap_or("?").to_owned();
                *doc.stages.entry(stage).or_default() += ms;
            }
            Some("job started") => doc.jobs += 1,
            Some("run done") => doc.ended = true,
            _ => {}
        }
    }
    docs
}

/// `memorySize` (MB) of the processor of each pipeline, and the
/// architecture, from the serverless configuration.
fn deployed_memory(config: &Value) -> (BTreeMap<&'static str, f64>, String) {
    let memory = |function: &str| {
        config["functions"][function]["memorySize"]
            .as_f64()
            .or_else(|| config["provider"]["memorySize"].as_f64())
            .unwrap_or(1024.0)
    };
    let arch = config["provider"]["architecture"]
        .as_str()
        .unwrap_or("x86_64")
        .to_owned();
    (
        BTreeMap::from([
            ("text_rag", memory("async-v2-text-rag-processor")),
            ("vdr", memory("async-v2-vdr-processor")),
        ]),
        arch,
    )
}

/// Per pipeline: documents, time and cost per document.
fn report(
    docs: &BTreeMap<String, DocumentUse>,
    memory_mb: &BTreeMap<&str, f64>,
    gb_second_usd: f64,
    request_usd: f64,
) -> Vec<Value> {
    let mut out = Vec::new();
    for (pipeline, mb) in memory_mb {
        let mine: Vec<&DocumentUse> = docs
            .values()
            .filter(|d| d.ended && d.pipeline.as_deref() == Some(*pipeline))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let cost = |d: &DocumentUse| {
            d.busy_ms / 1000.0 * mb / 1024.0 * gb_second_usd
                + f64::from(d.jobs.max(1)) * request_usd / 1e6
        };
        let seconds: Vec<f64> = mine.iter().map(|d| d.busy_ms / 1000.0).collect();
        let costs: Vec<f64> = mine.iter().map(|d| cost(d)).collect();
        let n = mine.len() as f64;
        let total_ms: f64 = mine.iter().map(|d| d.busy_ms).sum();
        let mut stages: BTreeMap<&str, f64> = BTreeMap::new();
        for d in &mine {
            for (s, ms) in &d.stages {
                *stages.entry(s).or_default() += ms;
            }
        }
        let share: BTreeMap<&str, f64> = stages
            .into_iter()
            .map(|(s, ms)| (s, (ms / total_ms.max(1.0) * 1000.0).round() / 10.0))
            .collect();
        out.push(json!({
            "pipeline_type": pipeline,
            "documents": mine.len(),
            "jobs_per_document": mine.iter().map(|d| f64::from(d.jobs.max(1))).sum::<f64>() / n,
            "memory_mb": mb,
            "seconds_mean": seconds.iter().sum::<f64>() / n,
            "seconds_p95": percentile(&seconds, 0.95),
            "usd_per_document_mean": costs.iter().sum::<f64>() / n,
            "usd_per_document_p95": percentile(&costs, 0.95),
            "usd_per_1000_documents": costs.iter().sum::<f64>() / n * 1000.0,
            "stage_share_percent": share,
        }));
    }
    out
}

/// Reads the logs and the configuration, prints the report.
pub fn run(a: CostArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("reading {}", a.config.display()))?;
    let config: Value =
        serde_norway::from_str(&text).with_context(|| format!("parsing {}", a.config.display()))?;
    let (memory, arch) = deployed_memory(&config);
    let gb_second = a.gb_second_usd.unwrap_or(if arch == "arm64" {
        ARM_GB_SECOND_USD
    } else {
        X86_GB_SECOND_USD
    });
    let lines: Box<dyn BufRead> = if a.logs.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&a.logs)
                .with_context(|| format!("opening {}", a.logs.display()))?,
        ))
    };
    let docs = tally(lines.lines().map_while(Result::ok));
    let rows = report(&docs, &memory, gb_second, a.request_usd_per_million);
    if rows.is_empty() {
        anyhow::bail!(
            "no finished run in the logs (lines with \"message\": \"run done\" and a statusId)"
        );
    }
    for row in &rows {
        if a.json {
            println!("{row}");
        } else {
            println!(
                "{:<9} {:>5} documents  {:>5.2} jobs each  {:>6} MB  {:>7.1} s mean  {:>7.1} s p95  ${:.6} mean  ${:.6} p95  ${:.2} per 1,000  ({arch}, ${gb_second}/GB-s)",
                row["pipeline_type"].as_str().unwrap_or(""),
                row["documents"],
                row["jobs_per_document"].as_f64().unwrap_or(0.0),
                row["memory_mb"],
                row["seconds_mean"].as_f64().unwrap_or(0.0),
                row["seconds_p95"].as_f64().unwrap_or(0.0),
                row["usd_per_document_mean"].as_f64().unwrap_or(0.0),
                row["usd_per_document_p95"].as_f64().unwrap_or(0.0),
                row["usd_per_1000_documents"].as_f64().unwrap_or(0.0),
            );
            println!(
                "          time by stage (%): {}",
                row["stage_share_percent"]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[Value]) -> impl Iterator<Item = String> + '_ {
        v.iter().map(|l| l.to_string())
    }

    #[test]
    fn a_document_costs_its_stages_at_its_memory_plus_its_invocations() {
        let id = "b#alice/report.pdf";
        let log = [
            json!({"message": "job started", "statusId": id}),
            json!({"message": "stage done", "statusId": id, "pipeline_type": "text_rag", "stage": "extracting_text", "duration_ms": 2000}),
            json!({"message": "stage done", "statusId": id, "pipeline_type": "text_rag", "stage": "embedding", "duration_ms": 6000}),
            // A CloudWatch export object carries the line in `message`;
            // `ragctl -v` nests the event's fields.
            json!({"timestamp": 1, "message": json!({"message": "job started", "statusId": id}).to_string()}),
            json!({"level": "INFO", "fields": {"message": "stage done", "statusId": id, "pipeline_type": "text_rag", "stage": "storing", "duration_ms": 0}}),
            json!({"message": "stage done", "statusId": id, "pipeline_type": "text_rag", "stage": "embedding", "duration_ms": 2000}),
            json!({"message": "run done", "statusId": id, "pipeline_type": "text_rag", "stage": "completed", "duration_ms": 10000}),
            // A run still going is not counted.
            json!({"message": "stage done", "statusId": "b#bob/x.pdf", "pipeline_type": "text_rag", "stage": "embedding", "duration_ms": 99000}),
        ];
        let docs = tally(lines(&log));
        let memory = BTreeMap::from([("text_rag", 2048.0), ("vdr", 3008.0)]);
        let rows = report(&docs, &memory, X86_GB_SECOND_USD, 0.20);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r["documents"].as_u64(), r["jobs_per_document"].as_f64()),
            (Some(1), Some(2.0))
        );
        // 10 s at 2 GB, and two invocations.
        let expected = 10.0 * 2.0 * X86_GB_SECOND_USD + 2.0 * 0.20 / 1e6;
        assert!(
            (r["usd_per_document_mean"].as_f64().unwrap() - expected).abs() < 1e-12,
            "{r}"
        );
        assert_eq!(r["stage_share_percent"]["embedding"], 80.0);
    }

    #[test]
    fn memory_and_architecture_come_from_the_deployed_configuration() {
        let config: Value = serde_norway::from_str(
            "provider: {architecture: arm64}\nfunctions:\n  async-v2-text-rag-processor: {memorySize: 3008}\n",
        )
        .unwrap();
        let (memory, arch) = deployed_memory(&config);
        assert_eq!((memory["text_rag"], arch.as_str()), (3008.0, "arm64"));
    }
}
