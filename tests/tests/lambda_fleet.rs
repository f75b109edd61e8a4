//! The Lambda fleet end to end: real event payloads through the real
//! handlers and AWS adapters, against moto (S3, SQS, DynamoDB, Cognito) with
//! resources created from the serverless config, a real PostgreSQL and the
//! real model, and a local Management API for WebSocket pushes.

use aws_lambda_events::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use integration_tests::fleet::{
    cognito, response_json, rest_event, sqs_event, ws_event, Stack, STACK_MAX_DOCUMENT_BYTES,
};
use integration_tests::{new_user, row_counts, shared_pdf};
use rag_core::ingest::pipeline::JobConsumer;
use rag_lambda::{sqs, websocket};
use serde_json::{json, Value};

const PROCESS: &str = "api-processor";

/// The test database as the functions reach RDS: `host:port` of a TLS
/// front before it, and the database name.
async fn tls_endpoint() -> (String, String) {
    let url = rag_index_pg::PgConfig::from_env().url;
    let rest = url.split_once('@').map(|(_, r)| r).unwrap_or(&url);
    let (server, database) = rest.split_once('/').expect("host/db in DATABASE_URL");
    let upstream = tokio::net::lookup_host(server)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .expect("the database's address");
    let front = integration_tests::tls_front::tls_front(upstream).await;
    (front.to_string(), database.to_owned())
}

/// `name` under `user`'s own prefix, where their uploads go (see
/// `rag_core::domain::ownership`).
fn own(user: &str, name: &str) -> String {
    format!("{user}/{name}")
}

async fn put(stack: &Stack, key: &str, bytes: Vec<u8>, content_type: &str) {
    s3(stack)
        .put_object()
        .bucket(&stack.bucket)
        .key(key)
        .content_type(content_type)
        .body(bytes.into())
        .send()
        .await
        .expect("put object");
}

fn s3(stack: &Stack) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&stack.sdk)
            .force_path_style(true)
            .build(),
    )
}

fn sqs_client(stack: &Stack) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&stack.sdk)
}

/// Submits `key` as `user`; returns (HTTP status, body).
async fn submit(stack: &Stack, user: &str, key: &str, extra: Value) -> (i64, Value) {
    let mut body = json!({"bucket": stack.bucket, "key": key});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let event = rest_event(
        PROCESS,
        "process-document.json",
        Some(user),
        Some(&body.to_string()),
    );
    let response = stack.api.handle(event).await;
    (response.status_code, response_json(&response))
}

/// Receives up to 10 messages of a queue (by logical id), visible again
/// after `visibility` seconds.
async fn receive(stack: &Stack, queue: &str, visibility: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs_client(stack)
        .receive_message()
        .queue_url(&stack.queues[queue].url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// What Lambda's SQS event source does: receive a batch, invoke the
/// function, delete the messages it did not report as failed.
async fn deliver(
    stack: &Stack,
    consumer: &JobConsumer,
    queue: &str,
    visibility: i32,
) -> (usize, SqsBatchResponse) {
    let messages = receive(stack, queue, visibility).await;
    let response = sqs::handle(consumer, sqs_event(&messages, &stack.queues[queue].arn)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for m in &messages {
        if !failed.contains(&m.message_id().unwrap_or_default()) {
            sqs_client(stack)
                .delete_message()
                .queue_url(&stack.queues[queue].url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    (messages.len(), response)
}

async fn status_of(stack: &Stack, user: &str, status_id: &str) -> (i64, Value) {
    let mut event = integration_tests::fleet::sample_event(PROCESS, "status.json");
    event["requestContext"]["authorizer"]["claims"]["cognito:username"] = user.into();
    let encoded = status_id
        .replace('%', "%25")
        .replace('#', "%23")
        .replace('/', "%2F");
    event["pathParameters"] = json!({ "statusId": encoded });
    let response = stack
        .api
        .handle(serde_json::from_value(event).expect("status event"))
        .await;
    (response.status_code, response_json(&response))
}

/// A `/v2/documents/{documentId}{tail}` request as `user` (`tail` one of
/// "", "/cancel", "/share", "/share/<grantee>"); the listing when
/// `status_id` is `None`.
async fn documents(
    stack: &Stack,
    user: &str,
    method: &str,
    status_id: Option<&str>,
    tail: &str,
    body: Option<Value>,
    query: Value,
) -> (i64, Value) {
    let encode = |s: &str| {
        s.replace('%', "%25")
            .replace('#', "%23")
            .replace('/', "%2F")
    };
    let mut event = integration_tests::fleet::sample_event(PROCESS, "status.json");
    event["requestContext"]["authorizer"]["claims"]["cognito:username"] = user.into();
    event["httpMethod"] = method.into();
    event["queryStringParameters"] = query;
    match status_id {
        None => {
            event["resource"] = "/v2/documents".into();
            event["path"] = "/v2/documents".into();
            event["pathParameters"] = Value::Null;
        }
        Some(id) => {
            let mut params = json!({ "documentId": encode(id) });
            let mut resource = tail.to_owned();
            if let Some(grantee) = tail.strip_prefix("/share/") {
                params["user"] = encode(grantee).into();
                resource = "/share/{user}".into();
            }
            event["resource"] = format!("/v2/documents/{{documentId}}{resource}").into();
            event["path"] = format!("/v2/documents/{}", encode(id)).into();
            event["pathParameters"] = params;
        }
    }
    if let Some(body) = body {
        event["body"] = body.to_string().into();
    }
    let response = stack
        .api
        .handle(serde_json::from_value(event).expect("documents event"))
        .await;
    (response.status_code, response_json(&response))
}

/// Connects `connection_id` as `user` (a real Cognito id token) and
/// subscribes it to `status_id`; returns the subscription replies.
async fn connect_and_subscribe(
    stack: &Stack,
    user: &str,
    connection_id: &str,
    status_id: &str,
) -> Vec<Value> {
    let token = cognito()
        .await
        .id_token(user, &cognito().await.client_id)
        .await;
    let event = ws_event(
        "ws-connect",
        "connect.json",
        connection_id,
        None,
        Some(json!({"token": token})),
    );
    let response = websocket::connect(&stack.connect, event).await;
    assert_eq!(response.status_code, 200, "{:?}", response_json(&response));
    let body = json!({"action": "subscribe", "statusId": status_id}).to_string();
    let event = ws_event(
        "ws-default",
        "subscribe.json",
        connection_id,
        Some(&body),
        None,
    );
    assert_eq!(
        websocket::default(&stack.default, event).await.status_code,
        200
    );
    stack.management.messages_to(connection_id)
}

async fn chunk_count(stack: &Stack, document_id: &str) -> i64 {
    row_counts(&stack.index, document_id)
        .await
        .into_iter()
        .find(|(t, _)| *t == "hybrid_chunks")
        .map(|(_, n)| n)
        .unwrap_or(0)
}

async fn search(stack: &Stack, user: &str, body: Value) -> (i64, Value) {
    let event = rest_event(
        "query-handler",
        "query.json",
        Some(user),
        Some(&body.to_string()),
    );
    let response = stack.query.handle(event).await;
    (response.status_code, response_json(&response))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_flows_from_s3_to_search_with_every_stage_pushed() {
    let stack = Stack::new().await;
    let user = new_user("flow").user;
    let key = &own(&user, "test-documents/crazyones.pdf");
    put(
        &stack,
        key,
        std::fs::read(shared_pdf("crazyones-pdfa.pdf")).unwrap(),
        "application/pdf",
    )
    .await;
    let status_id = format!("{}#{key}", stack.bucket);

    // A client subscribes before the document is even submitted.
    let replies = connect_and_subscribe(&stack, &user, "conn-flow", &status_id).await;
    assert_eq!(
        replies,
        vec![json!({"type": "subscription_confirmed", "statusId": status_id})]
    );

    let (code, body) = submit(
        &stack,
        &user,
        key,
        json!({"metadata": {"fileName": "crazyones.pdf"}}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(
        (
            body["statusId"].as_str(),
            body["status"].as_str(),
            body["pipeline"].as_str()
        ),
        (Some(status_id.as_str()), Some("queued"), Some("text_rag"))
    );

    let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 30).await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));

    let (code, record) = status_of(&stack, &user, &status_id).await;
    assert_eq!(
        (code, record["status"].as_str(), record["progress"].as_u64()),
        (200, Some("completed"), Some(100)),
        "{record}"
    );
    assert_eq!(record["user"], user.as_str());

    // How long a push takes once a status is stored (subscriber lookup in
    // DynamoDB + Management API call): measured, printed, not asserted.
    let stored: rag_core::domain::status::StatusRecord =
        serde_json::from_value(record.clone()).unwrap();
    let mut times: Vec<f64> = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let report = stack.default.publisher.publish(&stored).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.sent, 1);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "push after a status write: median {:.1} ms, max {:.1} ms (20 pushes)",
        times[10], times[19]
    );

    // Every stage reached the subscriber, in order, progress never falling.
    let pushes: Vec<Value> = stack
        .management
        .messages_to("conn-flow")
        .into_iter()
        .skip(1)
        .collect();
    let stages: Vec<&str> = pushes.iter().filter_map(|m| m["status"].as_str()).collect();
    let mut distinct = stages.clone();
    distinct.dedup();
    assert_eq!(distinct, integration_tests::TEXT_RUN_STAGES, "{pushes:?}");
    let progress: Vec<u64> = pushes
        .iter()
        .filter_map(|m| m["metadata"]["progress"].as_u64())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(pushes
        .iter()
        .all(|m| m["type"] == "document_status_update" && m["statusId"] == status_id.as_str()));

    // The query handler finds it; another user does not.
    let (code, found) = search(
        &stack,
        &user,
        json!({"query": "the crazy ones, the misfits, the rebels"}),
    )
    .await;
    assert_eq!(code, 200, "{found}");
    assert_eq!(
        found["results"][0]["document_id"],
        status_id.as_str(),
        "{found}"
    );
    assert_eq!(found["results"][0]["pipeline"], "text_rag");
    let (_, other) = search(
        &stack,
        &new_user("other").user,
        json!({"query": "the crazy ones"}),
    )
    .await;
    assert_eq!(other["total_results"], 0, "{other}");

    // The per-user listing has it.
    let event = rest_event(PROCESS, "status-list.json", Some(&user), None);
    let listing = response_json(&stack.api.handle(event).await);
    assert_eq!(
        listing["documents"][0]["statusId"],
        status_id.as_str(),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_neither_duplicates_chunks_nor_regresses_status() {
    let stack = Stack::new().await;
    let user = new_user("dup").user;
    let key = &own(&user, "docs/notes.md");
    let text = "# Field notes\n\nThe heron waits at the weir every morning.\n\n".repeat(40);
    put(&stack, key, text.into_bytes(), "text/markdown").await;
    let status_id = format!("{}#{key}", stack.bucket);
    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);

    // The same message delivered twice (visibility 0: it is back at once).
    let first = receive(&stack, "TextRagQueue", 0).await;
    let second = receive(&stack, "TextRagQueue", 0).await;
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_eq!(first[0].body(), second[0].body());
    let arn = &stack.queues["TextRagQueue"].arn;
    assert!(sqs::handle(&stack.text, sqs_event(&first, arn))
        .await
        .batch_item_failures
        .is_empty());
    let chunks = chunk_count(&stack, &status_id).await;
    let done = status_of(&stack, &user, &status_id).await.1;
    assert!(chunks > 0);
    assert!(sqs::handle(&stack.text, sqs_event(&second, arn))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(chunk_count(&stack, &status_id).await, chunks);
    let after = status_of(&stack, &user, &status_id).await.1;
    assert_eq!(
        (after["status"].as_str(), after["progress"].as_u64()),
        (Some("completed"), Some(100))
    );
    assert_eq!(
        after["timestamp"], done["timestamp"],
        "the duplicate wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_fail_alone_and_reach_the_dead_letter_queue() {
    let stack = Stack::new().await;
    let user = new_user("poison").user;
    let keys = [own(&user, "a.txt"), own(&user, "b.txt")];
    for (i, key) in keys.iter().enumerate() {
        put(
            &stack,
            key,
            format!("document {i} about lighthouses").into_bytes(),
            "text/plain",
        )
        .await;
    }
    let queue = &stack.queues["TextRagQueue"].url;
    assert_eq!(submit(&stack, &user, &keys[0], json!({})).await.0, 202);
    sqs_client(&stack)
        .send_message()
        .queue_url(queue)
        .message_body("{not a job")
        .send()
        .await
        .unwrap();
    assert_eq!(submit(&stack, &user, &keys[1], json!({})).await.0, 202);

    // First receive: the good ones complete, only the poison is reported.
    let mut all = Vec::new();
    while all.len() < 3 {
        let batch = receive(&stack, "TextRagQueue", 0).await;
        assert!(!batch.is_empty(), "the queue holds 3 messages");
        all.extend(batch);
    }
    let response = sqs::handle(
        &stack.text,
        sqs_event(&all, &stack.queues["TextRagQueue"].arn),
    )
    .await;
    let poison_id = all
        .iter()
        .find(|m| m.body() == Some("{not a job"))
        .and_then(|m| m.message_id())
        .unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [poison_id]);
    for key in &keys {
        let record = status_of(&stack, &user, &format!("{}#{key}", stack.bucket))
            .await
            .1;
        assert_eq!(record["status"], "completed", "{record}");
    }
    for m in all.iter().filter(|m| m.message_id() != Some(poison_id)) {
        sqs_client(&stack)
            .delete_message()
            .queue_url(queue)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }

    // Two more failing receives, then the queue's redrive policy (from the
    // serverless config) moves it to the dead-letter queue.
    for _ in 0..2 {
        let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 0).await;
        assert_eq!((received, response.batch_item_failures.len()), (1, 1));
    }
    assert_eq!(
        deliver(&stack, &stack.text, "TextRagQueue", 0).await.0,
        0,
        "dead-lettered after 3 receives"
    );
    let dead = receive(&stack, "TextRagDeadLetterQueue", 30).await;
    assert_eq!(
        dead.iter().map(|m| m.body()).collect::<Vec<_>>(),
        [Some("{not a job")]
    );
}

/// A text processor whose database is down: an infrastructure fault on
/// every attempt, retried until the queue dead-letters the job.
async fn consumer_without_database(stack: &Stack) -> JobConsumer {
    let broken = rag_lambda::wiring::SearchParts {
        index: std::sync::Arc::new(rag_index_pg::PgIndex::new(
            sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(std::time::Duration::from_millis(300))
                .connect_lazy("postgres://nobody:hunter2@127.0.0.1:1/internal_db")
                .unwrap(),
            384,
        )),
        ..integration_tests::fleet::search_parts().await
    };
    rag_lambda::wiring::consumer_from(
        &stack.sdk,
        &stack.resources,
        &broken,
        rag_core::domain::classify::Pipeline::TextRag,
        rag_lambda::wiring::ProcessorSettings::new(STACK_MAX_DOCUMENT_BYTES),
        &rag_lambda::wiring::Readers::in_process(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_replay_as_new_runs_from_ragctl_and_from_the_console() {
    let stack = Stack::new().await;
    let user = new_user("dlq").user;
    let mut ids = Vec::new();
    for name in ["cli.txt", "console.txt"] {
        let key = own(&user, name);
        put(
            &stack,
            &key,
            format!("a note about {name} tides").into_bytes(),
            "text/plain",
        )
        .await;
        assert_eq!(submit(&stack, &user, &key, json!({})).await.0, 202);
        ids.push(format!("{}#{key}", stack.bucket));
    }
    connect_and_subscribe(&stack, &user, "c-dlq", &ids[1]).await;
    let broken = consumer_without_database(&stack).await;
    for _ in 1..=3 {
        assert_eq!(deliver(&stack, &broken, "TextRagQueue", 0).await.0, 2);
    }
    assert_eq!(deliver(&stack, &broken, "TextRagQueue", 0).await.0, 0);
    let mut failed_runs = Vec::new();
    for id in &ids {
        let record = status_of(&stack, &user, id).await.1;
        assert_eq!(record["errorCode"], "index_unavailable", "{record}");
        failed_runs.push(record["runId"].as_str().unwrap().to_owned());
    }

    // ragctl dlq: both listed (twice: a listing moves nothing), one redriven.
    let dlq = rag_aws::SqsDeadLetters::of_queue(&stack.sdk, &stack.queues["TextRagQueue"].url)
        .await
        .unwrap();
    assert_eq!(dlq.url(), stack.queues["TextRagDeadLetterQueue"].url);
    assert_eq!(dlq.list(100).await.unwrap().len(), 2);
    let letters = dlq.list(100).await.unwrap();
    assert_eq!(letters.len(), 2);
    let cli = letters.iter().find(|l| l.body.contains("cli.txt")).unwrap();
    let redrive = rag_core::ingest::pipeline::Redrive {
        status: stack.resources.status(&stack.sdk).unwrap(),
        queue: std::sync::Arc::new(stack.resources.job_queue(&stack.sdk).unwrap()),
    };
    // The dead letter of a document deleted since has nothing to run.
    let gone = redrive
        .redrive(&cli.body.replace("cli.txt", "gone.txt"))
        .await;
    assert!(
        matches!(gone, Err(rag_core::ingest::pipeline::RedriveError::Deleted)),
        "{gone:?}"
    );
    let job = redrive.redrive(&cli.body).await.unwrap();
    dlq.delete(cli).await.unwrap();
    assert_ne!(job.run_id, failed_runs[0]);
    let record = status_of(&stack, &user, &ids[0]).await.1;
    assert_eq!(
        (record["status"].as_str(), record["runId"].as_str()),
        (Some("queued"), Some(job.run_id.as_str())),
        "{record}"
    );
    let said = record["message"].as_str().unwrap();
    assert!(
        said.contains("Replayed from the dead-letter queue")
            && said.contains("search index could not be reached"),
        "{said}"
    );

    // The SQS console's redrive: the same message, moved back unchanged.
    let console = dlq.list(100).await.unwrap();
    assert_eq!(console.len(), 1);
    sqs_client(&stack)
        .send_message()
        .queue_url(&stack.queues["TextRagQueue"].url)
        .message_body(&console[0].body)
        .send()
        .await
        .unwrap();
    dlq.delete(&console[0]).await.unwrap();

    // A working processor runs both as new runs; without the replay the
    // moved message would be skipped as a duplicate of a failed run.
    assert_eq!(deliver(&stack, &stack.text, "TextRagQueue", 0).await.0, 2);
    for (id, failed) in ids.iter().zip(&failed_runs) {
        let record = status_of(&stack, &user, id).await.1;
        assert_eq!(record["status"], "completed", "{record}");
        assert_ne!(record["runId"].as_str(), Some(failed.as_str()));
    }
    let pushes = stack.management.messages_to("c-dlq");
    assert!(
        pushes.iter().any(|m| m
            .to_string()
            .contains("Replayed from the dead-letter queue")),
        "{pushes:?}"
    );
    // A replayed document that failed on its own is not replayed again.
    assert!(dlq.list(100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_recorded_failed_on_its_last_receive() {
    let stack = Stack::new().await;
    let user = new_user("fault").user;
    let key = &own(&user, "doc.txt");
    put(
        &stack,
        key,
        b"a document about tides".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);
    let status_id = format!("{}#{key}", stack.bucket);
    connect_and_subscribe(&stack, &user, "c-fault", &status_id).await;

    let consumer = consumer_without_database(&stack).await;
    for receive_count in 1..=3 {
        let (received, response) = deliver(&stack, &consumer, "TextRagQueue", 0).await;
        assert_eq!((received, response.batch_item_failures.len()), (1, 1));
        let record = status_of(&stack, &user, &status_id).await.1;
        if receive_count < 3 {
            assert_ne!(
                record["status"], "failed",
                "retries are not failures: {record}"
            );
        } else {
            assert_eq!(record["status"], "failed", "{record}");
            assert_eq!(record["failedAtStage"], "storing", "{record}");
            assert_eq!(
                (record["error"].as_str(), record["errorCode"].as_str()),
                (
                    Some("the search index could not be reached (gave up after 3 attempts)"),
                    Some("index_unavailable")
                ),
                "{record}"
            );
        }
    }
    // What the owner sees (the record, every push) names no host, database,
    // credential or query: the adapter's words are only logged.
    let pushes = stack.management.messages_to("c-fault");
    assert_eq!(
        pushes.last().map(|m| m["metadata"]["error_code"].clone()),
        Some(json!("index_unavailable")),
        "{pushes:?}"
    );
    let shown = format!(
        "{pushes:?} {}",
        status_of(&stack, &user, &status_id).await.1
    );
    for internal in [
        "127.0.0.1",
        "internal_db",
        "nobody",
        "hunter2",
        "postgres",
        "SELECT",
        "INSERT",
        "pool",
    ] {
        assert!(
            !shown.contains(internal),
            "'{internal}' shown to the user: {shown}"
        );
    }
    // SQS moves it to the dead-letter queue at the next receive.
    assert_eq!(deliver(&stack, &consumer, "TextRagQueue", 0).await.0, 0);
    assert_eq!(receive(&stack, "TextRagDeadLetterQueue", 30).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_connection_is_removed_when_a_push_finds_it_gone() {
    let stack = Stack::new().await;
    let user = new_user("gone").user;
    let key = &own(&user, "g.txt");
    put(&stack, key, b"gone connections".to_vec(), "text/plain").await;
    let status_id = format!("{}#{key}", stack.bucket);
    connect_and_subscribe(&stack, &user, "conn-live", &status_id).await;
    connect_and_subscribe(&stack, &user, "conn-gone", &status_id).await;
    stack.management.close("conn-gone");

    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);
    let connections = &stack.connect.publisher.connections;
    assert!(
        connections.get("conn-gone").await.unwrap().is_none(),
        "removed at the first push"
    );
    assert!(connections.get("conn-live").await.unwrap().is_some());
    let subscribers = connections.subscribers(&status_id).await.unwrap();
    assert_eq!(
        subscribers
            .iter()
            .map(|s| s.connection_id.as_str())
            .collect::<Vec<_>>(),
        ["conn-live"]
    );
    let live = stack.management.messages_to("conn-live");
    assert_eq!(
        live.last().map(|m| m["status"].clone()),
        Some(json!("queued"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_requires_a_valid_token_for_this_app() {
    let stack = Stack::new().await;
    let cognito = cognito().await;
    let user = new_user("ws").user;
    let valid = cognito.id_token(&user, &cognito.client_id).await;
    let other_app = cognito.id_token(&user, &cognito.other_client_id).await;
    let connect = |id: &'static str, query: Value| {
        let event = ws_event("ws-connect", "connect.json", id, None, Some(query));
        websocket::connect(&stack.connect, event)
    };

    let ok = connect("c-valid", json!({"token": valid})).await;
    assert_eq!(ok.status_code, 200);
    let stored = stack
        .connect
        .publisher
        .connections
        .get("c-valid")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(stored.user, user);

    for (id, query, why) in [
        ("c-audience", json!({"token": other_app}), "audience"),
        ("c-missing", json!({}), "token"),
        ("c-garbage", json!({"token": "not.a.jwt"}), "invalid"),
        ("c-user-param", json!({"user": user}), "token"),
    ] {
        let refused = connect(id, query).await;
        let body = response_json(&refused);
        assert_eq!(refused.status_code, 401, "{id}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(why),
            "{id}: {body}"
        );
        assert!(stack
            .connect
            .publisher
            .connections
            .get(id)
            .await
            .unwrap()
            .is_none());
    }

    // The same valid token two hours later: expired.
    let later = rag_lambda::wiring::websocket_from(
        &stack.sdk,
        &stack.resources,
        rag_lambda::wiring::WsRoute::Connect,
        Some(std::sync::Arc::new(cognito.verifier(2 * 3600))),
        Default::default(),
    )
    .unwrap();
    let event = ws_event(
        "ws-connect",
        "connect.json",
        "c-expired",
        None,
        Some(json!({"token": valid})),
    );
    let expired = websocket::connect(&later, event).await;
    assert_eq!(expired.status_code, 401);
    assert!(response_json(&expired)["error"]
        .as_str()
        .unwrap_or_default()
        .contains("expired"));

    // $disconnect forgets the connection and its subscriptions.
    let body = json!({"action": "subscribe", "statusId": "b#k"}).to_string();
    websocket::default(
        &stack.default,
        ws_event("ws-default", "subscribe.json", "c-valid", Some(&body), None),
    )
    .await;
    assert_eq!(
        stack
            .connect
            .publisher
            .connections
            .subscribers("b#k")
            .await
            .unwrap()
            .len(),
        1
    );
    let bye = websocket::disconnect(
        &stack.disconnect,
        ws_event("ws-disconnect", "disconnect.json", "c-valid", None, None),
    )
    .await;
    assert_eq!(bye.status_code, 200);
    assert!(stack
        .connect
        .publisher
        .connections
        .get("c-valid")
        .await
        .unwrap()
        .is_none());
    assert!(stack
        .connect
        .publisher
        .connections
        .subscribers("b#k")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_actions_follow_the_protocol() {
    let stack = Stack::new().await;
    let alice = new_user("alice").user;
    let mallory = new_user("mallory").user;
    let key = &own(&alice, "secret.txt");
    put(&stack, key, b"alice's secret plans".to_vec(), "text/plain").await;
    let status_id = format!("{}#{key}", stack.bucket);
    // Mallory subscribes before the document exists (nothing to check it
    // against yet)...
    let early = connect_and_subscribe(&stack, &mallory, "c-early", &status_id).await;
    assert_eq!(early[0]["type"], "subscription_confirmed");
    assert_eq!(submit(&stack, &alice, key, json!({})).await.0, 202);
    // ...and still never sees Alice's progress.
    assert_eq!(stack.management.messages_to("c-early").len(), 1);

    // Alice subscribes late and gets the current status at once.
    let replies = connect_and_subscribe(&stack, &alice, "c-alice", &status_id).await;
    assert_eq!(
        replies[0],
        json!({"type": "subscription_confirmed", "statusId": status_id})
    );
    assert_eq!(
        (replies[1]["type"].as_str(), replies[1]["status"].as_str()),
        (Some("document_status_update"), Some("queued"))
    );

    // Mallory may not subscribe to Alice's document.
    let replies = connect_and_subscribe(&stack, &mallory, "c-mallory", &status_id).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["type"], "error");
    let subscribed = |stack: &Stack, status_id: String| {
        let connections = stack.connect.publisher.connections.clone();
        async move {
            let mut ids: Vec<String> = connections
                .subscribers(&status_id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.connection_id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        subscribed(&stack, status_id.clone()).await,
        ["c-alice", "c-early"]
    );

    let send = |body: &str| {
        let event = ws_event("ws-default", "ping.json", "c-alice", Some(body), None);
        let default = &stack.default;
        async move { default.message("c-alice", event.body.as_deref()).await }
    };
    let pong = send(r#"{"action":"ping"}"#).await;
    assert_eq!(pong[0]["type"], "pong");
    assert!(pong[0]["timestamp"].is_string());
    assert_eq!(
        send(r#"{"action":"dance"}"#).await[0],
        json!({"type": "error", "error": "Unknown action: dance"})
    );
    assert_eq!(send("{oops").await[0]["type"], "error");
    assert_eq!(send(r#"{"action":"subscribe"}"#).await[0]["type"], "error");
    assert_eq!(
        send(r#"{"action":"unsubscribe"}"#).await[0]["type"],
        "unsubscribed"
    );
    assert_eq!(subscribed(&stack, status_id.clone()).await, ["c-early"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vdr_routed_documents_are_rendered_and_indexed_page_by_page() {
    let stack = Stack::new().await;
    let user = new_user("vdr").user;
    let key = &own(&user, "uploads/7f3a.pdf");
    put(
        &stack,
        key,
        std::fs::read(shared_pdf("pdflatex-4-pages.pdf")).unwrap(),
        "application/pdf",
    )
    .await;
    let (code, body) = submit(
        &stack,
        &user,
        key,
        json!({"metadata": {"fileName": "application-form.pdf"}}),
    )
    .await;
    assert_eq!(
        (code, body["pipeline"].as_str()),
        (202, Some("vdr")),
        "{body}"
    );
    let (received, response) = deliver(&stack, &stack.vdr, "VdrQueue", 30).await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    let status_id = format!("{}#{key}", stack.bucket);
    let record = status_of(&stack, &user, &status_id).await.1;
    assert_eq!(
        (
            record["status"].as_str(),
            record["metadata"]["vdr_mode"].as_str()
        ),
        (Some("completed"), Some("visual")),
        "{record}"
    );
    assert_eq!(record["metadata"]["pages"], 4, "{record}");
    // Every rendered page went to S3 beside the document.
    for page in 1..=4 {
        let rendered = s3(&stack)
            .head_object()
            .bucket(&stack.bucket)
            .key(rag_core::ingest::pipeline::page_image_key(key, page))
            .send()
            .await
            .unwrap_or_else(|e| panic!("page {page} not stored: {e:?}"));
        assert_eq!(rendered.content_type(), Some("image/png"));
    }

    let (_, found) = search(
        &stack,
        &user,
        json!({"query": "Huardest gefburn", "search_mode": "vdr", "top_k": 100}),
    )
    .await;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    assert!(!results.is_empty(), "{found}");
    assert!(
        results
            .iter()
            .all(|r| r["pipeline"] == "vdr" && r["page_num"].as_u64().is_some()),
        "{found}"
    );
    let mut pages: Vec<u64> = results
        .iter()
        .filter_map(|r| r["page_num"].as_u64())
        .collect();
    pages.sort();
    pages.dedup();
    assert_eq!(pages, [1, 2, 3, 4]);
    // Each page result links to its rendered image: a presigned S3 URL
    // anyone holding it can fetch, for a while.
    let url = results[0]["metadata"]["image_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no image_url: {found}"));
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let image = reqwest::get(url).await.unwrap();
    assert_eq!(image.status(), 200, "{url}");
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // Deleting the document takes its pages, their images and its status.
    let none = Value::Null;
    let (code, body) = documents(
        &stack,
        &user,
        "DELETE",
        Some(&status_id),
        "",
        None,
        none.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["indexed"].as_bool(), body["page_images"].as_u64()),
        (Some(true), Some(4)),
        "{body}"
    );
    for page in 1..=4 {
        let gone = s3(&stack)
            .head_object()
            .bucket(&stack.bucket)
            .key(rag_core::ingest::pipeline::page_image_key(key, page))
            .send()
            .await;
        assert!(gone.is_err(), "page {page} image left behind");
    }
    for (table, rows) in row_counts(&stack.index, &status_id).await {
        assert_eq!(rows, 0, "{table} rows left behind");
    }
    assert_eq!(status_of(&stack, &user, &status_id).await.0, 404);
    let (_, found) = search(
        &stack,
        &user,
        json!({"query": "Huardest gefburn", "search_mode": "vdr"}),
    )
    .await;
    assert_eq!(found["results"], json!([]), "{found}");
    // The upload itself is the frontend's file: it stays.
    assert!(s3(&stack)
        .head_object()
        .bucket(&stack.bucket)
        .key(key)
        .send()
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_listed_inspected_shared_and_deleted_by_their_owner_only() {
    let stack = Stack::new().await;
    let alice = new_user("alice").user;
    let bob = new_user("bob").user;
    let texts = [
        (
            "solar.txt",
            "Photovoltaic panels convert sunlight into electricity for the grid.",
        ),
        (
            "bees.txt",
            "Honey bees pollinate crops; a colony has one queen and many workers.",
        ),
        (
            "tides.txt",
            "Tides rise and fall twice a day, pulled by the moon and the sun.",
        ),
    ];
    let mut ids = Vec::new();
    for (name, text) in texts {
        let key = own(&alice, name);
        put(&stack, &key, text.as_bytes().to_vec(), "text/plain").await;
        // The first is described: tags, a knowledge base, a field of its own.
        let described = ids.is_empty().then(|| {
            json!({"tags": ["energy"], "knowledge_base_id": "kb-sun",
                   "metadata": {"department": "research"}})
        });
        let (code, body) = submit(&stack, &alice, &key, described.unwrap_or(json!({}))).await;
        assert_eq!(code, 202, "{body}");
        ids.push(format!("{}#{key}", stack.bucket));
    }
    let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 60).await;
    assert_eq!((received, response.batch_item_failures.len()), (3, 0));
    let none = Value::Null;

    // Paged, newest first, every document once.
    let (code, first) =
        documents(&stack, &alice, "GET", None, "", None, json!({"limit": "2"})).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(
        first["documents"].as_array().map(Vec::len),
        Some(2),
        "{first}"
    );
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, second) = documents(
        &stack,
        &alice,
        "GET",
        None,
        "",
        None,
        json!({"limit": "2", "cursor": cursor}),
    )
    .await;
    assert_eq!(
        second["documents"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert!(second.get("next_cursor").is_none(), "{second}");
    let mut listed: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["documents"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d["statusId"].as_str().map(str::to_owned))
        .collect();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected);
    // Filters apply before the page is cut.
    let count = |page: &Value| page["documents"].as_array().map_or(0, Vec::len);
    let filtered = |q: Value| documents(&stack, &alice, "GET", None, "", None, q);
    assert_eq!(
        count(&filtered(json!({"status": "completed,failed"})).await.1),
        3
    );
    assert_eq!(count(&filtered(json!({"status": "failed"})).await.1), 0);
    assert_eq!(count(&filtered(json!({"pipeline": "vdr"})).await.1), 0);
    assert_eq!(
        count(
            &filtered(json!({"pipeline": "text_rag", "limit": "1"}))
                .await
                .1
        ),
        1
    );
    assert_eq!(filtered(json!({"status": "done"})).await.0, 400);
    assert_eq!(filtered(json!({"cursor": "not-a-cursor"})).await.0, 400);
    assert_eq!(filtered(json!({"limit": "0"})).await.0, 400);
    // Bob lists nothing of Alice's.
    assert_eq!(
        count(
            &documents(&stack, &bob, "GET", None, "", None, none.clone())
                .await
                .1
        ),
        0
    );

    // One document: status, chunks, shares.
    let solar = ids[0].as_str();
    let (code, doc) = documents(&stack, &alice, "GET", Some(solar), "", None, none.clone()).await;
    assert_eq!(code, 200, "{doc}");
    assert_eq!(
        (doc["indexed"].as_bool(), doc["pipeline"].as_str()),
        (Some(true), Some("text_rag")),
        "{doc}"
    );
    assert!(doc["chunks"].as_u64() >= Some(1), "{doc}");
    assert_eq!(doc["status"]["status"], "completed");
    assert_eq!(doc["shared_with"], json!([]));
    assert_eq!(
        doc["metadata"]["attributes"],
        json!({"tags": ["energy"], "knowledge_base_id": "kb-sun", "department": "research"}),
        "{doc}"
    );
    // A search filtered by them finds that document only, in every mode.
    for mode in ["hybrid", "dense", "sparse"] {
        let (code, found) = search(
            &stack,
            &alice,
            json!({"query": "ledger of the colony, tides and panels", "search_mode": mode,
                   "filter": {"and": [{"field": "tags", "contains": "energy"},
                                      {"field": "department", "in": ["research", "sales"]}]}}),
        )
        .await;
        assert_eq!(code, 200, "{found}");
        let docs: Vec<&str> = found["results"]
            .as_array()
            .map(|r| r.iter().filter_map(|r| r["document_id"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            !docs.is_empty() && docs.iter().all(|d| *d == solar),
            "{mode}: {found}"
        );
    }

    // Nobody else may see or manage it; an unknown id is a 404.
    for (method, tail, body) in [
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/cancel", None),
        ("POST", "/share", Some(json!({"user": bob}))),
    ] {
        let (code, body) =
            documents(&stack, &bob, method, Some(solar), tail, body, none.clone()).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {tail}: {body}"
        );
    }
    let unknown = format!("{}#{alice}/never-uploaded.txt", stack.bucket);
    assert_eq!(
        documents(
            &stack,
            &alice,
            "GET",
            Some(&unknown),
            "",
            None,
            none.clone()
        )
        .await
        .0,
        404
    );
    assert_eq!(
        documents(
            &stack,
            &alice,
            "DELETE",
            Some(&unknown),
            "",
            None,
            none.clone()
        )
        .await
        .0,
        404
    );
    // Sharing what does not exist is a 404 too; a bad user id a 400.
    let (code, _) = documents(
        &stack,
        &alice,
        "POST",
        Some(&unknown),
        "/share",
        Some(json!({"user": bob})),
        none.clone(),
    )
    .await;
    assert_eq!(code, 404);
    let long = "x".repeat(300);
    let (code, _) = documents(
        &stack,
        &alice,
        "DELETE",
        Some(solar),
        &format!("/share/{long}"),
        None,
        none.clone(),
    )
    .await;
    assert_eq!(code, 400);

    // Shared with Bob, Bob finds it; unshared, he does not.
    let query = json!({"query": "photovoltaic sunlight electricity", "search_mode": "sparse"});
    let found = |user: String| {
        let (stack, query) = (&stack, query.clone());
        async move {
            let (_, r) = search(stack, &user, query).await;
            r["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r["document_id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert!(found(bob.clone()).await.is_empty());
    let (code, shared) = documents(
        &stack,
        &alice,
        "POST",
        Some(solar),
        "/share",
        Some(json!({"user": bob})),
        none.clone(),
    )
    .await;
    assert_eq!(
        (code, shared["shared_with"].clone()),
        (200, json!([bob])),
        "{shared}"
    );
    assert_eq!(found(bob.clone()).await, vec![solar.to_owned()]);
    // Sharing cannot be passed on: Bob may search it, not share it.
    let carol = new_user("carol").user;
    assert_eq!(
        documents(
            &stack,
            &bob,
            "POST",
            Some(solar),
            "/share",
            Some(json!({"user": carol})),
            none.clone()
        )
        .await
        .0,
        403
    );
    for bad in [
        json!({}),
        json!({"user": 7}),
        json!({"user": alice}),
        json!({"user": " padded "}),
    ] {
        let (code, body) = documents(
            &stack,
            &alice,
            "POST",
            Some(solar),
            "/share",
            Some(bad.clone()),
            none.clone(),
        )
        .await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let (code, doc) = documents(&stack, &alice, "GET", Some(solar), "", None, none.clone()).await;
    assert_eq!((code, doc["shared_with"].clone()), (200, json!([bob])));
    let (code, unshared) = documents(
        &stack,
        &alice,
        "DELETE",
        Some(solar),
        &format!("/share/{}", bob),
        None,
        none.clone(),
    )
    .await;
    assert_eq!(
        (code, unshared["shared_with"].clone()),
        (200, json!([])),
        "{unshared}"
    );
    assert!(found(bob.clone()).await.is_empty());

    // A finished run cannot be cancelled.
    let (code, body) = documents(
        &stack,
        &alice,
        "POST",
        Some(solar),
        "/cancel",
        None,
        none.clone(),
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    // Deleted: gone from the index, the status table and every listing.
    let (code, body) = documents(
        &stack,
        &alice,
        "DELETE",
        Some(solar),
        "",
        None,
        none.clone(),
    )
    .await;
    assert_eq!(
        (code, body["indexed"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(chunk_count(&stack, solar).await, 0);
    assert_eq!(status_of(&stack, &alice, solar).await.0, 404);
    assert_eq!(
        documents(&stack, &alice, "GET", Some(solar), "", None, none.clone())
            .await
            .0,
        404
    );
    assert_eq!(
        documents(
            &stack,
            &alice,
            "DELETE",
            Some(solar),
            "",
            None,
            none.clone()
        )
        .await
        .0,
        404
    );
    assert_eq!(count(&filtered(none.clone()).await.1), 2);
    assert!(found(alice.clone()).await.is_empty());
    // The others are untouched.
    assert!(chunk_count(&stack, &ids[1]).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_never_completes_even_racing_its_worker() {
    let stack = Stack::new().await;
    let user = new_user("cancel").user;
    let key = own(&user, "notes.txt");
    let text = "Cancellation must win or lose cleanly: never half a document. ".repeat(40);
    put(&stack, &key, text.clone().into_bytes(), "text/plain").await;
    let status_id = format!("{}#{key}", stack.bucket);
    let none = Value::Null;
    let cancel = || {
        documents(
            &stack,
            &user,
            "POST",
            Some(&status_id),
            "/cancel",
            None,
            none.clone(),
        )
    };

    // Cancelled while queued: the worker that receives the job drops it.
    assert_eq!(submit(&stack, &user, &key, json!({})).await.0, 202);
    let (code, record) = cancel().await;
    assert_eq!(
        (code, record["status"].as_str()),
        (200, Some("cancelled")),
        "{record}"
    );
    let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 60).await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    assert_eq!(
        status_of(&stack, &user, &status_id).await.1["status"],
        "cancelled"
    );
    assert_eq!(chunk_count(&stack, &status_id).await, 0);
    assert_eq!(
        cancel().await.0,
        409,
        "a cancelled run cannot be cancelled again"
    );

    // Deleted while queued: the worker drops the job instead of indexing
    // the document again (its status record is gone).
    assert_eq!(submit(&stack, &user, &key, json!({})).await.0, 202);
    let (code, body) = documents(
        &stack,
        &user,
        "DELETE",
        Some(&status_id),
        "",
        None,
        none.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 60).await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    assert_eq!(chunk_count(&stack, &status_id).await, 0);
    assert_eq!(status_of(&stack, &user, &status_id).await.0, 404);

    // A new run starts after a cancelled one; completed, it cannot be cancelled.
    assert_eq!(submit(&stack, &user, &key, json!({})).await.0, 202);
    deliver(&stack, &stack.text, "TextRagQueue", 60).await;
    assert_eq!(
        status_of(&stack, &user, &status_id).await.1["status"],
        "completed"
    );
    let (code, body) = cancel().await;
    assert_eq!(code, 409, "{body}");
    let chunks = chunk_count(&stack, &status_id).await;
    assert!(chunks > 0);

    // The cancel and the worker at once: whichever wins, the outcome is
    // whole. A cancel that was accepted leaves a cancelled run and nothing
    // of it in the index; one refused leaves the run completed. (A new
    // document each time: a reprocess cancelled before it stores keeps the
    // earlier version, which would hide a half-withdrawn one.)
    let mut outcomes = Vec::new();
    for delay_ms in [0u64, 100, 200, 300, 400, 1500] {
        let key = own(&user, &format!("race-{delay_ms}.txt"));
        put(&stack, &key, text.clone().into_bytes(), "text/plain").await;
        let status_id = format!("{}#{key}", stack.bucket);
        assert_eq!(submit(&stack, &user, &key, json!({})).await.0, 202);
        let racing_cancel = async {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            documents(
                &stack,
                &user,
                "POST",
                Some(&status_id),
                "/cancel",
                None,
                none.clone(),
            )
            .await
        };
        let ((code, body), _) = tokio::join!(
            racing_cancel,
            deliver(&stack, &stack.text, "TextRagQueue", 60)
        );
        let record = status_of(&stack, &user, &status_id).await.1;
        let rows = chunk_count(&stack, &status_id).await;
        match code {
            200 => {
                assert_eq!(record["status"], "cancelled", "{record}");
                assert_eq!(rows, 0, "a cancelled run left {rows} chunks");
            }
            409 => {
                assert_eq!(record["status"], "completed", "{record}: {body}");
                assert_eq!(rows, chunks);
            }
            other => panic!("cancel answered {other}: {body}"),
        }
        outcomes.push(code);
    }
    eprintln!("cancel racing the worker (delays 0, 100, 200, 300, 400, 1500 ms): {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_error_has_its_status_and_code() {
    let stack = Stack::new().await;
    let alice = new_user("alice").user;
    let bob = new_user("bob").user;
    let [ok, big, zip, missing] =
        ["ok.txt", "big.txt", "archive.zip", "missing.txt"].map(|n| own(&alice, n));
    put(&stack, &ok, b"plain text".to_vec(), "text/plain").await;
    put(
        &stack,
        &big,
        vec![b'a'; STACK_MAX_DOCUMENT_BYTES as usize + 1],
        "text/plain",
    )
    .await;
    put(&stack, &zip, b"PK\x03\x04".to_vec(), "application/zip").await;
    assert_eq!(submit(&stack, &alice, &ok, json!({})).await.0, 202);
    let alices = format!("{}#{ok}", stack.bucket);

    let process = |user: Option<&str>, body: &str| {
        stack.api.handle(rest_event(
            PROCESS,
            "process-document.json",
            user,
            Some(body),
        ))
    };
    let bucket = stack.bucket.as_str();
    let cases: Vec<(Option<&str>, String, i64, &str)> = vec![
        (Some(&alice), "{oops".into(), 400, "invalid_json"),
        (
            Some(&alice),
            json!({"bucket": bucket}).to_string(),
            400,
            "missing_field",
        ),
        (
            Some(&alice),
            json!({"bucket": bucket, "key": 5}).to_string(),
            400,
            "invalid_field",
        ),
        (
            None,
            json!({"bucket": bucket, "key": ok}).to_string(),
            401,
            "unauthorized",
        ),
        (
            Some(&bob),
            json!({"bucket": bucket, "key": ok}).to_string(),
            403,
            "forbidden",
        ),
        (
            Some(&alice),
            json!({"bucket": "someone-elses-bucket", "key": ok}).to_string(),
            403,
            "forbidden",
        ),
        (
            Some(&alice),
            json!({"bucket": bucket, "key": missing}).to_string(),
            404,
            "not_found",
        ),
        (
            Some(&alice),
            json!({"bucket": bucket, "key": big}).to_string(),
            413,
            "payload_too_large",
        ),
        (
            Some(&alice),
            json!({"bucket": bucket, "key": zip}).to_string(),
            415,
            "unsupported_media_type",
        ),
        // Limits answer 400 before anything is stored (an over-long name
        // would otherwise fail the status write: a 503).
        (
            Some(&alice),
            json!({"bucket": bucket, "key": ok, "metadata": {"fileName": "n".repeat(300)}})
                .to_string(),
            400,
            "invalid_field",
        ),
    ];
    for (user, body, status, code) in cases {
        let response = process(user, &body).await;
        let json = response_json(&response);
        assert_eq!(
            (response.status_code, json["code"].as_str()),
            (status, Some(code)),
            "{body}: {json}"
        );
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()));
    }

    // Status: unknown, another user's.
    assert_eq!(
        status_of(&stack, &alice, &format!("{bucket}#nothing"))
            .await
            .0,
        404
    );
    assert_eq!(status_of(&stack, &bob, &alices).await.0, 403);
    assert_eq!(status_of(&stack, &alice, &alices).await.0, 200);

    // Listing limits.
    for limit in ["0", "-3", "many"] {
        let mut event = integration_tests::fleet::sample_event(PROCESS, "status-list.json");
        event["requestContext"]["authorizer"]["claims"]["cognito:username"] = alice.as_str().into();
        event["queryStringParameters"] = json!({ "limit": limit });
        event["multiValueQueryStringParameters"] = json!({ "limit": [limit] });
        let response = stack
            .api
            .handle(serde_json::from_value(event).unwrap())
            .await;
        assert_eq!(response.status_code, 400, "limit={limit}");
    }

    // Query validation.
    let long = "x".repeat(2001);
    for (body, field) in [
        (json!({"query": "q", "top_k": 500}), "top_k"),
        (json!({"query": "q", "top_k": 0}), "top_k"),
        (json!({"query": ""}), "query"),
        (json!({"query": long}), "query"),
        (
            json!({"query": "q", "search_mode": "psychic"}),
            "search_mode",
        ),
        (json!({"query": "q", "dense_weight": 1.5}), "dense_weight"),
        (
            json!({"query": "q", "dense_weight": 0, "sparse_weight": 0}),
            "sparse_weight",
        ),
        (json!({"top_k": 3}), "query"),
        (
            json!({"query": "q", "document_ids": vec!["b#k"; 1001]}),
            "document_ids",
        ),
    ] {
        let (code, json) = search(&stack, &alice, body.clone()).await;
        assert_eq!(code, 400, "{body}: {json}");
        assert!(
            json["error"].as_str().unwrap_or_default().contains(field),
            "{body}: {json}"
        );
    }
    let event = rest_event(
        "query-handler",
        "query.json",
        None,
        Some(r#"{"query":"q"}"#),
    );
    assert_eq!(stack.query.handle(event).await.status_code, 401);

    // The committed bad-input samples answer as their names say.
    for (function, sample, status) in [
        (PROCESS, "process-document-bad-json.json", 400),
        (PROCESS, "process-document-missing-key.json", 400),
        (PROCESS, "process-document-no-claims.json", 401),
        ("query-handler", "query-bad-top-k.json", 400),
        ("query-handler", "query-empty.json", 400),
        ("query-handler", "query-bad-mode.json", 400),
    ] {
        let event =
            serde_json::from_value(integration_tests::fleet::sample_event(function, sample))
                .unwrap();
        let response = if function == PROCESS {
            stack.api.handle(event).await
        } else {
            stack.query.handle(event).await
        };
        assert_eq!(response.status_code, status, "{function}/{sample}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_uploader_may_submit_an_object() {
    let stack = Stack::new().await;
    let alice = new_user("alice").user;
    let bob = new_user("bob").user;
    let draft = own(&alice, "2026-12-04/draft.txt");
    put(
        &stack,
        &draft,
        b"alice's unsubmitted draft".to_vec(),
        "text/plain",
    )
    .await;
    // A page image the VDR pipeline rendered from one of Alice's documents.
    let page = format!("rendered-pages/{}/page-00001.png", own(&alice, "deck.pdf"));
    put(&stack, &page, b"\x89PNG".to_vec(), "image/png").await;
    // Uploads outside any user's prefix: one recording its uploader in the
    // `owner` metadata (as a presigned URL can sign it), one recording nobody.
    let put_owned = |key: &'static str, owner: Option<&str>| {
        let mut put = s3(&stack)
            .put_object()
            .bucket(&stack.bucket)
            .key(key)
            .content_type("text/plain")
            .body(b"shared notes about the harbour".to_vec().into());
        if let Some(owner) = owner {
            put = put.metadata("owner", owner);
        }
        put.send()
    };
    put_owned("shared/plan.txt", Some(&alice)).await.unwrap();
    put_owned("shared/orphan.txt", None).await.unwrap();

    for (user, key, status) in [
        (&bob, draft.as_str(), 403),
        (&bob, page.as_str(), 403),
        (&alice, page.as_str(), 403),
        // A missing key outside Bob's prefix is refused like an existing
        // one, so refusals tell nobody which keys exist.
        (&bob, &own(&alice, "missing.txt"), 403),
        (&alice, &own(&alice, "missing.txt"), 404),
        (&bob, "shared/plan.txt", 403),
        (&alice, "shared/orphan.txt", 403),
        (&bob, "shared/orphan.txt", 403),
        (&alice, "shared/plan.txt", 202),
    ] {
        let (code, body) = submit(&stack, user, key, json!({"force_reprocess": true})).await;
        assert_eq!(code, status, "{user} submitting {key}: {body}");
    }
    assert_eq!(
        status_of(&stack, &alice, &format!("{}#{draft}", stack.bucket))
            .await
            .0,
        404,
        "Bob's attempt recorded nothing"
    );

    // Both race to (re)submit Alice's draft, forcing: Alice's runs only.
    let (stack, draft) = (&stack, &draft);
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let user = if i % 2 == 0 { &alice } else { &bob };
            async move {
                let (code, _) = submit(stack, user, draft, json!({"force_reprocess": true})).await;
                (user.as_str(), code)
            }
        })
        .collect();
    for (user, code) in futures::future::join_all(attempts).await {
        if user == bob {
            assert_eq!(code, 403, "bob");
        } else {
            assert!(code == 202 || code == 200, "alice: {code}");
        }
    }
    let (code, record) = status_of(stack, &alice, &format!("{}#{draft}", stack.bucket)).await;
    assert_eq!((code, record["user"].as_str()), (200, Some(alice.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmitting_is_idempotent_unless_forced() {
    let stack = Stack::new().await;
    let user = new_user("again").user;
    let key = &own(&user, "r.txt");
    put(
        &stack,
        key,
        b"resubmitted document about owls".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);
    // While queued: nothing new is queued.
    let (code, body) = submit(&stack, &user, key, json!({})).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    deliver(&stack, &stack.text, "TextRagQueue", 30).await;
    // Completed: unchanged without force, a new run with it.
    let (code, body) = submit(&stack, &user, key, json!({})).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("completed")),
        "{body}"
    );
    assert!(receive(&stack, "TextRagQueue", 0).await.is_empty());
    let (code, _) = submit(&stack, &user, key, json!({"force_reprocess": true})).await;
    assert_eq!(code, 202);
    let (received, response) = deliver(&stack, &stack.text, "TextRagQueue", 30).await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    let record = status_of(&stack, &user, &format!("{}#{key}", stack.bucket))
        .await
        .1;
    assert_eq!(record["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_comes_from_secrets_manager() {
    use rag_lambda::wiring::DatabaseSettings;
    let sdk = integration_tests::fleet::sdk().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("amplify-rag-db-{}", uuid::Uuid::new_v4().simple());
    // An RDS-managed secret: JSON with the password among other fields.
    secrets
        .create_secret()
        .name(&name)
        .secret_string(
            r#"{"username":"rag","password":"s3cr3t/with:odd@chars","engine":"postgres"}"#,
        )
        .send()
        .await
        .unwrap();
    // The test server's database, behind TLS as RDS is, as the function's parts.
    let (endpoint, database) = &tls_endpoint().await;
    let settings = DatabaseSettings::Parts {
        endpoint: endpoint.rsplit_once(':').unwrap().0.to_owned(),
        port: endpoint.rsplit_once(':').unwrap().1.parse().unwrap(),
        username: "rag".into(),
        database: database.to_owned(),
        secret: name.clone(),
    };
    let config = settings.resolve(&sdk).await.unwrap();
    assert!(
        config.url.contains("s3cr3t%2Fwith%3Aodd%40chars"),
        "the secret's password, encoded"
    );
    assert!(!config.redacted_url().contains("s3cr3t"));
    let pool = config
        .connect()
        .await
        .expect("connects with the resolved settings");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);

    let missing = DatabaseSettings::Parts {
        endpoint: endpoint.to_owned(),
        port: 1,
        username: "rag".into(),
        database: database.to_owned(),
        secret: "no-such-secret".into(),
    };
    let error = format!("{:#}", missing.resolve(&sdk).await.unwrap_err());
    assert!(error.contains("no-such-secret"), "{error}");
    assert!(!error.contains("s3cr3t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_database_password_is_picked_up_by_a_warm_container() {
    use rag_lambda::wiring::{DatabaseSettings, SearchParts};
    let sdk = integration_tests::fleet::sdk().await;
    let admin = integration_tests::index().await;
    // A role that, like an RDS user, logs in with a password over TLS only
    // (scripts/pg.sh: members of rag_password_login).
    let role = format!("rot_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    for statement in [
        format!("CREATE ROLE {role} LOGIN PASSWORD 'first-pass' IN ROLE rag_password_login"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(admin.pool())
            .await
            .expect("role set-up");
    }
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("amplify-rag-db-{role}");
    secrets
        .create_secret()
        .name(&name)
        .secret_string(r#"{"username":"rag","password":"first-pass"}"#)
        .send()
        .await
        .unwrap();
    let (endpoint, database) = &tls_endpoint().await;
    let settings = DatabaseSettings::Parts {
        endpoint: endpoint.to_owned(),
        port: 1,
        username: role.clone(),
        database: database.to_owned(),
        secret: name.clone(),
    };
    let config = settings.resolve(&sdk).await.unwrap();
    let pool = config.connect().await.expect("logs in over TLS");
    // Without TLS the front turns the function away.
    let mut plain = config.clone();
    plain.url = plain.url.replace("sslmode=require", "sslmode=disable");
    assert!(plain.connect().await.is_err(), "TLS is required");
    let embedder = integration_tests::fleet::search_parts().await.embedder;
    let models = rag_lambda::wiring::SearchModels::from_env(&embedder).unwrap();
    let parts =
        SearchParts::over_with(pool, embedder, models, settings.password_source(&sdk)).unwrap();
    let caller = rag_core::Caller::new(role.clone());
    parts.index.documents(&caller).await.expect("works before");

    // Rotation: a new password in the role and the secret, and the warm
    // container's connections closed (RDS closes idle ones; a failover all).
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {role} PASSWORD 'second-pass'"
    )))
    .execute(admin.pool())
    .await
    .unwrap();
    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(r#"{"username":"rag","password":"second-pass"}"#)
        .send()
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&role)
        .execute(admin.pool())
        .await
        .unwrap();
    assert!(
        config.connect().await.is_err(),
        "the old password is refused now"
    );
    parts
        .index
        .documents(&caller)
        .await
        .expect("the rotated password is read from the secret");

    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&role)
        .execute(admin.pool())
        .await
        .unwrap();
    for statement in [
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"),
        format!("DROP ROLE {role}"),
    ] {
        let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(admin.pool())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_fault_is_a_503_and_a_failed_status() {
    let stack = Stack::new().await;
    let user = new_user("nosqs").user;
    let key = &own(&user, "q.txt");
    put(&stack, key, b"queued nowhere".to_vec(), "text/plain").await;
    let mut resources = stack.resources.clone();
    resources.text_rag_queue_url = Some(format!(
        "{}/123456789012/no-such-queue",
        integration_tests::fleet::emulator_url()
    ));
    let api = rag_lambda::wiring::api_processor_from(
        &stack.sdk,
        &resources,
        rag_core::api::ProcessConfig {
            allowed_buckets: vec![stack.bucket.clone()],
            ..Default::default()
        },
        std::sync::Arc::new(stack.index.clone()),
    )
    .unwrap();
    let body = json!({"bucket": stack.bucket, "key": key}).to_string();
    let response = api
        .handle(rest_event(
            PROCESS,
            "process-document.json",
            Some(&user),
            Some(&body),
        ))
        .await;
    let json = response_json(&response);
    assert_eq!(
        (response.status_code, json["code"].as_str()),
        (503, Some("service_unavailable")),
        "{json}"
    );
    let record = status_of(&stack, &user, &format!("{}#{key}", stack.bucket))
        .await
        .1;
    assert_eq!(
        (record["status"].as_str(), record["error"].as_str()),
        (Some("failed"), Some("the document could not be queued")),
        "{record}"
    );
}

/// A queue that never answers: the process sending to it is killed first.
struct NeverAnswers;

#[async_trait::async_trait]
impl rag_core::ports::JobQueue for NeverAnswers {
    async fn send(
        &self,
        _: &rag_core::domain::job::PipelineJob,
    ) -> Result<(), rag_core::ports::QueueError> {
        std::future::pending().await
    }
}

/// Runs `work` until `reached` says the point to kill it at has come, then
/// drops it there, as a process killed at that point. Panics if the work
/// ends first, or the point never comes.
async fn kill_when<T: std::fmt::Debug>(
    work: impl std::future::Future<Output = T>,
    reached: impl AsyncFn() -> bool,
) {
    let point = async {
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !reached().await {
            assert!(
                std::time::Instant::now() < give_up,
                "the point to kill at never came"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        done = work => panic!("the work ended before it was killed: {done:?}"),
        () = point => {}
    }
}

/// Seconds since the epoch, `ahead` from now.
fn epoch_in(ahead: i64) -> i64 {
    chrono::Utc::now().timestamp() + ahead
}

/// The api-processor's sweep as if run `ahead` seconds from now.
async fn sweep_in(stack: &Stack, ahead: i64) -> rag_core::ingest::pipeline::SweepReport {
    stack
        .api
        .sweeper
        .sweep(epoch_in(ahead))
        .await
        .expect("sweep")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_lost_on_its_way_to_the_queue_is_sent_again_then_failed() {
    use rag_core::api::{ProcessConfig, ProcessDocumentRequest, ProcessService};
    use rag_core::domain::status::QUEUE_LEASE_SECS;
    let stack = Stack::new().await;
    let user = new_user("lost").user;
    let caller = rag_core::Caller::new(user.clone());
    // An api-processor killed between recording `queued` and the send.
    let dying = ProcessService {
        blobs: std::sync::Arc::new(rag_aws::S3BlobStore::from_config(&stack.sdk)),
        queue: std::sync::Arc::new(NeverAnswers),
        status: stack.resources.status(&stack.sdk).unwrap(),
        config: ProcessConfig {
            allowed_buckets: vec![stack.bucket.clone()],
            ..Default::default()
        },
    };
    let mut ids = Vec::new();
    for name in ["kept.txt", "lost-twice.txt"] {
        let key = own(&user, name);
        put(
            &stack,
            &key,
            b"a note about the tides".to_vec(),
            "text/plain",
        )
        .await;
        let body = json!({"bucket": stack.bucket, "key": key}).to_string();
        let request = ProcessDocumentRequest::from_json(body.as_bytes()).unwrap();
        let id = format!("{}#{key}", stack.bucket);
        // Killed once `queued` is recorded (its send never returns).
        kill_when(dying.submit(&caller, &request), async || {
            status_of(&stack, &user, &id).await.1["status"] == "queued"
        })
        .await;
        ids.push(id);
    }
    for id in &ids {
        let record = status_of(&stack, &user, id).await.1;
        assert_eq!(record["status"], "queued", "{record}");
    }
    assert!(
        receive(&stack, "TextRagQueue", 0).await.is_empty(),
        "nothing was sent"
    );

    // Within the lease nothing happens; past it, both jobs are sent again.
    assert_eq!(sweep_in(&stack, 60).await, Default::default());
    let swept = sweep_in(&stack, QUEUE_LEASE_SECS + 60).await;
    assert_eq!((swept.requeued, swept.failed), (2, 0), "{swept:?}");
    let resent = receive(&stack, "TextRagQueue", 30).await;
    assert_eq!(resent.len(), 2);
    // One goes through; the other is lost again.
    let (kept, lost): (Vec<_>, Vec<_>) = resent
        .into_iter()
        .partition(|m| m.body().is_some_and(|b| b.contains(ids[0].as_str())));
    let arn = &stack.queues["TextRagQueue"].arn;
    let done = sqs::handle(&stack.text, sqs_event(&kept, arn)).await;
    assert!(done.batch_item_failures.is_empty());
    for m in lost {
        sqs_client(&stack)
            .delete_message()
            .queue_url(&stack.queues["TextRagQueue"].url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        status_of(&stack, &user, &ids[0]).await.1["status"],
        "completed"
    );
    // A second lapse of the same run: it fails, once.
    let later = epoch_in(2 * QUEUE_LEASE_SECS + 120);
    let swept = stack.api.sweeper.sweep(later).await.unwrap();
    assert_eq!((swept.requeued, swept.failed), (0, 1), "{swept:?}");
    let record = status_of(&stack, &user, &ids[1]).await.1;
    assert_eq!(
        (record["status"].as_str(), record["errorCode"].as_str()),
        (Some("failed"), Some("never_started")),
        "{record}"
    );
    assert_eq!(
        stack.api.sweeper.sweep(later).await.unwrap(),
        Default::default()
    );
    // And the document can simply be submitted again.
    let key = ids[1].split_once('#').unwrap().1;
    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lost_on_its_last_delivery_leaves_a_failed_run_not_a_stuck_one() {
    use rag_core::domain::status::RUN_LEASE_SECS;
    let stack = Stack::new().await;
    let user = new_user("oom").user;
    let key = &own(&user, "heavy.md");
    put(
        &stack,
        key,
        "# Heavy\n\nA document whose worker dies.\n"
            .repeat(20)
            .into_bytes(),
        "text/markdown",
    )
    .await;
    let status_id = format!("{}#{key}", stack.bucket);
    connect_and_subscribe(&stack, &user, "c-oom", &status_id).await;
    assert_eq!(submit(&stack, &user, key, json!({})).await.0, 202);

    // A processor that dies while embedding, on every delivery.
    let parts = integration_tests::fleet::search_parts().await;
    let dying = rag_lambda::wiring::SearchParts {
        embedder: rag_embed::EmbedderSetup {
            // An embedder that never answers: the worker using it is killed first.
            embedder: std::sync::Arc::new(rag_core::testing::FaultyEmbedder {
                inner: parts.embedder.embedder.clone(),
                documents: rag_core::testing::EmbedFault::Hang,
                queries: rag_core::testing::EmbedFault::None,
            }),
            ..parts.embedder
        },
        index: parts.index,
        pages: parts.pages,
        reranker: None,
    };
    let consumer = rag_lambda::wiring::consumer_from(
        &stack.sdk,
        &stack.resources,
        &dying,
        rag_core::domain::classify::Pipeline::TextRag,
        rag_lambda::wiring::ProcessorSettings::new(STACK_MAX_DOCUMENT_BYTES),
        &rag_lambda::wiring::Readers::in_process(),
    )
    .unwrap();
    let arn = stack.queues["TextRagQueue"].arn.clone();
    for attempt in 1..=3 {
        let messages = receive(&stack, "TextRagQueue", 0).await;
        assert_eq!(messages.len(), 1, "delivery {attempt}");
        // Killed while embedding (its embedder never answers).
        kill_when(
            sqs::handle(&consumer, sqs_event(&messages, &arn)),
            async || {
                let record = status_of(&stack, &user, &status_id).await.1;
                record["status"] == "embedding"
                    && (attempt == 1 || record["metadata"]["attempt"] == attempt)
            },
        )
        .await;
        let record = status_of(&stack, &user, &status_id).await.1;
        assert_eq!(record["status"], "embedding", "{record}");
        if attempt > 1 {
            assert_eq!(
                record["metadata"]["attempt"], attempt,
                "the lease was renewed"
            );
        }
    }
    assert!(
        receive(&stack, "TextRagQueue", 0).await.is_empty(),
        "dead-lettered after 3 receives"
    );
    // Nobody else will finish it: past its lease, the sweeper fails it.
    assert_eq!(sweep_in(&stack, 60).await, Default::default());
    let swept = sweep_in(&stack, RUN_LEASE_SECS + 60).await;
    assert_eq!((swept.requeued, swept.failed), (0, 1), "{swept:?}");
    let record = status_of(&stack, &user, &status_id).await.1;
    assert_eq!(
        (
            record["status"].as_str(),
            record["errorCode"].as_str(),
            record["failedAtStage"].as_str()
        ),
        (Some("failed"), Some("worker_lost"), Some("embedding")),
        "{record}"
    );
    let pushed = stack.management.messages_to("c-oom");
    assert_eq!(
        pushed.last().map(|m| m["status"].clone()),
        Some(json!("failed")),
        "the subscriber is told"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_processor_sweeps_on_its_schedule_and_serves_rest_on_one_entry() {
    let stack = Stack::new().await;
    let schedule = integration_tests::fleet::sample_event(PROCESS, "scheduled-sweep.json");
    let answer = stack.api.handle_event(schedule).await;
    assert_eq!(
        answer,
        json!({"swept": {"requeued": 0, "failed": 0, "kept": 0}})
    );
    // A REST request through the same entry point.
    let mut status = integration_tests::fleet::sample_event(PROCESS, "status-list.json");
    status["requestContext"]["authorizer"]["claims"]["cognito:username"] = json!("nobody-yet");
    let answer = stack.api.handle_event(status).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        stack
            .api
            .handle_event(json!({"what": "not an event"}))
            .await["statusCode"],
        400
    );
}
