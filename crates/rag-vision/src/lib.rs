//! Vision-model adapters of the core's [`VisionModel`] port, which the
//! selective visuals step uses to transcribe a document's important images:
//!
//! | adapter | service |
//! |---|---|
//! | [`OpenAiVision`] | any OpenAI-compatible `POST /v1/chat/completions` with image input |
//! | [`BedrockVision`] | Amazon Bedrock's Converse API (`POST /model/{modelId}/converse`) |
//!
//! [`vision_from_env`] picks one from `VISION_PROVIDER` and friends, and
//! returns `None` when no model is configured.
//!
//! [`VisionModel`]: rag_core::ports::VisionModel

pub mod bedrock;
pub mod env;
pub mod openai;

pub use bedrock::{BedrockVision, BedrockVisionConfig};
pub use env::{vision_from_env, vision_from_lookup, VisionSetup};
pub use openai::{OpenAiVision, OpenAiVisionConfig};
/// The API key type of the vision configs (redacted in `Debug`).
pub use rag_http::ApiKey;

/// The vision model cannot be configured as asked.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable the chosen provider needs is not set.
    #[error("{name} must be set when VISION_PROVIDER={provider}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// The provider that needs it.
        provider: String,
    },
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
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Client(String),
}
