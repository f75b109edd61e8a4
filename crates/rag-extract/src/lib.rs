//! Turns uploaded bytes into text with page boundaries, for the text-RAG
//! pipeline: plain text and code in any common encoding, Markdown, HTML (as
//! Markdown), CSV/TSV (as Markdown tables), JSON and JSON Lines, PDF (one
//! page of text per PDF page), and Office documents as Markdown: Word (DOCX)
//! and OpenDocument text (ODT) as one page, PowerPoint (PPTX) and
//! OpenDocument presentations (ODP) as one page per slide, with their
//! embedded images placed in the text, legacy Word and PowerPoint (.doc,
//! .ppt) the same way after LibreOffice converts them (when installed),
//! spreadsheets (XLSX, XLS, XLSB, ODS) as one Markdown table per sheet; Jupyter notebooks
//! and RSS/Atom feeds as one Markdown page, EPUB e-books as one page per
//! chapter; e-mail (`.eml`, Outlook `.msg`) as one Markdown page with the
//! attachments it can read as further pages; images as their OCR text
//! (Tesseract, when installed: [`Ocr`]) and EXIF description.
//!
//! [`FileExtractor`] picks a reader by the file's extension, then by its MIME
//! type, and refuses everything else with a message naming the type. Readers
//! run on a thread of their own with a large stack, under `catch_unwind`, so
//! no input makes extraction panic. (A contained panic is still reported by
//! the process's panic hook on stderr; lopdf and pdf-extract write nothing to
//! stdout, only `log` records.)

mod decode;
mod email;
mod epub;
mod feed;
pub mod fuzzing;
mod html;
mod image;
mod json;
mod legacy;
mod notebook;
mod office;
mod pages;
pub mod pdf;
pub mod sandbox;
mod sniff;
mod spreadsheet;
mod table;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rag_core::domain::classify::{extension, file_name};
use rag_core::domain::formats;
use rag_core::domain::job::PageRange;
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::Extractor;
use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument, ExtractedPage};

pub use image::{ocr_png, Ocr, OcrError, DEFAULT_OCR_TIMEOUT, TESSERACT_ENV};
pub use legacy::SOFFICE_ENV;
pub use pages::PdfPageRenderer;

/// Safety limits of an extraction: a document over either is refused with
/// [`ExtractError::LimitExceeded`] rather than indexed in part, so a user
/// never searches a silently truncated document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Most pages a PDF (slides a presentation, sheets a workbook) may have;
    /// checked before any text is extracted. For a PDF read one page range
    /// at a time ([`ExtractInput::pages`]), most pages one range may hold.
    pub max_pages: u32,
    /// Most pages a PDF read one range at a time may have in all: the page
    /// ranges of a long document are read by parallel jobs, each within the
    /// other limits.
    pub max_document_pages: u32,
    /// Most characters of text the whole document may produce.
    pub max_chars: usize,
    /// Office documents (zip archives): most bytes the parts read may unzip
    /// to in total, counted from their declared sizes and enforced while
    /// unzipping (headers can lie).
    pub max_archive_bytes: u64,
    /// Office documents: most entries the zip archive may list.
    pub max_archive_entries: usize,
    /// Office documents: highest compression ratio (unzipped size over
    /// compressed size) of a part unzipping to more than 1 MiB; above it the
    /// part is taken for a zip bomb.
    pub max_compression_ratio: u64,
    /// Office documents: most bytes of embedded images kept in total
    /// ([`ExtractedDocument::images`]); images past it are left out with a
    /// note, the text is still read.
    pub max_image_bytes: u64,
    /// Spreadsheets: most non-empty cells the whole workbook may have.
    pub max_cells: usize,
    /// Longest a document may take to read: a parser stuck in a loop or
    /// crawling through a hostile file must not hold a worker.
    pub max_duration: Duration,
    /// Images: most pixels (width × height, as the header declares them)
    /// an image may have before OCR decodes it (decompression bombs).
    pub max_image_pixels: u64,
}

impl Default for Limits {
    /// 2,000 pages and 10 million characters: far beyond any document the
    /// text pipeline handles well (about 2.5 million tokens, some 12,000
    /// chunks), low enough to bound a worker's memory and time. Office
    /// archives: 256 MiB unzipped (XML is some 10 to 20 bytes per character
    /// of text), 10,000 entries, a compression ratio of 100 (Office XML
    /// compresses 5 to 20 times), 64 MiB of embedded images kept. Two
    /// minutes of reading: the slowest sample document reads in well under
    /// a second. Images of 100 megapixels (a 600 dpi scan of an A1 poster;
    /// a phone photo has 12 to 50). A PDF read in page ranges may have
    /// 40,000 pages: the most one status item counts
    /// ([`rag_core::domain::status::MAX_COUNTED_PAGES`]).
    fn default() -> Self {
        Self {
            max_pages: 2_000,
            max_document_pages: rag_core::domain::status::MAX_COUNTED_PAGES,
            max_chars: 10_000_000,
            max_archive_bytes: 256 * 1024 * 1024,
            max_archive_entries: 10_000,
            max_compression_ratio: 100,
            max_image_bytes: 64 * 1024 * 1024,
            max_cells: 2_000_000,
            max_duration: Duration::from_secs(120),
            max_image_pixels: 100_000_000,
        }
    }
}

/// A document's text plus notes about parts that could not be read (a PDF
/// page that failed is kept as an empty page and noted here), for the caller
/// to log or record in the document's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// The extracted text.
    pub document: ExtractedDocument,
    /// Human-readable notes, e.g. `"page 3: text could not be extracted fully (...)"`.
    pub notes: Vec<String>,
}

/// The text pipeline's [`Extractor`]: reads every text format the pipeline
/// supports, with [`Limits`] on what one document may produce.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileExtractor {
    limits: Limits,
    /// Images are described by their metadata only, even with Tesseract
    /// installed.
    without_ocr: bool,
    /// Legacy .doc/.ppt files are refused, even with LibreOffice installed.
    without_libreoffice: bool,
}

impl FileExtractor {
    /// An extractor with the given limits (use `default()` for the defaults).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            without_ocr: false,
            without_libreoffice: false,
        }
    }

    /// The limits this extractor enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// With `enabled` false, images (and image attachments) are not OCRed
    /// even when Tesseract is installed: only their EXIF description counts.
    /// On by default; Tesseract is found as [`Ocr::from_env`] says.
    pub fn with_ocr(mut self, enabled: bool) -> Self {
        self.without_ocr = !enabled;
        self
    }

    /// With `enabled` false, legacy Word and PowerPoint files (.doc, .ppt)
    /// are refused as if LibreOffice were not installed. On by default;
    /// LibreOffice is `soffice` on `PATH`, or the program [`SOFFICE_ENV`]
    /// names.
    pub fn with_libreoffice(mut self, enabled: bool) -> Self {
        self.without_libreoffice = !enabled;
        self
    }

    /// Whether images are OCRed (when Tesseract is installed).
    pub fn ocr_enabled(&self) -> bool {
        !self.without_ocr
    }

    /// Whether legacy Word and PowerPoint files are converted (when
    /// LibreOffice is installed).
    pub fn libreoffice_enabled(&self) -> bool {
        !self.without_libreoffice
    }

    /// Like [`Extractor::extract`], also returning notes about pages that
    /// could not be read fully.
    pub fn extract_with_notes(&self, input: ExtractInput<'_>) -> Result<Extraction, ExtractError> {
        if input.bytes.is_empty() {
            return Err(ExtractError::Empty);
        }
        // Office encrypts a password-protected DOCX/PPTX/XLSX into an OLE
        // compound file instead of a zip: opened with the uploader's
        // password, refused without it.
        let decrypted;
        let mut input = input;
        if office::is_ole(input.bytes)
            && office::is_ooxml(&extension(input.file_name), &mime_type(input.content_type))
        {
            decrypted = office::decrypt(input.bytes, input.password)?;
            input = ExtractInput {
                bytes: &decrypted,
                ..input
            };
        }
        let reader = pick_reader(&input)?;
        let limits = self.limits;
        let options = Options {
            ocr: !self.without_ocr,
            libreoffice: !self.without_libreoffice,
            depth: 0,
            deadline: deadline(limits.max_duration),
        };
        // The reader thread owns its copy of the input, so that a reader
        // over its budget can be left behind.
        let owned = OwnedInput::from(&input);
        let mut extraction = isolated(reader.format(), limits.max_duration, move || {
            reader.read(owned.borrow(), &limits, options)
        })?;
        let mut chars = 0usize;
        for page in &mut extraction.document.pages {
            // PostgreSQL text cannot hold NUL.
            if page.text.contains('\0') {
                page.text.retain(|c| c != '\0');
            }
            chars += page.text.chars().count();
        }
        if chars > limits.max_chars {
            return Err(too_many_chars(&limits));
        }
        Ok(extraction)
    }
}

impl Extractor for FileExtractor {
    fn extract(&self, input: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError> {
        self.extract_with_notes(input).map(|e| e.document)
    }
}

/// An [`ExtractInput`] the reader thread can own.
struct OwnedInput {
    bytes: Vec<u8>,
    file_name: String,
    content_type: Option<String>,
    password: Option<String>,
    pages: Option<PageRange>,
}

impl OwnedInput {
    fn from(input: &ExtractInput<'_>) -> Self {
        Self {
            bytes: input.bytes.to_vec(),
            file_name: input.file_name.to_owned(),
            content_type: input.content_type.map(str::to_owned),
            password: input.password.map(str::to_owned),
            pages: input.pages,
        }
    }

    fn borrow(&self) -> ExtractInput<'_> {
        ExtractInput {
            bytes: &self.bytes,
            file_name: &self.file_name,
            content_type: self.content_type.as_deref(),
            password: self.password.as_deref(),
            pages: self.pages,
        }
    }
}

/// How a document is read, besides its limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Whether images are OCRed (when Tesseract is installed).
    pub ocr: bool,
    /// Whether legacy .doc/.ppt files are converted (when LibreOffice is
    /// installed).
    pub libreoffice: bool,
    /// 0 for the uploaded file, 1 for an e-mail's attachment, ...
    pub depth: u8,
    /// When the document's time budget ends: a reader abandoned then stops
    /// starting new work (the next attachment, another OCR run).
    pub deadline: Instant,
}

/// The instant `budget` from now (a century at most).
fn deadline(budget: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(budget)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Reads a file found inside another (an e-mail's attachment) with the
/// reader its name and MIME type pick, on the current thread.
pub(crate) fn read_nested(
    input: ExtractInput<'_>,
    limits: &Limits,
    options: Options,
) -> Result<Extraction, ExtractError> {
    if input.bytes.is_empty() {
        return Err(ExtractError::Empty);
    }
    if office::is_ole(input.bytes)
        && office::is_ooxml(&extension(input.file_name), &mime_type(input.content_type))
    {
        return Err(ExtractError::Encrypted);
    }
    let reader = pick_reader(&input)?;
    reader.read(input, limits, options)
}

/// The stand-in for page (slide, sheet) `number` when it is outside the
/// `wanted` range ([`ExtractInput::pages`]): no text, so that the page count
/// stays the document's; `None` for a page to read.
pub(crate) fn unwanted(wanted: Option<PageRange>, number: u32) -> Option<ExtractedPage> {
    wanted
        .filter(|range| !range.contains(number))
        .map(|_| ExtractedPage {
            number: Some(number),
            text: String::new(),
        })
}

/// Refuses a document of `count` pages (`what`: "pages", "slides") with
/// more to read than [`Limits::max_pages`] (all of them, or the `wanted`
/// range's), or, read in ranges, more in all than
/// [`Limits::max_document_pages`].
pub(crate) fn check_page_count(
    count: usize,
    wanted: Option<PageRange>,
    limits: &Limits,
    what: &str,
) -> Result<(), ExtractError> {
    let too_many = |pages: usize, allowed: u32| {
        Err(ExtractError::LimitExceeded(format!(
            "{pages} {what}, more than the {allowed} allowed"
        )))
    };
    let read = match wanted {
        None => count,
        Some(range) => {
            if count > limits.max_document_pages as usize {
                return too_many(count, limits.max_document_pages);
            }
            (range.last as usize)
                .min(count)
                .saturating_sub((range.first as usize).saturating_sub(1))
        }
    };
    if read > limits.max_pages as usize {
        return too_many(read, limits.max_pages);
    }
    Ok(())
}

pub(crate) fn too_many_chars(limits: &Limits) -> ExtractError {
    ExtractError::LimitExceeded(format!("more than {} characters of text", limits.max_chars))
}

// ---------------------------------------------------------------- routing

/// Which reader a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Text,
    Markdown,
    Html,
    Csv,
    Tsv,
    Json,
    JsonLines,
    Pdf,
    Docx,
    Pptx,
    Odt,
    Odp,
    /// Legacy Word and PowerPoint, through LibreOffice.
    Doc,
    Ppt,
    Notebook,
    Epub,
    Feed,
    Spreadsheet,
    Eml,
    Msg,
    Image,
}

/// Office formats still refused, by extension and MIME type, with why.
const OFFICE_REFUSED: &[(&[&str], &[&str], &str)] = &[(
    &["key", "pages", "numbers"],
    &[],
    "Apple Keynote, Pages and Numbers files are not supported yet",
)];
/// What other well-known extensions are, for the refusal message.
const KNOWN_UNSUPPORTED: &[(&[&str], &str)] = &[
    (
        &[
            "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "jar", "war",
        ],
        "archives are not supported",
    ),
    (
        &[
            "exe", "dll", "so", "dylib", "msi", "bin", "o", "a", "class", "wasm", "apk", "dmg",
            "iso",
        ],
        "executables and binary files are not supported",
    ),
    (
        &["heic", "heif", "avif", "svg", "ico", "psd"],
        "this image format is not supported (PNG, JPEG, TIFF, BMP, GIF and WebP are)",
    ),
    (
        &[
            "mp3", "wav", "ogg", "flac", "m4a", "aac", "mp4", "mov", "avi", "mkv", "webm",
        ],
        "audio and video are not supported",
    ),
    (&["rtf"], "RTF documents are not supported yet"),
    (
        &["mobi", "azw", "azw3"],
        "Kindle e-books are not supported (convert to EPUB)",
    ),
];

/// Picks the reader: by extension first, then by MIME type.
fn route(key: &str, content_type: Option<&str>) -> Result<Reader, ExtractError> {
    let ext = extension(key);
    let name = file_name(key);
    let mime = mime_type(content_type);
    let refuse = |what: &str| {
        let shown = if ext.is_empty() {
            format!("'{name}'")
        } else {
            format!("'{name}' (.{ext})")
        };
        Err(ExtractError::Unsupported(format!("{shown}: {what}")))
    };

    let by_extension = match ext.as_str() {
        "" => None,
        "pdf" => Some(Reader::Pdf),
        "csv" => Some(Reader::Csv),
        "tsv" | "tab" => Some(Reader::Tsv),
        "json" => Some(Reader::Json),
        "jsonl" | "ndjson" => Some(Reader::JsonLines),
        "docx" | "docm" | "dotx" | "dotm" => Some(Reader::Docx),
        "pptx" | "pptm" | "ppsx" | "ppsm" | "potx" | "potm" => Some(Reader::Pptx),
        "odt" | "ott" => Some(Reader::Odt),
        "odp" | "otp" => Some(Reader::Odp),
        "doc" | "dot" => Some(Reader::Doc),
        "ppt" | "pps" | "pot" => Some(Reader::Ppt),
        "ipynb" => Some(Reader::Notebook),
        "epub" => Some(Reader::Epub),
        "rss" | "atom" => Some(Reader::Feed),
        "eml" => Some(Reader::Eml),
        "msg" => Some(Reader::Msg),
        "png" | "jpg" | "jpeg" | "jpe" | "jfif" | "tif" | "tiff" | "bmp" | "gif" | "webp" => {
            Some(Reader::Image)
        }
        "xlsx" | "xlsm" | "xlsb" | "xltx" | "xltm" | "xls" | "ods" | "ots" => {
            Some(Reader::Spreadsheet)
        }
        e if formats::HTML_EXTENSIONS.contains(&e) => Some(Reader::Html),
        e if formats::MARKDOWN_EXTENSIONS.contains(&e) => Some(Reader::Markdown),
        e if formats::PLAIN_TEXT_EXTENSIONS.contains(&e)
            || formats::CODE_EXTENSIONS.contains(&e) =>
        {
            Some(Reader::Text)
        }
        e => match KNOWN_UNSUPPORTED.iter().find(|(exts, _)| exts.contains(&e)) {
            Some((_, what)) => return refuse(what),
            None => match OFFICE_REFUSED.iter().find(|(exts, _, _)| exts.contains(&e)) {
                Some((_, _, what)) => return refuse(what),
                None => None,
            },
        },
    };
    if let Some(reader) = by_extension {
        return Ok(reader);
    }
    let by_name = name.trim_start_matches('.').to_ascii_lowercase();
    if ext.is_empty() && formats::TEXT_FILE_NAMES.contains(&by_name.as_str()) {
        return Ok(Reader::Text);
    }

    let by_mime = match mime.as_str() {
        "application/pdf" | "application/x-pdf" => Some(Reader::Pdf),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
        | "application/vnd.ms-word.document.macroenabled.12" => Some(Reader::Docx),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
        | "application/vnd.openxmlformats-officedocument.presentationml.template"
        | "application/vnd.ms-powerpoint.presentation.macroenabled.12" => Some(Reader::Pptx),
        "application/vnd.oasis.opendocument.text" => Some(Reader::Odt),
        "application/vnd.oasis.opendocument.presentation" => Some(Reader::Odp),
        "application/msword" => Some(Reader::Doc),
        "application/vnd.ms-powerpoint" => Some(Reader::Ppt),
        "application/x-ipynb+json" => Some(Reader::Notebook),
        "application/epub+zip" => Some(Reader::Epub),
        "application/rss+xml" | "application/atom+xml" => Some(Reader::Feed),
        "message/rfc822" => Some(Reader::Eml),
        "application/vnd.ms-outlook" | "application/x-outlook-msg" => Some(Reader::Msg),
        "image/png" | "image/jpeg" | "image/pjpeg" | "image/tiff" | "image/bmp" | "image/x-bmp"
        | "image/x-ms-bmp" | "image/gif" | "image/webp" => Some(Reader::Image),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-excel.sheet.macroenabled.12"
        | "application/vnd.ms-excel.sheet.binary.macroenabled.12"
        | "application/vnd.ms-excel.template.macroenabled.12"
        | "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.oasis.opendocument.spreadsheet-template" => Some(Reader::Spreadsheet),
        "text/html" | "application/xhtml+xml" => Some(Reader::Html),
        "text/csv" | "application/csv" => Some(Reader::Csv),
        "text/tab-separated-values" => Some(Reader::Tsv),
        "application/x-ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Some(Reader::JsonLines),
        "application/json" | "text/json" => Some(Reader::Json),
        m if m.ends_with("+json") => Some(Reader::Json),
        "text/markdown" | "text/x-markdown" => Some(Reader::Markdown),
        "application/xml"
        | "application/yaml"
        | "application/x-yaml"
        | "application/toml"
        | "application/javascript"
        | "application/x-sh"
        | "application/sql" => Some(Reader::Text),
        m if m.starts_with("text/") || m.ends_with("+xml") => Some(Reader::Text),
        m => match OFFICE_REFUSED
            .iter()
            .find(|(_, types, _)| types.contains(&m))
        {
            Some((_, _, what)) => return refuse(what),
            None => None,
        },
    };
    if let Some(reader) = by_mime {
        return Ok(reader);
    }
    match mime.as_str() {
        "" | "application/octet-stream" | "binary/octet-stream" => {
            refuse("not a text, HTML, CSV, JSON, PDF or Office document")
        }
        m if m.starts_with("image/") => refuse(&format!(
            "{m} images are not supported (PNG, JPEG, TIFF, BMP, GIF and WebP are)"
        )),
        m => refuse(&format!("{m} files are not supported")),
    }
}

/// Picks the reader for `input`: by its name and type ([`route`]), then by
/// its content ([`sniff`]) where those say only "XML" (a feed or an XHTML
/// page saved as `.xml`) or nothing at all (no or an unknown extension, no
/// or a generic binary type: a download saved without its name, an
/// attachment sent as `application/octet-stream`).
fn pick_reader(input: &ExtractInput<'_>) -> Result<Reader, ExtractError> {
    let ext = extension(input.file_name);
    let mime = mime_type(input.content_type);
    let says_xml = ext == "xml" || matches!(mime.as_str(), "application/xml" | "text/xml");
    let generic_type = matches!(
        mime.as_str(),
        "" | "application/octet-stream" | "binary/octet-stream"
    );
    let known_refused = KNOWN_UNSUPPORTED
        .iter()
        .map(|(exts, _)| *exts)
        .chain(OFFICE_REFUSED.iter().map(|(exts, _, _)| *exts))
        .any(|exts| exts.contains(&ext.as_str()));
    match route(input.file_name, input.content_type) {
        Ok(Reader::Text) if says_xml => Ok(sniff::markup_of(input.bytes).unwrap_or(Reader::Text)),
        Err(refused) if generic_type && !known_refused => {
            // Parses untrusted containers before the reader's isolation: a
            // panic in a parser is the file's refusal, not the caller's.
            std::panic::catch_unwind(|| sniff::by_content(input.bytes))
                .ok()
                .flatten()
                .ok_or(refused)
        }
        routed => routed,
    }
}

/// The MIME type without parameters, lower-cased (empty when unknown).
fn mime_type(content_type: Option<&str>) -> String {
    content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

impl Reader {
    fn format(self) -> &'static str {
        match self {
            Reader::Text => "text",
            Reader::Markdown => "markdown",
            Reader::Html => "html",
            Reader::Csv => "csv",
            Reader::Tsv => "tsv",
            Reader::Json => "json",
            Reader::JsonLines => "jsonl",
            Reader::Pdf => "pdf",
            Reader::Docx => "docx",
            Reader::Pptx => "pptx",
            Reader::Odt => "odt",
            Reader::Odp => "odp",
            Reader::Doc => "doc",
            Reader::Ppt => "ppt",
            Reader::Notebook => "ipynb",
            Reader::Epub => "epub",
            Reader::Feed => "feed",
            Reader::Spreadsheet => "spreadsheet",
            Reader::Eml => "eml",
            Reader::Msg => "msg",
            Reader::Image => "image",
        }
    }

    fn read(
        self,
        input: ExtractInput<'_>,
        limits: &Limits,
        options: Options,
    ) -> Result<Extraction, ExtractError> {
        let name = file_name(input.file_name);
        let declared = decode::charset_of_content_type(input.content_type);
        // Every encoding takes at most 4 bytes per character: no need to
        // decode a file that cannot fit.
        let text_fits = input.bytes.len() / 4 <= limits.max_chars;
        let decoded = |declared| -> Result<String, ExtractError> {
            if !text_fits {
                return Err(too_many_chars(limits));
            }
            decode::decode_text(input.bytes, declared, name)
        };
        let paged = |kind, (pages, notes)| {
            let format = self.format();
            let document = ExtractedDocument {
                pages,
                kind,
                format,
                images: Vec::new(),
            };
            Ok(Extraction { document, notes })
        };
        let (kind, text) = match self {
            Reader::Pdf => return pdf::extract(input.bytes, input.password, input.pages, limits),
            Reader::Epub => {
                return paged(
                    TextKind::Markdown,
                    epub::extract(input.bytes, input.pages, limits)?,
                )
            }
            Reader::Pptx => return office::pptx::extract(input.bytes, input.pages, limits),
            Reader::Docx => return office::docx::extract(input.bytes, limits),
            Reader::Doc | Reader::Ppt => {
                let kind = if self == Reader::Doc {
                    legacy::Legacy::Word
                } else {
                    legacy::Legacy::PowerPoint
                };
                let soffice = options.libreoffice.then(legacy::find_soffice).flatten();
                return legacy::extract(kind, input, limits, soffice.as_deref());
            }
            Reader::Spreadsheet => return spreadsheet::extract(input, limits),
            Reader::Eml => return email::extract(input.bytes, limits, options, "eml"),
            Reader::Msg => return email::extract(input.bytes, limits, options, "msg"),
            Reader::Image => {
                // Tesseract must stop when the document's budget ends.
                let left = options.deadline.saturating_duration_since(Instant::now());
                let ocr = options
                    .ocr
                    .then(|| Ocr::from_env().timeout(DEFAULT_OCR_TIMEOUT.min(left)));
                return image::extract(input.bytes, limits, ocr);
            }
            Reader::Odt | Reader::Odp => {
                let format = if self == Reader::Odp { "ODP" } else { "ODT" };
                return office::odf::extract(input.bytes, format, limits);
            }
            Reader::Text => (TextKind::Plain, normalize_newlines(decoded(declared)?)),
            Reader::Markdown => (TextKind::Markdown, normalize_newlines(decoded(declared)?)),
            Reader::Html => {
                let declared = declared.or_else(|| decode::charset_of_html(input.bytes));
                (TextKind::Markdown, html::to_markdown(&decoded(declared)?)?)
            }
            Reader::Csv => (
                TextKind::Markdown,
                table::to_markdown(&decoded(declared)?, false)?,
            ),
            Reader::Tsv => (
                TextKind::Markdown,
                table::to_markdown(&decoded(declared)?, true)?,
            ),
            Reader::Json => (TextKind::Plain, json::to_text(&decoded(declared)?)?),
            Reader::JsonLines => (TextKind::Plain, json::lines_to_text(&decoded(declared)?)?),
            Reader::Notebook => (
                TextKind::Markdown,
                notebook::to_markdown(&decoded(declared)?)?,
            ),
            Reader::Feed => (TextKind::Markdown, feed::to_markdown(&decoded(declared)?)?),
        };
        let document = ExtractedDocument {
            pages: vec![ExtractedPage { number: None, text }],
            kind,
            format: self.format(),
            images: Vec::new(),
        };
        Ok(Extraction {
            document,
            notes: Vec::new(),
        })
    }
}

/// `\r\n` and lone `\r` as `\n`, so the chunker sees paragraphs.
fn normalize_newlines(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text
    }
}

// ---------------------------------------------------------------- isolation

/// Stack of the reader thread: parsers recurse on nesting (HTML elements,
/// PDF objects), and a stack overflow aborts the process. Only the pages
/// actually touched are committed.
const READER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Runs a reader on a thread of its own with a large stack, turning a
/// panic into [`ExtractError::Corrupt`] and a reader still busy after
/// `budget` into [`ExtractError::LimitExceeded`]. A thread cannot be killed:
/// an overrunning reader is abandoned (it holds only its own copy of the
/// input) and the worker goes on with its next job. Falls back to the
/// current thread, without a deadline, if no thread can be started.
fn isolated<T: Send + 'static>(
    format: &'static str,
    budget: Duration,
    work: impl FnOnce() -> Result<T, ExtractError> + Send + 'static,
) -> Result<T, ExtractError> {
    let crashed = || ExtractError::Corrupt {
        format,
        detail: "the file could not be parsed".to_owned(),
    };
    let (sender, receiver) = mpsc::sync_channel(1);
    let slot = Arc::new(Mutex::new(Some(work)));
    let in_thread = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("rag-extract".to_owned())
        .stack_size(READER_STACK_BYTES)
        .spawn(move || {
            let work = in_thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(work) = work {
                // The receiver may have given up: nothing to tell then.
                let _ = sender.send(catch_unwind(AssertUnwindSafe(work)));
            }
        });
    if spawned.is_err() {
        let work = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        return match work {
            Some(work) => catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| Err(crashed())),
            None => Err(crashed()),
        };
    }
    match receiver.recv_timeout(budget) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => Err(crashed()),
        Err(RecvTimeoutError::Timeout) => {
            tracing::warn!(
                format,
                budget_s = budget.as_secs_f64(),
                "extraction over its time budget; reader abandoned"
            );
            Err(ExtractError::LimitExceeded(format!(
                "reading the document took longer than {} s",
                budget.as_secs()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_extension_then_mime() {
        let ok = |key: &str, ct: Option<&str>| route(key, ct).ok();
        assert_eq!(ok("a/b.PDF", None), Some(Reader::Pdf));
        assert_eq!(ok("a/b.md", None), Some(Reader::Markdown));
        assert_eq!(
            ok("a/b.rs", Some("application/octet-stream")),
            Some(Reader::Text)
        );
        assert_eq!(ok("a/Makefile", None), Some(Reader::Text));
        assert_eq!(ok("a/.gitignore", None), Some(Reader::Text));
        assert_eq!(
            ok("a/export", Some("text/csv; charset=utf-8")),
            Some(Reader::Csv)
        );
        assert_eq!(ok("a/export", Some("application/pdf")), Some(Reader::Pdf));
        assert_eq!(
            ok("a/page", Some("application/xhtml+xml")),
            Some(Reader::Html)
        );
        assert_eq!(ok("a/x.unknownext", Some("text/plain")), Some(Reader::Text));
        assert_eq!(ok("a/report.DOCX", None), Some(Reader::Docx));
        assert_eq!(ok("a/deck.pptx", None), Some(Reader::Pptx));
        assert_eq!(ok("a/show.ppsx", None), Some(Reader::Pptx));
        assert_eq!(ok("a/notes.odt", None), Some(Reader::Odt));
        assert_eq!(ok("a/talk.odp", None), Some(Reader::Odp));
        assert_eq!(ok("a/report.doc", None), Some(Reader::Doc));
        assert_eq!(ok("a/deck.PPT", None), Some(Reader::Ppt));
        assert_eq!(
            ok("a/upload", Some("application/msword")),
            Some(Reader::Doc)
        );
        assert_eq!(
            ok("a/upload", Some("application/vnd.ms-powerpoint")),
            Some(Reader::Ppt)
        );
        assert_eq!(ok("a/sheet.xlsx", None), Some(Reader::Spreadsheet));
        assert_eq!(ok("a/old.XLS", None), Some(Reader::Spreadsheet));
        assert_eq!(ok("a/calc.ods", None), Some(Reader::Spreadsheet));
        assert_eq!(
            ok("a/report", Some("application/vnd.ms-excel")),
            Some(Reader::Spreadsheet)
        );
        assert_eq!(
            ok(
                "a/upload",
                Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
            ),
            Some(Reader::Pptx)
        );
        assert_eq!(
            ok(
                "a/upload",
                Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            ),
            Some(Reader::Docx)
        );
        for (key, ct, needle) in [
            ("a/talk.key", None, "Keynote"),
            ("a/x.zip", Some("text/plain"), "archives"),
            ("a/photo.heic", None, "image format"),
            (
                "a/upload",
                Some("image/heic"),
                "image/heic images are not supported",
            ),
            ("a/blob", None, "'blob'"),
            (
                "a/blob.weird",
                Some("application/x-weird"),
                "application/x-weird",
            ),
        ] {
            match route(key, ct) {
                Err(ExtractError::Unsupported(msg)) => {
                    assert!(msg.contains(needle), "{key}: {msg}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn routes_email_and_images() {
        let ok = |key: &str, ct: Option<&str>| route(key, ct).ok();
        assert_eq!(ok("a/mail.EML", None), Some(Reader::Eml));
        assert_eq!(ok("a/mail.msg", None), Some(Reader::Msg));
        assert_eq!(ok("a/upload", Some("message/rfc822")), Some(Reader::Eml));
        assert_eq!(
            ok("a/upload", Some("application/vnd.ms-outlook")),
            Some(Reader::Msg)
        );
        for key in [
            "a.png", "a.jpg", "a.JPEG", "a.tif", "a.tiff", "a.bmp", "a.gif", "a.webp",
        ] {
            assert_eq!(ok(key, None), Some(Reader::Image), "{key}");
        }
        for ct in ["image/png", "image/jpeg", "image/tiff", "image/webp; q=1"] {
            assert_eq!(ok("a/upload", Some(ct)), Some(Reader::Image), "{ct}");
        }
    }

    #[test]
    fn routes_notebooks_ebooks_and_feeds() {
        let ok = |key: &str, ct: Option<&str>| route(key, ct).ok();
        assert_eq!(ok("a/analysis.ipynb", None), Some(Reader::Notebook));
        assert_eq!(ok("a/book.EPUB", None), Some(Reader::Epub));
        assert_eq!(ok("a/news.rss", None), Some(Reader::Feed));
        assert_eq!(ok("a/news.atom", None), Some(Reader::Feed));
        assert_eq!(ok("a/data.xml", None), Some(Reader::Text));
        for (ct, reader) in [
            ("application/x-ipynb+json", Reader::Notebook),
            ("application/epub+zip", Reader::Epub),
            ("application/rss+xml", Reader::Feed),
            ("application/atom+xml; charset=utf-8", Reader::Feed),
        ] {
            assert_eq!(ok("a/upload", Some(ct)), Some(reader), "{ct}");
        }
        assert!(matches!(
            route("a/book.mobi", None),
            Err(ExtractError::Unsupported(_))
        ));
    }

    #[test]
    fn isolation_turns_panics_into_errors() {
        let budget = Duration::from_secs(5);
        let result: Result<(), _> = isolated("test", budget, || panic!("boom"));
        assert!(matches!(
            result,
            Err(ExtractError::Corrupt { format: "test", .. })
        ));
        assert_eq!(isolated("test", budget, || Ok(42)), Ok(42));
    }

    #[test]
    fn a_reader_over_its_budget_is_abandoned_with_a_clear_error() {
        let (release, stuck) = mpsc::channel::<()>();
        let result: Result<(), _> = isolated("test", Duration::from_millis(50), move || {
            // Stands in for a parser in an endless loop.
            let _ = stuck.recv();
            Ok(())
        });
        match result {
            Err(ExtractError::LimitExceeded(why)) => assert!(why.contains("longer than"), "{why}"),
            other => panic!("{other:?}"),
        }
        drop(release);
    }
}
