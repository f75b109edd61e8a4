//! Embeddings from any OpenAI-compatible `POST /v1/embeddings` endpoint.
//!
//! Exists for deployments that use a hosted model (OpenAI, or a self-hosted
//! server speaking the same wire format) instead of the in-process one.
//! Inputs are sent in batches; rate limiting (429), server errors (5xx) and
//! connection failures are retried with exponential backoff, other client
//! errors fail at once with the server's own message. Responses are checked
//! (count, order, dimension) and the vectors L2-normalized.

use std::time::Duration;

use async_trait::async_trait;
use rag_core::ports::{EmbedError, Embedder};
use rag_http::{post_json, with_retries, Attempt};
use serde::{Deserialize, Serialize};

/// The base URL used when `OPENAI_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
/// The model used when `RAG_EMBEDDING_MODEL` is not set.
pub const DEFAULT_MODEL: &str = "text-embedding-3-small";
/// Where and how to call the embeddings endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// Server root, with or without a trailing `/v1` (`https://api.openai.com`).
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<rag_http::ApiKey>,
    /// The model name the server knows.
    pub model: String,
    /// Requested vector length (sent as `dimensions`, for models that can
    /// shorten their vectors); also the length every response must have.
    pub dimensions: Option<usize>,
    /// Inputs per request.
    pub batch_size: usize,
    /// Limit on one request, connection to last byte.
    pub timeout: Duration,
    /// Tries per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_base_delay: Duration,
}

impl Default for OpenAiConfig {
    /// OpenAI's endpoint and `text-embedding-3-small`, 64 inputs per request,
    /// 60 s per request, 3 attempts starting at 500 ms.
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            model: DEFAULT_MODEL.to_owned(),
            dimensions: None,
            batch_size: 64,
            timeout: Duration::from_secs(60),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
        }
    }
}

/// The embedder cannot be configured as asked.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An environment variable has a value that cannot be used.
    #[error("invalid {name}={value:?}: {reason}")]
    InvalidVar {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The vector length is needed before any call and cannot be known.
    #[error(
        "vector length of model {model:?} is unknown: set RAG_EMBEDDING_DIMENSIONS, or use OpenAiEmbedder::probe"
    )]
    UnknownDimensions {
        /// The model name.
        model: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Client(String),
}

impl OpenAiConfig {
    /// Reads `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `RAG_EMBEDDING_MODEL` and
    /// `RAG_EMBEDDING_DIMENSIONS` (empty counts as unset); the rest default.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `get`,
    /// so it can be tested without touching the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Self::default();
        if let Some(url) = var("OPENAI_BASE_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::InvalidVar {
                    name: "OPENAI_BASE_URL",
                    value: url,
                    reason: "must start with http:// or https://".to_owned(),
                });
            }
            config.base_url = url;
        }
        config.api_key = var("OPENAI_API_KEY").map(rag_http::ApiKey::new);
        if let Some(model) = var("RAG_EMBEDDING_MODEL") {
            config.model = model;
        }
        if let Some(dims) = var("RAG_EMBEDDING_DIMENSIONS") {
            match dims.parse::<usize>() {
                Ok(d) if d > 0 => config.dimensions = Some(d),
                _ => {
                    return Err(ConfigError::InvalidVar {
                        name: "RAG_EMBEDDING_DIMENSIONS",
                        value: dims,
                        reason: "must be a positive integer".to_owned(),
                    })
                }
            }
        }
        Ok(config)
    }

    /// The full embeddings URL: `{base}/v1/embeddings`, not doubling `/v1`.
    pub fn endpoint(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if base.ends_with("/v1") {
            format!("{base}/embeddings")
        } else {
            format!("{base}/v1/embeddings")
        }
    }
}

/// Vector lengths of OpenAI's own models, so no probe call is needed for them.
fn known_dimensions(model: &str) -> Option<usize> {
    match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    }
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

/// An embedder calling an OpenAI-compatible HTTP endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    config: OpenAiConfig,
    endpoint: String,
    model_id: String,
    dimensions: usize,
}

impl OpenAiEmbedder {
    /// An embedder whose vector length is known without calling the server:
    /// `config.dimensions`, or the length of a known OpenAI model.
    pub fn new(config: OpenAiConfig) -> Result<Self, ConfigError> {
        let dimensions = config
            .dimensions
            .or_else(|| known_dimensions(&config.model))
            .ok_or_else(|| ConfigError::UnknownDimensions {
                model: config.model.clone(),
            })?;
        Self::with_dimensions(config, dimensions)
    }

    /// Like [`new`](Self::new), but when the vector length is unknown (a
    /// self-hosted model) asks the server for one embedding to learn it.
    pub async fn probe(config: OpenAiConfig) -> Result<Self, EmbedError> {
        match Self::new(config.clone()) {
            Ok(embedder) => Ok(embedder),
            Err(ConfigError::UnknownDimensions { .. }) => {
                let mut embedder = Self::with_dimensions(config, 0)
                    .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
                let vectors = embedder
                    .request(&["dimension probe".to_owned()], None)
                    .await?;
                let dims = vectors.first().map_or(0, Vec::len);
                if dims == 0 {
                    return Err(EmbedError::InvalidResponse(
                        "the probe returned an empty vector".to_owned(),
                    ));
                }
                embedder.dimensions = dims;
                Ok(embedder)
            }
            Err(e) => Err(EmbedError::Unavailable(e.to_string())),
        }
    }

    fn with_dimensions(mut config: OpenAiConfig, dimensions: usize) -> Result<Self, ConfigError> {
        config.batch_size = config.batch_size.max(1);
        config.max_attempts = config.max_attempts.max(1);
        let client =
            rag_http::client(config.timeout).map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            endpoint: config.endpoint(),
            model_id: format!("openai:{}", config.model),
            dimensions,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// Embeds one batch, retrying transient failures; checks the dimension
    /// against `expect_dims` when given.
    async fn request(
        &self,
        batch: &[String],
        expect_dims: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbeddingsRequest {
            model: &self.config.model,
            input: batch,
            encoding_format: "float",
            dimensions: self.config.dimensions,
        };
        with_retries(
            self.config.max_attempts,
            self.config.retry_base_delay,
            EmbedError::Unavailable,
            || self.attempt(&body, expect_dims),
        )
        .await
    }

    async fn attempt(
        &self,
        body: &EmbeddingsRequest<'_>,
        expect_dims: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, Attempt<EmbedError>> {
        let bytes = post_json(
            &self.client,
            &self.endpoint,
            self.config.api_key.as_ref().map(rag_http::ApiKey::reveal),
            body,
        )
        .await
        .map_err(|a| a.map_fail(EmbedError::Model))?;
        parse_response(&bytes, body.input.len(), expect_dims).map_err(Attempt::Fail)
    }
}

/// Checks and orders the vectors of a successful response, normalized.
fn parse_response(
    body: &[u8],
    expected: usize,
    dims: Option<usize>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let invalid = |m: String| EmbedError::InvalidResponse(m);
    let parsed: EmbeddingsResponse = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("not an embeddings response: {e}")))?;
    if parsed.data.len() != expected {
        return Err(invalid(format!(
            "{} embeddings for {expected} inputs",
            parsed.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
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
    let mut vectors = Vec::with_capacity(expected);
    for (index, slot) in slots.into_iter().enumerate() {
        let mut v = slot.ok_or_else(|| invalid(format!("no embedding for index {index}")))?;
        if let Some(d) = dims {
            if v.len() != d {
                return Err(invalid(format!(
                    "embedding {index} has {} dimensions, expected {d}",
                    v.len()
                )));
            }
        }
        if !crate::l2_normalize(&mut v) {
            return Err(invalid(format!("embedding {index} is zero or not finite")));
        }
        vectors.push(v);
    }
    Ok(vectors)
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size) {
            out.extend(self.request(batch, Some(self.dimensions)).await?);
        }
        Ok(out)
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut vectors = self
            .request(&[text.to_owned()], Some(self.dimensions))
            .await?;
        vectors
            .pop()
            .ok_or_else(|| EmbedError::InvalidResponse("no embedding for the query".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn endpoint_accepts_base_with_or_without_v1() {
        let mut c = OpenAiConfig {
            base_url: "http://h:1".into(),
            ..Default::default()
        };
        assert_eq!(c.endpoint(), "http://h:1/v1/embeddings");
        c.base_url = "http://h:1/v1/".into();
        assert_eq!(c.endpoint(), "http://h:1/v1/embeddings");
    }

    #[test]
    fn config_from_environment() -> Result<(), ConfigError> {
        let c = OpenAiConfig::from_lookup(lookup(&[
            ("OPENAI_BASE_URL", "http://localhost:8000/v1"),
            ("OPENAI_API_KEY", ""),
            ("RAG_EMBEDDING_MODEL", "bge-small"),
            ("RAG_EMBEDDING_DIMENSIONS", "384"),
        ]))?;
        assert_eq!(c.endpoint(), "http://localhost:8000/v1/embeddings");
        assert_eq!(c.api_key, None);
        assert_eq!((c.model.as_str(), c.dimensions), ("bge-small", Some(384)));
        let d = OpenAiConfig::from_lookup(lookup(&[]))?;
        assert_eq!(
            (d.base_url.as_str(), d.model.as_str()),
            (DEFAULT_BASE_URL, DEFAULT_MODEL)
        );
        assert!(OpenAiConfig::from_lookup(lookup(&[("RAG_EMBEDDING_DIMENSIONS", "x")])).is_err());
        assert!(OpenAiConfig::from_lookup(lookup(&[("OPENAI_BASE_URL", "localhost")])).is_err());
        Ok(())
    }

    #[test]
    fn dimensions_must_be_known_before_calls() {
        let unknown = OpenAiConfig {
            model: "my-model".into(),
            ..Default::default()
        };
        assert!(matches!(
            OpenAiEmbedder::new(unknown),
            Err(ConfigError::UnknownDimensions { .. })
        ));
        let known = OpenAiEmbedder::new(OpenAiConfig::default()).map(|e| e.dimensions());
        assert_eq!(known.ok(), Some(1536));
    }

    #[test]
    fn api_key_is_not_printed() {
        let c = OpenAiConfig {
            api_key: Some(rag_http::ApiKey::new("sk-secret")),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("sk-secret"));
    }

    #[test]
    fn responses_are_ordered_checked_and_normalized() {
        let body = br#"{"data":[{"index":1,"embedding":[0,2]},{"index":0,"embedding":[3,4]}],"model":"m"}"#;
        let v = parse_response(body, 2, Some(2)).unwrap_or_default();
        assert_eq!(v, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
        assert!(matches!(
            parse_response(body, 3, Some(2)),
            Err(EmbedError::InvalidResponse(_))
        ));
        assert!(matches!(
            parse_response(body, 2, Some(3)),
            Err(EmbedError::InvalidResponse(_))
        ));
        let dup = br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#;
        assert!(matches!(
            parse_response(dup, 2, None),
            Err(EmbedError::InvalidResponse(_))
        ));
    }
}
