//! Page embeddings from a ColPali-style model served over HTTP.
//!
//! Exists because ColPali / ColQwen need a GPU and Lambda has none: the
//! model runs behind an HTTP endpoint and this [`PageEmbedder`] calls it.
//! The wire format is the one [infinity](https://github.com/michaelfeil/infinity)
//! (`infinity_emb v2 --model-id vidore/colpali-v1.2-merged`, or a ColQwen2
//! build) serves for multi-vector models: its OpenAI-style `/embeddings`
//! route with a `modality` field. Any other ColPali server (a colpali-engine
//! FastAPI app, a RunPod worker) fits with a thin adapter speaking the same.
//!
//! # Contract
//!
//! `POST {PAGE_EMBEDDER_URL}/embeddings` (the URL may already end in
//! `/embeddings`, or in a prefix such as `/v1`), `Content-Type:
//! application/json`, `Authorization: Bearer <PAGE_EMBEDDER_API_KEY>` when
//! a key is set (infinity's `--api-key`).
//!
//! Pages: up to `batch_size` (default 8) page images per request, each a PNG
//! as a base64 data URL, in page order:
//!
//! ```json
//! {"model": "vidore/colpali-v1.2-merged", "modality": "image",
//!  "encoding_format": "float",
//!  "input": ["data:image/png;base64,iVBORw0KGgo...", "data:image/png;base64,..."]}
//! ```
//!
//! Queries: one text per request, embedded with the model's query
//! processing (infinity applies ColPali's query prompt for `"text"`):
//!
//! ```json
//! {"model": "vidore/colpali-v1.2-merged", "modality": "text",
//!  "encoding_format": "float", "input": ["what was the 2023 revenue?"]}
//! ```
//!
//! Response (`200`): one item per input, `index` giving its position in
//! `input` (any order), `embedding` that input's vectors `[n_tokens][dims]`
//! (about 1,030 patch vectors of 128 floats per ColPali page, one per token
//! for a query):
//!
//! ```json
//! {"object": "list", "model": "vidore/colpali-v1.2-merged",
//!  "data": [{"object": "embedding", "index": 0, "embedding": [[0.01, -0.02, ...], ...]}],
//!  "usage": {"prompt_tokens": 0, "total_tokens": 0}}
//! ```
//!
//! A flat `embedding` of `n_tokens × dims` floats is accepted too (some
//! servers and clients flatten), and cut into vectors of `dims`.
//!
//! Checks: exactly one item per input, each index once; every vector has
//! `dimensions` (default 128) floats, all finite; anything else is
//! [`EmbedError::InvalidResponse`], not retried. All-zero vectors (the
//! padding of a batch of different-sized inputs) are dropped; an input left
//! with no vector is invalid. Every vector is L2-normalized, because MaxSim
//! scores by cosine.
//!
//! Failures: connection errors, `429` and `5xx` are retried (3 attempts,
//! 500 ms doubling, or the server's `Retry-After` up to 60 s), then
//! [`EmbedError::Unavailable`]; other statuses fail at once as
//! [`EmbedError::Model`] with the server's message. Each request must finish
//! within `timeout` (default 120 s: a cold GPU endpoint may load the model
//! first), connecting within 10 s.
//!
//! Pages without PNG bytes (nothing rendered) are not sent: they get an
//! empty list, which the VDR pipeline stores and reports as a page without
//! vectors, the same as the text stand-in does for a page without text.

use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rag_core::ports::{EmbedError, PageEmbedder, RenderedPage};
use serde::{Deserialize, Serialize};

use crate::openai::ConfigError;
use rag_http::{post_json, with_retries, Attempt};

/// The model asked for when `PAGE_EMBEDDER_MODEL` is not set: the merged
/// ColPali checkpoint infinity's own examples serve.
pub const DEFAULT_PAGE_MODEL: &str = "vidore/colpali-v1.2-merged";
/// Vector length of ColPali, ColQwen2 and ColSmol.
pub const DEFAULT_PAGE_DIMENSIONS: usize = 128;

/// Where and how to call the page model.
#[derive(Clone, Debug)]
pub struct ColPaliConfig {
    /// Server root (`http://gpu:7997`), a prefix (`.../v1`), or the full
    /// `.../embeddings` URL.
    pub url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<rag_http::ApiKey>,
    /// The model name the server knows.
    pub model: String,
    /// Length every returned vector must have.
    pub dimensions: usize,
    /// Page images per request: bounded by the GPU's memory and the body
    /// size (a 150 dpi page is some 100 KB to 1 MB of PNG).
    pub batch_size: usize,
    /// Limit on one request, connection to last byte.
    pub timeout: Duration,
    /// Tries per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_base_delay: Duration,
}

impl ColPaliConfig {
    /// A configuration for the server at `url` with every other setting at
    /// its default: [`DEFAULT_PAGE_MODEL`], 128 dimensions, 8 pages per
    /// request, 120 s per request, 3 attempts starting at 500 ms.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            api_key: None,
            model: DEFAULT_PAGE_MODEL.to_owned(),
            dimensions: DEFAULT_PAGE_DIMENSIONS,
            batch_size: 8,
            timeout: Duration::from_secs(120),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
        }
    }

    /// Reads `PAGE_EMBEDDER_URL` (none when unset or empty: use the local
    /// stand-in), `PAGE_EMBEDDER_MODEL`, `PAGE_EMBEDDER_API_KEY`,
    /// `PAGE_EMBEDDER_DIMENSIONS` and `PAGE_EMBEDDER_BATCH_SIZE`.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `get`,
    /// so it can be tested without touching the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(url) = var("PAGE_EMBEDDER_URL") else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::InvalidVar {
                name: "PAGE_EMBEDDER_URL",
                value: url,
                reason: "must start with http:// or https://".to_owned(),
            });
        }
        let mut config = Self::new(url);
        config.api_key = var("PAGE_EMBEDDER_API_KEY").map(rag_http::ApiKey::new);
        if let Some(model) = var("PAGE_EMBEDDER_MODEL") {
            config.model = model;
        }
        let positive = |name: &'static str| -> Result<Option<usize>, ConfigError> {
            match var(name) {
                None => Ok(None),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(ConfigError::InvalidVar {
                        name,
                        value: v,
                        reason: "must be a positive integer".to_owned(),
                    }),
                },
            }
        };
        if let Some(d) = positive("PAGE_EMBEDDER_DIMENSIONS")? {
            config.dimensions = d;
        }
        if let Some(b) = positive("PAGE_EMBEDDER_BATCH_SIZE")? {
            config.batch_size = b;
        }
        Ok(Some(config))
    }

    /// The embeddings URL: `{url}/embeddings`, unless `url` already ends so.
    pub fn endpoint(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/embeddings") {
            base.to_owned()
        } else {
            format!("{base}/embeddings")
        }
    }
}

/// What the inputs of one request are.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum Modality {
    Image,
    Text,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    modality: Modality,
    encoding_format: &'static str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<Element>,
}

/// An element of `embedding`: a vector (the nested form) or a float (the
/// flat form).
#[derive(Deserialize)]
#[serde(untagged)]
enum Element {
    Row(Vec<f32>),
    Value(f32),
}

/// A [`PageEmbedder`] calling a ColPali-style HTTP endpoint (see the module
/// documentation for the contract).
#[derive(Debug, Clone)]
pub struct ColPaliEmbedder {
    client: reqwest::Client,
    config: ColPaliConfig,
    endpoint: String,
    model_id: String,
}

impl ColPaliEmbedder {
    /// An embedder for `config`; no request is made until pages or a query
    /// are embedded.
    pub fn new(mut config: ColPaliConfig) -> Result<Self, ConfigError> {
        if config.dimensions == 0 {
            return Err(ConfigError::InvalidVar {
                name: "PAGE_EMBEDDER_DIMENSIONS",
                value: "0".to_owned(),
                reason: "must be a positive integer".to_owned(),
            });
        }
        config.batch_size = config.batch_size.max(1);
        config.max_attempts = config.max_attempts.max(1);
        Ok(Self {
            client: rag_http::client(config.timeout)
                .map_err(|e| ConfigError::Client(e.to_string()))?,
            endpoint: config.endpoint(),
            model_id: format!("colpali:{}", config.model),
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ColPaliConfig {
        &self.config
    }

    /// Embeds one batch of inputs, retrying transient failures.
    async fn request(
        &self,
        input: &[String],
        modality: Modality,
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        let body = EmbeddingsRequest {
            model: &self.config.model,
            modality,
            encoding_format: "float",
            input,
        };
        with_retries(
            self.config.max_attempts,
            self.config.retry_base_delay,
            EmbedError::Unavailable,
            || async {
                let bytes = post_json(
                    &self.client,
                    &self.endpoint,
                    self.config.api_key.as_ref().map(rag_http::ApiKey::reveal),
                    &body,
                )
                .await
                .map_err(|a| a.map_fail(EmbedError::Model))?;
                parse_response(&bytes, input.len(), self.config.dimensions).map_err(Attempt::Fail)
            },
        )
        .await
    }
}

/// A page's PNG as the data URL the server decodes.
fn png_data_url(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", BASE64.encode(png))
}

/// Checks and orders the multi-vectors of a successful response, without
/// padding and normalized.
fn parse_response(
    body: &[u8],
    expected: usize,
    dims: usize,
) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
    let invalid = |m: String| EmbedError::InvalidResponse(m);
    let parsed: EmbeddingsResponse = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not a multi-vector embeddings response: {e}")))?;
    if parsed.data.len() != expected {
        return Err(invalid(format!(
            "{} embeddings for {expected} inputs",
            parsed.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<Element>>> = (0..expected).map(|_| None).collect();
    for item in parsed.data {
        let slot = slots.get_mut(item.index).ok_or_else(|| {
            invalid(format!(
                "index {} out of range for {expected} inputs",
                item.index
            ))
        })?;
        if slot.is_some() {
            return Err(invalid(format!("index {} appears twice", item.index)));
        }
        *slot = Some(item.embedding);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| {
            let elements =
                slot.ok_or_else(|| invalid(format!("no embedding for index {index}")))?;
            multi_vector(elements, dims).map_err(|m| invalid(format!("embedding {index}: {m}")))
        })
        .collect()
}

/// One input's vectors from the nested or the flat form: checked, padding
/// dropped, normalized.
fn multi_vector(elements: Vec<Element>, dims: usize) -> Result<Vec<Vec<f32>>, String> {
    let rows: Vec<Vec<f32>> = match elements.first() {
        None => return Err("no vectors".to_owned()),
        Some(Element::Row(_)) => elements
            .into_iter()
            .map(|e| match e {
                Element::Row(r) => Ok(r),
                Element::Value(_) => Err("mixes vectors and numbers".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        Some(Element::Value(_)) => {
            let flat = elements
                .into_iter()
                .map(|e| match e {
                    Element::Value(v) => Ok(v),
                    Element::Row(_) => Err("mixes vectors and numbers".to_owned()),
                })
                .collect::<Result<Vec<f32>, _>>()?;
            if flat.len() % dims != 0 {
                return Err(format!(
                    "{} floats is not a whole number of {dims}-dimension vectors",
                    flat.len()
                ));
            }
            flat.chunks(dims).map(<[f32]>::to_vec).collect()
        }
    };
    let mut vectors = Vec::with_capacity(rows.len());
    for (token, mut v) in rows.into_iter().enumerate() {
        if v.len() != dims {
            return Err(format!(
                "vector {token} has {} dimensions, expected {dims}",
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("vector {token} is not finite"));
        }
        if v.iter().all(|x| *x == 0.0) {
            continue; // padding of a batch of different-sized inputs
        }
        if !crate::l2_normalize(&mut v) {
            return Err(format!("vector {token} cannot be normalized"));
        }
        vectors.push(v);
    }
    if vectors.is_empty() {
        return Err("only zero vectors".to_owned());
    }
    Ok(vectors)
}

#[async_trait]
impl PageEmbedder for ColPaliEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.config.dimensions
    }

    async fn embed_pages(&self, pages: &[RenderedPage]) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        let mut out: Vec<Vec<Vec<f32>>> = vec![Vec::new(); pages.len()];
        let (readable, blank): (Vec<usize>, Vec<usize>) =
            (0..pages.len()).partition(|&i| !pages[i].png.is_empty());
        if !blank.is_empty() {
            let nums: Vec<u32> = blank.iter().map(|&i| pages[i].page_num).collect();
            tracing::warn!(pages = ?nums, "pages without a rendered image get no page vectors");
        }
        for batch in readable.chunks(self.config.batch_size) {
            let input: Vec<String> = batch.iter().map(|&i| png_data_url(&pages[i].png)).collect();
            let vectors = self
                .request(&input, Modality::Image)
                .await
                .map_err(|e| match e {
                    EmbedError::InvalidResponse(m) => {
                        let nums: Vec<u32> = batch.iter().map(|&i| pages[i].page_num).collect();
                        EmbedError::InvalidResponse(format!("pages {nums:?}: {m}"))
                    }
                    other => other,
                })?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.request(&[text.to_owned()], Modality::Text)
            .await?
            .pop()
            .ok_or_else(|| EmbedError::InvalidResponse("no embedding for the query".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_appends_embeddings_once() {
        let mut c = ColPaliConfig::new("http://gpu:7997/");
        assert_eq!(c.endpoint(), "http://gpu:7997/embeddings");
        c.url = "http://gpu:7997/v1".into();
        assert_eq!(c.endpoint(), "http://gpu:7997/v1/embeddings");
        c.url = "https://x.example/openai/v1/embeddings/".into();
        assert_eq!(c.endpoint(), "https://x.example/openai/v1/embeddings");
    }

    #[test]
    fn nested_and_flat_forms_agree_and_padding_is_dropped() {
        let nested = br#"{"data":[{"index":0,"embedding":[[3,4],[0,0],[0,2]]}]}"#;
        let flat = br#"{"data":[{"index":0,"embedding":[3,4,0,0,0,2]}]}"#;
        let want = vec![vec![vec![0.6, 0.8], vec![0.0, 1.0]]];
        assert_eq!(parse_response(nested, 1, 2).ok(), Some(want.clone()));
        assert_eq!(parse_response(flat, 1, 2).ok(), Some(want));
    }

    #[test]
    fn malformed_multi_vectors_are_invalid() {
        let cases: [(&[u8], usize); 7] = [
            (br#"{"data":[{"index":0,"embedding":[3,4,5]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[[3,4],5]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[[0,0]]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[[1e39,1]]}]}"#, 1),
            (br#"{"data":[{"index":1,"embedding":[[1,1]]}]}"#, 1),
            (
                br#"{"data":[{"index":0,"embedding":[[1,1]]},{"index":0,"embedding":[[1,1]]}]}"#,
                2,
            ),
        ];
        for (body, expected) in cases {
            assert!(
                matches!(
                    parse_response(body, expected, 2),
                    Err(EmbedError::InvalidResponse(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn api_key_is_not_printed() {
        let mut c = ColPaliConfig::new("http://gpu");
        c.api_key = Some(rag_http::ApiKey::new("sk-secret"));
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}
