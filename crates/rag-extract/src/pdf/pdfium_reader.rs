//! The PDFium engine: text per page in PDFium's reading order, embedded
//! images as PNG, and per-page text counts for the classifier.

use pdfium_render::prelude::{
    PdfDocument, PdfPage, PdfPageImageObject, PdfPageObject, PdfPageObjectsCommon,
    PdfPageObjectsIterator, PdfPageText, PdfPageTextChar, Pdfium, PdfiumError, PdfiumInternalError,
};
use rag_core::domain::job::PageRange;
use rag_core::ports::{ExtractError, ExtractedImage, ExtractedPage};

use super::bitmap::{to_png, Png};
use super::clean::clean;
use super::library::lock;
use super::{corrupt, Deadline};
use crate::Limits;
use crate::{check_page_count, unwanted};

/// Images smaller than this on either side are icons, bullets and rules:
/// nothing a vision model could transcribe.
const MIN_IMAGE_SIDE: i32 = 32;
/// Form XObjects inside form XObjects followed when looking for images.
const MAX_FORM_DEPTH: usize = 16;
/// A line break to a baseline less than this many font sizes away is no
/// line break: a superscript ended, or PDFium split a table row.
const SAME_LINE: f32 = 0.5;
/// A line whose baseline is more than this many font sizes below the
/// previous one starts a new paragraph (a blank line in the text): single
/// spacing is about 1.2.
const PARAGRAPH_GAP: f32 = 1.5;

/// What the PDFium engine read from a document.
pub(super) struct Read {
    pub(super) pages: Vec<ExtractedPage>,
    pub(super) images: Vec<ExtractedImage>,
    pub(super) notes: Vec<String>,
}

/// Opens a document. The caller holds [`lock`]: PDFium reports why a load
/// failed through a global error code read right after.
pub(super) fn open<'a>(
    pdfium: &'a Pdfium,
    bytes: &'a [u8],
    password: Option<&str>,
) -> Result<PdfDocument<'a>, ExtractError> {
    pdfium
        .load_pdf_from_byte_slice(bytes, password)
        .map_err(load_error)
}

/// The error of a document PDFium could not open.
pub(super) fn load_error(error: PdfiumError) -> ExtractError {
    match error {
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError)
        | PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::SecurityError) => {
            ExtractError::Encrypted
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::FormatError) => {
            corrupt("PDFium could not parse it")
        }
        other => corrupt(format!("PDFium could not open it ({other:?})")),
    }
}

/// Text, images and notes of every page, or of the `wanted` ones (the
/// others empty).
pub(super) fn extract(
    pdfium: &Pdfium,
    bytes: &[u8],
    password: Option<&str>,
    wanted: Option<PageRange>,
    limits: &Limits,
    deadline: &Deadline,
) -> Result<Read, ExtractError> {
    let doc = {
        let _pdfium = lock();
        open(pdfium, bytes, password)?
    };
    let count = usize::try_from(doc.pages().len()).unwrap_or(0);
    if count == 0 {
        return Err(corrupt("the document has no pages"));
    }
    check_page_count(count, wanted, limits, "pages")?;

    let mut read = Read {
        pages: Vec::with_capacity(count),
        images: Vec::new(),
        notes: Vec::new(),
    };
    let mut images = ImageBudget {
        left: limits.max_image_bytes,
        max: limits.max_image_bytes,
        max_pixels: limits.max_image_pixels,
        exhausted: false,
    };
    let mut chars = 0usize;
    for index in 0..count {
        let number = index as u32 + 1;
        if let Some(skipped) = unwanted(wanted, number) {
            read.pages.push(skipped);
            continue;
        }
        deadline.check()?;
        let _pdfium = lock();
        let page = match doc.pages().get(index as i32) {
            Ok(page) => page,
            Err(error) => {
                read.notes
                    .push(format!("page {number}: could not be read ({error:?})"));
                read.pages.push(ExtractedPage {
                    number: Some(number),
                    text: String::new(),
                });
                continue;
            }
        };
        let text = match page_text(&page) {
            Ok(text) => text,
            Err(error) => {
                read.notes
                    .push(format!("page {number}: text could not be read ({error:?})"));
                String::new()
            }
        };
        chars += text.chars().count();
        if chars > limits.max_chars {
            return Err(crate::too_many_chars(limits));
        }
        let found = page_images(&page, &mut images, &mut read.notes, number);
        read.images
            .extend(found.into_iter().map(|png| ExtractedImage {
                page_index: index,
                // TODO: the image's place in the reading order; the end of its
                // page for now.
                offset: text.len(),
                width: png.width,
                height: png.height,
                alt: None,
                media_type: "image/png".to_owned(),
                data: png.data,
            }));
        read.pages.push(ExtractedPage {
            number: Some(number),
            text,
        });
    }
    Ok(read)
}

/// Non-whitespace characters of each page's text, stopping after the first
/// page with at least `stop_at` of them (`usize::MAX`: every page).
pub(super) fn text_chars(
    pdfium: &Pdfium,
    bytes: &[u8],
    password: Option<&str>,
    stop_at: usize,
) -> Result<Vec<usize>, ExtractError> {
    let doc = {
        let _pdfium = lock();
        open(pdfium, bytes, password)?
    };
    let count = doc.pages().len().max(0);
    let mut counts = Vec::with_capacity(count as usize);
    for index in 0..count {
        let _pdfium = lock();
        let chars = doc
            .pages()
            .get(index)
            .and_then(|page| {
                let text = page.text()?;
                Ok(text
                    .chars()
                    .iter()
                    .filter_map(|c| c.unicode_char())
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .count())
            })
            .unwrap_or(0);
        counts.push(chars);
        if chars >= stop_at {
            break;
        }
    }
    Ok(counts)
}

/// A page's text as PDFium orders it (content order, lines joined, spaces
/// PDFium infers from glyph gaps; right-to-left runs in reading order), one
/// line per line. PDFium's line breaks are checked against the baselines:
/// a break to a baseline less than [`SAME_LINE`] font sizes away (after a
/// superscript, between table cells) becomes a space, and one more than
/// [`PARAGRAPH_GAP`] below starts a paragraph (a blank line).
/// A page's text in reading order, laid out and cleaned: what both the
/// extractor and the page renderer index.
pub(super) fn page_text(page: &PdfPage<'_>) -> Result<String, PdfiumError> {
    Ok(clean(&layout(&page.text()?)))
}

fn layout(text: &PdfPageText) -> String {
    let all = text.chars();
    let chars = glyph_order(all.iter().collect());
    let mut out = String::with_capacity(chars.len() + 64);
    let mut pending_break = false;
    // The current line's last visible character, and the baseline (y,
    // upwards) of the previous line's.
    let mut last_visible: Option<PdfPageTextChar> = None;
    let mut previous_baseline: Option<f32> = None;
    for ch in chars {
        let Some(c) = ch.unicode_char() else {
            continue;
        };
        match c {
            // PDFium ends lines with "\r\n".
            '\r' => continue,
            // PDFium's mark of a hyphen ending a line (it joins the line to
            // the next without a break): a hyphen and a break again, and
            // `clean` joins the word halves when the next line goes on in
            // lower case ("exam-" + "ple"), as for the other engine.
            '\n' | '\u{2}' => {
                if c == '\u{2}' {
                    out.push('-');
                }
                if let Some(last) = last_visible.take() {
                    previous_baseline = last.origin().ok().map(|(_, y)| y.value);
                }
                pending_break = true;
                continue;
            }
            c if c.is_whitespace() => {
                if !pending_break {
                    out.push(c);
                }
                continue;
            }
            _ => {}
        }
        if pending_break {
            pending_break = false;
            let size = ch.scaled_font_size().value;
            let drop = match (previous_baseline, ch.origin()) {
                (Some(previous), Ok((_, y))) => Some(previous - y.value),
                _ => None,
            };
            match drop {
                Some(drop) if drop.abs() < SAME_LINE * size => {
                    if !out.ends_with(char::is_whitespace) {
                        out.push(' ');
                    }
                }
                // Only downwards: a jump up is the next column.
                Some(drop) if drop > PARAGRAPH_GAP * size => out.push_str("\n\n"),
                _ => out.push('\n'),
            }
        }
        out.push(c);
        last_visible = Some(ch);
    }
    out
}

/// The characters with each right-to-left glyph's own characters back in
/// their order.
///
/// A font may draw a whole word as one glyph whose ToUnicode entry gives
/// its letters in reading order (WeasyPrint's `habibi.pdf` draws "حَبيبي"
/// so). PDFium turns a right-to-left run, drawn left to right, into reading
/// order by reversing its characters, and so also reverses the letters of
/// such a glyph, which then reads "يبيبَح" and matches no search. The
/// characters of one glyph share its origin: a run of two or more at one
/// origin holding right-to-left letters is put back as the font wrote it.
fn glyph_order(mut chars: Vec<PdfPageTextChar<'_>>) -> Vec<PdfPageTextChar<'_>> {
    let origin = |ch: &PdfPageTextChar<'_>| ch.origin().ok().map(|(x, y)| (x.value, y.value));
    let mut start = 0;
    while start < chars.len() {
        let at = origin(&chars[start]);
        let mut end = start + 1;
        while end < chars.len() && at.is_some() && origin(&chars[end]) == at {
            end += 1;
        }
        let right_to_left = chars[start..end]
            .iter()
            .filter_map(|ch| ch.unicode_char())
            .any(is_right_to_left);
        if end - start > 1 && right_to_left {
            chars[start..end].reverse();
        }
        start = end;
    }
    chars
}

/// Letters of the right-to-left scripts (Hebrew, Arabic, Syriac, Thaana,
/// N'Ko and their presentation forms).
fn is_right_to_left(c: char) -> bool {
    matches!(c,
        '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// What is left of the document's image budget ([`Limits::max_image_bytes`]
/// of PNG), and the largest image decoded ([`Limits::max_image_pixels`]).
struct ImageBudget {
    left: u64,
    max: u64,
    max_pixels: u64,
    exhausted: bool,
}

/// The page's images (including those inside form XObjects) as PNG, in
/// content order, within the budget.
fn page_images(
    page: &PdfPage,
    budget: &mut ImageBudget,
    notes: &mut Vec<String>,
    number: u32,
) -> Vec<Png> {
    let mut found = Vec::new();
    if !budget.exhausted {
        collect_images(page.objects().iter(), 0, budget, notes, number, &mut found);
    }
    found
}

fn collect_images(
    objects: PdfPageObjectsIterator<'_>,
    depth: usize,
    budget: &mut ImageBudget,
    notes: &mut Vec<String>,
    number: u32,
    found: &mut Vec<Png>,
) {
    for object in objects {
        if budget.exhausted {
            return;
        }
        match &object {
            PdfPageObject::Image(image) => {
                if let Some(png) = image_png(image, budget, notes, number) {
                    found.push(png);
                }
            }
            PdfPageObject::XObjectForm(form) if depth < MAX_FORM_DEPTH => {
                collect_images(form.iter(), depth + 1, budget, notes, number, found);
            }
            _ => {}
        }
    }
}

/// One image's pixels as PNG, unless it is too small, too large or over
/// the budget.
fn image_png(
    image: &PdfPageImageObject,
    budget: &mut ImageBudget,
    notes: &mut Vec<String>,
    number: u32,
) -> Option<Png> {
    let (width, height) = (image.width().ok()?, image.height().ok()?);
    if width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
        return None;
    }
    let pixels = u64::try_from(i64::from(width) * i64::from(height)).unwrap_or(u64::MAX);
    if pixels > budget.max_pixels {
        notes.push(format!(
            "page {number}: a {width}x{height} image was left out (too large to decode)"
        ));
        return None;
    }
    let bitmap = image.get_raw_bitmap().ok()?;
    let png = match to_png(&bitmap) {
        Ok(png) => png,
        Err(why) => {
            notes.push(format!("page {number}: an image could not be read ({why})"));
            return None;
        }
    };
    let size = png.data.len() as u64;
    if size > budget.left {
        budget.exhausted = true;
        notes.push(format!(
            "page {number}: images from here on were left out (more than {} bytes of images)",
            budget.max
        ));
        return None;
    }
    budget.left -= size;
    Some(png)
}
