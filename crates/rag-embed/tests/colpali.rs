//! ColPaliEmbedder against a local server speaking the documented wire
//! format (infinity's multi-vector `/embeddings`): PNG data URLs and query
//! text in, `[n_tokens][dims]` per input out; batching, grouping per page,
//! normalization, retries and error mapping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rag_core::ports::{EmbedError, PageEmbedder, PageTextSource, RenderedPage};
use rag_embed::{ColPaliConfig, ColPaliEmbedder};
use serde_json::{json, Value};

const KEY: &str = "page-key";
const MODEL: &str = "vidore/colqwen2-v1.0";
const DIMS: usize = 4;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const DATA_URL_PREFIX: &str = "data:image/png;base64,";

/// What the server does with the next request.
#[derive(Clone)]
enum Canned {
    /// An error status with an infinity-style body.
    Status(u16, &'static str),
    /// One embedding too few.
    WrongCount,
    /// One vector one element too long.
    WrongDim,
    /// The flat form: `n_tokens × dims` floats per input.
    Flat,
}

#[derive(Default)]
struct Server {
    script: Mutex<VecDeque<Canned>>,
    /// Bodies of every authorized request.
    requests: Mutex<Vec<Value>>,
    /// The PNG bytes decoded from each image request, per request.
    images: Mutex<Vec<Vec<Vec<u8>>>>,
}

impl Server {
    fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
    fn images(&self) -> Vec<Vec<Vec<u8>>> {
        self.images.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A fake page PNG: the signature, then the page number.
fn png(page: u32) -> Vec<u8> {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.extend_from_slice(format!("page-{page}").as_bytes());
    bytes
}

/// The unnormalized vectors the model "sees" in page `n`: `n % 3 + 1` of
/// them.
fn page_vectors(n: u32) -> Vec<Vec<f32>> {
    (0..n % 3 + 1)
        .map(|j| vec![n as f32, j as f32 + 1.0, 0.0, 1.0])
        .collect()
}

/// The unnormalized vectors of a query: one per word.
fn query_vectors(text: &str) -> Vec<Vec<f32>> {
    text.split_whitespace()
        .enumerate()
        .map(|(k, w)| vec![w.len() as f32, k as f32 + 1.0, 1.0, 0.0])
        .collect()
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn close(got: &[Vec<f32>], raw: &[Vec<f32>]) -> bool {
    got.len() == raw.len()
        && got.iter().zip(raw).all(|(g, r)| {
            g.len() == r.len()
                && g.iter()
                    .zip(normalized(r))
                    .all(|(a, b)| (a - b).abs() < 1e-6)
        })
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "BadRequestError", "code": status.as_u16()}})),
    )
        .into_response()
}

/// Decodes a PNG data URL back to the page number it carries.
fn decode_image(url: &str) -> Result<(Vec<u8>, u32), String> {
    let b64 = url
        .strip_prefix(DATA_URL_PREFIX)
        .ok_or_else(|| format!("not a PNG data URL: {:.40}", url))?;
    let bytes = BASE64.decode(b64).map_err(|e| format!("bad base64: {e}"))?;
    let page = bytes
        .strip_prefix(PNG_SIGNATURE)
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .and_then(|rest| rest.strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .ok_or("not one of the test PNGs")?;
    Ok((bytes, page))
}

async fn embeddings(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "Invalid API key");
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
    let Some(inputs) = request["input"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
    else {
        return error(StatusCode::BAD_REQUEST, "input must be an array of strings");
    };
    let mut outputs: Vec<Vec<Vec<f32>>> = Vec::new();
    match request["modality"].as_str() {
        Some("image") => {
            let mut decoded = Vec::new();
            for url in &inputs {
                match decode_image(url) {
                    Ok((bytes, page)) => {
                        decoded.push(bytes);
                        // Padding, as a batch of different-sized images has.
                        let mut v = page_vectors(page);
                        v.push(vec![0.0; DIMS]);
                        outputs.push(v);
                    }
                    Err(m) => return error(StatusCode::BAD_REQUEST, &m),
                }
            }
            if let Ok(mut i) = server.images.lock() {
                i.push(decoded);
            }
        }
        Some("text") => outputs.extend(inputs.iter().map(|t| query_vectors(t))),
        other => return error(StatusCode::BAD_REQUEST, &format!("modality {other:?}")),
    }
    let canned = server.script.lock().ok().and_then(|mut s| s.pop_front());
    match &canned {
        Some(Canned::Status(code, message)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, message);
        }
        Some(Canned::WrongCount) => {
            outputs.pop();
        }
        Some(Canned::WrongDim) => {
            if let Some(v) = outputs.last_mut().and_then(|o| o.first_mut()) {
                v.push(1.0);
            }
        }
        Some(Canned::Flat) | None => {}
    }
    let mut data: Vec<Value> = outputs
        .into_iter()
        .enumerate()
        .map(|(i, vectors)| {
            let embedding = if matches!(canned, Some(Canned::Flat)) {
                json!(vectors.concat())
            } else {
                json!(vectors)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    // Order is not promised: reverse it so the client must use `index`.
    data.reverse();
    axum::Json(json!({
        "object": "list",
        "model": MODEL,
        "data": data,
        "usage": {"prompt_tokens": 0, "total_tokens": 0}
    }))
    .into_response()
}

/// Starts the server on 127.0.0.1:0; returns its root URL and state.
async fn start(script: Vec<Canned>) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        script: Mutex::new(script.into()),
        ..Default::default()
    });
    let app = Router::new()
        .route("/embeddings", post(embeddings))
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

fn config(url: String) -> ColPaliConfig {
    ColPaliConfig {
        api_key: Some(rag_embed::ApiKey::new(KEY)),
        model: MODEL.to_owned(),
        dimensions: DIMS,
        batch_size: 4,
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        retry_base_delay: Duration::from_millis(1),
        ..ColPaliConfig::new(url)
    }
}

fn embedder(url: String) -> ColPaliEmbedder {
    match ColPaliEmbedder::new(config(url)) {
        Ok(e) => e,
        Err(e) => panic!("cannot configure: {e}"),
    }
}

fn page(n: u32, png: Vec<u8>) -> RenderedPage {
    RenderedPage {
        page_num: n,
        png,
        width: 100,
        height: 140,
        text: String::new(),
        text_source: PageTextSource::None,
    }
}

fn pages(range: std::ops::RangeInclusive<u32>) -> Vec<RenderedPage> {
    range.map(|n| page(n, png(n))).collect()
}

#[tokio::test]
async fn pages_go_as_png_data_urls_in_batches_and_come_back_grouped_per_page(
) -> Result<(), EmbedError> {
    let (url, server) = start(vec![]).await;
    let e = embedder(url);
    assert_eq!(e.model_id(), format!("colpali:{MODEL}"));
    assert_eq!(e.dimensions(), DIMS);

    // 11 pages, page 6 never rendered: 10 images in batches of 4, 4, 2.
    let mut input = pages(1..=11);
    input[5].png.clear();
    let vectors = e.embed_pages(&input).await?;

    assert_eq!(vectors.len(), 11);
    for (p, got) in input.iter().zip(&vectors) {
        if p.page_num == 6 {
            assert!(got.is_empty(), "a page without an image gets no vectors");
        } else {
            // Grouped per page, in order, padding dropped, unit length.
            assert!(
                close(got, &page_vectors(p.page_num)),
                "page {}: {got:?}",
                p.page_num
            );
        }
    }
    let requests = server.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    assert!(requests.iter().all(|r| r["modality"] == "image"));
    // The server decoded exactly the PNGs sent, in page order.
    let decoded: Vec<Vec<u8>> = server.images().concat();
    let sent: Vec<Vec<u8>> = input
        .iter()
        .filter(|p| !p.png.is_empty())
        .map(|p| p.png.clone())
        .collect();
    assert_eq!(decoded, sent);

    assert!(e.embed_pages(&[]).await?.is_empty());
    assert_eq!(server.requests().len(), 3, "no request for no pages");
    Ok(())
}

#[tokio::test]
async fn a_query_is_sent_as_text_and_gets_one_vector_per_token() -> Result<(), EmbedError> {
    let (url, server) = start(vec![]).await;
    let q = embedder(url).embed_query("total revenue 2023").await?;
    assert!(close(&q, &query_vectors("total revenue 2023")), "{q:?}");
    assert_eq!(q.len(), 3);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["modality"], "text");
    assert_eq!(requests[0]["input"], json!(["total revenue 2023"]));
    Ok(())
}

#[tokio::test]
async fn the_flat_form_is_cut_into_vectors() -> Result<(), EmbedError> {
    let (url, _server) = start(vec![Canned::Flat]).await;
    let v = embedder(url).embed_pages(&pages(4..=5)).await?;
    assert!(close(&v[0], &page_vectors(4)), "{:?}", v[0]);
    assert!(close(&v[1], &page_vectors(5)), "{:?}", v[1]);
    Ok(())
}

#[tokio::test]
async fn the_url_may_be_the_full_embeddings_route() -> Result<(), EmbedError> {
    let (url, _server) = start(vec![]).await;
    let q = embedder(format!("{url}/embeddings/"))
        .embed_query("x")
        .await?;
    assert_eq!(q.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_503_is_retried_then_succeeds() -> Result<(), EmbedError> {
    let (url, server) = start(vec![Canned::Status(503, "model loading")]).await;
    let v = embedder(url).embed_pages(&pages(1..=2)).await?;
    assert!(close(&v[1], &page_vectors(2)));
    assert_eq!(server.requests().len(), 2, "one failure, then success");
    Ok(())
}

#[tokio::test]
async fn persistent_5xx_becomes_unavailable_after_the_last_attempt() {
    let fail = Canned::Status(500, "CUDA out of memory");
    let (url, server) = start(vec![fail.clone(), fail.clone(), fail]).await;
    match embedder(url).embed_query("q").await.err() {
        Some(EmbedError::Unavailable(m)) => {
            assert!(
                m.contains("CUDA out of memory") && m.contains("after 3 attempts"),
                "{m}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_400_fails_at_once_with_the_server_message() {
    let (url, server) = start(vec![Canned::Status(400, "model not deployed")]).await;
    match embedder(url).embed_pages(&pages(1..=3)).await.err() {
        Some(EmbedError::Model(m)) => {
            assert!(m.contains("400") && m.contains("model not deployed"), "{m}")
        }
        other => panic!("expected Model error, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_wrong_key_is_rejected_without_retry() {
    let (url, server) = start(vec![]).await;
    let mut c = config(url);
    c.api_key = Some(rag_embed::ApiKey::new("wrong"));
    let e = match ColPaliEmbedder::new(c) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    match e.embed_query("q").await.err() {
        Some(EmbedError::Model(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("expected Model error, got {other:?}"),
    }
    assert!(server.requests().is_empty(), "the server saw no valid key");
}

#[tokio::test]
async fn a_wrong_count_or_dimension_is_an_invalid_response_naming_the_pages() {
    let (url, server) = start(vec![Canned::WrongCount, Canned::WrongDim]).await;
    let e = embedder(url);
    match e.embed_pages(&pages(1..=3)).await.err() {
        Some(EmbedError::InvalidResponse(m)) => {
            assert!(
                m.contains("2 embeddings for 3 inputs") && m.contains("[1, 2, 3]"),
                "{m}"
            )
        }
        other => panic!("wrong count: expected InvalidResponse, got {other:?}"),
    }
    match e.embed_pages(&pages(7..=8)).await.err() {
        Some(EmbedError::InvalidResponse(m)) => {
            assert!(m.contains("5 dimensions, expected 4"), "{m}")
        }
        other => panic!("wrong dimension: expected InvalidResponse, got {other:?}"),
    }
    assert_eq!(
        server.requests().len(),
        2,
        "invalid responses are not retried"
    );
}

#[test]
fn configuration_from_the_environment() -> Result<(), rag_embed::ConfigError> {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(ColPaliConfig::from_lookup(vars(&[]))?.is_none());
    assert!(ColPaliConfig::from_lookup(vars(&[("PAGE_EMBEDDER_URL", " ")]))?.is_none());

    let Some(c) = ColPaliConfig::from_lookup(vars(&[
        ("PAGE_EMBEDDER_URL", "https://gpu.example/v1"),
        ("PAGE_EMBEDDER_MODEL", "vidore/colqwen2-v1.0"),
        ("PAGE_EMBEDDER_API_KEY", "k"),
    ]))?
    else {
        panic!("a URL configures the embedder")
    };
    assert_eq!(c.endpoint(), "https://gpu.example/v1/embeddings");
    assert_eq!(c.model, "vidore/colqwen2-v1.0");
    assert_eq!(c.api_key.as_ref().map(rag_embed::ApiKey::reveal), Some("k"));
    assert_eq!((c.dimensions, c.batch_size), (128, 8), "defaults");

    let custom = ColPaliConfig::from_lookup(vars(&[
        ("PAGE_EMBEDDER_URL", "http://gpu:7997"),
        ("PAGE_EMBEDDER_DIMENSIONS", "96"),
        ("PAGE_EMBEDDER_BATCH_SIZE", "2"),
    ]))?;
    assert_eq!(custom.map(|c| (c.dimensions, c.batch_size)), Some((96, 2)));

    for bad in [
        &[("PAGE_EMBEDDER_URL", "gpu:7997")][..],
        &[
            ("PAGE_EMBEDDER_URL", "http://gpu"),
            ("PAGE_EMBEDDER_DIMENSIONS", "0"),
        ],
        &[
            ("PAGE_EMBEDDER_URL", "http://gpu"),
            ("PAGE_EMBEDDER_BATCH_SIZE", "many"),
        ],
    ] {
        let pairs: &'static [(&'static str, &'static str)] = bad;
        assert!(
            ColPaliConfig::from_lookup(vars(pairs)).is_err(),
            "{pairs:?}"
        );
    }
    Ok(())
}
