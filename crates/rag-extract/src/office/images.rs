//! Embedded images of Office documents, placed in the text.
//!
//! A reader meets an image somewhere inside a paragraph, a table cell or a
//! shape, long before it knows where that text will end up in the page's
//! Markdown. So it puts a marker there: one character from Unicode's
//! Supplementary Private Use Area-A, U+F0000 plus the image's number, which
//! no Markdown step splits, trims or escapes. Once the page's text is done,
//! [`Images::place`] takes the markers out and notes the byte offset each
//! stood at; [`Images::load`] then reads the images that found a place, in
//! that order, within [`Limits::max_image_bytes`]. The same characters in the
//! document's own text are dropped when it is read ([`unmarked`]).

use std::borrow::Cow;
use std::collections::HashMap;

use rag_core::ports::{ExtractError, ExtractedImage};

use super::Package;
use crate::Limits;

/// The first marker; image `n` is marked by `MARK_BASE + n`.
const MARK_BASE: u32 = 0xF_0000;
/// Markers available (U+F0000 to U+FFFFD).
const MAX_IMAGES: usize = 0xF_FFFE - 0xF_0000;

fn is_marker(c: char) -> bool {
    (MARK_BASE..MARK_BASE + MAX_IMAGES as u32).contains(&(c as u32))
}

/// Text without marker characters (which real text practically never has).
pub(crate) fn unmarked(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_marker) {
        Cow::Owned(text.chars().filter(|&c| !is_marker(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// The images met so far, by number.
#[derive(Debug, Default)]
pub(crate) struct Images {
    found: Vec<Found>,
    /// Whether images were left out for want of markers.
    overflowed: bool,
}

#[derive(Debug)]
struct Found {
    /// The part holding the image.
    part: String,
    alt: Option<String>,
    /// Page index and byte offset, once placed.
    at: Option<(usize, usize)>,
}

impl Images {
    /// Registers the image in `part` with its alternative text: the marker
    /// to put in the text where it sits (`None` past the last marker).
    pub(crate) fn mark(&mut self, part: &str, alt: Option<&str>) -> Option<char> {
        if self.found.len() >= MAX_IMAGES {
            self.overflowed = true;
            return None;
        }
        let mark = char::from_u32(MARK_BASE + self.found.len() as u32)?;
        let alt = alt
            .map(|a| super::one_line(&unmarked(a)))
            .filter(|a| !a.is_empty());
        self.found.push(Found {
            part: part.to_owned(),
            alt,
            at: None,
        });
        Some(mark)
    }

    /// The page's text without its markers, each image noted at the byte
    /// offset where its marker stood. A block (paragraph, list, table)
    /// holding nothing but markers goes away with its blank line, its images
    /// placed at the end of the block before it.
    pub(crate) fn place(&mut self, page_index: usize, text: String) -> String {
        if !text.chars().any(is_marker) {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        for block in text.split("\n\n") {
            if block.chars().all(|c| is_marker(c) || c.is_whitespace()) {
                for mark in block.chars().filter(|&c| is_marker(c)) {
                    self.note(mark, page_index, out.len());
                }
                continue;
            }
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            let mut chars = block.chars().peekable();
            while let Some(c) = chars.next() {
                if !is_marker(c) {
                    out.push(c);
                    continue;
                }
                self.note(c, page_index, out.len());
                // "a <mark> b" reads "a b", not "a  b".
                if out.ends_with(' ') && chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
        }
        out
    }

    fn note(&mut self, mark: char, page_index: usize, offset: usize) {
        let n = (mark as u32 - MARK_BASE) as usize;
        if let Some(found) = self.found.get_mut(n) {
            // A marker copied twice (it should not be) counts once.
            found.at.get_or_insert((page_index, offset));
        }
    }

    /// The placed images with their bytes, in page and text order. An image
    /// that cannot be read, or whose bytes would take the images kept past
    /// [`Limits::max_image_bytes`], is left out with a note; so are images
    /// whose marker went with text that was not kept.
    pub(crate) fn load(
        self,
        package: &mut Package<'_>,
        limits: &Limits,
        notes: &mut Vec<String>,
    ) -> Result<Vec<ExtractedImage>, ExtractError> {
        let mut placed: Vec<(usize, usize, Found)> = self
            .found
            .into_iter()
            .filter_map(|f| f.at.map(|(page, offset)| (page, offset, f)))
            .collect();
        placed.sort_by_key(|&(page, offset, _)| (page, offset));

        let mut kept_bytes = 0u64;
        let mut over_budget = 0usize;
        let mut cache: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        let mut images = Vec::with_capacity(placed.len());
        for (page_index, offset, found) in placed {
            let fits = |size: u64| kept_bytes.saturating_add(size) <= limits.max_image_bytes;
            if let Some(size) = package.declared_size(&found.part) {
                if !fits(size) {
                    over_budget += 1;
                    continue;
                }
            }
            if !cache.contains_key(&found.part) {
                let data = match package.read_bytes(&found.part) {
                    Ok(Some(data)) => Some(data),
                    Ok(None) => {
                        notes.push(format!("image {}: missing from the file", found.part));
                        None
                    }
                    Err(ExtractError::LimitExceeded(why)) => {
                        notes.push(format!("image {}: left out, {why}", found.part));
                        None
                    }
                    Err(ExtractError::Corrupt { detail, .. }) => {
                        notes.push(format!("image {}: unreadable, {detail}", found.part));
                        None
                    }
                    Err(e) => return Err(e),
                };
                cache.insert(found.part.clone(), data);
            }
            let Some(Some(data)) = cache.get(&found.part) else {
                continue;
            };
            if !fits(data.len() as u64) {
                over_budget += 1;
                continue;
            }
            kept_bytes += data.len() as u64;
            let (width, height) = match imagesize::blob_size(data) {
                Ok(size) => (
                    u32::try_from(size.width).unwrap_or(0),
                    u32::try_from(size.height).unwrap_or(0),
                ),
                Err(_) => (0, 0),
            };
            images.push(ExtractedImage {
                page_index,
                offset,
                width,
                height,
                alt: found.alt,
                media_type: media_type(data, &found.part).to_owned(),
                data: data.clone(),
            });
        }
        if over_budget > 0 {
            notes.push(format!(
                "{over_budget} image(s) left out: the images kept already take the {} bytes allowed",
                limits.max_image_bytes
            ));
        }
        if self.overflowed {
            notes.push(format!("images after the first {MAX_IMAGES} left out"));
        }
        Ok(images)
    }
}

/// The MIME type of an image: from its header, else from the part's
/// extension (the formats `imagesize` does not know: EMF, WMF, SVG, ...).
fn media_type(data: &[u8], part: &str) -> &'static str {
    use imagesize::ImageType;
    match imagesize::image_type(data) {
        Ok(ImageType::Png) => return "image/png",
        Ok(ImageType::Jpeg) => return "image/jpeg",
        Ok(ImageType::Gif) => return "image/gif",
        Ok(ImageType::Bmp) => return "image/bmp",
        Ok(ImageType::Tiff) => return "image/tiff",
        Ok(ImageType::Webp) => return "image/webp",
        Ok(ImageType::Ico) => return "image/x-icon",
        _ => {}
    }
    let ext = part
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" | "dib" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "emf" | "emz" => "image/emf",
        "wmf" | "wmz" => "image/wmf",
        "svg" => "image/svg+xml",
        "wdp" | "jxr" | "hdp" => "image/vnd.ms-photo",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_placed_and_marker_only_blocks_removed() {
        let mut images = Images::default();
        let a = images.mark("a.png", Some(" Chart ")).unwrap_or(' ');
        let b = images.mark("b.png", None).unwrap_or(' ');
        let c = images.mark("c.png", None).unwrap_or(' ');
        let d = images.mark("d.png", None).unwrap_or(' ');
        let text = format!("{b}\n\nIntro\n\n[image: Chart]{a}\n\nTeam {c} photo\n\n{d}");
        let placed = images.place(2, text);
        assert_eq!(placed, "Intro\n\n[image: Chart]\n\nTeam photo");
        let at: Vec<_> = images.found.iter().map(|f| f.at).collect();
        assert_eq!(
            at,
            [
                Some((2, "Intro\n\n[image: Chart]".len())),
                Some((2, 0)),
                Some((2, "Intro\n\n[image: Chart]\n\nTeam ".len())),
                Some((2, placed.len())),
            ]
        );
        assert_eq!(images.found[0].alt.as_deref(), Some("Chart"));
    }

    #[test]
    fn document_text_loses_marker_characters() {
        assert_eq!(unmarked("a\u{F0001}b\u{FFFFD}"), "ab");
        assert!(matches!(unmarked("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn media_types_from_headers_then_names() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x08\x08\x02\0\0\0";
        assert_eq!(media_type(png, "x.bin"), "image/png");
        assert_eq!(
            media_type(b"\x01\x00\x00\x00", "word/media/image1.emf"),
            "image/emf"
        );
        assert_eq!(media_type(b"", "x"), "application/octet-stream");
    }
}
