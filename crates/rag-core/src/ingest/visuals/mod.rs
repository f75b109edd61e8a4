//! Selective visual processing: of the images embedded in a document, only
//! the few that carry information (charts, tables, diagrams, photographs
//! with a caption) are sent to a vision-capable chat model, and what it
//! reads is put into the text where each image sits. Icons, logos, rules
//! and images repeated on every page are skipped: a model call costs time
//! and money, and their "transcription" would only add noise to the index.
//!
//! The steps are pure functions, apart from the model behind [`VisionModel`](crate::ports::VisionModel):
//! [`assess`] scores every image, [`select`] picks the best within a
//! per-document budget, [`transcribe_all`] calls the model with bounded
//! concurrency, and [`merge`] writes the results into the pages. The text
//! pipeline runs them between extraction and chunking.

mod caption;
mod merge;
mod pixels;
mod score;
mod select;
mod transcribe;

use std::time::Duration;

pub use caption::{classify as classify_caption, Caption};
pub use merge::merge;
pub use pixels::dimensions as image_size;
pub use score::{assess, normalized_media_type, Assessment, Ineligible};
pub use select::select;
pub use transcribe::{clean, transcribe_all, transcription_prompt};

/// Budget and limits of the visuals step, per document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisualsConfig {
    /// Most images transcribed per document (`VISUALS_MAX_IMAGES`).
    pub max_images: usize,
    /// Most model calls in flight at once (`VISUALS_CONCURRENCY`).
    pub concurrency: usize,
    /// Lowest importance score (0..=1) worth a model call.
    pub min_score: f64,
    /// Images narrower or shorter than this many pixels are never sent.
    pub min_side: u32,
    /// Largest encoded image sent (Bedrock takes 3.75 MB per image).
    pub max_image_bytes: usize,
    /// Time for one image, retries of the adapter included.
    pub image_timeout: Duration,
    /// Time for all of a document's images; the rest count as failed, so a
    /// slow model cannot push the run past the function's time limit.
    pub total_timeout: Duration,
    /// Longest transcription kept, in characters.
    pub max_transcription_chars: usize,
}

impl Default for VisualsConfig {
    /// Ten images, four at a time, two minutes each and five in all.
    fn default() -> Self {
        Self {
            max_images: 10,
            concurrency: 4,
            min_score: 0.3,
            min_side: 64,
            max_image_bytes: 3_750_000,
            image_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(300),
            max_transcription_chars: 12_000,
        }
    }
}
