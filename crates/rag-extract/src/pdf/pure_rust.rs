//! The pure-Rust engine, used when PDFium is not available: lopdf parses
//! and decrypts the file, pdf-extract lays out the text of each page. Text
//! only: no embedded images, no rendering.
//!
//! pdf-extract panics on many malformed inputs (it unwraps freely), so every
//! page runs under `catch_unwind` and a page that fails keeps whatever text it
//! produced before failing. Recursion is another matter: a stack overflow
//! aborts the process. lopdf's parser recurses once per nesting level of
//! arrays and dictionaries, and pdf-extract follows page-tree parents and
//! form XObjects without bounds; so the file, its object streams and each
//! page's content are checked for deep nesting, and pages whose tree or
//! forms loop are skipped, before either library sees them.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use rag_core::domain::job::PageRange;
use rag_core::ports::{ExtractError, ExtractedPage};

use super::clean::clean;
use super::{corrupt, Deadline};
use crate::Limits;
use crate::{check_page_count, unwanted};

/// Levels of `Parent` above a page before the tree is considered broken.
const MAX_TREE_DEPTH: usize = 64;
/// Form XObjects drawn inside each other before a page is considered hostile.
const MAX_FORM_DEPTH: usize = 32;
/// Distinct (form, resources) pairs checked per page.
const MAX_FORM_VISITS: usize = 4096;

/// The pages of a PDF, and notes about pages that could not be read fully.
/// The caller has checked the header and the file's nesting
/// ([`nested_too_deeply`]).
pub(super) fn extract(
    bytes: &[u8],
    wanted: Option<PageRange>,
    limits: &Limits,
    deadline: &Deadline,
) -> Result<(Vec<ExtractedPage>, Vec<String>), ExtractError> {
    let mut notes = Vec::new();
    let doc = match load(bytes) {
        Ok(doc) => doc,
        Err(error) => match rebuild_xref(bytes).and_then(|fixed| load(&fixed).ok()) {
            Some(doc) => {
                notes.push(
                    "the file's cross-reference table was damaged and has been rebuilt".to_owned(),
                );
                doc
            }
            None => return Err(corrupt(error)),
        },
    };
    // lopdf already tried the empty user password while loading (files with
    // only an owner password open that way); without a decryption state the
    // file needs a real password, and lopdf 0.38 keeps no way to give one
    // (it drops the undecrypted objects).
    if doc.trailer.get(b"Encrypt").is_ok() && doc.encryption_state.is_none() {
        return Err(ExtractError::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(corrupt("the document has no pages"));
    }
    check_page_count(pages.len(), wanted, limits, "pages")?;

    let mut out = Vec::with_capacity(pages.len());
    let mut chars = 0usize;
    for (&number, &page_id) in &pages {
        if let Some(skipped) = unwanted(wanted, number) {
            out.push(skipped);
            continue;
        }
        deadline.check()?;
        let raw = match hazard(&doc, page_id) {
            Some(reason) => {
                notes.push(format!("page {number}: skipped, {reason}"));
                String::new()
            }
            None => {
                let (raw, failure) = page_text(&doc, number);
                if let Some(failure) = failure {
                    notes.push(format!(
                        "page {number}: text could not be extracted fully ({failure})"
                    ));
                }
                raw
            }
        };
        let text = clean(&raw);
        chars += text.chars().count();
        if chars > limits.max_chars {
            return Err(crate::too_many_chars(limits));
        }
        out.push(ExtractedPage {
            number: Some(number),
            text,
        });
    }
    Ok((out, notes))
}

/// Loads a document with lopdf, refusing object streams nested too deeply
/// for its recursive parser (their content is compressed, so the check of
/// the raw file cannot see it).
fn load(bytes: &[u8]) -> Result<Document, String> {
    DEEP_OBJECT_STREAM.set(false);
    let reader = lopdf::Reader {
        buffer: bytes,
        document: Document::new(),
        encryption_state: None,
        raw_objects: Default::default(),
    };
    let doc = reader
        .read(Some(guard_object_streams))
        .map_err(|e| e.to_string())?;
    if DEEP_OBJECT_STREAM.replace(false) {
        return Err(TOO_DEEP.to_owned());
    }
    Ok(doc)
}

thread_local! {
    /// Set by [`guard_object_streams`] (a plain `fn`, it cannot capture).
    static DEEP_OBJECT_STREAM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(super) const TOO_DEEP: &str = "its objects are nested too deeply";

/// lopdf's load filter: sees every object before object streams are
/// expanded, and drops an object stream whose content nests too deeply.
fn guard_object_streams(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object {
        if stream.dict.has_type(b"ObjStm") && nested_too_deeply(&stream_content(stream), false) {
            DEEP_OBJECT_STREAM.set(true);
            return None;
        }
        // lopdf keeps its own copy of top-level objects; only objects from
        // object streams (never streams) are taken from the return value.
        return Some((id, Object::Null));
    }
    Some((id, object.clone()))
}

/// Arrays and dictionaries nested deeper than this are refused: lopdf's
/// parser recurses per level, and real files stay far below it.
const MAX_NESTING: usize = 256;

/// Whether `[` / `<<` nest deeper than [`MAX_NESTING`]. Nothing is skipped
/// (strings, comments) that could hide an object from this scan but not
/// from lopdf, which parses objects at the offsets the xref table gives;
/// in a whole file (`whole_file`), stream data is skipped up to `endstream`
/// or the next `N G obj` header, and the count restarts at each header.
pub(super) fn nested_too_deeply(bytes: &[u8], whole_file: bool) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let at_token = i == 0 || is_pdf_space(bytes[i - 1]);
        if whole_file && at_token && bytes[i].is_ascii_digit() {
            if let Some((_, _, end)) = object_header(bytes, i) {
                depth = 0;
                i = end;
                continue;
            }
        }
        match bytes[i] {
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b's' if whole_file
                && bytes[i..].starts_with(b"stream")
                && (i == 0 || !bytes[i - 1].is_ascii_alphabetic()) =>
            {
                i = stream_data_end(bytes, i + b"stream".len());
                continue;
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return true;
        }
        i += 1;
    }
    false
}

/// Where scanning resumes after the data of a stream starting at `from`:
/// after its `endstream`, or at an object header met first.
fn stream_data_end(bytes: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < bytes.len() {
        if bytes[j] == b'e' && bytes[j..].starts_with(b"endstream") {
            return j + b"endstream".len();
        }
        if bytes[j].is_ascii_digit()
            && is_pdf_space(bytes[j - 1])
            && object_header(bytes, j).is_some()
        {
            return j;
        }
        j += 1;
    }
    bytes.len()
}

/// Runs pdf-extract on one page; on an error or a panic, returns the text
/// produced so far and what went wrong.
fn page_text(doc: &Document, number: u32) -> (String, Option<String>) {
    let mut collector = TextCollector::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        pdf_extract::output_doc_page(doc, &mut collector, number)
    }));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the PDF reader failed on this page".to_owned()),
    };
    (collector.render(), failure)
}

/// One glyph as pdf-extract placed it.
struct Glyph {
    text: String,
    /// Line breaks before it (0, 1 or 2), decided as pdf-extract's own
    /// `PlainTextOutput` does.
    breaks: u8,
    /// Horizontal gap from the end of the previous glyph, in font sizes,
    /// when it starts a text run on the same line.
    gap: Option<f64>,
    /// The previous glyph had no known width, so the gap is its whole advance.
    after_widthless: bool,
}

/// pdf-extract's `PlainTextOutput` layout, except after a glyph whose width
/// pdf-extract could not find (it happens with the fonts of Google Docs and
/// Chrome PDFs): the gap then is that glyph's own advance, ~0.6 of the font
/// size, and taking it for a word break gives "Exa mp le do cumen t". Only a
/// gap wider than any glyph counts as a space there.
#[derive(Default)]
struct TextCollector {
    glyphs: Vec<Glyph>,
    page_height: f64,
    last_end: f64,
    last_y: f64,
    last_widthless: bool,
    run_start: bool,
}

impl TextCollector {
    /// Gap (in font sizes) that makes a space: pdf-extract's threshold (TeX
    /// and Ghostscript word gaps are ~0.3, kerning stays under 0.1).
    const WORD_GAP: f64 = 0.1;
    /// The same after a glyph of unknown width.
    const WIDE_GAP: f64 = 1.0;

    fn render(&self) -> String {
        let mut out = String::with_capacity(self.glyphs.len() * 2);
        for glyph in &self.glyphs {
            for _ in 0..glyph.breaks {
                out.push('\n');
            }
            let threshold = if glyph.after_widthless {
                Self::WIDE_GAP
            } else {
                Self::WORD_GAP
            };
            if glyph.breaks == 0 && glyph.gap.is_some_and(|gap| gap > threshold) {
                out.push(' ');
            }
            out.push_str(&glyph.text);
        }
        out
    }
}

impl OutputDev for TextCollector {
    fn begin_page(
        &mut self,
        _page: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.page_height = media_box.ury - media_box.lly;
        self.last_end = 100_000.0;
        self.last_y = 0.0;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), OutputError> {
        // Device position with the y axis pointing down, as pdf-extract does.
        let (x, y) = (trm.m31, self.page_height - trm.m32);
        let size = font_size * (trm.m11 * trm.m22 - trm.m12 * trm.m21).abs().sqrt();
        let mut glyph = Glyph {
            text: text.to_owned(),
            breaks: 0,
            gap: None,
            after_widthless: self.last_widthless,
        };
        if self.run_start && !self.glyphs.is_empty() && size.is_finite() && size > 0.0 {
            let dy = (y - self.last_y).abs();
            if dy > size * 1.5 {
                glyph.breaks += 1;
            }
            if x < self.last_end && dy > size * 0.5 {
                glyph.breaks += 1;
            }
            glyph.gap = Some((x - self.last_end) / size);
        }
        self.run_start = false;
        self.last_y = y;
        self.last_end = x + width * size;
        self.last_widthless = width == 0.0 && !text.trim().is_empty();
        self.glyphs.push(glyph);
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.run_start = true;
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Structures pdf-extract would recurse into forever: a `Parent` chain that
/// loops, or a form XObject that (indirectly) draws itself.
fn hazard(doc: &Document, page_id: ObjectId) -> Option<&'static str> {
    let mut seen = HashSet::new();
    let mut current = page_id;
    let mut resources = None;
    for depth in 0.. {
        if depth >= MAX_TREE_DEPTH || !seen.insert(current) {
            return Some("its page tree loops or is too deep");
        }
        let Ok(dict) = doc.get_dictionary(current) else {
            break;
        };
        if resources.is_none() {
            resources = dict.get(b"Resources").ok().and_then(|r| as_dict(doc, r));
        }
        match dict.get(b"Parent").and_then(Object::as_reference) {
            Ok(parent) => current = parent,
            Err(_) => break,
        }
    }
    let resources = resources?;
    let content = doc.get_page_content(page_id).ok()?;
    if nested_too_deeply(&content, false) {
        return Some(TOO_DEEP_CONTENT);
    }
    let mut checker = FormChecker {
        doc,
        stack: Vec::new(),
        done: HashSet::new(),
        visits: 0,
    };
    checker.check(&content, resources).err()
}

const TOO_DEEP_CONTENT: &str = "its content is nested too deeply";

struct FormChecker<'a> {
    doc: &'a Document,
    /// Forms being drawn, outermost first.
    stack: Vec<ObjectId>,
    /// (form, resources address) pairs already found safe.
    done: HashSet<(ObjectId, usize)>,
    visits: usize,
}

impl<'a> FormChecker<'a> {
    /// Follows every `Do` of a content stream the way pdf-extract does: the
    /// XObject's own resources, or else the caller's.
    fn check(&mut self, content: &[u8], resources: &'a Dictionary) -> Result<(), &'static str> {
        let Ok(content) = Content::decode(content) else {
            return Ok(());
        };
        let xobjects = resources
            .get(b"XObject")
            .ok()
            .and_then(|x| as_dict(self.doc, x));
        for op in content.operations.iter().filter(|op| op.operator == "Do") {
            let Some(xobjects) = xobjects else {
                return Ok(());
            };
            let Some(name) = op.operands.first().and_then(|n| n.as_name().ok()) else {
                continue;
            };
            let Ok(entry) = xobjects.get(name) else {
                continue;
            };
            let Ok((Some(id), Object::Stream(stream))) = self.doc.dereference(entry) else {
                continue;
            };
            let inner = stream
                .dict
                .get(b"Resources")
                .ok()
                .and_then(|r| as_dict(self.doc, r))
                .unwrap_or(resources);
            let key = (id, inner as *const Dictionary as usize);
            if self.done.contains(&key) {
                continue;
            }
            if self.stack.contains(&id) {
                return Err("a form on it draws itself");
            }
            self.visits += 1;
            if self.stack.len() >= MAX_FORM_DEPTH || self.visits > MAX_FORM_VISITS {
                return Err("its forms are nested too deeply");
            }
            let content = stream_content(stream);
            if nested_too_deeply(&content, false) {
                return Err(TOO_DEEP_CONTENT);
            }
            self.stack.push(id);
            let result = self.check(&content, inner);
            self.stack.pop();
            result?;
            self.done.insert(key);
        }
        Ok(())
    }
}

/// A copy of a PDF whose cross-reference table is damaged (wrong offsets,
/// entries of the wrong length: common in files from ad-hoc generators), with
/// a new table built by scanning for `N G obj` headers appended, the way
/// PDF viewers repair such files. `None` for files that look cut off (no
/// `%%EOF` at the end): those are refused rather than read in part.
fn rebuild_xref(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = bytes.windows(5).position(|w| w == b"%PDF-")?;
    let body = &bytes[start..];
    let tail = &body[body.len().saturating_sub(1024)..];
    find(tail, b"%%EOF")?;
    let objects = object_offsets(body);
    let max = *objects.keys().next_back()?;
    let root = last_reference(body, b"/Root").or_else(|| catalog_object(body, &objects))?;

    let mut out = Vec::with_capacity(body.len() + (max as usize + 1) * 20 + 256);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\n");
    let xref_at = out.len();
    let size = max + 1;
    out.extend_from_slice(format!("xref\n0 {size}\n").as_bytes());
    for number in 0..size {
        let entry = match objects.get(&number) {
            Some((offset, generation)) => format!("{offset:010} {generation:05} n\r\n"),
            None => "0000000000 65535 f\r\n".to_owned(),
        };
        out.extend_from_slice(entry.as_bytes());
    }
    let mut trailer = format!("trailer\n<< /Size {size} /Root {} {} R", root.0, root.1);
    for key in [&b"/Info"[..], b"/Encrypt"] {
        if let Some((number, generation)) = last_reference(body, key) {
            trailer.push_str(&format!(
                " {} {number} {generation} R",
                String::from_utf8_lossy(key)
            ));
        }
    }
    if let Some(id) = last_id_array(body) {
        trailer.push_str(" /ID ");
        trailer.push_str(&id);
    }
    trailer.push_str(&format!(" >>\nstartxref\n{xref_at}\n%%EOF\n"));
    out.extend_from_slice(trailer.as_bytes());
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn is_pdf_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

/// Parses an unsigned integer at `i`, returning it and the index after it.
fn number_at(bytes: &[u8], i: usize) -> Option<(u64, usize)> {
    let digits = bytes
        .get(i..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 10 {
        return None;
    }
    let text = std::str::from_utf8(&bytes[i..i + digits]).ok()?;
    Some((text.parse().ok()?, i + digits))
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).copied().is_some_and(is_pdf_space) {
        i += 1;
    }
    i
}

/// `N G obj` headers at the start of a line (or after whitespace): the last
/// one of each object number wins, as in an incremental update.
fn object_offsets(body: &[u8]) -> std::collections::BTreeMap<u32, (usize, u16)> {
    let mut objects = std::collections::BTreeMap::new();
    let mut i = 0;
    while i < body.len() {
        let at_start = i == 0 || is_pdf_space(body[i - 1]);
        if at_start && body[i].is_ascii_digit() {
            if let Some((number, generation, end)) = object_header(body, i) {
                objects.insert(number, (i, generation));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    objects
}

fn object_header(body: &[u8], i: usize) -> Option<(u32, u16, usize)> {
    let (number, j) = number_at(body, i)?;
    let k = skip_spaces(body, j);
    if k == j {
        return None;
    }
    let (generation, l) = number_at(body, k)?;
    let m = skip_spaces(body, l);
    if m == l || body.get(m..m + 3) != Some(b"obj") {
        return None;
    }
    let after = body.get(m + 3).copied();
    if after.is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((
        u32::try_from(number).ok()?,
        u16::try_from(generation).ok()?,
        m + 3,
    ))
}

/// The last `key N G R` in the file (trailers and cross-reference streams
/// both carry `/Root`, `/Info` and `/Encrypt` that way).
fn last_reference(body: &[u8], key: &[u8]) -> Option<(u32, u16)> {
    let mut end = body.len();
    while let Some(pos) = rfind(&body[..end], key) {
        end = pos;
        let i = skip_spaces(body, pos + key.len());
        let Some((number, j)) = number_at(body, i) else {
            continue;
        };
        let k = skip_spaces(body, j);
        let Some((generation, l)) = number_at(body, k) else {
            continue;
        };
        if body.get(skip_spaces(body, l)) == Some(&b'R') {
            return Some((u32::try_from(number).ok()?, u16::try_from(generation).ok()?));
        }
    }
    None
}

/// The object whose dictionary says `/Type /Catalog`, when no trailer names it.
fn catalog_object(
    body: &[u8],
    objects: &std::collections::BTreeMap<u32, (usize, u16)>,
) -> Option<(u32, u16)> {
    let pos = [&b"/Type /Catalog"[..], b"/Type/Catalog"]
        .iter()
        .filter_map(|p| rfind(body, p))
        .max()?;
    objects
        .iter()
        .filter(|(_, (offset, _))| *offset < pos)
        .max_by_key(|(_, (offset, _))| *offset)
        .map(|(number, (_, generation))| (*number, *generation))
}

/// The last `/ID [<...> <...>]` array, verbatim (decryption needs it).
fn last_id_array(body: &[u8]) -> Option<String> {
    let pos = rfind(body, b"/ID")?;
    let open = skip_spaces(body, pos + 3);
    if body.get(open) != Some(&b'[') {
        return None;
    }
    let len = body
        .get(open..)?
        .iter()
        .take(512)
        .position(|b| *b == b']')?;
    let array = std::str::from_utf8(&body[open..=open + len]).ok()?;
    array
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || matches!(b, b'<' | b'>' | b'[' | b']') || is_pdf_space(b))
        .then(|| array.to_owned())
}

/// A stream's decoded bytes, as pdf-extract reads them.
fn stream_content(stream: &Stream) -> Vec<u8> {
    if stream.filters().is_ok() {
        stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    }
}

fn as_dict<'a>(doc: &'a Document, object: &'a Object) -> Option<&'a Dictionary> {
    match doc.dereference(object) {
        Ok((_, Object::Dictionary(dict))) => Some(dict),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::nested_too_deeply;

    #[test]
    fn nesting_scan_skips_stream_data_but_nothing_that_could_hide_an_object() {
        let deep = format!("{}0{}", "[".repeat(300), "]".repeat(300));
        let binary: Vec<u8> = (0..200_000u32)
            .map(|i| if i % 7 == 0 { b'[' } else { b'x' })
            .collect();
        let mut file = b"%PDF-1.7\n1 0 obj\n<< /Length 200000 >>\nstream\n".to_vec();
        file.extend_from_slice(&binary);
        file.extend_from_slice(b"\nendstream\nendobj\n2 0 obj\n[[1]]\nendobj\n");
        assert!(!nested_too_deeply(&file, true));
        assert!(nested_too_deeply(&binary, false));
        for hiding in [
            "% comment ",
            "(unclosed string ",
            "<unclosed hex ",
            "stream\n",
        ] {
            let file = format!("%PDF-1.7\n{hiding}\n3 0 obj\n{deep}\nendobj\n");
            assert!(
                nested_too_deeply(file.as_bytes(), true),
                "hidden behind {hiding:?}"
            );
        }
        assert!(nested_too_deeply(
            format!("<< /A {deep} >>").as_bytes(),
            false
        ));
        let shallow = format!(
            "1 0 obj {}0{} endobj 2 0 obj {}0{} endobj",
            "[".repeat(200),
            "]".repeat(200),
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(!nested_too_deeply(shallow.as_bytes(), true));
    }
}
