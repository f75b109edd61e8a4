//! Reranking by a hosted cross-encoder behind a Cohere- or Jina-compatible
//! `POST /rerank` endpoint (Cohere's `/v2/rerank`, Jina's `/v1/rerank`,
//! and the self-hosted servers that speak the same format, such as
//! Hugging Face's text-embeddings-inference in its Cohere mode).
//!
//! Request: `{"model", "query", "documents": [strings], "top_n"}`;
//! response: `{"results": [{"index", "relevance_score"}, ...]}` in any
//! order (other fields ignored). Every document must come back scored
//! once. Retries as the OpenAI embedder does ([`rag_http::with_retries`]).

use std::time::Duration;

use async_trait::async_trait;
use rag_core::ports::{EmbedError, Reranker};
use rag_http::{post_json, with_retries, Attempt};
use serde::{Deserialize, Serialize};

use crate::openai::ConfigError;

/// The variable that names the endpoint; reranking is off without it.
pub const URL_VAR: &str = "RERANK_URL";
/// The model name sent (`RERANK_MODEL`).
pub const MODEL_VAR: &str = "RERANK_MODEL";
/// Sent as `Authorization: Bearer` when set (`RERANK_API_KEY`).
pub const KEY_VAR: &str = "RERANK_API_KEY";
/// The model when `RERANK_MODEL` is not set: Cohere's current one.
pub const DEFAULT_MODEL: &str = "rerank-v3.5";

/// Where and how to call the endpoint.
#[derive(Clone, Debug)]
pub struct RerankConfig {
    /// The full URL of the rerank route.
    pub url: String,
    /// Sent as `Authorization: Bearer`, when the service needs it.
    pub api_key: Option<rag_http::ApiKey>,
    /// The `model` field of each request (`RERANK_MODEL`).
    pub model: String,
    /// Limit on one request, connection to last byte.
    pub timeout: Duration,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_base_delay: Duration,
}

impl RerankConfig {
    /// The endpoint at `url`, with the defaults: 10 s a request (a search
    /// waits for it), 2 attempts starting at 200 ms.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            api_key: None,
            model: DEFAULT_MODEL.to_owned(),
            timeout: Duration::from_secs(10),
            max_attempts: 2,
            retry_base_delay: Duration::from_millis(200),
        }
    }

    /// From `RERANK_URL`, `RERANK_MODEL` and `RERANK_API_KEY`; `None`
    /// without a URL.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`RerankConfig::from_env`] over any lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = get(URL_VAR) else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::InvalidVar {
                name: URL_VAR,
                value: url,
                reason: "must be an http:// or https:// URL of the rerank route".into(),
            });
        }
        let mut config = Self::new(url);
        if let Some(model) = get(MODEL_VAR) {
            config.model = model;
        }
        config.api_key = get(KEY_VAR).map(rag_http::ApiKey::new);
        Ok(Some(config))
    }
}

/// A hosted reranker.
pub struct HttpReranker {
    client: reqwest::Client,
    config: RerankConfig,
}

impl HttpReranker {
    /// A reranker for `config`; fails only when its HTTP client cannot be built.
    pub fn new(config: RerankConfig) -> Result<Self, ConfigError> {
        let client = rag_http::client(config.timeout).map_err(|e| ConfigError::InvalidVar {
            name: URL_VAR,
            value: config.url.clone(),
            reason: format!("cannot build an HTTP client: {e}"),
        })?;
        Ok(Self { client, config })
    }

    async fn attempt(&self, body: &RerankRequest<'_>) -> Result<Vec<f64>, Attempt<EmbedError>> {
        let bytes = post_json(
            &self.client,
            &self.config.url,
            self.config.api_key.as_ref().map(rag_http::ApiKey::reveal),
            body,
        )
        .await
        .map_err(|a| a.map_fail(EmbedError::Model))?;
        parse_response(&bytes, body.documents.len()).map_err(Attempt::Fail)
    }
}

#[derive(Serialize)]
struct RerankRequest<'a> {
    model: &'a str,
    query: &'a str,
    documents: &'a [String],
    top_n: usize,
}

#[derive(Deserialize)]
struct RerankResponse {
    results: Vec<Scored>,
}

#[derive(Deserialize)]
struct Scored {
    index: usize,
    relevance_score: f64,
}

/// One score per document, in the documents' order.
fn parse_response(body: &[u8], expected: usize) -> Result<Vec<f64>, EmbedError> {
    let invalid = EmbedError::InvalidResponse;
    let parsed: RerankResponse =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not a rerank response: {e}")))?;
    let mut scores: Vec<Option<f64>> = vec![None; expected];
    for r in parsed.results {
        let slot = scores.get_mut(r.index).ok_or_else(|| {
            invalid(format!(
                "index {} out of range for {expected} documents",
                r.index
            ))
        })?;
        if slot.replace(r.relevance_score).is_some() || !r.relevance_score.is_finite() {
            return Err(invalid(format!(
                "index {} scored twice or not finite",
                r.index
            )));
        }
    }
    scores
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.ok_or_else(|| invalid(format!("no score for document {i}"))))
        .collect()
}

#[async_trait]
impl Reranker for HttpReranker {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    async fn rerank(&self, query: &str, documents: &[String]) -> Result<Vec<f64>, EmbedError> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let body = RerankRequest {
            model: &self.config.model,
            query,
            documents,
            top_n: documents.len(),
        };
        with_retries(
            self.config.max_attempts,
            self.config.retry_base_delay,
            EmbedError::Unavailable,
            || self.attempt(&body),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_map_back_to_the_documents_order() {
        let body = br#"{"id":"x","results":[{"index":1,"relevance_score":0.9},{"index":0,"relevance_score":0.1,"document":{"text":"a"}}],"meta":{}}"#;
        assert_eq!(parse_response(body, 2).unwrap(), vec![0.1, 0.9]);
        for bad in [
            &br#"{"results":[{"index":0,"relevance_score":0.1}]}"#[..],
            br#"{"results":[{"index":2,"relevance_score":0.1},{"index":0,"relevance_score":0.1}]}"#,
            br#"{"results":[{"index":0,"relevance_score":0.1},{"index":0,"relevance_score":0.2}]}"#,
            br#"{"data":[]}"#,
        ] {
            assert!(
                parse_response(bad, 2).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn configuration_comes_from_the_environment() {
        let none = RerankConfig::from_lookup(|_| None).unwrap();
        assert!(none.is_none());
        let vars = |name: &str| match name {
            URL_VAR => Some("https://api.cohere.com/v2/rerank".to_owned()),
            KEY_VAR => Some("secret".to_owned()),
            _ => None,
        };
        let config = RerankConfig::from_lookup(vars).unwrap().unwrap();
        assert_eq!(
            (
                config.model.as_str(),
                config.api_key.as_ref().map(rag_http::ApiKey::reveal)
            ),
            (DEFAULT_MODEL, Some("secret"))
        );
        assert!(!format!("{config:?}").contains("secret"));
        assert!(
            RerankConfig::from_lookup(|n| (n == URL_VAR).then(|| "ftp://x".to_owned())).is_err()
        );
    }
}
