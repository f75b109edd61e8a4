//! OpenAiEmbedder against a local server speaking the real `/v1/embeddings`
//! wire format: batching, ordering, normalization, retries and error mapping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use rag_core::ports::{EmbedError, Embedder};
use rag_embed::{OpenAiConfig, OpenAiEmbedder};
use serde_json::{json, Value};

const KEY: &str = "test-key";
const MODEL: &str = "test-model";
const DIMS: usize = 4;

/// What the server does with the next request.
#[derive(Clone)]
enum Canned {
    /// An error status with a body and maybe a `Retry-After`.
    Status(u16, Value, Option<&'static str>),
    /// One embedding too few.
    WrongCount,
    /// Vectors one element too long.
    WrongDim,
}

#[derive(Default)]
struct Server {
    script: Mutex<VecDeque<Canned>>,
    /// Bodies of every request received.
    requests: Mutex<Vec<Value>>,
}

impl Server {
    fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// The unnormalized vector the server returns for input `t{n}`.
fn raw_vector(text: &str) -> Vec<f32> {
    let n: f32 = text.trim_start_matches('t').parse().unwrap_or(0.0);
    vec![n + 1.0, 2.0, 0.0, 1.0]
}

fn normalized(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

async fn embeddings(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    if let Ok(mut r) = server.requests.lock() {
        r.push(request.clone());
    }
    if request["model"] != MODEL || request["encoding_format"] != "float" {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("unexpected request {request}"),
        );
    }
    if !(request["dimensions"].is_null() || request["dimensions"] == DIMS) {
        return error(StatusCode::BAD_REQUEST, "unexpected dimensions");
    }
    let Some(inputs) = request["input"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
    else {
        return error(StatusCode::BAD_REQUEST, "input must be an array of strings");
    };
    let canned = server.script.lock().ok().and_then(|mut s| s.pop_front());
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut v = raw_vector(text);
            if matches!(canned, Some(Canned::WrongDim)) {
                v.push(1.0);
            }
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    match canned {
        Some(Canned::Status(code, body, retry_after)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(seconds) = retry_after {
                if let Ok(value) = seconds.parse() {
                    response.headers_mut().insert("retry-after", value);
                }
            }
            return response;
        }
        Some(Canned::WrongCount) => {
            data.pop();
        }
        _ => {}
    }
    // Real servers do not promise order: reverse it so the client must sort.
    data.reverse();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": MODEL,
        "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}
    }))
    .into_response()
}

/// Starts the server on 127.0.0.1:0; returns its base URL and state.
async fn start(script: Vec<Canned>) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        script: Mutex::new(script.into()),
        ..Default::default()
    });
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(server.clone());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("cannot bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("no local address: {e}"),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), server)
}

fn config(base_url: String) -> OpenAiConfig {
    OpenAiConfig {
        base_url,
        api_key: Some(rag_embed::ApiKey::new(KEY)),
        model: MODEL.to_owned(),
        dimensions: Some(DIMS),
        batch_size: 64,
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        retry_base_delay: Duration::from_millis(1),
    }
}

fn embedder(base_url: String) -> OpenAiEmbedder {
    match OpenAiEmbedder::new(config(base_url)) {
        Ok(e) => e,
        Err(e) => panic!("cannot configure: {e}"),
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

#[tokio::test]
async fn batches_orders_and_normalizes() -> Result<(), EmbedError> {
    let (url, server) = start(vec![]).await;
    let e = embedder(url);
    assert_eq!(e.model_id(), "openai:test-model");
    assert_eq!(e.dimensions(), DIMS);

    let inputs = texts(150);
    let vectors = e.embed_documents(&inputs).await?;
    assert_eq!(vectors.len(), 150);
    for (text, v) in inputs.iter().zip(&vectors) {
        let want = normalized(raw_vector(text));
        assert!(
            v.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{text}: {v:?} != {want:?}"
        );
    }
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![64, 64, 22]);
    let first = &server.requests()[0];
    assert_eq!(first["dimensions"], DIMS);
    assert_eq!(first["input"][0], "t0");

    let q = e.embed_query("t7").await?;
    assert_eq!(q, normalized(raw_vector("t7")));
    assert!(e.embed_documents(&[]).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn base_url_may_end_in_v1() -> Result<(), EmbedError> {
    let (url, _server) = start(vec![]).await;
    let v = embedder(format!("{url}/v1/")).embed_query("t1").await?;
    assert_eq!(v.len(), DIMS);
    Ok(())
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() -> Result<(), EmbedError> {
    let script = vec![
        Canned::Status(
            429,
            json!({"error": {"message": "Rate limit reached"}}),
            Some("1"),
        ),
        Canned::Status(503, json!({"error": {"message": "overloaded"}}), None),
    ];
    let (url, server) = start(script).await;
    let started = std::time::Instant::now();
    let v = embedder(url).embed_documents(&texts(3)).await?;
    // The base delay is 1 ms: waiting a second means Retry-After was honoured.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v.len(), 3);
    assert_eq!(server.requests().len(), 3, "two failures, then success");
    Ok(())
}

#[tokio::test]
async fn persistent_server_errors_become_unavailable_after_three_attempts() {
    let fail = Canned::Status(500, json!({"error": {"message": "boom"}}), None);
    let (url, server) = start(vec![fail.clone(), fail.clone(), fail.clone(), fail]).await;
    let err = embedder(url).embed_documents(&texts(2)).await.err();
    match err {
        Some(EmbedError::Unavailable(m)) => assert!(m.contains("boom"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_fail_at_once_with_the_server_message() {
    let (url, server) = start(vec![Canned::Status(
        400,
        json!({"error": {"message": "bad model"}}),
        None,
    )])
    .await;
    let err = embedder(url).embed_documents(&texts(2)).await.err();
    match err {
        Some(EmbedError::Model(m)) => assert!(m.contains("bad model"), "{m}"),
        other => panic!("expected Model error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn wrong_key_is_rejected_without_retry() {
    let (url, server) = start(vec![]).await;
    let mut c = config(url);
    c.api_key = Some(rag_embed::ApiKey::new("wrong"));
    let e = match OpenAiEmbedder::new(c) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    match e.embed_query("t1").await.err() {
        Some(EmbedError::Model(m)) => {
            assert!(m.contains("401") && m.contains("Incorrect API key"), "{m}")
        }
        other => panic!("expected Model error, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn wrong_count_or_dimension_is_an_invalid_response() {
    let (url, server) = start(vec![Canned::WrongCount, Canned::WrongDim]).await;
    let e = embedder(url);
    for what in ["count", "dimension"] {
        match e.embed_documents(&texts(5)).await.err() {
            Some(EmbedError::InvalidResponse(m)) => println!("{what}: {m}"),
            other => panic!("wrong {what}: expected InvalidResponse, got {other:?}"),
        }
    }
    assert_eq!(
        server.requests().len(),
        2,
        "invalid responses are not retried"
    );
}

#[tokio::test]
async fn server_down_is_unavailable() {
    // Bind a port, then free it: nothing listens there any more.
    let addr = match tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
    {
        Ok(a) => a,
        Err(e) => panic!("cannot bind: {e}"),
    };
    let started = std::time::Instant::now();
    match embedder(format!("http://{addr}"))
        .embed_query("t1")
        .await
        .err()
    {
        Some(EmbedError::Unavailable(m)) => assert!(m.contains("after 3 attempts"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn probe_learns_the_dimension_of_an_unknown_model() -> Result<(), EmbedError> {
    let (url, server) = start(vec![]).await;
    let mut c = config(url);
    c.dimensions = None;
    assert!(
        OpenAiEmbedder::new(c.clone()).is_err(),
        "unknown model without dimensions"
    );
    let e = OpenAiEmbedder::probe(c).await?;
    assert_eq!(e.dimensions(), DIMS);
    assert!(
        server.requests()[0].get("dimensions").is_none(),
        "no dimensions sent when not configured"
    );
    Ok(())
}
