//! Telling a file's format from its content, where its name and type say
//! nothing (no extension, `application/octet-stream`: a download saved as
//! `file`, an S3 object written without a type) or only "XML" (a feed or
//! an XHTML page saved as `.xml`).
//!
//! Signatures first (PDF, images, zip and OLE containers, whose entries
//! tell the Office formats apart), then text: a feed or web page by its
//! root element, JSON by parsing, a mail by its header block, else plain
//! text. Only the start of the file is looked at, except a zip's directory
//! and an OLE container's entry names, which the readers read anyway.

use std::io::{Cursor, Read};

use crate::{feed, office, Reader};

/// How much of a file's start the text checks look at.
const HEAD: usize = 8 * 1024;

/// The reader for `bytes` by their content alone; `None` when they are
/// binary of no format read here.
pub(crate) fn by_content(bytes: &[u8]) -> Option<Reader> {
    let head = &bytes[..bytes.len().min(HEAD)];
    // Containers: what they hold, or nothing read here.
    if head.starts_with(b"PK\x03\x04") {
        return zip_kind(bytes);
    }
    if office::is_ole(head) {
        return ole_kind(bytes);
    }
    if let Some(reader) = by_signature(head) {
        return Some(reader);
    }
    // Text in any encoding the text reader takes (UTF-8, UTF-16, legacy
    // code pages); binary (NUL bytes that are not UTF-16, control bytes) is
    // no format read here.
    // UTF-16 without a BOM is half NUL bytes; a few NULs are binary.
    let nuls = head.iter().filter(|&&b| b == 0).count();
    let bom = encoding_rs::Encoding::for_bom(head).is_some();
    if nuls > 0 && !bom && nuls * 4 < head.len() {
        return None;
    }
    let text = crate::decode::decode_text(head, None, "").ok()?;
    let controls = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
        .count();
    if controls * 20 > text.chars().count() {
        return None;
    }
    Some(markup(&text).unwrap_or_else(|| plain_kind(bytes, &text)))
}

/// [`markup`] of the start of `bytes` (an XML-named file: a feed or XHTML
/// saved as `.xml`).
pub(crate) fn markup_of(bytes: &[u8]) -> Option<Reader> {
    markup(&String::from_utf8_lossy(&bytes[..bytes.len().min(HEAD)]))
}

/// The reader for XML or HTML text by its root element: a feed (RSS, Atom,
/// RSS 1.0) or a web page; `None` for other text.
fn markup(text: &str) -> Option<Reader> {
    if feed::looks_like_feed(text) {
        return Some(Reader::Feed);
    }
    let start: String = after_prolog(text)
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    (start.starts_with("<!doctype html") || start.starts_with("<html")).then_some(Reader::Html)
}

fn by_signature(head: &[u8]) -> Option<Reader> {
    // PDF readers accept the header within the first 1024 bytes, after
    // junk; not after text (a note that mentions "%PDF-1.7").
    let pdf = head
        .windows(5)
        .take(1024)
        .position(|w| w == b"%PDF-")
        .is_some_and(|at| !head[..at].iter().any(u8::is_ascii_alphabetic));
    if pdf {
        return Some(Reader::Pdf);
    }
    let image = head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || is_bmp(head)
        || (head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP"));
    if image {
        return Some(Reader::Image);
    }
    None
}

/// "BM" and a DIB header size a BMP has (text may start with "BM" too).
fn is_bmp(head: &[u8]) -> bool {
    let dib = head
        .get(14..18)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    head.starts_with(b"BM") && matches!(dib, Some(12 | 40 | 52 | 56 | 64 | 108 | 124))
}

/// An Office, OpenDocument or EPUB package by its entries.
fn zip_kind(bytes: &[u8]) -> Option<Reader> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut mimetype = String::new();
    if let Ok(entry) = archive.by_name("mimetype") {
        entry.take(128).read_to_string(&mut mimetype).ok()?;
    }
    let by_mimetype = match mimetype.trim() {
        "application/epub+zip" => Some(Reader::Epub),
        "application/vnd.oasis.opendocument.text"
        | "application/vnd.oasis.opendocument.text-template" => Some(Reader::Odt),
        "application/vnd.oasis.opendocument.presentation"
        | "application/vnd.oasis.opendocument.presentation-template" => Some(Reader::Odp),
        "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.oasis.opendocument.spreadsheet-template" => Some(Reader::Spreadsheet),
        _ => None,
    };
    if by_mimetype.is_some() {
        return by_mimetype;
    }
    let has = |name: &str| archive.index_for_name(name).is_some();
    if !has("[Content_Types].xml") {
        return None;
    }
    if has("word/document.xml") {
        Some(Reader::Docx)
    } else if has("ppt/presentation.xml") {
        Some(Reader::Pptx)
    } else if has("xl/workbook.xml") || has("xl/workbook.bin") {
        Some(Reader::Spreadsheet)
    } else {
        None
    }
}

/// A legacy Office file or an Outlook message by its streams.
fn ole_kind(bytes: &[u8]) -> Option<Reader> {
    let file = cfb::CompoundFile::open(Cursor::new(bytes)).ok()?;
    let names: Vec<String> = file
        .read_root_storage()
        .map(|e| e.name().to_owned())
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("WordDocument") {
        Some(Reader::Doc)
    } else if has("PowerPoint Document") {
        Some(Reader::Ppt)
    } else if has("Workbook") || has("Book") {
        Some(Reader::Spreadsheet)
    } else if names.iter().any(|n| n.starts_with("__substg1.0_")) {
        Some(Reader::Msg)
    } else {
        None
    }
}

/// Text that is not markup: a notebook or other JSON when it parses as
/// such, a mail when it opens with a header block, else plain text.
fn plain_kind(bytes: &[u8], head: &str) -> Reader {
    let start = head.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        // Checked without building a tree (the JSON reader streams it
        // again); Jupyter writes its keys sorted: "cells" first, "nbformat"
        // last.
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            let tail = &bytes[bytes.len().saturating_sub(HEAD)..];
            let has = |part: &[u8], key: &[u8]| part.windows(key.len()).any(|w| w == key);
            let notebook = start.starts_with('{')
                && has(head.as_bytes(), b"\"cells\"")
                && has(tail, b"\"nbformat\"");
            return if notebook {
                Reader::Notebook
            } else {
                Reader::Json
            };
        }
    }
    if is_mail(start) {
        Reader::Eml
    } else {
        Reader::Text
    }
}

/// Whether the text opens with an RFC 5322 header block naming a sender
/// or a mail hop, ended by a blank line.
fn is_mail(text: &str) -> bool {
    const TELLING: &[&str] = &[
        "from",
        "received",
        "return-path",
        "message-id",
        "mime-version",
    ];
    let mut telling = false;
    for line in text.lines().take(200) {
        if line.trim().is_empty() {
            return telling;
        }
        if line.starts_with([' ', '\t']) {
            continue; // a folded header
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid {
            return false;
        }
        telling |= TELLING.contains(&name.to_ascii_lowercase().as_str());
    }
    false
}

/// The text after a byte-order mark, the XML declaration, comments and
/// processing instructions: where the root element starts. Empty when one
/// of them is not closed.
pub(crate) fn after_prolog(text: &str) -> &str {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        let skipped = [("<?", "?>"), ("<!--", "-->")]
            .iter()
            .find_map(|(open, close)| {
                let after = rest.strip_prefix(open)?;
                Some(after.find(close).map(|end| &after[end + close.len()..]))
            });
        match skipped {
            Some(Some(after)) => rest = after,
            Some(None) => return "",
            None => return rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_kinds_by_content() {
        let cases: &[(&str, Option<Reader>)] = &[
            (
                "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>",
                Some(Reader::Feed),
            ),
            (
                "<!-- saved --><!DOCTYPE html><html><body>x</body></html>",
                Some(Reader::Html),
            ),
            (
                "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"/>",
                Some(Reader::Html),
            ),
            ("{\"a\": 1}", Some(Reader::Json)),
            (
                "{\"cells\": [], \"nbformat\": 4, \"nbformat_minor\": 5, \"metadata\": {}}",
                Some(Reader::Notebook),
            ),
            (
                "Received: from mx\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nbody",
                Some(Reader::Eml),
            ),
            ("{not json", Some(Reader::Text)),
            ("Dear team: the plan\n\nis ready.", Some(Reader::Text)),
            ("Subject: no sender\n\nbody", Some(Reader::Text)),
            ("binary\0data", None),
            // Text that starts like a signature is text.
            ("BMW annual report 2024", Some(Reader::Text)),
            ("To make one: %PDF-1.7 then objects.", Some(Reader::Text)),
        ];
        for (text, reader) in cases {
            assert_eq!(by_content(text.as_bytes()), *reader, "{text:?}");
        }
        // Text in a legacy code page or UTF-16 is text too.
        let latin1: &[u8] = b"Caf\xe9 cr\xe8me \xe0 Z\xfcrich, un r\xe9sum\xe9.";
        assert_eq!(by_content(latin1), Some(Reader::Text));
        let utf16: Vec<u8> = "\u{feff}Dear team, the plan is ready."
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(by_content(&utf16), Some(Reader::Text));
    }

    #[test]
    fn signatures() {
        assert_eq!(by_content(b"%PDF-1.7\n..."), Some(Reader::Pdf));
        assert_eq!(by_content(b"\x89PNG\r\n\x1a\n\0\0"), Some(Reader::Image));
        assert_eq!(by_content(b"PK\x03\x04 not a zip"), None);
        assert_eq!(markup("<?xml version=\"1.0\"?><project/>"), None);
    }
}
