//! Calling the vision model for the selected images: a bounded number at a
//! time, each within a time budget, answers cleaned up for the index.

use futures::stream::{self, Stream, StreamExt};

use super::score::normalized_media_type;
use super::VisualsConfig;
use crate::ports::ExtractedImage;
use crate::ports::{VisionError, VisionModel, VisionRequest};

/// What the model is asked for every image: a faithful transcription that
/// retrieval can match and quote, not a description of the picture's looks.
const PROMPT: &str = "Transcribe this image from a document as Markdown, faithfully, so that \
its content can be searched and quoted. Copy all visible text exactly, in reading order. \
Render tables as Markdown tables with every row and cell. For charts and graphs, give the \
title, the axis labels, the legend and every data value you can read, as a Markdown table \
where possible. For diagrams, list the elements and how they are connected. For a \
photograph or an illustration without text, describe what it shows in one or two sentences. \
Do not add commentary, interpretation or anything that is not in the image. Reply with the \
transcription only.";

/// The prompt for one image; the author's caption, when there is one, helps
/// the model read abbreviations and units.
pub fn transcription_prompt(alt: Option<&str>) -> String {
    match alt.map(str::trim).filter(|a| !a.is_empty()) {
        Some(alt) => format!("{PROMPT}\n\nThe document's caption for this image: \"{alt}\""),
        None => PROMPT.to_owned(),
    }
}

/// Transcribes `selected` (indices into `images`) with at most
/// `config.concurrency` calls in flight; yields each image's index and
/// outcome as it finishes. An answer that is empty after cleaning counts as
/// an invalid response.
pub fn transcribe_all<'a>(
    model: &'a dyn VisionModel,
    images: &'a [ExtractedImage],
    selected: &'a [usize],
    config: &VisualsConfig,
) -> impl Stream<Item = (usize, Result<String, VisionError>)> + 'a {
    let timeout = config.image_timeout;
    let max_chars = config.max_transcription_chars;
    stream::iter(selected.iter().copied())
        .filter_map(move |index| async move { images.get(index).map(|image| (index, image)) })
        .map(move |(index, image)| async move {
            let prompt = transcription_prompt(image.alt.as_deref());
            let media_type = normalized_media_type(&image.media_type);
            let request = VisionRequest {
                prompt: &prompt,
                media_type: &media_type,
                data: &image.data,
            };
            let outcome = match tokio::time::timeout(timeout, model.transcribe(request)).await {
                Err(_) => Err(VisionError::TimedOut),
                Ok(Err(e)) => Err(e),
                Ok(Ok(text)) => match clean(&text, max_chars) {
                    Some(text) => Ok(text),
                    None => Err(VisionError::InvalidResponse(
                        "the model returned no text".into(),
                    )),
                },
            };
            (index, outcome)
        })
        .buffer_unordered(config.concurrency.max(1))
}

/// The answer without a fence wrapped around all of it, trimmed, cut to
/// `max_chars` characters; `None` when nothing is left.
pub fn clean(answer: &str, max_chars: usize) -> Option<String> {
    let mut text = answer.trim();
    if let Some(inner) = text.strip_prefix("```") {
        if let Some(inner) = inner.strip_suffix("```") {
            // Drop the info string (```markdown) on the opening line.
            text = match inner.split_once('\n') {
                Some((info, body)) if !info.trim().contains(' ') => body,
                _ => inner,
            }
            .trim();
        }
    }
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(max_chars) {
        Some((cut, _)) => text[..cut].trim_end().to_owned(),
        None => text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_asks_for_a_faithful_markdown_transcription() {
        let p = transcription_prompt(Some("Revenue 2023"));
        assert!(p.contains("Markdown") && p.contains("tables") && p.contains("data value"));
        assert!(p.ends_with("caption for this image: \"Revenue 2023\""));
        assert!(!transcription_prompt(None).contains("caption for this image"));
    }

    #[test]
    fn cleaning_unwraps_fences_and_caps_length() {
        assert_eq!(
            clean("```markdown\n| a | b |\n```", 100).as_deref(),
            Some("| a | b |")
        );
        assert_eq!(clean("  plain text  ", 100).as_deref(), Some("plain text"));
        assert_eq!(clean("  \n ", 100), None);
        assert_eq!(clean("```\n```", 100), None);
        assert_eq!(clean("日本語のテキスト", 3).as_deref(), Some("日本語"));
    }
}
