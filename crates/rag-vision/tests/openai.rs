//! The OpenAI-compatible adapter against a local server speaking the
//! chat.completions wire format.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Reply, Server, PNG};
use rag_core::ports::{VisionError, VisionModel, VisionRequest};
use rag_vision::{OpenAiVision, OpenAiVisionConfig};
use serde_json::{json, Value};

const PROMPT: &str = "Transcribe this image as Markdown.";

fn completion(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}
        }),
    )
}

fn client(server: &Server) -> OpenAiVision {
    let mut config = OpenAiVisionConfig::new("gpt-4o-mini");
    config.base_url = format!("{}/v1", server.url());
    config.api_key = Some(rag_vision::ApiKey::new("sk-test"));
    config.max_tokens = 777;
    config.retry_base_delay = Duration::from_millis(1);
    OpenAiVision::new(config).expect("client")
}

fn request() -> VisionRequest<'static> {
    VisionRequest {
        prompt: PROMPT,
        media_type: "image/png",
        data: PNG,
    }
}

#[tokio::test]
async fn sends_the_image_and_prompt_and_returns_the_answer() {
    let server = Server::start(vec![completion("| Q1 | 10 |")]).await;
    let answer = client(&server).transcribe(request()).await;
    assert_eq!(answer, Ok("| Q1 | 10 |".to_owned()));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer sk-test")
    );
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(r.body["max_tokens"], 777);
    assert_eq!(r.body["messages"][0]["role"], "user");
    let parts = r.body["messages"][0]["content"]
        .as_array()
        .expect("content parts");
    let text = parts
        .iter()
        .find(|p| p["type"] == "text")
        .expect("text part");
    assert_eq!(text["text"], PROMPT);
    let image = parts
        .iter()
        .find(|p| p["type"] == "image_url")
        .expect("image part");
    let url = image["image_url"]["url"].as_str().unwrap_or_default();
    let b64 = url
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    assert_eq!(bytes, PNG);
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let server = Server::start(vec![
        Reply::json(
            500,
            json!({"error": {"message": "overloaded", "type": "server_error"}}),
        ),
        completion("second time lucky"),
    ])
    .await;
    let answer = client(&server).transcribe(request()).await;
    assert_eq!(answer, Ok("second time lucky".to_owned()));
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn rate_limiting_is_retried_until_the_attempts_run_out() {
    let server = Server::start(vec![Reply::json(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
    )
    .with_header("retry-after", "0")])
    .await;
    let answer = client(&server).transcribe(request()).await;
    match answer {
        Err(VisionError::Unavailable(m)) => {
            assert!(m.contains("429") && m.contains("Rate limit reached"), "{m}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_bad_request_fails_at_once_with_the_servers_message() {
    let server = Server::start(vec![Reply::json(
        400,
        json!({"error": {"message": "Invalid image data", "type": "invalid_request_error", "code": "invalid_image"}}),
    )])
    .await;
    let answer = client(&server).transcribe(request()).await;
    match answer {
        Err(VisionError::Rejected(m)) => {
            assert!(m.contains("400") && m.contains("Invalid image data"), "{m}")
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_empty_answer_is_an_invalid_response() {
    let server = Server::start(vec![completion("   ")]).await;
    let answer = client(&server).transcribe(request()).await;
    assert!(
        matches!(answer, Err(VisionError::InvalidResponse(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn no_key_means_no_authorization_header() {
    let server = Server::start(vec![completion("ok")]).await;
    let mut config = OpenAiVisionConfig::new("llava");
    config.base_url = server.url();
    let answer = OpenAiVision::new(config)
        .expect("client")
        .transcribe(request())
        .await;
    assert_eq!(answer, Ok("ok".to_owned()));
    let received = server.received();
    assert!(received[0].headers.get("authorization").is_none());
    assert_eq!(received[0].body["model"], Value::from("llava"));
}

#[tokio::test]
async fn a_model_that_refuses_max_tokens_or_a_temperature_gets_the_form_it_takes() {
    // OpenAI's answers for a reasoning model asked the classic way.
    let refused = |param: &str, message: &str, code: &str| {
        Reply::json(
            400,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}),
        )
    };
    let server = Server::start(vec![
        refused(
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            "unsupported_parameter",
        ),
        refused(
            "temperature",
            "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.",
            "unsupported_value",
        ),
        completion("first"),
        completion("second"),
    ])
    .await;
    let vision = client(&server);
    assert_eq!(vision.transcribe(request()).await, Ok("first".to_owned()));
    // Learned once: the next image goes in the adapted form straight away.
    assert_eq!(vision.transcribe(request()).await, Ok("second".to_owned()));
    let sent: Vec<(Value, Value, Value)> = server
        .received()
        .iter()
        .map(|r| {
            (
                r.body["max_tokens"].clone(),
                r.body["max_completion_tokens"].clone(),
                r.body["temperature"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (json!(777), Value::Null, json!(0.0)),
            (Value::Null, json!(777), json!(0.0)),
            (Value::Null, json!(777), Value::Null),
            (Value::Null, json!(777), Value::Null),
        ]
    );
}

#[tokio::test]
async fn another_bad_request_is_not_sent_again() {
    let server = Server::start(vec![Reply::json(
        400,
        json!({"error": {"message": "Invalid value for 'max_tokens': must be at most 4096.", "type": "invalid_request_error", "param": "max_tokens"}}),
    )])
    .await;
    let answer = client(&server).transcribe(request()).await;
    assert!(
        matches!(answer, Err(VisionError::Rejected(_))),
        "{answer:?}"
    );
    assert_eq!(server.received().len(), 1);
}
