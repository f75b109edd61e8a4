//! Load: a crowd of users uploading at once, each watching their document
//! over a WebSocket, while others search, through the local gateway (`ragctl
//! dev`) and through the Lambda fleet on moto. Every document must reach its
//! final state once, nothing is lost or stored twice, no request fails with
//! a 5xx, and the process's memory stays bounded. Loopback only.
//!
//! CI runs a small crowd (20 uploads, 10 searches). The sizes of issue 13 are
//! a command (figures printed, never asserted):
//!
//! ```sh
//! cargo test -p integration-tests --release --test load -- --ignored --nocapture
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use integration_tests::fleet::{cognito, response_json, rest_event, sqs_event, ws_event, Stack};
use integration_tests::{extract_worker, new_user, shared_pdf};
use rag_gateway::{Gateway, GatewayConfig};
use rag_lambda::{sqs, websocket};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// What a load run measured.
#[derive(Debug, Default)]
struct Figures {
    wall: Duration,
    /// Seconds from upload to the `completed` push, per document.
    to_completed: Vec<f64>,
    /// Seconds per search under the ingest load.
    queries: Vec<f64>,
    /// Responses with a 5xx status, of any request.
    server_errors: usize,
    /// Documents whose last push was not `completed`.
    not_completed: Vec<String>,
    /// `completed` pushes per document, when not exactly one.
    completed_twice: Vec<String>,
    /// Highest resident memory of this process (the gateway or the fleet's
    /// handlers run in it), in MiB.
    peak_rss_mib: u64,
}

impl Figures {
    fn report(&mut self, what: &str) {
        let (p50, p95) = percentiles(&mut self.to_completed);
        let (q50, q95) = percentiles(&mut self.queries);
        println!(
            "{what}: {} documents in {:.1} s; upload to completed p50 {:.2} s p95 {:.2} s; \
             {} searches under load p50 {:.0} ms p95 {:.0} ms; {} 5xx; peak RSS {} MiB",
            self.to_completed.len() + self.not_completed.len(),
            self.wall.as_secs_f64(),
            p50,
            p95,
            self.queries.len(),
            q50 * 1000.0,
            q95 * 1000.0,
            self.server_errors,
            self.peak_rss_mib,
        );
    }

    /// What every run must show, whatever its size.
    fn check(&self, documents: usize, queries: usize) {
        assert!(self.not_completed.is_empty(), "{:?}", self.not_completed);
        assert!(
            self.completed_twice.is_empty(),
            "{:?}",
            self.completed_twice
        );
        assert_eq!(self.to_completed.len(), documents);
        assert_eq!(self.queries.len(), queries);
        assert_eq!(self.server_errors, 0);
        // A bound on runaway growth, far above what the crowd needs: the
        // Lambda functions get 3 GB.
        assert!(self.peak_rss_mib < 3 * 1024, "{} MiB", self.peak_rss_mib);
    }
}

fn percentiles(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Samples this process's resident memory until dropped.
struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start() -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let peak = peak_kib.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib() {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { peak_kib, task }
    }

    fn peak_mib(self) -> u64 {
        self.task.abort();
        self.peak_kib.load(Ordering::Relaxed) / 1024
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `i`th document of a crowd: mostly Markdown notes, every tenth a PDF
/// (so some go through PDFium in the document workers).
fn document(i: usize) -> (String, Vec<u8>, &'static str) {
    if i % 10 == 9 {
        let pdf = std::fs::read(shared_pdf("crazyones-pdfa.pdf")).expect("sample PDF");
        return (format!("crowd-{i}.pdf"), pdf, "application/pdf");
    }
    let topics = [
        "tidal pools and the anemones that close at low water",
        "lighthouse keepers trimming wicks before dusk",
        "migrating geese resting on the estuary flats",
        "a ferry timetable changed for the winter season",
        "salt marsh restoration after the autumn storms",
    ];
    let text = format!(
        "# Field notes {i}\n\nToday's entry (marker zq{i}x) is about {}. {}\n",
        topics[i % topics.len()],
        "The observations were written down carefully, with the weather, the tide and the hour. "
            .repeat(6)
    );
    (format!("crowd-{i}.md"), text.into_bytes(), "text/markdown")
}

/// A search of the crowd's kind.
fn search_body(i: usize) -> Value {
    let queries = [
        "when do anemones close",
        "lighthouse wicks at dusk",
        "geese on the estuary",
        "winter ferry timetable",
        "salt marsh after storms",
    ];
    json!({"query": queries[i % queries.len()], "top_k": 5})
}

// ---------------------------------------------------------------- gateway

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(300), socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

async fn gateway_load(documents: usize, searches: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        extraction_worker: Some(extract_worker()),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::start(config, integration_tests::fleet::search_parts().await)
        .await
        .expect("gateway");
    let http = reqwest::Client::new();
    let server_errors = Arc::new(AtomicUsize::new(0));
    let rss = RssSampler::start();
    let started = Instant::now();

    let uploads = (0..documents).map(|i| {
        let (http, url, tokens) = (http.clone(), gateway.url.clone(), gateway.tokens.clone());
        let server_errors = server_errors.clone();
        async move {
            let user = new_user("crowd").user;
            let token = tokens.issue(&user, Duration::from_secs(3600)).unwrap();
            let (name, bytes, content_type) = document(i);
            let key = format!("{user}/{name}");
            let status_id = format!("local#{key}");
            let ws = format!("{}/ws?token={token}", url.replacen("http", "ws", 1));
            let (mut socket, _) = tokio_tungstenite::connect_async(ws)
                .await
                .expect("websocket");
            let subscribe = json!({"action": "subscribe", "statusId": status_id}).to_string();
            socket.send(Message::Text(subscribe.into())).await.unwrap();
            assert_eq!(
                next_json(&mut socket).await.map(|m| m["type"].clone()),
                Some(json!("subscription_confirmed"))
            );
            let t0 = Instant::now();
            let put = http
                .put(format!("{url}/files/local/{key}"))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(bytes)
                .send()
                .await
                .unwrap();
            if put.status().is_server_error() {
                server_errors.fetch_add(1, Ordering::Relaxed);
            }
            let submitted = http
                .post(format!("{url}/v2/process-document"))
                .bearer_auth(&token)
                .json(&json!({"bucket": "local", "key": key}))
                .send()
                .await
                .unwrap();
            if submitted.status().is_server_error() {
                server_errors.fetch_add(1, Ordering::Relaxed);
            }
            let (mut last, mut completed, mut done_at) = (String::new(), 0usize, None);
            while let Some(message) = next_json(&mut socket).await {
                let status = message["status"].as_str().unwrap_or_default().to_owned();
                if status == "completed" {
                    completed += 1;
                    done_at.get_or_insert(t0.elapsed().as_secs_f64());
                }
                last = status;
                if last == "completed" || last == "failed" {
                    // Anything else pushed would arrive at once: wait briefly.
                    if let Ok(Some(Ok(Message::Text(t)))) =
                        tokio::time::timeout(Duration::from_millis(300), socket.next()).await
                    {
                        let late: Value = serde_json::from_str(&t).unwrap_or_default();
                        if late["status"] == "completed" {
                            completed += 1;
                        }
                    }
                    break;
                }
            }
            (status_id, last, completed, done_at)
        }
    });
    let queries = (0..searches).map(|i| {
        let (http, url, tokens) = (http.clone(), gateway.url.clone(), gateway.tokens.clone());
        let server_errors = server_errors.clone();
        async move {
            // Searches start while the first documents are being ingested.
            tokio::time::sleep(Duration::from_millis(200 + 20 * i as u64)).await;
            let token = tokens
                .issue("crowd-reader", Duration::from_secs(3600))
                .unwrap();
            let t0 = Instant::now();
            let r = http
                .post(format!("{url}/v2/query"))
                .bearer_auth(&token)
                .json(&search_body(i))
                .send()
                .await
                .unwrap();
            if r.status().is_server_error() {
                server_errors.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(r.status(), 200);
            t0.elapsed().as_secs_f64()
        }
    });
    let (ends, query_times) = tokio::join!(
        futures::future::join_all(uploads),
        futures::future::join_all(queries)
    );
    let mut figures = Figures {
        wall: started.elapsed(),
        queries: query_times,
        server_errors: server_errors.load(Ordering::Relaxed),
        peak_rss_mib: rss.peak_mib(),
        ..Figures::default()
    };
    let ids: Vec<String> = ends.iter().map(|(id, ..)| id.clone()).collect();
    for (status_id, last, completed, done_at) in ends {
        match (last.as_str(), completed, done_at) {
            ("completed", 1, Some(t)) => figures.to_completed.push(t),
            ("completed", _, _) => figures.completed_twice.push(status_id),
            _ => figures.not_completed.push(format!("{status_id}: {last}")),
        }
    }
    gateway.stop().await;
    assert_stored_once(&integration_tests::index().await, &ids).await;
    figures
}

/// Nothing stored twice, nothing lost: one document row each, with chunks.
async fn assert_stored_once(index: &rag_index_pg::PgIndex, ids: &[String]) {
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.document_id, (SELECT count(*) FROM hybrid_chunks c WHERE c.document_id = d.document_id)
         FROM hybrid_documents d WHERE d.document_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(index.pool())
    .await
    .expect("count");
    assert_eq!(stored.len(), ids.len(), "one document row each");
    assert!(stored.iter().all(|(_, chunks)| *chunks > 0), "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_through_the_local_gateway() {
    let mut figures = gateway_load(20, 10).await;
    figures.report("local gateway, 20 uploads + 10 searches");
    figures.check(20, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a load run of minutes; run it by name with --nocapture"]
async fn load_through_the_local_gateway() {
    let mut figures = gateway_load(100, 50).await;
    figures.report("local gateway, 100 uploads + 50 searches");
    figures.check(100, 50);
}

// ---------------------------------------------------------------- fleet

async fn fleet_load(documents: usize, searches: usize) -> Figures {
    let stack = Arc::new(Stack::new().await);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&stack.sdk)
            .force_path_style(true)
            .build(),
    );
    let sqs_client = aws_sdk_sqs::Client::new(&stack.sdk);
    let server_errors = Arc::new(AtomicUsize::new(0));
    // Sign everyone in first: Cognito is not what is measured.
    let mut users = Vec::new();
    for _ in 0..documents {
        let user = new_user("crowd").user;
        let token = cognito()
            .await
            .id_token(&user, &cognito().await.client_id)
            .await;
        users.push((user, token));
    }
    let rss = RssSampler::start();
    let started = Instant::now();
    let submitted_at: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();

    // The processors: as many concurrent invocations as the queue's
    // maximumConcurrency would allow on these cores.
    let all_done = Arc::new(tokio::sync::Notify::new());
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stack, sqs_client, all_done) = (stack.clone(), sqs_client.clone(), all_done.clone());
            tokio::spawn(async move {
                let queue = &stack.queues["TextRagQueue"];
                loop {
                    let received = tokio::select! {
                        r = sqs_client
                            .receive_message()
                            .queue_url(&queue.url)
                            .max_number_of_messages(1)
                            .visibility_timeout(120)
                            .wait_time_seconds(1)
                            .message_system_attribute_names(
                                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                            )
                            .send() => r.expect("receive"),
                        _ = all_done.notified() => return,
                    };
                    let messages = received.messages.unwrap_or_default();
                    if messages.is_empty() {
                        continue;
                    }
                    let response = sqs::handle(&stack.text, sqs_event(&messages, &queue.arn)).await;
                    if response.batch_item_failures.is_empty() {
                        for m in &messages {
                            sqs_client
                                .delete_message()
                                .queue_url(&queue.url)
                                .receipt_handle(m.receipt_handle().unwrap_or_default())
                                .send()
                                .await
                                .expect("delete");
                        }
                    }
                }
            })
        })
        .collect();

    let uploads = users.iter().enumerate().map(|(i, (user, token))| {
        let (stack, s3, server_errors, submitted_at) = (
            stack.clone(),
            s3.clone(),
            server_errors.clone(),
            submitted_at.clone(),
        );
        async move {
            let (name, bytes, content_type) = document(i);
            let key = format!("{user}/{name}");
            let status_id = format!("{}#{key}", stack.bucket);
            let connection = format!("conn-{i}-{}", uuid::Uuid::new_v4().simple());
            let event = ws_event(
                "ws-connect",
                "connect.json",
                &connection,
                None,
                Some(json!({"token": token})),
            );
            assert_eq!(
                websocket::connect(&stack.connect, event).await.status_code,
                200
            );
            let body = json!({"action": "subscribe", "statusId": status_id}).to_string();
            let event = ws_event(
                "ws-default",
                "subscribe.json",
                &connection,
                Some(&body),
                None,
            );
            websocket::default(&stack.default, event).await;
            s3.put_object()
                .bucket(&stack.bucket)
                .key(&key)
                .content_type(content_type)
                .body(bytes.into())
                .send()
                .await
                .expect("put");
            submitted_at
                .lock()
                .unwrap()
                .insert(connection.clone(), Instant::now());
            let body = json!({"bucket": stack.bucket, "key": key}).to_string();
            let response = stack
                .api
                .handle(rest_event(
                    "api-processor",
                    "process-document.json",
                    Some(user),
                    Some(&body),
                ))
                .await;
            if response.status_code >= 500 {
                server_errors.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(response.status_code, 202, "{}", response_json(&response));
            (status_id, connection)
        }
    });
    let queries = (0..searches).map(|i| {
        let (stack, server_errors) = (stack.clone(), server_errors.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(200 + 20 * i as u64)).await;
            let body = search_body(i).to_string();
            let t0 = Instant::now();
            let response = stack
                .query
                .handle(rest_event(
                    "query-handler",
                    "query.json",
                    Some("crowd-reader"),
                    Some(&body),
                ))
                .await;
            if response.status_code >= 500 {
                server_errors.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(response.status_code, 200);
            t0.elapsed().as_secs_f64()
        }
    });
    let (runs, query_times) = tokio::join!(
        futures::future::join_all(uploads),
        futures::future::join_all(queries)
    );

    // Watch the pushes until every document has ended (or a bound on a hang).
    let give_up = Instant::now() + Duration::from_secs(600);
    let mut ended: HashMap<String, f64> = HashMap::new();
    while ended.len() < runs.len() && Instant::now() < give_up {
        for (_, connection) in &runs {
            if ended.contains_key(connection) {
                continue;
            }
            let pushes = stack.management.messages_to(connection);
            if pushes
                .iter()
                .any(|m| m["status"] == "completed" || m["status"] == "failed")
            {
                let t0 = submitted_at.lock().unwrap()[connection];
                ended.insert(connection.clone(), t0.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed();
    all_done.notify_waiters();
    for worker in workers {
        worker.abort();
    }
    let mut figures = Figures {
        wall,
        queries: query_times,
        server_errors: server_errors.load(Ordering::Relaxed),
        peak_rss_mib: rss.peak_mib(),
        ..Figures::default()
    };
    for (status_id, connection) in &runs {
        let pushes = stack.management.messages_to(connection);
        let completed = pushes.iter().filter(|m| m["status"] == "completed").count();
        let last = pushes
            .last()
            .map(|m| m["status"].clone())
            .unwrap_or_default();
        match (completed, ended.get(connection)) {
            (1, Some(t)) if last == "completed" => figures.to_completed.push(*t),
            (0, _) => figures.not_completed.push(format!("{status_id}: {last}")),
            _ => figures.completed_twice.push(status_id.clone()),
        }
    }
    let ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
    assert_stored_once(&stack.index, &ids).await;
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_through_the_fleet_on_moto() {
    let mut figures = fleet_load(20, 10).await;
    figures.report("fleet on moto, 20 uploads + 10 searches");
    figures.check(20, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a load run of minutes; run it by name with --nocapture"]
async fn load_through_the_fleet_on_moto() {
    let mut figures = fleet_load(100, 50).await;
    figures.report("fleet on moto, 100 uploads + 50 searches");
    figures.check(100, 50);
}
