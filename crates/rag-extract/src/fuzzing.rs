//! Entry points for coverage-guided fuzzing of every reader
//! (`crates/rag-extract/fuzz`, run by `scripts/fuzz.sh`), and for replaying
//! the corpora those runs kept (`tests/fuzz_corpus.rs`, in CI).
//!
//! Each takes the fuzzer's bytes and reads them the way the pipeline would,
//! through the same thread (large stack, panics contained) and limits, with
//! OCR and LibreOffice off (external programs, not this crate's code). The
//! first byte picks the format where one target covers a family, so one
//! corpus can move between, say, a DOCX and an ODT. A reader's result does
//! not matter; what must not happen is a panic in this project's code
//! (contained or not: it is a bug), a crash, a hang (the fuzzer's timeout is
//! far below the reading budget, so a slow input is reported rather than
//! abandoned) or a runaway allocation (its memory limit). A panic inside a
//! third-party parser (pdf-extract panics on malformed PDFs) is contained
//! by design and only counted ([`contained_panics`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use rag_core::ports::ExtractInput;

use crate::pdf::{extract_pdf, PdfEngine};
use crate::{isolated, FileExtractor, Limits};

/// The limits readers run under while fuzzed: the pipeline's, with a
/// reading budget above any fuzzer timeout.
fn limits() -> Limits {
    Limits {
        max_duration: Duration::from_secs(300),
        ..Limits::default()
    }
}

/// Panics inside third-party code since the fuzzer started, contained by
/// the readers as designed.
pub fn contained_panics() -> usize {
    CONTAINED.load(Ordering::Relaxed)
}

static CONTAINED: AtomicUsize = AtomicUsize::new(0);

/// libFuzzer's harness turns every panic into an abort, so that a panic a
/// reader contains is still reported. That is right for this project's
/// code, not for a dependency's panics the readers contain on purpose: those
/// are counted and let through to their `catch_unwind`.
fn judge_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let harness = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let third_party = info
                .location()
                .is_some_and(|l| l.file().contains("/.cargo/registry/"));
            let in_reader = std::thread::current().name() == Some("rag-extract");
            if third_party && in_reader {
                CONTAINED.fetch_add(1, Ordering::Relaxed);
            } else {
                harness(info);
            }
        }));
    });
}

fn read(data: &[u8], file_name: &str) {
    judge_panics();
    let extractor = FileExtractor::new(limits())
        .with_ocr(false)
        .with_libreoffice(false);
    let _ = extractor.extract_with_notes(ExtractInput::new(data, file_name, None));
}

/// The first byte picks a name from `names`; the rest is the file.
fn pick<'a>(data: &'a [u8], names: &[&'static str]) -> Option<(&'static str, &'a [u8])> {
    let (&first, rest) = data.split_first()?;
    Some((names[usize::from(first) % names.len()], rest))
}

/// A PDF, through one engine (PDFium needs `libpdfium.so`: see
/// `scripts/fetch-pdfium.sh`).
pub fn pdf(engine: PdfEngine, data: &[u8]) {
    judge_panics();
    let bytes = data.to_vec();
    let limits = limits();
    let _ = isolated("PDF", limits.max_duration, move || {
        extract_pdf(engine, &bytes, None, None, &limits)
    });
}

/// The zip-based office formats and EPUB (and legacy XLS, an OLE file).
pub const OFFICE: [&str; 8] = [
    "f.docx", "f.pptx", "f.xlsx", "f.odt", "f.odp", "f.ods", "f.epub", "f.xls",
];

/// An office document or e-book, its format picked by the first byte
/// ([`OFFICE`]).
pub fn office(data: &[u8]) {
    if let Some((name, file)) = pick(data, &OFFICE) {
        read(file, name);
    }
}

/// E-mail formats.
pub const EMAIL: [&str; 2] = ["m.eml", "m.msg"];

/// An e-mail, `.eml` or Outlook `.msg` by the first byte ([`EMAIL`]).
pub fn email(data: &[u8]) {
    if let Some((name, file)) = pick(data, &EMAIL) {
        read(file, name);
    }
}

/// Image formats (TIFF with several frames included).
pub const IMAGE: [&str; 6] = ["i.png", "i.jpg", "i.gif", "i.bmp", "i.webp", "i.tif"];

/// An image, its format picked by the first byte ([`IMAGE`]): headers,
/// EXIF, frames and pixel limits (OCR is Tesseract's, not ours).
pub fn image(data: &[u8]) {
    if let Some((name, file)) = pick(data, &IMAGE) {
        read(file, name);
    }
}

/// An HTML page.
pub fn html(data: &[u8]) {
    read(data, "page.html");
}

/// Delimited text, CSV or TSV by the first byte.
pub fn csv(data: &[u8]) {
    if let Some((name, file)) = pick(data, &["t.csv", "t.tsv"]) {
        read(file, name);
    }
}

/// The other text formats: JSON, JSON Lines, notebooks, feeds, Markdown
/// and plain text in any encoding, by the first byte.
pub const TEXT: [&str; 6] = ["d.json", "d.jsonl", "d.ipynb", "d.rss", "d.md", "d.txt"];

/// A text-based document ([`TEXT`]).
pub fn text(data: &[u8]) {
    if let Some((name, file)) = pick(data, &TEXT) {
        read(file, name);
    }
}
