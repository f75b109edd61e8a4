//! What the text pipeline needs from an extractor: Markdown text per page.

use crate::chunking::TextKind;

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
}

/// Why a document could not be read. Messages are shown to the user as the
/// status `error`, so they say what is wrong with the file, not with us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the document is encrypted or password-protected")]
    Encrypted,
    #[error("the file is corrupt or not a valid {format}: {detail}")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    #[error("the document contains no extractable text")]
    Empty,
    #[error("the document exceeds a safety limit: {0}")]
    LimitExceeded(String),
}

/// The input of an extraction.
#[derive(Debug, Clone, Copy)]
pub struct ExtractInput<'a> {
    pub bytes: &'a [u8],
    /// File name (or key), for the extension.
    pub file_name: &'a str,
    /// MIME type, if known.
    pub content_type: Option<&'a str>,
}
