//! The VDR pipeline's [`PageRenderer`]: PDF pages rendered with PDFium, one
//! at a time, each with its text layer, or Tesseract's OCR of the rendered
//! page when it has none (a scan). An image upload is a one-page document.
//!
//! Presentations and word-processing files are converted to PDF by
//! LibreOffice first when it is installed; without it they are reported as
//! unavailable, and the pipeline indexes their per-slide text instead and
//! says so in the status.

use std::path::PathBuf;
use std::sync::Arc;

use rag_core::domain::classify::extension;
use rag_core::ports::ExtractInput;
use rag_core::ports::{PageRenderer, PageSource, PageTextSource, RenderError, RenderedPage};

use crate::image::Ocr;
use crate::legacy::{convert_with, find_soffice, Conversion};
use crate::pdf::{PdfRenderer, RenderError as PdfRenderError};
use crate::Limits;

/// A page with fewer letters or digits than this in its text layer is
/// OCR'd: scans often carry a few stray characters (a page number, a
/// scanner's stamp) and nothing else.
const MIN_TEXT_LAYER_CHARS: usize = 16;

/// Office formats LibreOffice turns into PDF for rendering: extension,
/// and what one is called in errors.
const CONVERTIBLE: &[(&str, &str)] = &[
    ("pptx", "PowerPoint"),
    ("ppsx", "PowerPoint"),
    ("ppt", "PowerPoint 97-2003"),
    ("pps", "PowerPoint 97-2003"),
    ("odp", "OpenDocument presentation"),
    ("key", "Keynote"),
    ("docx", "Word"),
    ("doc", "Word 97-2003"),
    ("odt", "OpenDocument text"),
    ("rtf", "RTF"),
];

/// Renders PDFs for the VDR pipeline, and Office files through LibreOffice.
pub struct PdfPageRenderer {
    limits: Limits,
    ocr: Ocr,
    soffice: Option<PathBuf>,
}

impl PdfPageRenderer {
    /// Converts within `limits` (its time budget), OCRs scans with `ocr`, and
    /// converts Office files with `soffice` when given.
    pub fn new(limits: Limits, ocr: Ocr, soffice: Option<PathBuf>) -> Self {
        Self {
            limits,
            ocr,
            soffice,
        }
    }

    /// The PDF to render: the input itself, or its LibreOffice conversion.
    fn pdf_of(&self, input: &ExtractInput<'_>) -> Result<Option<Vec<u8>>, RenderError> {
        let ext = extension(input.file_name);
        let is_pdf = ext == "pdf"
            || input
                .content_type
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/pdf"))
            || input.bytes.starts_with(b"%PDF-");
        if is_pdf {
            return Ok(None);
        }
        let Some((_, what_one)) = CONVERTIBLE.iter().find(|(e, _)| *e == ext) else {
            return Err(RenderError::Unavailable(format!(
                "'{}' is neither a PDF nor an Office file LibreOffice converts",
                input.file_name
            )));
        };
        let Some(soffice) = &self.soffice else {
            return Err(RenderError::Unavailable(
                "rendering Office files needs LibreOffice, which is not installed here".into(),
            ));
        };
        let limits = self.limits;
        let conversion = Conversion {
            format: "Office",
            what_one,
            source_extension: &ext,
            target: "pdf",
        };
        convert_with(
            soffice,
            &conversion,
            input.bytes,
            limits.max_duration,
            &limits,
        )
        .map(Some)
        .map_err(RenderError::Document)
    }
}

impl Default for PdfPageRenderer {
    /// The default limits; Tesseract (`RAG_TESSERACT` or the PATH);
    /// LibreOffice (`RAG_SOFFICE` or the PATH) when installed.
    fn default() -> Self {
        Self::new(Limits::default(), Ocr::from_env(), find_soffice())
    }
}

fn to_port(e: PdfRenderError) -> RenderError {
    match e {
        PdfRenderError::Document(e) => RenderError::Document(e),
        PdfRenderError::Unavailable(why) => RenderError::Unavailable(why),
        other => RenderError::Unavailable(other.to_string()),
    }
}

impl PageRenderer for PdfPageRenderer {
    fn open(&self, input: ExtractInput<'_>) -> Result<Arc<dyn PageSource>, RenderError> {
        let converted = self.pdf_of(&input)?;
        let input = match &converted {
            Some(pdf) => ExtractInput {
                password: None,
                ..ExtractInput::new(pdf, "converted.pdf", Some("application/pdf"))
            },
            None => input,
        };
        let renderer =
            PdfRenderer::from_bytes(input.bytes.to_vec(), input.password).map_err(to_port)?;
        Ok(Arc::new(OpenPdf {
            renderer,
            ocr: self.ocr.clone(),
            converted: converted.map(Arc::new),
        }))
    }
}

/// An opened PDF: each page's image and text are read when it is rendered,
/// so a page-range job reads only its own pages.
struct OpenPdf {
    renderer: PdfRenderer,
    ocr: Ocr,
    /// LibreOffice's PDF of an Office document.
    converted: Option<Arc<Vec<u8>>>,
}

impl PageSource for OpenPdf {
    fn page_count(&self) -> u32 {
        self.renderer.page_count()
    }

    fn converted_pdf(&self) -> Option<Arc<Vec<u8>>> {
        self.converted.clone()
    }

    fn render(&self, page_num: u32, dpi: u32) -> Result<RenderedPage, RenderError> {
        let image = self
            .renderer
            .render_png(page_num, dpi as f32)
            .map_err(to_port)?;
        let layer = match self.renderer.page_text(page_num) {
            Ok(text) => text.trim().to_owned(),
            // No usable text layer: the page is OCR'd like a scan.
            Err(e) => {
                tracing::warn!(page = page_num, error = %e, "page text could not be read");
                String::new()
            }
        };
        let letters = layer.chars().filter(|c| c.is_alphanumeric()).count();
        let (text, text_source) = if letters >= MIN_TEXT_LAYER_CHARS {
            (layer, PageTextSource::TextLayer)
        } else {
            match self.ocr.available().then(|| self.ocr.recognize(&image.png)) {
                Some(Ok(text)) if !text.trim().is_empty() => {
                    (text.trim().to_owned(), PageTextSource::Ocr)
                }
                Some(Err(e)) => {
                    tracing::warn!(page = page_num, error = %e, "OCR failed");
                    (layer, PageTextSource::None)
                }
                _ if !layer.is_empty() => (layer, PageTextSource::TextLayer),
                _ => (String::new(), PageTextSource::None),
            }
        };
        Ok(RenderedPage {
            page_num,
            png: image.png,
            width: image.width,
            height: image.height,
            text,
            text_source,
        })
    }
}
