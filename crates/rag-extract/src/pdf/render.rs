//! Page images for visual document retrieval: one page at a time, so
//! memory stays flat however long the document is.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use pdfium_render::prelude::{PdfBitmapFormat, PdfDocument, PdfRenderConfig};
use rag_core::ports::ExtractError;

use super::bitmap::to_png;
use super::library::{lock, pdfium};
use super::{check_bytes, pdfium_reader, HEAD_BYTES};

/// Highest resolution a page is rendered at: 600 dpi is print quality,
/// more only multiplies memory.
pub const MAX_DPI: f32 = 600.0;
/// Most pixels one rendered page may have (an A4 page at 600 dpi has 35
/// million): the bitmap takes 3 bytes a pixel before PNG compression.
pub const MAX_PAGE_PIXELS: u64 = 64_000_000;

/// Why a page could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// Rendering needs PDFium, and this process has no `libpdfium.so`.
    #[error("PDF page rendering needs PDFium: {0}")]
    Unavailable(String),
    /// The document cannot be opened: encrypted without the right password,
    /// corrupt, or not a PDF.
    #[error(transparent)]
    Document(#[from] ExtractError),
    /// The file could not be read.
    #[error("the PDF could not be read: {0}")]
    Io(String),
    /// A page number outside `1..=page_count`.
    #[error("page {page} does not exist: the document has {count} pages")]
    NoSuchPage {
        /// The page asked for.
        page: u32,
        /// How many pages the document has.
        count: u32,
    },
    /// A resolution that is not a positive number up to [`MAX_DPI`].
    #[error("{0} dpi is not a resolution pages can be rendered at (1 to {MAX_DPI})")]
    Dpi(f32),
    /// The page at that resolution would exceed [`MAX_PAGE_PIXELS`].
    #[error("page {page} at {dpi} dpi would be {width}x{height} pixels, more than the {MAX_PAGE_PIXELS} allowed")]
    TooLarge {
        /// 1-based page number.
        page: u32,
        /// The resolution asked for.
        dpi: f32,
        /// Width it would have, in pixels.
        width: u64,
        /// Height it would have, in pixels.
        height: u64,
    },
    /// PDFium failed on the page.
    #[error("page {page} could not be rendered: {detail}")]
    Failed {
        /// 1-based page number.
        page: u32,
        /// What PDFium reported.
        detail: String,
    },
}

/// One rendered page.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// 1-based page number.
    pub page: u32,
    /// Size in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The page as PNG (RGB, white background).
    pub png: Vec<u8>,
}

impl std::fmt::Debug for RenderedPage {
    /// Without the bytes, which would flood logs and test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedPage")
            .field("page", &self.page)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("png_bytes", &self.png.len())
            .finish()
    }
}

/// An open PDF whose pages are rendered to PNG one call at a time: the VDR
/// pipeline renders page N, stores it and embeds it before asking for N+1,
/// and only that page is ever in memory. Needs PDFium.
///
/// `Send` and `Sync`; PDFium itself runs one operation at a time per
/// process, whatever the number of renderers and threads.
pub struct PdfRenderer {
    doc: PdfDocument<'static>,
    pages: u32,
}

impl PdfRenderer {
    /// Opens a PDF held in memory (the renderer keeps the bytes; PDFium reads
    /// from them as pages are rendered).
    pub fn from_bytes(bytes: Vec<u8>, password: Option<&str>) -> Result<Self, RenderError> {
        let pdfium = pdfium().map_err(|why| RenderError::Unavailable(why.to_owned()))?;
        check_bytes(&bytes, &bytes)?;
        let _pdfium = lock();
        let doc = pdfium
            .load_pdf_from_byte_vec(bytes, password)
            .map_err(pdfium_reader::load_error)?;
        Self::with(doc)
    }

    /// Opens a PDF file, which PDFium reads on demand: a long document is
    /// never loaded whole.
    pub fn from_file(path: &Path, password: Option<&str>) -> Result<Self, RenderError> {
        let pdfium = pdfium().map_err(|why| RenderError::Unavailable(why.to_owned()))?;
        let (head, tail) = head_and_tail(path).map_err(|e| RenderError::Io(e.to_string()))?;
        check_bytes(&head, &tail)?;
        let _pdfium = lock();
        let doc = pdfium
            .load_pdf_from_file(path, password)
            .map_err(pdfium_reader::load_error)?;
        Self::with(doc)
    }

    fn with(doc: PdfDocument<'static>) -> Result<Self, RenderError> {
        let pages = u32::try_from(doc.pages().len()).unwrap_or(0);
        if pages == 0 {
            return Err(super::corrupt("the document has no pages").into());
        }
        Ok(Self { doc, pages })
    }

    /// Number of pages.
    pub fn page_count(&self) -> u32 {
        self.pages
    }

    /// The text of page `page` (1-based), as the extractor reads it: the
    /// VDR pipeline takes each page's text with its image, instead of
    /// extracting the whole document in every page-range job.
    pub fn page_text(&self, page: u32) -> Result<String, RenderError> {
        let _pdfium = lock();
        let loaded = self.page(page)?;
        pdfium_reader::page_text(&loaded).map_err(|e| RenderError::Failed {
            page,
            detail: format!("{e:?}"),
        })
    }

    /// Width and height of a page in points (1/72 inch), as displayed
    /// (after the page's rotation).
    pub fn page_size(&self, page: u32) -> Result<(f32, f32), RenderError> {
        let _pdfium = lock();
        let loaded = self.page(page)?;
        Ok((loaded.width().value, loaded.height().value))
    }

    /// Renders page `page` (1-based) at `dpi` dots per inch: a page of W x H
    /// points becomes round(W * dpi / 72) x round(H * dpi / 72) pixels.
    pub fn render_png(&self, page: u32, dpi: f32) -> Result<RenderedPage, RenderError> {
        if !(dpi.is_finite() && (1.0..=MAX_DPI).contains(&dpi)) {
            return Err(RenderError::Dpi(dpi));
        }
        let failed = |detail: String| RenderError::Failed { page, detail };
        let _pdfium = lock();
        let loaded = self.page(page)?;
        let scale = f64::from(dpi) / 72.0;
        let width = (f64::from(loaded.width().value) * scale).round().max(1.0) as u64;
        let height = (f64::from(loaded.height().value) * scale).round().max(1.0) as u64;
        if width.saturating_mul(height) > MAX_PAGE_PIXELS {
            return Err(RenderError::TooLarge {
                page,
                dpi,
                width,
                height,
            });
        }
        // Both fit in i32: their product is at most MAX_PAGE_PIXELS.
        let config = PdfRenderConfig::new()
            .set_fixed_size(width as i32, height as i32)
            .set_format(PdfBitmapFormat::BGR)
            .set_reverse_byte_order(false);
        let bitmap = loaded
            .render_with_config(&config)
            .map_err(|e| failed(format!("{e:?}")))?;
        let png = to_png(&bitmap).map_err(failed)?;
        Ok(RenderedPage {
            page,
            width: png.width,
            height: png.height,
            png: png.data,
        })
    }

    fn page(&self, page: u32) -> Result<pdfium_render::prelude::PdfPage<'_>, RenderError> {
        if page == 0 || page > self.pages {
            return Err(RenderError::NoSuchPage {
                page,
                count: self.pages,
            });
        }
        self.doc
            .pages()
            .get((page - 1) as i32)
            .map_err(|e| RenderError::Failed {
                page,
                detail: format!("{e:?}"),
            })
    }
}

/// The first and last [`HEAD_BYTES`] of a file, for the checks done before
/// PDFium sees it.
fn head_and_tail(path: &Path) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::new();
    (&mut file).take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(len.saturating_sub(HEAD_BYTES as u64)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    Ok((head, tail))
}
