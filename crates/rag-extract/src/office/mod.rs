//! Office documents: Word (DOCX), PowerPoint (PPTX) and OpenDocument text
//! and presentations (ODT, ODP), read as Markdown.
//!
//! All four are zip archives of XML parts. [`Package`] opens the archive and
//! hands out parts under the [`Limits`] on entries, total unzipped size and
//! compression ratio (zip bombs), so a reader never holds more than the
//! limits allow; [`xml::walk`] streams a part's XML and refuses document type
//! declarations (entity expansion bombs). The readers build Markdown with
//! [`Markdown`]: headings, paragraphs, list items and tables; [`chart`]
//! reads DrawingML charts (PPTX, DOCX; the ODF reader fills the same
//! [`chart::Chart`] from OpenDocument charts), [`marks`] writes footnotes,
//! comment anchors and list numbers for Word and OpenDocument alike, and
//! [`images`] places embedded
//! pictures in the text and loads them within [`Limits::max_image_bytes`].
//!
//! Password-protected OOXML files are OLE compound files rather than zips
//! and are refused as encrypted before any reader runs (`is_ole` +
//! `is_ooxml`); password-protected OpenDocument files say so in their
//! manifest; legacy ones are recognized in `crate::legacy`. None is
//! decrypted.

pub(crate) mod chart;
pub(crate) mod docx;
pub(crate) mod images;
pub(crate) mod marks;
pub(crate) mod odf;
pub(crate) mod pptx;
pub(crate) mod xml;

use std::collections::HashMap;
use std::io::{Cursor, Read};

use rag_core::ports::ExtractError;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::{table, Limits};

/// Entries unzipping to more than this are checked against
/// [`Limits::max_compression_ratio`]: small parts compress well legitimately.
const RATIO_CHECKED_ABOVE: u64 = 1024 * 1024;

/// The first bytes of an OLE compound file (CFB): legacy `.doc`/`.ppt`/`.xls`
/// files, and password-protected OOXML files, which Office stores as an
/// encrypted package inside a compound file rather than as a zip.
pub(crate) const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Extensions of Office Open XML files (zips when not encrypted).
const OOXML_EXTENSIONS: &[&str] = &[
    "docx", "docm", "dotx", "dotm", "pptx", "pptm", "ppsx", "ppsm", "potx", "potm", "xlsx", "xlsm",
    "xltx", "xltm", "xlsb",
];

/// Whether the bytes are an OLE compound file.
pub(crate) fn is_ole(bytes: &[u8]) -> bool {
    bytes.starts_with(&OLE_MAGIC)
}

/// Whether a file is, by its extension (or, without one, its MIME type), an
/// Office Open XML document. Such a file in an OLE container is encrypted.
pub(crate) fn is_ooxml(ext: &str, mime: &str) -> bool {
    if ext.is_empty() {
        mime.starts_with("application/vnd.openxmlformats-officedocument.")
            || (mime.starts_with("application/vnd.ms-") && mime.ends_with(".macroenabled.12"))
    } else {
        OOXML_EXTENSIONS.contains(&ext)
    }
}

// ---------------------------------------------------------------- package

/// An opened Office zip archive whose parts are read under the limits.
pub(crate) struct Package<'a> {
    archive: ZipArchive<Cursor<&'a [u8]>>,
    /// Entry index by lower-cased name (part names are case-insensitive).
    index: HashMap<String, usize>,
    /// Bytes still allowed to be unzipped.
    budget: u64,
    limits: Limits,
    format: &'static str,
}

impl<'a> Package<'a> {
    /// Opens the archive, refusing one with more entries than allowed.
    pub(crate) fn open(
        bytes: &'a [u8],
        format: &'static str,
        limits: &Limits,
    ) -> Result<Self, ExtractError> {
        let corrupt = |detail: String| ExtractError::Corrupt { format, detail };
        if is_ole(bytes) {
            return Err(corrupt(
                "an OLE compound file (legacy or encrypted Office file), not a zip archive"
                    .to_owned(),
            ));
        }
        let archive = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| corrupt(format!("not a readable zip archive ({e})")))?;
        if archive.len() > limits.max_archive_entries {
            return Err(ExtractError::LimitExceeded(format!(
                "{} files in the archive, more than the {} allowed",
                archive.len(),
                limits.max_archive_entries
            )));
        }
        let index = archive
            .file_names()
            .enumerate()
            .filter_map(|(i, name)| Some((name.ok()?.to_ascii_lowercase(), i)))
            .collect();
        Ok(Self {
            archive,
            index,
            budget: limits.max_archive_bytes,
            limits: *limits,
            format,
        })
    }

    pub(crate) fn format(&self) -> &'static str {
        self.format
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> ExtractError {
        ExtractError::Corrupt {
            format: self.format,
            detail: detail.into(),
        }
    }

    /// Whether the archive has a part of this name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.index
            .contains_key(&name.trim_start_matches('/').to_ascii_lowercase())
    }

    /// A part's text, or `None` when there is no such part. Refuses an
    /// encrypted entry, one whose declared size does not fit in what is left
    /// of [`Limits::max_archive_bytes`], and a large one compressed more than
    /// [`Limits::max_compression_ratio`]; the same limits bound the bytes
    /// actually unzipped, whatever the headers declare.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        Ok(self.read_bytes(name)?.map(decode_xml))
    }

    /// The size a part declares, or `None` when there is no such part.
    pub(crate) fn declared_size(&self, name: &str) -> Option<u64> {
        let &i = self
            .index
            .get(&name.trim_start_matches('/').to_ascii_lowercase())?;
        self.archive.by_index_data(i).ok().map(|entry| entry.size())
    }

    /// A part's bytes, under the same limits as [`Package::read`].
    pub(crate) fn read_bytes(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(&i) = self
            .index
            .get(&name.trim_start_matches('/').to_ascii_lowercase())
        else {
            return Ok(None);
        };
        let format = self.format;
        let corrupt = |e: ZipError| ExtractError::Corrupt {
            format,
            detail: format!("{name}: {e}"),
        };
        let entry = self.archive.by_index_data(i).map_err(corrupt)?;
        if entry.encrypted() {
            return Err(ExtractError::Encrypted);
        }
        let (declared, compressed) = (entry.size(), entry.compressed_size());
        let ratio_cap = self.ratio_cap(compressed);
        if declared > ratio_cap {
            return Err(self.too_compressed(name));
        }
        if declared > self.budget {
            return Err(self.too_large());
        }
        let file = self.archive.by_index(i).map_err(corrupt)?;
        let cap = ratio_cap.min(self.budget);
        let bytes = read_capped(file, cap).map_err(|e| ExtractError::Corrupt {
            format,
            detail: format!("{name}: {e}"),
        })?;
        let Some(bytes) = bytes else {
            return Err(if cap == self.budget {
                self.too_large()
            } else {
                self.too_compressed(name)
            });
        };
        self.budget -= bytes.len() as u64;
        Ok(Some(bytes))
    }

    /// Most bytes an entry of this compressed size may unzip to.
    fn ratio_cap(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.limits.max_compression_ratio)
            .max(RATIO_CHECKED_ABOVE)
    }

    fn too_compressed(&self, name: &str) -> ExtractError {
        ExtractError::LimitExceeded(format!(
            "{name} is compressed more than {}:1 (a zip bomb?)",
            self.limits.max_compression_ratio
        ))
    }

    fn too_large(&self) -> ExtractError {
        ExtractError::LimitExceeded(format!(
            "more than {} bytes of unzipped content",
            self.limits.max_archive_bytes
        ))
    }
}

/// Reads at most `cap` bytes: `None` when there are more.
fn read_capped(reader: impl Read, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// An XML part's text: UTF-8 (the norm) or UTF-16 with a byte order mark;
/// invalid sequences become U+FFFD rather than failing the document.
fn decode_xml(bytes: Vec<u8>) -> String {
    let (encoding, bom) = encoding_rs::Encoding::for_bom(&bytes).unwrap_or((encoding_rs::UTF_8, 0));
    if encoding == encoding_rs::UTF_8 {
        match String::from_utf8(bytes) {
            Ok(mut text) => {
                text.drain(..bom);
                text
            }
            Err(e) => String::from_utf8_lossy(&e.into_bytes()[bom..]).into_owned(),
        }
    } else {
        encoding
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned()
    }
}

/// The package's main part: the target of its `officeDocument`
/// relationship, or `default` when the package does not say.
pub(crate) fn main_part(package: &mut Package<'_>, default: &str) -> Result<String, ExtractError> {
    let rels = xml::Relationships::of(package, "")?;
    Ok(rels
        .first_of_kind("officeDocument")
        .filter(|r| !r.external && package.contains(&r.target))
        .map_or_else(|| default.to_owned(), |r| r.target.clone()))
}

// ---------------------------------------------------------------- Markdown

/// Builds a page's Markdown from blocks: headings, paragraphs and tables
/// are separated by blank lines, consecutive list items by one newline.
#[derive(Debug, Default)]
pub(crate) struct Markdown {
    out: String,
    in_list: bool,
    /// Width of the marker and its space of the open list item at each
    /// level: a nested item is indented to its parent's text.
    indents: Vec<usize>,
}

impl Markdown {
    /// A `#` heading of `level` (1 to 6) on one line.
    pub(crate) fn heading(&mut self, level: usize, text: &str) {
        let text = one_line(text);
        if !text.is_empty() {
            let hashes = "#".repeat(level.clamp(1, 6));
            self.block(&format!("{hashes} {text}"));
        }
    }

    /// A paragraph; line breaks inside it are kept.
    pub(crate) fn paragraph(&mut self, text: &str) {
        let text = tidy(text);
        if !text.is_empty() {
            self.block(&text);
        }
    }

    /// A `- ` list item at `level` (0 at the top).
    pub(crate) fn item(&mut self, level: usize, text: &str) {
        self.item_marked(level, "-", text);
    }

    /// A list item with its marker (`-`, `1.`, `a)`) at `level` (0 at the
    /// top), indented to the text of the item it is nested in (two spaces
    /// per level missing in between).
    pub(crate) fn item_marked(&mut self, level: usize, marker: &str, text: &str) {
        let text = one_line(text);
        if text.is_empty() {
            return;
        }
        if self.in_list {
            self.out.push('\n');
        } else {
            self.indents.clear();
            if !self.out.is_empty() {
                self.out.push_str("\n\n");
            }
        }
        let level = level.min(8);
        self.indents.truncate(level);
        self.indents.resize(level, 2);
        let indent: usize = self.indents.iter().sum();
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(marker);
        self.out.push(' ');
        self.out.push_str(&text);
        self.indents.push(marker.chars().count() + 1);
        self.in_list = true;
    }

    /// A table, its first row as the header; empty rows are dropped and a
    /// one-column table (a layout frame) becomes paragraphs.
    pub(crate) fn table(&mut self, rows: Vec<Vec<String>>) {
        let mut rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|row| row.iter().map(|c| table::cell(c)).collect::<Vec<_>>())
            .filter(|row| row.iter().any(|c| !c.is_empty()))
            .collect();
        // Columns empty in every row (padding after merged cells) go.
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let used = (0..width)
            .rev()
            .find(|&col| {
                rows.iter()
                    .any(|r| r.get(col).is_some_and(|c| !c.is_empty()))
            })
            .map_or(0, |col| col + 1);
        for row in &mut rows {
            row.truncate(used);
        }
        match used {
            0 => {}
            1 => rows.iter().for_each(|row| self.paragraph(&row[0])),
            _ => self.block(table::rows_to_markdown(&rows).trim_end()),
        }
    }

    /// Text added as a block as it is (already Markdown).
    pub(crate) fn raw(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.block(text.trim());
        }
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn block(&mut self, text: &str) {
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
        self.out.push_str(text);
        self.in_list = false;
    }
}

/// Tables being read, innermost last: a table nested in a cell is
/// flattened into that cell's text.
#[derive(Debug, Default)]
pub(crate) struct Tables(Vec<TableBuilder>);

#[derive(Debug, Default)]
struct TableBuilder {
    rows: Vec<Vec<String>>,
    cell: Option<String>,
}

impl Tables {
    pub(crate) fn start(&mut self) {
        self.0.push(TableBuilder::default());
    }

    pub(crate) fn row(&mut self) {
        if let Some(table) = self.0.last_mut() {
            table.rows.push(Vec::new());
        }
    }

    pub(crate) fn cell(&mut self) {
        if let Some(table) = self.0.last_mut() {
            table.cell = Some(String::new());
        }
    }

    /// Adds a paragraph to the open cell: `false` when no cell is open.
    pub(crate) fn text(&mut self, text: &str) -> bool {
        let Some(cell) = self.0.last_mut().and_then(|t| t.cell.as_mut()) else {
            return false;
        };
        let text = one_line(text);
        if !text.is_empty() {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&text);
        }
        true
    }

    /// Closes the open cell, which spans `columns` columns.
    pub(crate) fn end_cell(&mut self, columns: usize) {
        let Some(table) = self.0.last_mut() else {
            return;
        };
        let Some(cell) = table.cell.take() else {
            return;
        };
        if table.rows.is_empty() {
            table.rows.push(Vec::new());
        }
        if let Some(row) = table.rows.last_mut() {
            row.push(cell);
            // A merged cell's other columns stay empty; at most a sheet's
            // worth, whatever the file claims.
            row.extend(std::iter::repeat_n(String::new(), columns.clamp(1, 64) - 1));
        }
    }

    /// Closes the innermost table: its rows when it is the outermost one,
    /// otherwise `None` (its text went into the enclosing cell).
    pub(crate) fn end(&mut self) -> Option<Vec<Vec<String>>> {
        let table = self.0.pop()?;
        if self.0.is_empty() {
            return Some(table.rows);
        }
        let text = table.rows.concat().join(" ");
        self.text(&text);
        None
    }
}

/// Turns the text from byte `start` on into a Markdown link to `url`.
pub(crate) fn link(text: &mut String, start: usize, url: &str) {
    let Some(inner) = text.get(start..) else {
        return;
    };
    let lead = inner.starts_with(char::is_whitespace);
    let trail = inner.ends_with(char::is_whitespace);
    let inner = one_line(inner);
    if !inner.is_empty() && !url.is_empty() && !url.starts_with('#') {
        let url = url.replace(' ', "%20");
        text.truncate(start);
        text.push_str(if lead { " " } else { "" });
        text.push_str(&format!("[{inner}]({url})"));
        text.push_str(if trail { " " } else { "" });
    }
}

/// Text on one line, runs of whitespace as one space.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each line with runs of whitespace as one space; blank lines dropped.
fn tidy(text: &str) -> String {
    text.lines()
        .map(one_line)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// An image's alternative text as a Markdown image reference where the
/// picture was (`![alt](Picture4.jpg)`), or nothing without one. The target
/// names the picture by its shape's name (word characters only, as Office
/// shows it in the selection pane) with its image part's extension, else by
/// the part's own file name: a reader sees which picture the text
/// describes, and the image itself never reaches the index.
pub(crate) fn image(alt: &str, shape: Option<&str>, part: Option<&str>) -> Option<String> {
    let alt = one_line(&images::unmarked(alt)).replace(['[', ']'], "");
    if alt.is_empty() {
        return None;
    }
    let file = part
        .and_then(|p| p.rsplit('/').next())
        .filter(|f| !f.is_empty());
    let extension = file.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e);
    let shape: Option<String> = shape
        .map(|s| {
            s.chars()
                .filter(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .filter(|s: &String| !s.is_empty());
    let target = match (shape, extension, file) {
        (Some(shape), Some(extension), _) => format!("{shape}.{extension}"),
        (_, _, Some(file)) => file.to_owned(),
        (Some(shape), None, None) => shape,
        (None, _, None) => String::new(),
    };
    let target = target.replace(['(', ')', ' '], "");
    Some(format!("![{alt}]({target})"))
}

/// The zip inside a password-protected OOXML file (ECMA-376 agile or
/// standard encryption, as Office writes it), decrypted with `password`
/// by the `office-crypto` crate. Without a password, or with a wrong one,
/// the file is [`ExtractError::Encrypted`].
pub(crate) fn decrypt(bytes: &[u8], password: Option<&str>) -> Result<Vec<u8>, ExtractError> {
    let Some(password) = password else {
        return Err(ExtractError::Encrypted);
    };
    match office_crypto::decrypt_from_bytes(bytes.to_vec(), password) {
        Ok(zip) if zip.starts_with(b"PK") => Ok(zip),
        // A wrong password decrypts to noise, or fails the key check.
        _ => Err(ExtractError::Encrypted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_stop_past_the_cap() {
        // A reader that would produce far more than its header declared.
        let endless = std::io::repeat(b'x');
        assert_eq!(read_capped(endless, 10).ok(), Some(None));
        assert_eq!(
            read_capped(&b"0123456789"[..], 10).ok(),
            Some(Some(b"0123456789".to_vec()))
        );
    }

    #[test]
    fn utf16_and_bom_parts_decode() {
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode_xml(utf16), "<a>é</a>");
        assert_eq!(decode_xml(b"\xEF\xBB\xBF<a/>".to_vec()), "<a/>");
        assert_eq!(decode_xml(b"<a>\xFF</a>".to_vec()), "<a>\u{FFFD}</a>");
    }

    #[test]
    fn markdown_blocks() {
        let mut md = Markdown::default();
        md.heading(9, "  A   title ");
        md.item(0, "one");
        md.item(1, "two\nlines");
        md.paragraph("para\n\n  with break ");
        md.table(vec![
            vec!["h1".into(), "h|2".into(), String::new()],
            vec![String::new(), String::new()],
            vec!["a".into(), "b".into()],
        ]);
        md.table(vec![vec!["only".into()], vec!["column".into()]]);
        assert_eq!(
            md.finish(),
            "###### A title\n\n- one\n  - two lines\n\npara\nwith break\n\n\
             | h1 | h\\|2 |\n| --- | --- |\n| a | b |\n\nonly\n\ncolumn"
        );
    }

    #[test]
    fn ooxml_names_and_types() {
        assert!(is_ooxml("docx", ""));
        assert!(is_ooxml("xlsx", ""));
        assert!(!is_ooxml(
            "doc",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ));
        assert!(is_ooxml(
            "",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        ));
        assert!(is_ooxml(
            "",
            "application/vnd.ms-word.document.macroenabled.12"
        ));
        assert!(!is_ooxml("", "application/msword"));
    }
}
