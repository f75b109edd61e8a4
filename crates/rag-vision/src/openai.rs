//! Image transcription through any OpenAI-compatible
//! `POST /v1/chat/completions` endpoint that takes image input (OpenAI,
//! Azure-style gateways, vLLM, Ollama, LiteLLM).
//!
//! The image travels inline as a `data:` URL content part, so nothing needs
//! to be hosted. Rate limiting (429), server errors (5xx) and connection
//! failures are retried with exponential backoff (honouring `Retry-After`);
//! other client errors fail at once with the server's own message.
//!
//! OpenAI's reasoning models refuse `max_tokens` (they take
//! `max_completion_tokens`) and any temperature but the default, while many
//! compatible servers know only `max_tokens`. The client sends the classic
//! form; when the server's 400 names one of those parameters it adapts the
//! request, tries again at once, and keeps the adapted form for its later
//! requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use rag_core::ports::{VisionError, VisionModel, VisionRequest};
use rag_http::{post_json, with_retries, Attempt};
use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The server used when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
/// Where and how to call the chat completions endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiVisionConfig {
    /// Server root, with or without a trailing `/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<rag_http::ApiKey>,
    /// A vision-capable model the server knows (`gpt-4o-mini`, `llava`).
    pub model: String,
    /// Longest answer, in tokens: a dense table needs a few thousand.
    pub max_tokens: u32,
    /// Sampling temperature; 0 for a faithful, repeatable transcription.
    /// `None` leaves the server's default (for models that refuse one).
    pub temperature: Option<f32>,
    /// Limit on one request, connection to last byte.
    pub timeout: Duration,
    /// Tries per image, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_base_delay: Duration,
}

impl OpenAiVisionConfig {
    /// OpenAI's endpoint with `model`: 2,048 tokens, temperature 0, 90 s per
    /// request, 3 attempts starting at 1 s.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            model: model.into(),
            max_tokens: 2048,
            temperature: Some(0.0),
            timeout: Duration::from_secs(90),
            max_attempts: 3,
            retry_base_delay: Duration::from_secs(1),
        }
    }

    /// The full URL: `{base}/v1/chat/completions`, not doubling `/v1`.
    pub fn endpoint(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        }
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

/// What the server refused, learned from its 400 answers.
#[derive(Debug, Default)]
struct Refused {
    /// `max_tokens`: send `max_completion_tokens` instead.
    max_tokens: AtomicBool,
    /// A temperature: leave the server's default.
    temperature: AtomicBool,
}

impl Refused {
    /// Learns from a rejection; `true` when it names a parameter not
    /// already adapted, so that the request is worth sending again.
    fn learn(&self, rejection: &str) -> bool {
        let names = |param: &str| rejection.contains(&format!("'{param}'"));
        let learned = if names("max_tokens") && rejection.contains("max_completion_tokens") {
            !self.max_tokens.swap(true, Ordering::Relaxed)
        } else if names("temperature") {
            !self.temperature.swap(true, Ordering::Relaxed)
        } else {
            false
        };
        if learned {
            tracing::info!(
                rejection,
                "the vision model refused a request parameter; adapting the request"
            );
        }
        learned
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: [Part<'a>; 2],
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: &'a str,
    detail: &'static str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    refusal: Option<String>,
}

/// A plain string, or (some servers) a list of text parts.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<TextPart>),
}

#[derive(Deserialize)]
struct TextPart {
    #[serde(default)]
    text: Option<String>,
}

/// A vision model behind an OpenAI-compatible chat completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiVision {
    client: reqwest::Client,
    config: OpenAiVisionConfig,
    endpoint: String,
    model_id: String,
    refused: Arc<Refused>,
}

impl OpenAiVision {
    /// A client for `config`; fails only if the HTTP client cannot be built.
    pub fn new(mut config: OpenAiVisionConfig) -> Result<Self, ConfigError> {
        config.max_attempts = config.max_attempts.max(1);
        let client =
            rag_http::client(config.timeout).map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            endpoint: config.endpoint(),
            model_id: format!("openai:{}", config.model),
            config,
            refused: Arc::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &OpenAiVisionConfig {
        &self.config
    }

    async fn attempt(&self, body: &ChatRequest<'_>) -> Result<String, Attempt<VisionError>> {
        let bytes = post_json(
            &self.client,
            &self.endpoint,
            self.config.api_key.as_ref().map(rag_http::ApiKey::reveal),
            body,
        )
        .await
        .map_err(|a| a.map_fail(VisionError::Rejected))?;
        parse_answer(&bytes).map_err(Attempt::Fail)
    }
}

#[async_trait]
impl VisionModel for OpenAiVision {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    async fn transcribe(&self, request: VisionRequest<'_>) -> Result<String, VisionError> {
        // Built once: an adapted request sends the same image again.
        let url = format!(
            "data:{};base64,{}",
            request.media_type,
            base64::engine::general_purpose::STANDARD.encode(request.data)
        );
        loop {
            let completion_tokens = self.refused.max_tokens.load(Ordering::Relaxed);
            let no_temperature = self.refused.temperature.load(Ordering::Relaxed);
            let body = ChatRequest {
                model: &self.config.model,
                messages: [Message {
                    role: "user",
                    content: [
                        Part::Text {
                            text: request.prompt,
                        },
                        Part::ImageUrl {
                            image_url: ImageUrl {
                                url: &url,
                                detail: "high",
                            },
                        },
                    ],
                }],
                max_tokens: (!completion_tokens).then_some(self.config.max_tokens),
                max_completion_tokens: completion_tokens.then_some(self.config.max_tokens),
                temperature: self.config.temperature.filter(|_| !no_temperature),
            };
            let answer = with_retries(
                self.config.max_attempts,
                self.config.retry_base_delay,
                VisionError::Unavailable,
                || self.attempt(&body),
            )
            .await;
            match answer {
                Err(VisionError::Rejected(rejection)) if self.refused.learn(&rejection) => {}
                other => return other,
            }
        }
    }
}

/// The text of the first choice; a refusal or an empty answer is an error.
fn parse_answer(body: &[u8]) -> Result<String, VisionError> {
    let invalid = VisionError::InvalidResponse;
    let parsed: ChatResponse =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not a chat completion: {e}")))?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| invalid("no choices in the response".into()))?;
    if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
        return Err(VisionError::Rejected(format!(
            "the model refused: {refusal}"
        )));
    }
    let text = match choice.message.content {
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .filter_map(|p| p.text)
            .collect::<Vec<_>>()
            .join(""),
        None => String::new(),
    };
    if text.trim().is_empty() {
        return Err(invalid("the answer has no text".into()));
    }
    if choice.finish_reason.as_deref() == Some("length") {
        tracing::warn!("vision answer cut at max_tokens; keeping what came");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_does_not_double_v1() {
        let mut c = OpenAiVisionConfig::new("m");
        c.base_url = "http://h:1/v1/".into();
        assert_eq!(c.endpoint(), "http://h:1/v1/chat/completions");
        c.base_url = "http://h:1".into();
        assert_eq!(c.endpoint(), "http://h:1/v1/chat/completions");
    }

    #[test]
    fn answers_are_parsed_from_strings_and_parts() {
        let s = br#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_answer(s), Ok("hi".into()));
        let p = br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#;
        assert_eq!(parse_answer(p), Ok("ab".into()));
        let refusal = br#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#;
        assert!(matches!(
            parse_answer(refusal),
            Err(VisionError::Rejected(_))
        ));
        let empty = br#"{"choices":[]}"#;
        assert!(matches!(
            parse_answer(empty),
            Err(VisionError::InvalidResponse(_))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let mut c = OpenAiVisionConfig::new("m");
        c.api_key = Some(rag_http::ApiKey::new("sk-secret"));
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}
