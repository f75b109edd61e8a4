//! A stand-in for a hosted reranker: a local server speaking the real wire
//! format of Cohere's `POST /v2/rerank` (Jina's `/v1/rerank` is the same).
//! It scores a document by the share of the query's words it holds, so a
//! test knows the order it must see, and fails on request.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The API key the server accepts.
pub const RERANK_KEY: &str = "rerank-key";

/// A running stand-in.
#[derive(Default)]
pub struct RerankServer {
    addr: Mutex<Option<std::net::SocketAddr>>,
    /// Bodies of every request received.
    pub requests: Mutex<Vec<Value>>,
    /// Answer `503` while set.
    pub failing: Mutex<bool>,
}

impl RerankServer {
    /// Starts it on a free loopback port, for the rest of the test.
    pub async fn start() -> Arc<Self> {
        let server = Arc::new(Self::default());
        let app = Router::new()
            .route("/v2/rerank", post(rerank))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        if let Ok(mut addr) = server.addr.lock() {
            *addr = listener.local_addr().ok();
        }
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    /// The URL of its rerank route.
    pub fn url(&self) -> String {
        let addr = self.addr.lock().ok().and_then(|a| *a);
        format!(
            "http://{}/v2/rerank",
            addr.map(|a| a.to_string()).unwrap_or_default()
        )
    }
}

async fn rerank(
    State(server): State<Arc<RerankServer>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Ok(mut r) = server.requests.lock() {
        r.push(body.clone());
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {RERANK_KEY}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "invalid api token"})),
        )
            .into_response();
    }
    if server.failing.lock().map(|f| *f).unwrap_or(false) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "overloaded"})),
        )
            .into_response();
    }
    let query: Vec<String> = body["query"]
        .as_str()
        .unwrap_or("")
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let docs = body["documents"].as_array().cloned().unwrap_or_default();
    let mut results: Vec<Value> = docs
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let text = d.as_str().unwrap_or("").to_lowercase();
            let hits = query.iter().filter(|w| text.contains(w.as_str())).count();
            json!({"index": index, "relevance_score": hits as f64 / query.len().max(1) as f64})
        })
        .collect();
    let score = |r: &Value| r["relevance_score"].as_f64().unwrap_or(0.0);
    results.sort_by(|a, b| score(b).total_cmp(&score(a)));
    results.truncate(body["top_n"].as_u64().unwrap_or(docs.len() as u64) as usize);
    Json(json!({"id": "r-1", "results": results, "meta": {"billed_units": {"search_units": 1}}}))
        .into_response()
}
