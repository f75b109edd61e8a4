//! PDF: text per page, embedded images, page rendering, and whether a PDF
//! has a text layer at all.
//!
//! # Engines
//!
//! Two engines read PDFs:
//!
//! - **PDFium** (Google's PDF library, the one in Chrome), through the
//!   `pdfium-render` crate bound at run time to `libpdfium.so` (the build in
//!   the PyPI wheel `pypdfium2`): text in PDFium's reading order, embedded
//!   images, and page rendering for the VDR pipeline ([`PdfRenderer`]). It
//!   is looked for, once per process, at `$PDFIUM_LIBRARY_PATH` (a file or a
//!   directory), then `/opt/lib` (the Lambda layer, `layers/pdfium`), then
//!   the copy `scripts/fetch-pdfium.sh` puts in the checkout.
//! - **pure Rust**: lopdf parses and decrypts, pdf-extract lays out glyphs
//!   (with our own word-spacing fix). Text only.
//!
//! [`FileExtractor`](crate::FileExtractor) uses PDFium when the library is
//! found and the pure-Rust engine otherwise, logging once which and why
//! ([`PdfEngine::preferred`], [`pdfium_library`]).
//!
//! # Why PDFium: the measurement
//!
//! Both engines on the ten sample PDFs of `shared/data/docs/pdf` (pdfTeX,
//! LibreOffice, Google Docs, WeasyPrint, PDF/A; 18 pages) and on generated
//! hard cases (`gen:`), in one run of
//!
//! ```sh
//! scripts/fetch-pdfium.sh
//! cargo run -p rag-extract --example pdf_engines [-- --dump DIR]
//! ```
//!
//! Text quality: each row is a snippet a page's text must contain (`⏎` a
//! line break, so `⏎⏎` a paragraph break), an order, or something it must
//! not contain; both engines' text goes through the same cleanup.
//!
//! | check | PDFium | lopdf + pdf-extract |
//! |---|---|---|
//! | minimal-document.pdf p1: has "Lorem ipsum dolor sit amet" | yes | yes |
//! | minimal-document.pdf p1: has "no sea takimata sanctus" | yes | yes |
//! | multicolumn.pdf p1: has "consectetuer adipiscing elit" | yes | yes |
//! | 002-trivial-libre-office-writer.pdf p1: has "Lorem ipsum dolor sit amet, consetetur sadipscing elitr" | yes | yes |
//! | pdflatex-4-pages.pdf p1: has "Hello, here is some text without a meaning." | yes | yes |
//! | pdflatex-4-pages.pdf p2: has "“Huardest gefburn”? Kjift – not at all!" | yes | yes |
//! | pdflatex-4-pages.pdf p4: has "the length of words" | yes | yes |
//! | habibi.pdf p1: has "حَبيبي" | yes | yes |
//! | multicolumn.pdf p1: has "This is a sample document with two columns filled⏎with Lorem Ipsum text." | yes | yes |
//! | multicolumn.pdf p1: "Pellentesque cursus luctus mauris." before "Nulla malesuada porttitor diam." | yes | yes |
//! | multicolumn.pdf p3: has "Czech Republic 10.7 78,866 Prague Czech" | yes | yes |
//! | crazyones-pdfa.pdf p1: has "The Crazy Ones⏎⏎October 14, 1998" | yes | yes |
//! | crazyones-pdfa.pdf p1: has "The misfits. The rebels. The troublemakers." | yes | yes |
//! | pdflatex-outline.pdf p1: has "Contents⏎⏎1 Foo 2" | yes | yes |
//! | pdflatex-image.pdf p1: has "1 Your Chapter⏎⏎Lorem ipsum" | yes | yes |
//! | google-doc-document.pdf p1: has "Example document⏎⏎Beautiful is better than ugly." | yes | yes |
//! | google-doc-document.pdf p1: has "Special cases aren't special enough to break the rules." | yes | yes |
//! | google-doc-document.pdf p1: has "Capital Jakarta Berlin Vienna Paris Vatican City" | yes | yes |
//! | google-doc-document.pdf p1: no "273.879.7501" | yes | **no** |
//! | google-doc-document.pdf p1: no "32020 estimate" | yes | **no** |
//! | gen:fake-bold p1: "Quarterly results" exactly once | yes | **no** |
//! | gen:kerned-words p1: has "Words spaced by kerning alone" | yes | yes |
//! | gen:line-end-hyphens p1: has "An example of a well-⏎Known case." | yes | yes |
//! | gen:ligatures p1: has "efficient fluent office" | yes | yes |
//! | gen:arabic-visual-order p1: has "مرحبا بالعالم 2024" | yes | **no** |
//! | gen:interleaved-columns p1: "left column ends here" before "right column starts here" | **no** | **no** |
//! | **checks passed** | **24/26** | **21/26** |
//!
//! Speed, same run (the dev profile, which optimizes every dependency;
//! engines alternating over the whole sample set, 43 rounds each; PDFium's
//! time includes decoding and PNG-encoding the embedded images, which the
//! other engine skips):
//!
//! | engine | pages/s | ms/page |
//! |---|---|---|
//! | PDFium | 493 | 2.03 |
//! | lopdf + pdf-extract | 314 | 3.19 |
//!
//! **Decision: PDFium**, 1.6 times as fast and better on what goes wrong
//! in real documents: text drawn twice for a bold effect comes out once
//! (pdf-extract doubles it), superscript footnote marks stay apart from the
//! numbers they follow (pdf-extract reads 273.879.750¹ as `273.879.7501`),
//! and right-to-left text that producers draw in visual order (LibreOffice,
//! HarfBuzz-based tools) comes out in reading order (pdf-extract gives it
//! reversed). It also brings what the pure-Rust stack cannot do at all:
//! embedded images, page rendering for the VDR pipeline, and opening files
//! with a user password. WeasyPrint's `habibi.pdf` maps a whole Arabic word
//! onto one glyph, and PDFium reversed that word's letters with the run
//! around it; the PDFium reader now puts each right-to-left glyph's letters
//! back in the font's order (`pdfium_reader::glyph_order`). Neither engine
//! reorders columns drawn row by row (left line, right line, ...): both
//! follow the content stream, which is right for the column-by-column
//! streams of pdfTeX, LibreOffice and Word.
//!
//! The pure-Rust engine stays as the fallback when no `libpdfium.so` is
//! found, and for tests that pin it ([`extract_pdf`]).
mod bitmap;
mod clean;
mod library;
mod pdfium_reader;
mod pure_rust;
mod render;

use std::time::{Duration, Instant};

use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument};

pub use library::{exclusive_pdfium, pdfium_library, LIBRARY_PATH_VAR};
pub use render::{PdfRenderer, RenderError, RenderedPage, MAX_DPI, MAX_PAGE_PIXELS};

use crate::{Extraction, Limits};

/// Which library reads a PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PdfEngine {
    /// PDFium, loaded at run time: text, images, rendering.
    Pdfium,
    /// lopdf + pdf-extract: text only, no native library needed. Opens
    /// encrypted files that need no user password, but no others: lopdf
    /// 0.38 cannot be given a password.
    PureRust,
}

impl PdfEngine {
    /// The engine documents go through: PDFium when `libpdfium.so` could be
    /// bound (see [`pdfium_library`]), else the pure-Rust one.
    pub fn preferred() -> Self {
        if library::pdfium().is_ok() {
            Self::Pdfium
        } else {
            Self::PureRust
        }
    }

    /// A short name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pdfium => "pdfium",
            Self::PureRust => "lopdf+pdf-extract",
        }
    }
}

/// Reads a PDF with a chosen engine: for the engine comparison and for
/// tests that pin an engine. [`FileExtractor`](crate::FileExtractor) calls
/// it with [`PdfEngine::preferred`] on a thread of its own (large stack,
/// panics contained, time budget); called directly, it has none of that.
/// Asking for PDFium without the library gives
/// [`ExtractError::Unsupported`]. With `wanted`, only those pages are read
/// and the others come back without text (see [`ExtractInput::pages`]).
///
/// [`ExtractInput::pages`]: rag_core::ports::ExtractInput::pages
pub fn extract_pdf(
    engine: PdfEngine,
    bytes: &[u8],
    password: Option<&str>,
    wanted: Option<PageRange>,
    limits: &Limits,
) -> Result<Extraction, ExtractError> {
    check_structure(bytes)?;
    let deadline = Deadline::new(limits.max_duration);
    let (pages, images, notes) = match engine {
        PdfEngine::Pdfium => {
            let pdfium = library::pdfium().map_err(|why| {
                ExtractError::Unsupported(format!("the PDFium engine is not available: {why}"))
            })?;
            let read = pdfium_reader::extract(pdfium, bytes, password, wanted, limits, &deadline)?;
            (read.pages, read.images, read.notes)
        }
        PdfEngine::PureRust => {
            let (pages, notes) = pure_rust::extract(bytes, wanted, limits, &deadline)?;
            (pages, Vec::new(), notes)
        }
    };
    Ok(Extraction {
        document: ExtractedDocument {
            pages,
            kind: TextKind::Plain,
            format: "pdf",
            images,
        },
        notes,
    })
}

/// The reader [`FileExtractor`](crate::FileExtractor) routes PDFs to.
pub(crate) fn extract(
    bytes: &[u8],
    password: Option<&str>,
    wanted: Option<PageRange>,
    limits: &Limits,
) -> Result<Extraction, ExtractError> {
    extract_pdf(PdfEngine::preferred(), bytes, password, wanted, limits)
}

/// A page "has text" with at least this many non-whitespace characters: a
/// scan stamped with a page number or a Bates number stays a scan.
pub const MIN_TEXT_CHARS: usize = 16;

/// Non-whitespace characters of text on each page (index 0 is page 1), so
/// that the classifier and the VDR pipeline can tell scanned pages (no text
/// layer: OCR or a page-image embedding needed) from text pages. Every page
/// is counted, whatever [`Limits::max_pages`] says.
pub fn pdf_page_text_chars(
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Vec<usize>, ExtractError> {
    text_chars(bytes, password, usize::MAX)
}

/// Whether any page has a text layer (at least [`MIN_TEXT_CHARS`]
/// characters of text): a PDF without one is a scan or a picture, which
/// the classifier routes to visual retrieval. Stops at the first page with
/// text.
pub fn pdf_has_text_layer(bytes: &[u8], password: Option<&str>) -> Result<bool, ExtractError> {
    Ok(text_chars(bytes, password, MIN_TEXT_CHARS)?
        .iter()
        .any(|&chars| chars >= MIN_TEXT_CHARS))
}

fn text_chars(
    bytes: &[u8],
    password: Option<&str>,
    stop_at: usize,
) -> Result<Vec<usize>, ExtractError> {
    check_structure(bytes)?;
    if let Ok(pdfium) = library::pdfium() {
        return pdfium_reader::text_chars(pdfium, bytes, password, stop_at);
    }
    let limits = Limits {
        max_pages: u32::MAX,
        max_document_pages: u32::MAX,
        max_chars: usize::MAX,
        ..Limits::default()
    };
    let deadline = Deadline::new(limits.max_duration);
    let (pages, _) = pure_rust::extract(bytes, None, &limits, &deadline)?;
    Ok(pages
        .iter()
        .map(|p| p.text.chars().filter(|c| !c.is_whitespace()).count())
        .collect())
}

/// Where the checks before parsing look: a PDF header must start within
/// the first KiB, and a complete file ends with `%%EOF` within its last.
pub(crate) const HEAD_BYTES: usize = 1024;

/// Refuses what is not a PDF, and a PDF cut off before its end (an
/// interrupted upload), which PDFium would otherwise repair and read in
/// part: a user must never search a silently truncated document.
pub(crate) fn check_bytes(head: &[u8], tail: &[u8]) -> Result<(), ExtractError> {
    if !head[..head.len().min(HEAD_BYTES)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Err(corrupt("no PDF header"));
    }
    if !tail[tail.len().saturating_sub(HEAD_BYTES)..]
        .windows(5)
        .any(|w| w == b"%%EOF")
    {
        return Err(corrupt("the file is cut off (no %%EOF at its end)"));
    }
    Ok(())
}

/// [`check_bytes`], and a scan of the whole file for arrays and
/// dictionaries nested deeper than any real file nests them: lopdf's parser
/// would overflow its stack on them, and for either engine such a file is
/// hostile.
fn check_structure(bytes: &[u8]) -> Result<(), ExtractError> {
    check_bytes(bytes, bytes)?;
    if pure_rust::nested_too_deeply(bytes, true) {
        return Err(corrupt(pure_rust::TOO_DEEP));
    }
    Ok(())
}

pub(crate) fn corrupt(detail: impl Into<String>) -> ExtractError {
    ExtractError::Corrupt {
        format: "PDF",
        detail: detail.into(),
    }
}

/// The time budget of one document, checked before each page so that a
/// reader the caller gave up on stops soon after.
pub(crate) struct Deadline {
    started: Instant,
    budget: Duration,
}

impl Deadline {
    fn new(budget: Duration) -> Self {
        Self {
            started: Instant::now(),
            budget,
        }
    }

    pub(crate) fn check(&self) -> Result<(), ExtractError> {
        if self.started.elapsed() > self.budget {
            return Err(ExtractError::LimitExceeded(format!(
                "reading the document took longer than {} s",
                self.budget.as_secs()
            )));
        }
        Ok(())
    }
}
