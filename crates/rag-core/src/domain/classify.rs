//! Routing a document to the VDR or the text-RAG pipeline.
//!
//! Ported from the original `rag/document_classifier.py`, with its quirks
//! fixed: form keywords match whole words of the file name (not `information`
//! for `form`), code and text files are never sent to VDR because of their
//! names, `Makefile`/`Dockerfile` are recognised by name, and a type no
//! pipeline can read is refused instead of silently defaulting to text RAG.

use serde::{Deserialize, Serialize};

use crate::domain::formats;

/// The two background pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    /// Visual document retrieval: pages embedded as images.
    Vdr,
    /// Text extraction, chunking and hybrid (dense + BM25) indexing.
    TextRag,
}

impl Pipeline {
    /// Wire name: `"vdr"` or `"text_rag"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pipeline::Vdr => "vdr",
            Pipeline::TextRag => "text_rag",
        }
    }

    /// The pipeline of a wire name; `None` for any other name, which a
    /// reader must treat as an error rather than guess.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "vdr" => Some(Pipeline::Vdr),
            "text_rag" => Some(Pipeline::TextRag),
            _ => None,
        }
    }
}

/// Why a document went where it went; recorded in status metadata and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    /// A presentation (`.ppt .pptx .odp .key` or their MIME types): VDR.
    Presentation,
    /// A form keyword (`form`, `invoice`, `receipt`, `application`,
    /// `claim`, `tax`, or a plural) is a whole word of the file name: VDR.
    FormOrInvoice,
    /// A scan hint in the object's metadata, an image, or a PDF without a
    /// text layer: VDR.
    Scanned,
    /// A PDF over [`LARGE_PDF_BYTES`]: VDR.
    LargePdf,
    /// A source-code extension: text RAG, whatever the name says.
    Code,
    /// Plain text, Markdown, HTML or JSON (by extension, a known name such
    /// as `Makefile`, or a `text/*` type): text RAG.
    PlainText,
    /// CSV, TSV or a spreadsheet format: text RAG.
    Spreadsheet,
    /// Any other type a pipeline reads (PDF, Word, ...): text RAG. The API
    /// also records it for a VDR route sent to text RAG because
    /// `ENABLE_VDR_PIPELINE` is off.
    Document,
}

/// A routing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The pipeline the document goes to.
    pub pipeline: Pipeline,
    /// The rule that sent it there; the API records it as `route_reason`
    /// in the `queued` status metadata.
    pub reason: RouteReason,
}

/// What the classifier knows about a document before reading it.
#[derive(Debug, Clone, Default)]
pub struct DocumentFacts<'a> {
    /// Object key or file name; only the last path segment is used.
    pub key: &'a str,
    /// MIME type from the request or the object, if any.
    pub content_type: Option<&'a str>,
    /// Object size in bytes.
    pub size: u64,
    /// User metadata of the object (`x-amz-meta-*`), for scan hints.
    pub metadata: &'a [(String, String)],
    /// Whether a PDF was found to have no text layer (known only after reading it).
    pub pdf_without_text: bool,
}

/// PDFs above this size go to VDR (the original's rule).
pub const LARGE_PDF_BYTES: u64 = 10 * 1024 * 1024;

const PRESENTATION_EXTENSIONS: &[&str] = &["ppt", "pptx", "odp", "key"];
const PRESENTATION_TYPES: &[&str] = &[
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.presentation",
    "application/x-iwork-keynote-sffkey",
];
const FORM_KEYWORDS: &[&str] = &["form", "invoice", "receipt", "application", "claim", "tax"];
const TEXT_TYPES: &[&str] = &[
    "text/plain",
    "text/markdown",
    "text/x-markdown",
    "text/html",
    "application/json",
    "application/xhtml+xml",
];
const SPREADSHEET_EXTENSIONS: &[&str] = &["csv", "tsv", "xls", "xlsx", "ods"];
const SPREADSHEET_TYPES: &[&str] = &[
    "text/csv",
    "text/tab-separated-values",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
];
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif", "webp"];
/// Other document formats the text pipeline reads (or will, as extraction grows).
const DOCUMENT_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "odt", "rtf", "epub", "ipynb", "msg", "eml", "rss", "atom",
];
const DOCUMENT_TYPES: &[&str] = &[
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/rtf",
    "application/epub+zip",
    "application/x-ipynb+json",
    "application/vnd.ms-outlook",
    "message/rfc822",
];

/// The classifier refused the document: no pipeline reads this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported file type: {0}")]
pub struct UnsupportedType(pub String);

/// The file name (last path segment) of an object key.
pub fn file_name(key: &str) -> &str {
    key.rsplit(['/', '\\']).next().unwrap_or(key)
}

/// Lower-cased extension without the dot (`""` when there is none).
pub fn extension(key: &str) -> String {
    let name = file_name(key);
    match name.rfind('.') {
        Some(i) if i > 0 => name[i + 1..].to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn mime(content_type: Option<&str>) -> String {
    content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn has_form_keyword(key: &str) -> bool {
    let name = file_name(key).to_lowercase();
    let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
    stem.split(|c: char| !c.is_alphanumeric()).any(|word| {
        FORM_KEYWORDS
            .iter()
            .any(|k| word == *k || word.strip_suffix('s') == Some(k))
    })
}

fn looks_scanned(metadata: &[(String, String)]) -> bool {
    metadata.iter().any(|(k, v)| {
        let (k, v) = (k.to_lowercase(), v.to_lowercase());
        (k == "scanned" && v == "true") || k.contains("scan") || v.contains("scan")
    })
}

/// Routes a document, following the original's rules in order.
pub fn classify(facts: &DocumentFacts<'_>) -> Result<Route, UnsupportedType> {
    let ext = extension(facts.key);
    let mime = mime(facts.content_type);
    let name = file_name(facts.key).to_lowercase();
    let route = |pipeline, reason| Ok(Route { pipeline, reason });
    let is = |exts: &[&str], types: &[&str]| {
        exts.contains(&ext.as_str()) || types.contains(&mime.as_str())
    };

    if is(PRESENTATION_EXTENSIONS, PRESENTATION_TYPES) {
        return route(Pipeline::Vdr, RouteReason::Presentation);
    }
    // Code and text are never visual, whatever their names say.
    if formats::CODE_EXTENSIONS.contains(&ext.as_str()) {
        return route(Pipeline::TextRag, RouteReason::Code);
    }
    let known_name =
        ext.is_empty() && formats::TEXT_FILE_NAMES.contains(&name.trim_start_matches('.'));
    let text_ext = [
        formats::PLAIN_TEXT_EXTENSIONS,
        formats::MARKDOWN_EXTENSIONS,
        formats::HTML_EXTENSIONS,
        &["json", "jsonl", "ndjson"],
    ]
    .iter()
    .any(|list| list.contains(&ext.as_str()));
    if text_ext || known_name || TEXT_TYPES.contains(&mime.as_str()) {
        return route(Pipeline::TextRag, RouteReason::PlainText);
    }
    if is(SPREADSHEET_EXTENSIONS, SPREADSHEET_TYPES) {
        return route(Pipeline::TextRag, RouteReason::Spreadsheet);
    }
    let is_pdf = ext == "pdf" || mime == "application/pdf";
    let is_image = IMAGE_EXTENSIONS.contains(&ext.as_str()) || mime.starts_with("image/");
    let known_document = is(DOCUMENT_EXTENSIONS, DOCUMENT_TYPES) || is_image;
    if !known_document && !mime.starts_with("text/") {
        let what = if mime.is_empty() || mime == "application/octet-stream" {
            format!("'{}'", file_name(facts.key))
        } else {
            format!("'{}' ({mime})", file_name(facts.key))
        };
        return Err(UnsupportedType(what));
    }
    if has_form_keyword(facts.key) {
        return route(Pipeline::Vdr, RouteReason::FormOrInvoice);
    }
    if looks_scanned(facts.metadata) || is_image || (is_pdf && facts.pdf_without_text) {
        return route(Pipeline::Vdr, RouteReason::Scanned);
    }
    if is_pdf && facts.size > LARGE_PDF_BYTES {
        return route(Pipeline::Vdr, RouteReason::LargePdf);
    }
    if mime.starts_with("text/") {
        return route(Pipeline::TextRag, RouteReason::PlainText);
    }
    route(Pipeline::TextRag, RouteReason::Document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Pipeline::*;
    use RouteReason::*;

    #[test]
    fn pipeline_names_round_trip_and_unknown_ones_are_refused() {
        for p in [Vdr, TextRag] {
            assert_eq!(Pipeline::parse(p.as_str()), Some(p));
        }
        assert_eq!(Pipeline::parse("text"), None);
        assert_eq!(Pipeline::parse(""), None);
    }

    fn facts<'a>(
        key: &'a str,
        ct: Option<&'a str>,
        size: u64,
        meta: &'a [(String, String)],
    ) -> DocumentFacts<'a> {
        DocumentFacts {
            key,
            content_type: ct,
            size,
            metadata: meta,
            pdf_without_text: false,
        }
    }

    /// key, content type, size, object metadata, expected pipeline, expected reason
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        u64,
        &'a [(String, String)],
        Pipeline,
        RouteReason,
    );

    #[test]
    fn routing_rules() {
        let none: &[(String, String)] = &[];
        let scan = [("source".to_string(), "Scanner-3000".to_string())];
        let flag = [("scanned".to_string(), "true".to_string())];
        let cases: &[Case<'_>] = &[
            // presentations, by extension or MIME type
            ("u/deck.pptx", None, 10, none, Vdr, Presentation),
            ("u/deck.PPT", None, 10, none, Vdr, Presentation),
            ("u/deck.odp", None, 10, none, Vdr, Presentation),
            ("u/deck.key", None, 10, none, Vdr, Presentation),
            (
                "u/deck",
                Some("application/vnd.openxmlformats-officedocument.presentationml.presentation"),
                10,
                none,
                Vdr,
                Presentation,
            ),
            // forms and invoices, by whole words of the name
            ("u/Invoice-2024-03.pdf", None, 10, none, Vdr, FormOrInvoice),
            ("u/tax_return.pdf", None, 10, none, Vdr, FormOrInvoice),
            ("u/claims.docx", None, 10, none, Vdr, FormOrInvoice),
            ("u/receipt.png", None, 10, none, Vdr, FormOrInvoice),
            ("u/information.pdf", None, 10, none, TextRag, Document),
            ("u/platform-guide.pdf", None, 10, none, TextRag, Document),
            // scans: metadata hints, images, PDFs without text
            ("u/letter.pdf", None, 10, &scan, Vdr, Scanned),
            ("u/letter.pdf", None, 10, &flag, Vdr, Scanned),
            ("u/photo.jpg", Some("image/jpeg"), 10, none, Vdr, Scanned),
            // large PDFs
            (
                "u/report.pdf",
                None,
                LARGE_PDF_BYTES + 1,
                none,
                Vdr,
                LargePdf,
            ),
            (
                "u/report.pdf",
                Some("application/pdf"),
                LARGE_PDF_BYTES,
                none,
                TextRag,
                Document,
            ),
            // code never goes to VDR, even with a form keyword in its name
            ("u/tax_form.py", None, 10, none, TextRag, Code),
            ("u/src/main.rs", None, 10, none, TextRag, Code),
            ("u/Makefile", None, 10, none, TextRag, PlainText),
            ("u/config.yaml", None, 10, none, TextRag, PlainText),
            ("u/schema.proto", None, 10, none, TextRag, PlainText),
            // text and spreadsheets
            ("u/notes.md", None, 10, none, TextRag, PlainText),
            ("u/page.html", None, 10, none, TextRag, PlainText),
            ("u/data.json", None, 10, none, TextRag, PlainText),
            (
                "u/readme",
                Some("text/plain; charset=utf-8"),
                10,
                none,
                TextRag,
                PlainText,
            ),
            ("u/table.csv", None, 10, none, TextRag, Spreadsheet),
            ("u/book.xlsx", None, 10, none, TextRag, Spreadsheet),
            ("u/forms.csv", None, 10, none, TextRag, Spreadsheet),
            // other documents
            ("u/essay.docx", None, 10, none, TextRag, Document),
            ("u/paper.pdf", None, 10, none, TextRag, Document),
            (
                "u/export",
                Some("text/x-weird"),
                10,
                none,
                TextRag,
                PlainText,
            ),
        ];
        for (key, ct, size, meta, pipeline, reason) in cases {
            let got =
                classify(&facts(key, *ct, *size, meta)).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(
                (got.pipeline, got.reason),
                (*pipeline, *reason),
                "{key} {ct:?}"
            );
        }
    }

    #[test]
    fn pdf_without_text_layer_is_a_scan() {
        let f = DocumentFacts {
            key: "u/paper.pdf",
            pdf_without_text: true,
            ..Default::default()
        };
        assert_eq!(classify(&f).unwrap().reason, Scanned);
    }

    #[test]
    fn unknown_types_are_refused() {
        for (key, ct) in [
            ("u/archive.zip", None),
            ("u/blob.bin", Some("application/octet-stream")),
            ("u/noext", None),
            ("u/x.exe", Some("application/x-msdownload")),
        ] {
            let err = classify(&facts(key, ct, 10, &[])).unwrap_err();
            assert!(err.0.contains(file_name(key)), "{err}");
        }
    }

    #[test]
    fn names_and_extensions() {
        assert_eq!(file_name("a/b/c.PDF"), "c.PDF");
        assert_eq!(extension("a/b/c.PDF"), "pdf");
        assert_eq!(extension("a/.gitignore"), "");
        assert_eq!(extension("a/b"), "");
    }
}
