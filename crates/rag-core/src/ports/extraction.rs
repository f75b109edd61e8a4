//! What the text pipeline needs from an extractor: Markdown text per page.

use crate::domain::job::PageRange;
use crate::ingest::chunking::TextKind;

/// One page (or slide, or sheet) of extracted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedPage {
    /// 1-based page number, when the format has pages.
    pub number: Option<u32>,
    /// The page's text, Markdown when `kind` says so.
    pub text: String,
}

/// The text of a whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedDocument {
    /// Pages in order; formats without pages give one page without a number.
    pub pages: Vec<ExtractedPage>,
    /// How the text is structured, for chunking.
    pub kind: TextKind,
    /// A short name of the format that was read (`"pdf"`, `"html"`, ...).
    pub format: &'static str,
    /// Images embedded in the document, in reading order, for selective
    /// visual transcription; empty for formats without images.
    pub images: Vec<ExtractedImage>,
}

/// An image embedded in a document: where it sits in the text, how big it
/// is and what its author said about it, so that the visuals step can pick
/// the few that carry information and put their transcription in place.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtractedImage {
    /// Index into [`ExtractedDocument::pages`] of the page (slide, chapter)
    /// it sits on.
    pub page_index: usize,
    /// Byte offset in that page's text where the image sits (on a char
    /// boundary): a transcription is inserted here.
    pub offset: usize,
    /// Size in pixels (0 when unknown).
    pub width: u32,
    /// Height in pixels (0 when unknown).
    pub height: u32,
    /// Alt text, title or caption the author gave it.
    pub alt: Option<String>,
    /// MIME type of `data` (`image/png`, `image/jpeg`, ...).
    pub media_type: String,
    /// The encoded image.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for ExtractedImage {
    /// Without the bytes, which would flood logs and test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractedImage")
            .field("page_index", &self.page_index)
            .field("offset", &self.offset)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("alt", &self.alt)
            .field("media_type", &self.media_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl ExtractedDocument {
    /// Whether there is any text at all.
    pub fn is_empty(&self) -> bool {
        self.pages.iter().all(|p| p.text.trim().is_empty())
    }

    /// All pages' text, separated by blank lines.
    pub fn full_text(&self) -> String {
        self.pages
            .iter()
            .map(|p| p.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The text as `ragctl extract` prints it: a `<!-- page N -->` line
    /// before each numbered page, so a reader (or a comparison with another
    /// extractor) sees where pages start.
    pub fn marked_text(&self) -> String {
        let mut out = String::new();
        for page in &self.pages {
            if let Some(n) = page.number {
                out.push_str(&format!("\n<!-- page {n} -->\n\n"));
            }
            out.push_str(page.text.trim_end());
            out.push('\n');
        }
        out.trim_start().to_owned()
    }
}

/// Why a document could not be read. Messages are shown to the user as the
/// status `error`, so they say what is wrong with the file, not with us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The file is encrypted (password-protected, a DRM-protected e-book) and
    /// no password that opens it was given.
    #[error("the document is encrypted or password-protected")]
    Encrypted,
    /// The file cannot be parsed as the format it claims to be; a reader that
    /// crashes on it is reported this way too.
    #[error("the file is corrupt or not a valid {format}: {detail}")]
    Corrupt {
        /// Name of the format it failed to parse as, for the message (`"PDF"`,
        /// `"HTML"`, ...; `"document"` when unknown).
        format: &'static str,
        /// What is wrong with the file, in words for the user.
        detail: String,
    },
    /// No reader takes the type (by extension, then MIME type), or the reader
    /// refuses this variant of it (RTF, Kindle e-books, legacy Office files
    /// without LibreOffice); the message says which.
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// Nothing to index: an empty file, or one without extractable text (a
    /// scanned PDF, which the text pipeline may hand to the VDR pipeline).
    #[error("the document contains no extractable text")]
    Empty,
    /// Over a safety limit (pages, characters, unpacked size, time): refused
    /// rather than indexed in part; the message says which.
    #[error("the document exceeds a safety limit: {0}")]
    LimitExceeded(String),
}

impl ExtractError {
    /// The stable code a failed run records for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Encrypted => "encrypted",
            ExtractError::Corrupt { .. } => "corrupt_file",
            ExtractError::Unsupported(_) => "unsupported_type",
            ExtractError::Empty => "no_text",
            ExtractError::LimitExceeded(_) => "limit_exceeded",
        }
    }
}

/// The input of an extraction.
#[derive(Clone, Copy)]
pub struct ExtractInput<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// File name (or key), for the extension.
    pub file_name: &'a str,
    /// MIME type, if known.
    pub content_type: Option<&'a str>,
    /// The password the uploader supplied for an encrypted PDF or Office
    /// file; never logged.
    pub password: Option<&'a str>,
    /// The only pages wanted (one page-range job of a split document), so
    /// that a reader of paged formats that can skip pages (PDF, PPTX,
    /// workbooks, EPUB) reads just these instead of the whole document once
    /// per range. Pages outside it
    /// come back with no text, so the page count stays the document's;
    /// readers that cannot skip read every page. `None`: every page.
    pub pages: Option<PageRange>,
}

impl<'a> ExtractInput<'a> {
    /// An input without a password.
    pub fn new(bytes: &'a [u8], file_name: &'a str, content_type: Option<&'a str>) -> Self {
        Self {
            bytes,
            file_name,
            content_type,
            password: None,
            pages: None,
        }
    }
}

impl std::fmt::Debug for ExtractInput<'_> {
    /// Without the bytes or the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractInput")
            .field("bytes", &self.bytes.len())
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("password", &self.password.map(|_| "***"))
            .field("pages", &self.pages)
            .finish()
    }
}

/// Turns file bytes into text. Synchronous and CPU-bound: callers run it on a
/// blocking thread. Implementations must never panic on any input.
pub trait Extractor: Send + Sync {
    /// The document's text, page by page, or why it cannot be read.
    fn extract(&self, input: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError>;
}
