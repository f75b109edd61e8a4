//! The Bedrock adapter, on the real SDK, against a local server speaking the
//! Converse wire format (`POST /model/{modelId}/converse`).

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Reply, Server, PNG};
use rag_core::ports::{VisionError, VisionModel, VisionRequest};
use rag_vision::{BedrockVision, BedrockVisionConfig};
use serde_json::json;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const PROMPT: &str = "Transcribe this image as Markdown.";

fn answer(text: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1520, "outputTokens": 12, "totalTokens": 1532},
            "metrics": {"latencyMs": 830}
        }),
    )
}

fn client(server: &Server) -> BedrockVision {
    let sdk = rag_aws::local_sdk_config("us-east-1")
        .into_builder()
        .endpoint_url(server.url())
        .build();
    let mut config = BedrockVisionConfig::new(MODEL);
    config.max_tokens = 900;
    config.initial_backoff = Duration::from_millis(1);
    config.timeout = Duration::from_secs(20);
    BedrockVision::new(&sdk, config)
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
    let server = Server::start(vec![answer("| Region | Revenue |")]).await;
    let result = client(&server).transcribe(request()).await;
    assert_eq!(result, Ok("| Region | Revenue |".to_owned()));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.method, "POST");
    // The model id is a path segment, its colon percent-encoded.
    assert_eq!(
        r.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    let auth = r
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "signed: {auth}");
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");

    let message = &r.body["messages"][0];
    assert_eq!(message["role"], "user");
    let content = message["content"].as_array().expect("content blocks");
    let image = content
        .iter()
        .find_map(|b| b.get("image"))
        .expect("an image block");
    assert_eq!(image["format"], "png");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image["source"]["bytes"].as_str().unwrap_or_default())
        .expect("base64 bytes");
    assert_eq!(bytes, PNG);
    let text = content
        .iter()
        .find_map(|b| b.get("text"))
        .expect("a text block");
    assert_eq!(text, PROMPT);
    assert_eq!(r.body["inferenceConfig"]["maxTokens"], 900);
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let server = Server::start(vec![
        Reply::json(500, json!({"message": "Internal server error"}))
            .with_header("x-amzn-errortype", "InternalServerException"),
        answer("after a retry"),
    ])
    .await;
    let result = client(&server).transcribe(request()).await;
    assert_eq!(result, Ok("after a retry".to_owned()));
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_validation_error_fails_at_once_with_the_services_message() {
    let server = Server::start(vec![Reply::json(
        400,
        json!({"message": "The model returned the following errors: Could not process image"}),
    )
    .with_header(
        "x-amzn-errortype",
        "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
    )])
    .await;
    let result = client(&server).transcribe(request()).await;
    match result {
        Err(VisionError::Rejected(m)) => {
            assert!(m.contains("ValidationException"), "{m}");
            assert!(m.contains("Could not process image"), "{m}");
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn throttling_that_persists_is_unavailable() {
    let server = Server::start(vec![Reply::json(
        429,
        json!({"message": "Too many requests, please wait before trying again."}),
    )
    .with_header("x-amzn-errortype", "ThrottlingException")])
    .await;
    let result = client(&server).transcribe(request()).await;
    assert!(
        matches!(result, Err(VisionError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(server.received().len(), 3, "the configured attempts");
}

#[tokio::test]
async fn unsupported_image_types_are_refused_without_a_call() {
    let server = Server::start(vec![answer("never")]).await;
    let result = client(&server)
        .transcribe(VisionRequest {
            media_type: "image/x-emf",
            ..request()
        })
        .await;
    assert!(matches!(result, Err(VisionError::Rejected(_))));
    assert!(server.received().is_empty());
}
