//! The port to a vision-capable chat model, the one side effect of the
//! visuals step: adapters (an OpenAI-compatible endpoint, Amazon Bedrock)
//! live outside the core, and tests use a fake.

use async_trait::async_trait;

/// One image to transcribe, with the instructions that go with it.
#[derive(Clone, Copy)]
pub struct VisionRequest<'a> {
    /// What the model is asked to do (see [`transcription_prompt`]).
    ///
    /// [`transcription_prompt`]: crate::ingest::visuals::transcription_prompt
    pub prompt: &'a str,
    /// MIME type of `data`: one of [`SUPPORTED_MEDIA_TYPES`].
    pub media_type: &'a str,
    /// The encoded image, as the document carried it.
    pub data: &'a [u8],
}

impl std::fmt::Debug for VisionRequest<'_> {
    /// Without the bytes, which would flood logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionRequest")
            .field("prompt", &self.prompt)
            .field("media_type", &self.media_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// Image types both supported vision APIs accept (OpenAI's chat
/// completions and Bedrock's Converse); others are never sent.
pub const SUPPORTED_MEDIA_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Why a transcription did not come back. Never fails a document: the image
/// keeps its alt text and the failure is counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisionError {
    /// The service could not be reached or kept failing (after retries).
    #[error("vision service unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request (bad image, bad model, no access).
    #[error("vision model refused the request: {0}")]
    Rejected(String),
    /// The service answered with something that is not a transcription.
    #[error("vision service returned an invalid response: {0}")]
    InvalidResponse(String),
    /// The core's time budget for the image ran out.
    #[error("transcription timed out")]
    TimedOut,
}

/// A vision-capable chat model that turns an image into text.
#[async_trait]
pub trait VisionModel: Send + Sync {
    /// Identifies the model in logs and status metadata.
    fn model_id(&self) -> &str;
    /// The model's answer to `request.prompt` about the image: Markdown text.
    async fn transcribe(&self, request: VisionRequest<'_>) -> Result<String, VisionError>;
}
