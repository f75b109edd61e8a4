//! What the parent and a worker say to each other over the worker's stdin
//! and stdout: frames of a JSON header (what is asked or answered) and a
//! binary payload (a document, a page image, embedded images), so that
//! bytes are never spelt out in JSON.
//!
//! A frame is `u32` header length, the header, `u64` payload length, the
//! payload, lengths little-endian.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedImage, ExtractedPage};
use rag_core::ports::{PageTextSource, RenderError, RenderedPage};
use serde::{Deserialize, Serialize};

use crate::{Extraction, Limits};

/// Largest header: a document's text travels in it, up to the character
/// limit (10 million characters, up to 4 bytes each, escaped).
const MAX_HEADER_BYTES: u32 = 256 * 1024 * 1024;
/// Largest payload: a document at the largest size a store hands out, or
/// its images.
const MAX_PAYLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// One frame.
#[derive(Debug)]
pub(crate) struct Frame {
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Writes a frame and flushes it.
pub(crate) fn write_frame(
    out: &mut impl Write,
    header: &impl Serialize,
    payload: &[u8],
) -> io::Result<()> {
    let header = serde_json::to_vec(header).map_err(io::Error::other)?;
    let length = u32::try_from(header.len()).map_err(io::Error::other)?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(&header)?;
    out.write_all(&(payload.len() as u64).to_le_bytes())?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads a frame; `None` at a clean end of the stream.
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_le_bytes(length);
    if length > MAX_HEADER_BYTES {
        return Err(io::Error::other(format!("a header of {length} bytes")));
    }
    let mut header = vec![0u8; length as usize];
    input.read_exact(&mut header)?;
    let mut size = [0u8; 8];
    input.read_exact(&mut size)?;
    let size = u64::from_le_bytes(size);
    if size > MAX_PAYLOAD_BYTES {
        return Err(io::Error::other(format!("a payload of {size} bytes")));
    }
    let mut payload = Vec::new();
    input.take(size).read_to_end(&mut payload)?;
    if payload.len() as u64 != size {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok(Some(Frame { header, payload }))
}

/// What the parent asks; the document (for `Extract` and `Open`) is the
/// frame's payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Read the whole document (or `pages` of it).
    Extract {
        file_name: String,
        content_type: Option<String>,
        password: Option<String>,
        pages: Option<(u32, u32)>,
        limits: Limits,
        ocr: bool,
        libreoffice: bool,
    },
    /// Open the document for rendering (converting it first if needed).
    Open {
        file_name: String,
        content_type: Option<String>,
        password: Option<String>,
        limits: Limits,
    },
    /// Render a page of the opened document.
    Render { page: u32, dpi: u32 },
}

/// What a worker answers; page images, embedded images and an opened
/// Office document's PDF conversion are the payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub(crate) enum Reply {
    Extracted(WireDocument),
    Opened { pages: u32 },
    Rendered(WirePage),
    Failed(WireError),
}

/// An [`Extraction`] without its image bytes (they follow as the payload,
/// in order).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireDocument {
    pages: Vec<(Option<u32>, String)>,
    markdown: bool,
    format: String,
    images: Vec<WireImage>,
    notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireImage {
    page_index: usize,
    offset: usize,
    width: u32,
    height: u32,
    alt: Option<String>,
    media_type: String,
    bytes: u64,
}

/// A [`RenderedPage`] without its PNG (the payload).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WirePage {
    page_num: u32,
    width: u32,
    height: u32,
    text: String,
    text_source: PageTextSource,
}

/// A reader's or renderer's error.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WireError {
    Encrypted,
    Corrupt {
        format: String,
        detail: String,
    },
    Unsupported {
        detail: String,
    },
    Empty,
    LimitExceeded {
        detail: String,
    },
    RenderUnavailable {
        detail: String,
    },
    /// The request itself was not understood.
    Protocol {
        detail: String,
    },
}

impl Request {
    /// The page range of an `Extract`.
    pub(crate) fn range(pages: Option<(u32, u32)>) -> Option<PageRange> {
        pages.map(|(first, last)| PageRange { first, last })
    }
}

impl WireDocument {
    /// The header and payload of an extraction.
    pub(crate) fn of(extraction: Extraction) -> (Self, Vec<u8>) {
        let Extraction { document, notes } = extraction;
        let mut payload = Vec::new();
        let images = document
            .images
            .into_iter()
            .map(|image| {
                payload.extend_from_slice(&image.data);
                WireImage {
                    page_index: image.page_index,
                    offset: image.offset,
                    width: image.width,
                    height: image.height,
                    alt: image.alt,
                    media_type: image.media_type,
                    bytes: image.data.len() as u64,
                }
            })
            .collect();
        let wire = Self {
            pages: document
                .pages
                .into_iter()
                .map(|p| (p.number, p.text))
                .collect(),
            markdown: document.kind == TextKind::Markdown,
            format: document.format.to_owned(),
            images,
            notes,
        };
        (wire, payload)
    }

    /// The extraction again, with the images cut from `payload`.
    pub(crate) fn into_extraction(self, payload: &[u8]) -> io::Result<Extraction> {
        let mut at = 0usize;
        let mut images = Vec::with_capacity(self.images.len());
        for image in self.images {
            let end = usize::try_from(image.bytes)
                .ok()
                .and_then(|n| at.checked_add(n))
                .filter(|&end| end <= payload.len())
                .ok_or_else(|| io::Error::other("image bytes past the payload"))?;
            images.push(ExtractedImage {
                page_index: image.page_index,
                offset: image.offset,
                width: image.width,
                height: image.height,
                alt: image.alt,
                media_type: image.media_type,
                data: payload[at..end].to_vec(),
            });
            at = end;
        }
        Ok(Extraction {
            document: ExtractedDocument {
                pages: self
                    .pages
                    .into_iter()
                    .map(|(number, text)| ExtractedPage { number, text })
                    .collect(),
                kind: if self.markdown {
                    TextKind::Markdown
                } else {
                    TextKind::Plain
                },
                format: interned(&self.format),
                images,
            },
            notes: self.notes,
        })
    }
}

impl WirePage {
    pub(crate) fn of(page: RenderedPage) -> (Self, Vec<u8>) {
        let RenderedPage {
            page_num,
            png,
            width,
            height,
            text,
            text_source,
        } = page;
        (
            Self {
                page_num,
                width,
                height,
                text,
                text_source,
            },
            png,
        )
    }

    pub(crate) fn into_page(self, png: Vec<u8>) -> RenderedPage {
        RenderedPage {
            page_num: self.page_num,
            png,
            width: self.width,
            height: self.height,
            text: self.text,
            text_source: self.text_source,
        }
    }
}

impl From<&ExtractError> for WireError {
    fn from(e: &ExtractError) -> Self {
        match e {
            ExtractError::Encrypted => Self::Encrypted,
            ExtractError::Corrupt { format, detail } => Self::Corrupt {
                format: (*format).to_owned(),
                detail: detail.clone(),
            },
            ExtractError::Unsupported(detail) => Self::Unsupported {
                detail: detail.clone(),
            },
            ExtractError::Empty => Self::Empty,
            ExtractError::LimitExceeded(detail) => Self::LimitExceeded {
                detail: detail.clone(),
            },
        }
    }
}

impl From<&RenderError> for WireError {
    fn from(e: &RenderError) -> Self {
        match e {
            RenderError::Document(e) => e.into(),
            RenderError::Unavailable(detail) => Self::RenderUnavailable {
                detail: detail.clone(),
            },
        }
    }
}

impl WireError {
    /// The error as the readers' callers know it.
    pub(crate) fn into_render_error(self) -> RenderError {
        match self {
            Self::Encrypted => RenderError::Document(ExtractError::Encrypted),
            Self::Corrupt { format, detail } => RenderError::Document(ExtractError::Corrupt {
                format: interned(&format),
                detail,
            }),
            Self::Unsupported { detail } => {
                RenderError::Document(ExtractError::Unsupported(detail))
            }
            Self::Empty => RenderError::Document(ExtractError::Empty),
            Self::LimitExceeded { detail } => {
                RenderError::Document(ExtractError::LimitExceeded(detail))
            }
            Self::RenderUnavailable { detail } | Self::Protocol { detail } => {
                RenderError::Unavailable(detail)
            }
        }
    }

    /// As [`WireError::into_render_error`], for extraction (where a
    /// renderer's unavailability cannot occur).
    pub(crate) fn into_extract_error(self) -> ExtractError {
        match self.into_render_error() {
            RenderError::Document(e) => e,
            RenderError::Unavailable(detail) => ExtractError::Corrupt {
                format: "document",
                detail,
            },
        }
    }
}

/// The `&'static str` of a format name a worker sent: each distinct name
/// (there are a few dozen) is kept once for the life of the process.
fn interned(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_what_they_cannot_hold() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &Request::Render { page: 3, dpi: 150 }, b"").unwrap();
        write_frame(&mut buffer, &serde_json::json!({"a": 1}), b"payload").unwrap();
        let mut reader = buffer.as_slice();
        let first = read_frame(&mut reader).unwrap().unwrap();
        assert!(matches!(
            serde_json::from_slice(&first.header).unwrap(),
            Request::Render { page: 3, dpi: 150 }
        ));
        let second = read_frame(&mut reader).unwrap().unwrap();
        assert_eq!(second.payload, b"payload");
        assert!(read_frame(&mut reader).unwrap().is_none(), "clean end");
        // Cut short: an error, not a clean end.
        let cut = &buffer[..buffer.len() - 3];
        let mut reader = cut;
        read_frame(&mut reader).unwrap();
        assert!(read_frame(&mut reader).is_err());
        // A header claiming gigabytes.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend([0; 16]);
        assert!(read_frame(&mut huge.as_slice()).is_err());
    }

    #[test]
    fn a_document_with_images_survives_the_wire() {
        let extraction = Extraction {
            document: ExtractedDocument {
                pages: vec![
                    ExtractedPage {
                        number: Some(1),
                        text: "café ✓".into(),
                    },
                    ExtractedPage {
                        number: Some(2),
                        text: String::new(),
                    },
                ],
                kind: TextKind::Markdown,
                format: "pptx",
                images: (0..2)
                    .map(|i| ExtractedImage {
                        page_index: i,
                        offset: 3,
                        width: 10,
                        height: 20,
                        alt: Some(format!("image {i}")),
                        media_type: "image/png".into(),
                        data: vec![i as u8; 100 + i],
                    })
                    .collect(),
            },
            notes: vec!["page 2: empty".into()],
        };
        let (wire, payload) = WireDocument::of(extraction.clone());
        let header = serde_json::to_vec(&Reply::Extracted(wire)).unwrap();
        let Reply::Extracted(back) = serde_json::from_slice(&header).unwrap() else {
            panic!("not an extraction")
        };
        assert_eq!(back.into_extraction(&payload).unwrap(), extraction);
        let e = ExtractError::Corrupt {
            format: "Outlook message",
            detail: "bad".into(),
        };
        assert_eq!(WireError::from(&e).into_extract_error(), e);
    }
}
