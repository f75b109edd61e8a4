//! JSON over HTTP to model services, shared by the embedding clients
//! (`rag-embed`) and the vision client (`rag-vision`): one way to time out,
//! to retry what a retry can cure (connection failures, 429, 5xx; with
//! doubling backoff or the server's `Retry-After`), and to report what the
//! server said when it refused.

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

/// Longest `Retry-After` honoured: a server asking for more is treated as
/// down rather than waited for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A model service's API key: `Debug` shows `<redacted>`, so a config
/// logged or printed in a panic never leaks it, and a config holding one
/// can derive `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment or a secret store.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the request's header.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What one failed attempt means for the next.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Try again (after `retry_after` if the server said so).
    Retry {
        /// What went wrong, for the error if no attempt is left.
        error: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Give up now.
    Fail(E),
}

impl<E> Attempt<E> {
    /// The same attempt with its final error turned into another type.
    pub fn map_fail<F>(self, f: impl FnOnce(E) -> F) -> Attempt<F> {
        match self {
            Attempt::Retry { error, retry_after } => Attempt::Retry { error, retry_after },
            Attempt::Fail(e) => Attempt::Fail(f(e)),
        }
    }
}

/// An HTTP client whose every request ends within `timeout` (connecting
/// within at most 10 s of it), so a hung server cannot hold a worker.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
}

/// Runs `attempt` up to `max_attempts` times (at least once): transient
/// failures wait `base_delay`, doubled per retry (or the server's
/// `Retry-After`, capped at [`MAX_RETRY_AFTER`]); after the last one,
/// `exhausted` turns the last error (with the count) into the caller's
/// error. A final failure is returned at once.
pub async fn with_retries<T, E, F, Fut>(
    max_attempts: u32,
    base_delay: Duration,
    exhausted: impl FnOnce(String) -> E,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let max_attempts = max_attempts.max(1);
    let mut last_error = String::new();
    for n in 1..=max_attempts {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry { error, retry_after }) => {
                if n == max_attempts {
                    last_error = error;
                    break;
                }
                let backoff = base_delay.saturating_mul(1 << (n - 1).min(16));
                let delay = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
                tracing::warn!(attempt = n, error = %error, delay_ms = delay.as_millis() as u64, "model service request failed; retrying");
                last_error = error;
                tokio::time::sleep(delay).await;
            }
        }
    }
    Err(exhausted(format!(
        "{last_error} (after {max_attempts} attempts)"
    )))
}

/// POSTs `body` as JSON (with `Authorization: Bearer` when a key is given)
/// and returns the body of a 2xx response. Connection failures, 429 and 5xx
/// are [`Attempt::Retry`]; any other status is a final failure carrying
/// `HTTP <status>: <the server's message>`.
pub async fn post_json(
    client: &reqwest::Client,
    endpoint: &str,
    api_key: Option<&str>,
    body: &impl Serialize,
) -> Result<Vec<u8>, Attempt<String>> {
    let mut request = client.post(endpoint).json(body);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| Attempt::Retry {
        error: format!("request to {endpoint} failed: {}", error_chain(&e)),
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let bytes = response.bytes().await.map_err(|e| Attempt::Retry {
        error: format!(
            "reading the response from {endpoint} failed: {}",
            error_chain(&e)
        ),
        retry_after: None,
    })?;
    if !status.is_success() {
        let error = format!("HTTP {status}: {}", server_message(&bytes));
        return Err(
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                Attempt::Retry { error, retry_after }
            } else {
                Attempt::Fail(error)
            },
        );
    }
    Ok(Vec::from(bytes))
}

/// `reqwest` errors keep the useful part (refused, timed out) in their sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these APIs).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

/// The server's `{"error": {"message"}}` (the OpenAI shape, which most
/// model servers copy), or the start of the body.
fn server_message(body: &[u8]) -> String {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return parsed.error.message;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn server_messages_are_extracted() {
        assert_eq!(
            server_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(server_message(b"upstream down"), "upstream down");
        assert_eq!(server_message(b""), "(empty body)");
    }

    #[tokio::test]
    async fn retries_stop_at_a_final_failure_or_after_the_last_attempt() {
        let mut calls = 0;
        let gave_up: Result<(), String> = with_retries(
            3,
            Duration::ZERO,
            |e| e,
            || {
                calls += 1;
                async {
                    Err(Attempt::Retry {
                        error: "busy".into(),
                        retry_after: None,
                    })
                }
            },
        )
        .await;
        assert_eq!((gave_up, calls), (Err("busy (after 3 attempts)".into()), 3));
        let mut calls = 0;
        let refused: Result<(), String> = with_retries(
            3,
            Duration::ZERO,
            |e| e,
            || {
                calls += 1;
                async { Err(Attempt::Fail("no".to_owned())) }
            },
        )
        .await;
        assert_eq!((refused, calls), (Err("no".into()), 1));
    }
}
