//! Image transcription through Amazon Bedrock's Converse API (Claude, Nova,
//! Llama vision models alike), on the official SDK.
//!
//! The client is built from the workspace's one SDK configuration
//! ([`rag_aws::sdk_config`]): region, credentials and endpoint come from the
//! standard chain, so `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`)
//! alone points it elsewhere. Throttling and server errors are retried by
//! the SDK's standard retry strategy, with the attempts and backoff set here.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, ImageBlock, ImageFormat, ImageSource,
    InferenceConfiguration, Message, StopReason,
};
use aws_sdk_bedrockruntime::Client;
use rag_core::ports::{VisionError, VisionModel, VisionRequest};
use tokio::sync::OnceCell;

/// How to call the model.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockVisionConfig {
    /// Model or inference-profile id
    /// (`anthropic.claude-3-5-sonnet-20240620-v1:0`, `us.amazon.nova-pro-v1:0`).
    pub model_id: String,
    /// Longest answer, in tokens.
    pub max_tokens: i32,
    /// Sampling temperature; 0 for a faithful, repeatable transcription.
    pub temperature: Option<f32>,
    /// Limit on one attempt.
    pub timeout: Duration,
    /// Tries per image, the first included (at least 1).
    pub max_attempts: u32,
    /// The SDK's initial backoff between attempts (jittered, doubling).
    pub initial_backoff: Duration,
}

impl BedrockVisionConfig {
    /// `model_id` with 2,048 tokens, temperature 0, 90 s per attempt,
    /// 3 attempts starting at 1 s.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            max_tokens: 2048,
            temperature: Some(0.0),
            timeout: Duration::from_secs(90),
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
        }
    }
}

/// A vision model on Amazon Bedrock.
#[derive(Debug)]
pub struct BedrockVision {
    /// Built at once from a given configuration, or on first use from the
    /// standard chain (which is async, and the wiring is not).
    client: OnceCell<Client>,
    config: BedrockVisionConfig,
    model_id: String,
}

impl BedrockVision {
    /// A client over `sdk` (tests, and wiring that already has a config).
    pub fn new(sdk: &SdkConfig, config: BedrockVisionConfig) -> Self {
        let client = build_client(sdk, &config);
        Self {
            client: OnceCell::new_with(Some(client)),
            model_id: format!("bedrock:{}", config.model_id),
            config,
        }
    }

    /// A client whose SDK configuration is loaded from the standard chain
    /// ([`rag_aws::sdk_config`]) on the first transcription.
    pub fn from_default_chain(config: BedrockVisionConfig) -> Self {
        Self {
            client: OnceCell::new(),
            model_id: format!("bedrock:{}", config.model_id),
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BedrockVisionConfig {
        &self.config
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let sdk = rag_aws::sdk_config().await;
                build_client(&sdk, &self.config)
            })
            .await
    }
}

fn build_client(sdk: &SdkConfig, config: &BedrockVisionConfig) -> Client {
    let conf = aws_sdk_bedrockruntime::config::Builder::from(sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(config.max_attempts.max(1))
                .with_initial_backoff(config.initial_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(config.timeout)
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// Converse's name for a MIME type.
fn image_format(media_type: &str) -> Option<ImageFormat> {
    match media_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" | "image/jpg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::Webp),
        _ => None,
    }
}

#[async_trait]
impl VisionModel for BedrockVision {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    async fn transcribe(&self, request: VisionRequest<'_>) -> Result<String, VisionError> {
        let format = image_format(request.media_type).ok_or_else(|| {
            VisionError::Rejected(format!(
                "Bedrock does not take {} images",
                request.media_type
            ))
        })?;
        let image = ImageBlock::builder()
            .format(format)
            .source(ImageSource::Bytes(Blob::new(request.data.to_vec())))
            .build()
            .map_err(|e| VisionError::Rejected(e.to_string()))?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Image(image))
            .content(ContentBlock::Text(request.prompt.to_owned()))
            .build()
            .map_err(|e| VisionError::Rejected(e.to_string()))?;
        let mut inference = InferenceConfiguration::builder().max_tokens(self.config.max_tokens);
        if let Some(t) = self.config.temperature {
            inference = inference.temperature(t);
        }
        let output = self
            .client()
            .await
            .converse()
            .model_id(&self.config.model_id)
            .messages(message)
            .inference_config(inference.build())
            .send()
            .await
            .map_err(classify)?;
        if output.stop_reason() == &StopReason::MaxTokens {
            tracing::warn!(model = %self.config.model_id, "vision answer cut at max_tokens; keeping what came");
        }
        if let Some(usage) = output.usage() {
            tracing::debug!(
                model = %self.config.model_id,
                input_tokens = usage.input_tokens(),
                output_tokens = usage.output_tokens(),
                "bedrock vision usage"
            );
        }
        let text = match output.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| block.as_text().ok())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        if text.trim().is_empty() {
            return Err(VisionError::InvalidResponse(format!(
                "no text in the answer (stop reason {})",
                output.stop_reason().as_str()
            )));
        }
        Ok(text)
    }
}

/// Service faults and exhausted retries are "unavailable"; what the model
/// or the account refuses is "rejected", with the service's message.
fn classify(error: SdkError<ConverseError>) -> VisionError {
    let text = DisplayErrorContext(&error).to_string();
    match &error {
        SdkError::ServiceError(service) => match service.err() {
            ConverseError::ThrottlingException(_)
            | ConverseError::ServiceUnavailableException(_)
            | ConverseError::InternalServerException(_)
            | ConverseError::ModelTimeoutException(_)
            | ConverseError::ModelNotReadyException(_) => VisionError::Unavailable(text),
            _ if service.raw().status().is_server_error() => VisionError::Unavailable(text),
            _ => VisionError::Rejected(text),
        },
        _ => VisionError::Unavailable(text),
    }
}
