//! Images (PNG, JPEG, TIFF, BMP, GIF, WebP): the text in them, read by
//! Tesseract when it is installed, and what their metadata says about them
//! (EXIF description, title, comment, artist, date taken, camera; PNG text
//! chunks), with the pixel size. The whole image is also returned as an
//! [`ExtractedImage`], for the selective-visuals step to transcribe.
//!
//! Tesseract runs as a program (`tesseract stdin stdout -l eng`), found on
//! the `PATH` or at `$RAG_TESSERACT`, under a timeout after which it is
//! killed. [`Ocr`] is public so that other steps (scanned PDF pages in the
//! VDR pipeline) can OCR an image they rendered.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use exif::{In, Tag, Value};
use rag_core::ingest::chunking::TextKind;
use rag_core::ports::{ExtractError, ExtractedDocument, ExtractedImage, ExtractedPage};

use crate::{Extraction, Limits};

/// Environment variable naming the Tesseract program to run instead of the
/// `tesseract` found on the `PATH` (for instance `/opt/bin/tesseract` in a
/// Lambda layer).
pub const TESSERACT_ENV: &str = "RAG_TESSERACT";

/// Longest one OCR run may take by default; the extractor's own time budget
/// lowers it further.
pub const DEFAULT_OCR_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a running Tesseract is checked for having finished.
const POLL: Duration = Duration::from_millis(10);

/// Why OCR gave no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcrError {
    /// The `tesseract` command cannot be run (what was tried).
    #[error("Tesseract is not installed ('{0}' cannot be run: run scripts/sysdeps.sh, or set RAG_TESSERACT)")]
    NotInstalled(String),
    /// Tesseract ran past this limit.
    #[error("Tesseract took longer than {} s and was stopped", .0.as_secs_f64())]
    TimedOut(Duration),
    /// Tesseract exited with an error (what it said).
    #[error("Tesseract failed: {0}")]
    Failed(String),
}

/// Tesseract, run as a program: which one, in which language, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ocr {
    program: PathBuf,
    language: String,
    timeout: Duration,
}

impl Default for Ocr {
    /// [`Ocr::from_env`].
    fn default() -> Self {
        Self::from_env()
    }
}

impl Ocr {
    /// `$RAG_TESSERACT`, else `tesseract` on the `PATH`; English; a timeout
    /// of [`DEFAULT_OCR_TIMEOUT`].
    pub fn from_env() -> Self {
        let program = std::env::var_os(TESSERACT_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("tesseract"));
        Self::with_program(program)
    }

    /// A given Tesseract program (a path, or a name looked up on the `PATH`).
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            language: "eng".to_owned(),
            timeout: DEFAULT_OCR_TIMEOUT,
        }
    }

    /// Tesseract language(s), as for `-l` (`eng`, `deu+eng`, ...).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
        self
    }

    /// Longest one image may take; Tesseract is killed then.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The program this runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Whether the program runs (`--version` succeeds). Asked once per
    /// program per process.
    pub fn available(&self) -> bool {
        static KNOWN: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();
        let known = KNOWN.get_or_init(Mutex::default);
        if let Some(&answer) = known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.program)
        {
            return answer;
        }
        let answer = Command::new(&self.program)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .and_then(|child| wait_with_timeout(child, Duration::from_secs(10)).ok())
            .is_some_and(|status| status.success());
        known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.program.clone(), answer);
        answer
    }

    /// The text of an encoded image (PNG, JPEG, TIFF, BMP, GIF, WebP, ...:
    /// whatever Tesseract's Leptonica reads), pages separated by blank
    /// lines; empty when Tesseract finds no text.
    pub fn recognize(&self, image: &[u8]) -> Result<String, OcrError> {
        let mut child = Command::new(&self.program)
            .args(["stdin", "stdout", "-l", &self.language])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    OcrError::NotInstalled(self.program.display().to_string())
                }
                _ => OcrError::Failed(format!("{}: {e}", self.program.display())),
            })?;
        // Feeding and draining on threads of their own: Tesseract may write
        // before it has read everything, and a full pipe would stall both.
        let stdin = child.stdin.take();
        let data = image.to_vec();
        let feeder = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                // A Tesseract that quits early closes the pipe: its exit
                // status says what went wrong.
                let _ = stdin.write_all(&data);
            }
        });
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = wait_with_timeout(child, self.timeout);
        let _ = feeder.join();
        let status = status?;
        let out = collect(stdout);
        let err = collect(stderr);
        if !status.success() {
            let why = String::from_utf8_lossy(&err);
            let why = why
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Estimating resolution"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(OcrError::Failed(if why.is_empty() {
                status.to_string()
            } else {
                why
            }));
        }
        Ok(tidy(&String::from_utf8_lossy(&out)))
    }
}

/// OCR of a PNG (or any other encoded image) with the default [`Ocr`]: for
/// the VDR pipeline's scanned pages.
pub fn ocr_png(png: &[u8]) -> Result<String, OcrError> {
    let ocr = Ocr::from_env();
    if !ocr.available() {
        return Err(OcrError::NotInstalled(ocr.program.display().to_string()));
    }
    ocr.recognize(png)
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    })
}

fn collect(handle: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// Waits for the child, killing it once `timeout` has passed.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> Result<ExitStatus, OcrError> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OcrError::TimedOut(timeout));
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OcrError::Failed(e.to_string()));
            }
        }
    }
}

/// Tesseract's output with pages (form feeds) as blank lines, trailing
/// spaces and runs of blank lines removed.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.replace('\u{c}', "\n\n").lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

// ---------------------------------------------------------------- reader

/// Reads an image: OCR text when `ocr` is given and runs, then the
/// metadata and the pixel size. Refuses images over
/// [`Limits::max_image_pixels`] before anything decodes them, and images
/// with neither text nor a description.
pub(crate) fn extract(
    bytes: &[u8],
    limits: &Limits,
    ocr: Option<Ocr>,
) -> Result<Extraction, ExtractError> {
    let corrupt = |detail: &str| ExtractError::Corrupt {
        format: "image",
        detail: detail.to_owned(),
    };
    let Some((media_type, label)) = image_type(bytes) else {
        return Err(corrupt("not a PNG, JPEG, TIFF, BMP, GIF or WebP image"));
    };
    let size = imagesize::blob_size(bytes)
        .map_err(|e| corrupt(&format!("the {label} header cannot be read ({e})")))?;
    let (width, height) = (size.width as u64, size.height as u64);
    if width == 0 || height == 0 {
        return Err(corrupt(&format!("the {label} image has no pixels")));
    }
    // A few bytes of header can declare gigapixels that Tesseract would try
    // to allocate (a decompression bomb).
    let pixels = width.saturating_mul(height);
    if pixels > limits.max_image_pixels {
        return Err(ExtractError::LimitExceeded(format!(
            "an image of {width} × {height} pixels ({:.1} megapixels; the most is {:.1})",
            pixels as f64 / 1e6,
            limits.max_image_pixels as f64 / 1e6
        )));
    }

    let mut notes = Vec::new();
    let mut ocr_text = String::new();
    if let Some(ocr) = ocr.filter(Ocr::available) {
        match ocr.recognize(bytes) {
            Ok(text) => ocr_text = text,
            Err(e) => notes.push(format!("OCR: {e}")),
        }
    }
    let meta = Metadata::read(bytes, media_type);
    if ocr_text.is_empty() && meta.is_empty() {
        return Err(ExtractError::Empty);
    }

    let mut text = ocr_text;
    let mut facts = meta.facts();
    facts.push(("Size", format!("{width} × {height} pixels ({label})")));
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    let list = facts
        .iter()
        .map(|(name, value)| format!("- **{name}:** {}", one_line(value)))
        .collect::<Vec<_>>()
        .join("\n");
    text.push_str(&list);

    let image = ExtractedImage {
        page_index: 0,
        offset: 0,
        width: size.width.try_into().unwrap_or(u32::MAX),
        height: size.height.try_into().unwrap_or(u32::MAX),
        alt: meta.alt(),
        media_type: media_type.to_owned(),
        data: bytes.to_vec(),
    };
    Ok(Extraction {
        document: ExtractedDocument {
            pages: vec![ExtractedPage { number: None, text }],
            kind: TextKind::Markdown,
            format: "image",
            images: vec![image],
        },
        notes,
    })
}

/// The MIME type and name of an image format this reader knows.
fn image_type(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    Some(match imagesize::image_type(bytes).ok()? {
        imagesize::ImageType::Png => ("image/png", "PNG"),
        imagesize::ImageType::Jpeg => ("image/jpeg", "JPEG"),
        imagesize::ImageType::Tiff => ("image/tiff", "TIFF"),
        imagesize::ImageType::Bmp => ("image/bmp", "BMP"),
        imagesize::ImageType::Gif => ("image/gif", "GIF"),
        imagesize::ImageType::Webp => ("image/webp", "WebP"),
        _ => return None,
    })
}

/// An image found in another document (an e-mail's attachment) that gave
/// no text, as an [`ExtractedImage`] on the first page, for the caller to
/// place; `None` when it is not an image of a known format and sane size.
pub(crate) fn embedded(bytes: &[u8], limits: &Limits) -> Option<ExtractedImage> {
    let (media_type, _) = image_type(bytes)?;
    let size = imagesize::blob_size(bytes).ok()?;
    let pixels = (size.width as u64).saturating_mul(size.height as u64);
    if pixels == 0 || pixels > limits.max_image_pixels {
        return None;
    }
    Some(ExtractedImage {
        page_index: 0,
        offset: 0,
        width: size.width.try_into().ok()?,
        height: size.height.try_into().ok()?,
        alt: None,
        media_type: media_type.to_owned(),
        data: bytes.to_vec(),
    })
}

fn one_line(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What an image's metadata says about it.
#[derive(Debug, Default)]
struct Metadata {
    description: Option<String>,
    title: Option<String>,
    subject: Option<String>,
    comment: Option<String>,
    user_comment: Option<String>,
    keywords: Option<String>,
    artist: Option<String>,
    taken: Option<String>,
    camera: Option<String>,
}

/// Descriptions cameras write by themselves, which say nothing.
const CAMERA_DEFAULTS: &[&str] = &[
    "OLYMPUS DIGITAL CAMERA",
    "SONY DSC",
    "DIGITAL CAMERA",
    "KONICA MINOLTA DIGITAL CAMERA",
    "Default",
];

impl Metadata {
    fn read(bytes: &[u8], media_type: &str) -> Self {
        let mut meta = Self::default();
        if matches!(
            media_type,
            "image/jpeg" | "image/tiff" | "image/png" | "image/webp"
        ) {
            if let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
                meta.read_exif(&exif);
            }
        }
        if media_type == "image/png" {
            meta.read_png_text(bytes);
        }
        meta
    }

    fn read_exif(&mut self, exif: &exif::Exif) {
        let field = |tag: Tag| {
            exif.get_field(tag, In::PRIMARY)
                .and_then(|f| exif_text(tag, &f.value))
        };
        let xp = |number: u16| field(Tag(exif::Context::Tiff, number));
        self.description = field(Tag::ImageDescription)
            .filter(|d| !CAMERA_DEFAULTS.iter().any(|c| d.eq_ignore_ascii_case(c)));
        self.title = xp(0x9C9B);
        self.comment = xp(0x9C9C);
        self.keywords = xp(0x9C9E);
        self.subject = xp(0x9C9F);
        self.user_comment = field(Tag::UserComment);
        self.artist = field(Tag::Artist).or_else(|| xp(0x9C9D));
        self.taken = field(Tag::DateTimeOriginal)
            .or_else(|| field(Tag::DateTime))
            .map(|d| exif_date(&d));
        let make = field(Tag::Make);
        let model = field(Tag::Model);
        self.camera = match (make, model) {
            (Some(make), Some(model)) if model.to_lowercase().starts_with(&make.to_lowercase()) => {
                Some(model)
            }
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (make, model) => make.or(model),
        };
    }

    /// Uncompressed PNG text chunks (tEXt, iTXt) with a title, author,
    /// description or comment, for what EXIF did not say.
    fn read_png_text(&mut self, bytes: &[u8]) {
        let mut at = 8;
        while let Some(header) = bytes.get(at..at + 8) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let kind = &header[4..8];
            let Some(data) = bytes.get(at + 8..(at + 8).saturating_add(len)) else {
                break;
            };
            at = at + 12 + len;
            let (key, value) = match kind {
                b"tEXt" => match data.iter().position(|&b| b == 0) {
                    Some(nul) => (&data[..nul], latin1(&data[nul + 1..])),
                    None => continue,
                },
                b"iTXt" => match itxt(data) {
                    Some(pair) => pair,
                    None => continue,
                },
                b"IEND" => break,
                _ => continue,
            };
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            let slot = match key {
                b"Title" => &mut self.title,
                b"Description" => &mut self.description,
                b"Comment" => &mut self.comment,
                b"Author" => &mut self.artist,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
    }

    fn is_empty(&self) -> bool {
        self.facts().is_empty()
    }

    /// Named values, in the order shown, without repeats.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in [
            ("Description", &self.description),
            ("Title", &self.title),
            ("Subject", &self.subject),
            ("Comment", &self.comment),
            ("User comment", &self.user_comment),
            ("Keywords", &self.keywords),
            ("Artist", &self.artist),
            ("Taken", &self.taken),
            ("Camera", &self.camera),
        ] {
            if let Some(value) = value {
                if !facts.iter().any(|(_, v)| v == value) {
                    facts.push((name, value.clone()));
                }
            }
        }
        facts
    }

    /// What stands for the image's alt text: its description or title.
    fn alt(&self) -> Option<String> {
        self.description
            .clone()
            .or_else(|| self.title.clone())
            .or_else(|| self.subject.clone())
    }
}

/// An EXIF text value: ASCII (UTF-8 in practice), Windows' UCS-2 XP tags,
/// or a UserComment with its 8-byte character-code prefix.
fn exif_text(tag: Tag, value: &Value) -> Option<String> {
    let text = match value {
        Value::Ascii(parts) => parts
            .iter()
            .map(|p| utf8_or_latin1(p))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Byte(bytes) if tag.number() >= 0x9C9B && tag.number() <= 0x9C9F => utf16le(bytes),
        // UNDEFINED by the standard; some writers (Pillow) use BYTE.
        Value::Undefined(bytes, _) | Value::Byte(bytes) if tag == Tag::UserComment => {
            let (code, text) = bytes.split_at(bytes.len().min(8));
            match code {
                b"UNICODE\0" if text.first() == Some(&0) => utf16be(text),
                b"UNICODE\0" => utf16le(text),
                _ => utf8_or_latin1(text),
            }
        }
        _ => return None,
    };
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty()).then(|| text.to_owned())
}

/// `2023:10:14 07:42:10` as `2023-10-14 07:42:10`.
fn exif_date(date: &str) -> String {
    match date.split_once(' ') {
        Some((day, time)) if day.len() == 10 => format!("{} {time}", day.replace(':', "-")),
        _ => date.to_owned(),
    }
}

fn utf8_or_latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => latin1(bytes),
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn utf16le(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn utf16be(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// An uncompressed iTXt chunk's keyword and text.
fn itxt(data: &[u8]) -> Option<(&[u8], String)> {
    let nul = data.iter().position(|&b| b == 0)?;
    let (key, rest) = (&data[..nul], data.get(nul + 1..)?);
    let (&compressed, rest) = rest.split_first()?;
    if compressed != 0 {
        return None;
    }
    let rest = rest.get(1..)?; // compression method
    let lang_end = rest.iter().position(|&b| b == 0)?;
    let rest = rest.get(lang_end + 1..)?;
    let translated_end = rest.iter().position(|&b| b == 0)?;
    let text = rest.get(translated_end + 1..)?;
    Some((key, String::from_utf8_lossy(text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidies_tesseract_output() {
        assert_eq!(
            tidy("Title  \n\n\n\nline one\nline two\n\u{c}Page two\n\u{c}"),
            "Title\n\nline one\nline two\n\nPage two"
        );
        assert_eq!(tidy(" \n\u{c}"), "");
    }

    #[test]
    fn reads_exif_strings() {
        let xp = Tag(exif::Context::Tiff, 0x9C9B);
        let bytes: Vec<u8> = "Tïtle\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(exif_text(xp, &Value::Byte(bytes)).as_deref(), Some("Tïtle"));
        let comment = Value::Undefined(b"ASCII\0\0\0A comment \0".to_vec(), 0);
        assert_eq!(
            exif_text(Tag::UserComment, &comment).as_deref(),
            Some("A comment")
        );
        let unicode: Vec<u8> = b"UNICODE\0"
            .iter()
            .copied()
            .chain("Größe".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(
            exif_text(Tag::UserComment, &Value::Undefined(unicode, 0)).as_deref(),
            Some("Größe")
        );
        let latin = Value::Ascii(vec![b"Caf\xe9".to_vec()]);
        assert_eq!(exif_text(Tag::Artist, &latin).as_deref(), Some("Café"));
        assert_eq!(
            exif_text(Tag::Artist, &Value::Ascii(vec![b"  ".to_vec()])),
            None
        );
        assert_eq!(exif_date("2023:10:14 07:42:10"), "2023-10-14 07:42:10");
    }

    #[test]
    fn reads_png_text_chunks() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0; 4]); // CRC, not checked
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[0; 13]));
        png.extend(chunk(b"tEXt", b"Title\0Harbour at dusk"));
        png.extend(chunk(b"tEXt", b"Software\0Some editor"));
        png.extend(chunk(
            b"iTXt",
            "Description\0\0\0de\0Beschreibung\0Hafen in der Dämmerung".as_bytes(),
        ));
        png.extend(chunk(b"iTXt", b"Comment\0\x01\0\0\0compressed"));
        png.extend(chunk(b"IEND", b""));
        let mut meta = Metadata::default();
        meta.read_png_text(&png);
        assert_eq!(meta.title.as_deref(), Some("Harbour at dusk"));
        assert_eq!(meta.description.as_deref(), Some("Hafen in der Dämmerung"));
        assert_eq!(meta.comment, None);
        // A length past the end stops the walk.
        let mut cut = b"\x89PNG\r\n\x1a\n".to_vec();
        cut.extend_from_slice(&u32::MAX.to_be_bytes());
        cut.extend_from_slice(b"tEXt");
        Metadata::default().read_png_text(&cut);
    }
}
