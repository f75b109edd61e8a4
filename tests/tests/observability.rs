//! What operators read, from a real run through the queue consumer: the
//! log lines the Logs Insights queries of `infra/README.md` select, and the
//! embedded-metric documents CloudWatch turns into the dashboard's metrics.
//! (One test: it installs the process-wide logger and metrics recorder.)

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::{new_user, Harness};
use rag_core::domain::job::PipelineJob;
use rag_core::ingest::pipeline::{telemetry, Disposition, JobConsumer, QueueMessage, RunReporter};
use rag_core::ports::BlobRef;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

#[tokio::test]
async fn a_run_logs_each_stage_with_its_duration_and_emits_embedded_metrics() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(rag_lambda::logging::json_logs(move || writer.clone()))
        .unwrap();
    let emf = rag_lambda::emf::Emf::install().expect("the recorder installs once");

    let h = Harness::new().await;
    let user = new_user("ops");
    let key = format!("{}/tides.md", user.user);
    h.put(
        &key,
        b"# Tides\n\nThe moon's pull raises two bulges of water that the earth turns through.",
    );
    let blob = BlobRef {
        bucket: h.bucket.clone(),
        key: key.clone(),
    };
    let meta = h.pipeline.blobs.head(&blob).await.unwrap();
    let (job, _) =
        PipelineJob::for_object(&blob, &meta, None, &user.user, "run-1".into(), true).unwrap();
    RunReporter::new(h.status.clone(), &job)
        .start_run(true, "queued")
        .await;
    let status = h.status.clone();
    let consumer = JobConsumer {
        runner: Arc::new(h.pipeline),
        status,
        max_receives: 3,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let message = QueueMessage {
        message_id: "m-1".into(),
        body: serde_json::to_string(&job).unwrap(),
        receive_count: 1,
        sent_at_ms: Some(now_ms - 2_500),
    };
    assert_eq!(consumer.handle(&message).await, Disposition::Done);

    // The document's story: every processing line names it.
    let lines: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["statusId"] == job.status_id.as_str())
        .collect();
    let said = |message: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    assert!(
        !said("job started").is_empty() && !said("status").is_empty(),
        "{lines:#?}"
    );
    // Stage durations: what the per-stage query averages.
    let stages: BTreeSet<&str> = said("stage done")
        .iter()
        .map(|l| {
            assert_eq!(l["pipeline_type"], "text_rag", "{l}");
            assert!(l["duration_ms"].is_u64(), "{l}");
            l["stage"].as_str().unwrap()
        })
        .collect();
    for stage in ["extracting_text", "chunking", "embedding", "storing"] {
        assert!(
            stages.contains(stage),
            "no duration for {stage}: {stages:?}"
        );
    }
    // The run, and its wait in the queue.
    let run = said("run done");
    assert_eq!(run.len(), 1, "{lines:#?}");
    assert_eq!(
        (run[0]["stage"].as_str(), run[0]["pipeline_type"].as_str()),
        (Some("completed"), Some("text_rag"))
    );
    let waited = said("queue wait");
    assert!(
        waited[0]["duration_ms"].as_u64().unwrap() >= 2_500,
        "{waited:?}"
    );

    // The embedded metrics: CloudWatch's format, the service's namespace,
    // every metric of the run with its pipeline_type dimension.
    let mut out = Vec::new();
    emf.flush_to(&mut out);
    let mut names = BTreeSet::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], telemetry::NAMESPACE);
            let dims = directive["Dimensions"].to_string();
            assert!(dims.contains("pipeline_type"), "{doc}");
            for m in directive["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap().to_owned();
                assert!(!doc[&name].is_null(), "{name} has no value: {doc}");
                names.insert(name);
            }
        }
        assert_eq!(doc["pipeline_type"], "text_rag", "{doc}");
    }
    let all: BTreeSet<String> = telemetry::METRICS.iter().map(|s| s.to_string()).collect();
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|m| m.as_str() != telemetry::DOCUMENTS_FAILED)
        .cloned()
        .collect();
    assert_eq!(names, expected);
}
