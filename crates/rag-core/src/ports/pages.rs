//! VDR pages: rendering a document's pages, embedding them, and the page index for MaxSim search.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChunkRecord, DocumentRecord, EmbedError, IndexError, SearchScope};
use super::{ExtractError, ExtractInput};

/// Where a page's searchable text came from: recorded with every page so
/// that results (and operators) know what was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageTextSource {
    /// The PDF's own text layer.
    TextLayer,
    /// Tesseract OCR of the rendered page (a scan).
    Ocr,
    /// Neither: the page is stored and reported, never silently dropped.
    None,
}

impl PageTextSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextLayer => "text_layer",
            Self::Ocr => "ocr",
            Self::None => "none",
        }
    }
}

/// One page of a document, rendered: what a page embedder reads.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedPage {
    /// 1-based page number.
    pub page_num: u32,
    /// The page as a PNG.
    pub png: Vec<u8>,
    /// Width of the PNG in pixels (set by the DPI it was rendered at).
    pub width: u32,
    /// Height of the PNG in pixels.
    pub height: u32,
    /// The page's text (text layer, or OCR when it has none).
    pub text: String,
    /// Where `text` came from.
    pub text_source: PageTextSource,
}

impl std::fmt::Debug for RenderedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedPage")
            .field("page_num", &self.page_num)
            .field("png_bytes", &self.png.len())
            .field("size", &(self.width, self.height))
            .field("text_chars", &self.text.len())
            .field("text_source", &self.text_source)
            .finish()
    }
}

/// Errors of a [`PageRenderer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The document itself cannot be rendered (corrupt, encrypted, a type
    /// without pages): final, reported to the user.
    #[error(transparent)]
    Document(#[from] ExtractError),
    /// The renderer is missing or failed (no PDFium, LibreOffice crashed):
    /// the pipeline falls back to per-page text.
    #[error("page rendering unavailable: {0}")]
    Unavailable(String),
}

/// Opens documents for rendering (PDFium; LibreOffice first for Office
/// files). Synchronous and CPU-bound: callers run it on a blocking thread.
pub trait PageRenderer: Send + Sync {
    /// Opens the document; pages are rendered later, one at a time.
    fn open(&self, input: ExtractInput<'_>) -> Result<Arc<dyn PageSource>, RenderError>;
}

/// An opened document whose pages are rendered one call at a time, so
/// memory stays flat however long the document.
pub trait PageSource: Send + Sync {
    /// Number of pages.
    fn page_count(&self) -> u32;
    /// Renders page `page_num` (1-based) at `dpi`, with its text (the text
    /// layer, or OCR of the rendered page when it has none).
    fn render(&self, page_num: u32, dpi: u32) -> Result<RenderedPage, RenderError>;
    /// The PDF an Office document was converted into to be rendered, when
    /// it was: what the page-range jobs of a split deck open instead of
    /// converting the whole deck again each. `None` for a document opened
    /// as it is.
    fn converted_pdf(&self) -> Option<Arc<Vec<u8>>> {
        None
    }
}

/// Multi-vector (late-interaction) embeddings of pages and queries: a
/// ColPali-style model over HTTP in production, or the local stand-in that
/// embeds spans of the page's text with the text model.
#[async_trait]
pub trait PageEmbedder: Send + Sync {
    /// Identifies the model; vectors of different models are never compared.
    fn model_id(&self) -> &str;
    /// Length of each vector.
    fn dimensions(&self) -> usize;
    /// Vectors for each page, in order. A page the model cannot read (no
    /// text for a text-based embedder) gets an empty list.
    async fn embed_pages(&self, pages: &[RenderedPage]) -> Result<Vec<Vec<Vec<f32>>>, EmbedError>;
    /// The query's vectors (one per query token for ColPali).
    async fn embed_query(&self, text: &str) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// The scripts the model reads, as [`Embedder::script_coverage`](super::Embedder::script_coverage): a
    /// query in any other is answered from the pages' text instead. Any
    /// script unless the model says otherwise.
    fn script_coverage(&self) -> &crate::search::language::ScriptCoverage {
        &crate::search::language::ANY_SCRIPT
    }
}

/// A page as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRecord {
    /// 1-based page number; storing a page again replaces the old one.
    pub page_num: u32,
    /// Key of the rendered page image in the document's bucket.
    pub image_key: Option<String>,
    /// The page's text, shown as the result snippet.
    pub content: String,
    /// Where `content` came from.
    pub text_source: PageTextSource,
    /// The page's vectors (may be empty: stored and reported, unsearchable).
    pub vectors: Vec<Vec<f32>>,
    /// Facts returned with its hits: the rendered image's `width` and
    /// `height` in pixels.
    pub metadata: Value,
}

/// A MaxSim page search.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery {
    /// Which documents' pages may be searched.
    pub scope: SearchScope,
    /// The query's vectors.
    pub vectors: Vec<Vec<f32>>,
    /// Only vectors of this model are compared.
    pub model: String,
    /// Nearest page vectors fetched per query vector through HNSW; their
    /// pages are the candidates re-ranked by exact MaxSim.
    pub candidates_per_vector: usize,
    /// Most pages returned, best first.
    pub limit: usize,
}

/// A page as search returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageHit {
    /// The page's id in the index (a number, as text); results show it as
    /// `page-<id>`.
    pub page_id: String,
    /// `bucket#key` of the page's document.
    pub document_id: String,
    /// The document's bucket, which also holds the rendered image.
    pub bucket: String,
    /// The document's name ([`DocumentRecord::file_name`]).
    pub file_name: String,
    /// 1-based page number.
    pub page_num: u32,
    /// The page's whole stored text; results cut it to a snippet.
    pub content: String,
    /// Key of the rendered page image in `bucket`; `None` when none was stored.
    pub image_key: Option<String>,
    /// Where `content` came from.
    pub text_source: PageTextSource,
    /// MaxSim: the sum over query vectors of the best cosine on the page.
    pub score: f64,
    /// The page's stored facts ([`PageRecord::metadata`]).
    pub metadata: Value,
}

/// Page vectors of VDR documents, searchable per caller by MaxSim.
#[async_trait]
pub trait PageIndex: Send + Sync {
    /// Replaces pages `first..=last` of the document, with their text
    /// `chunks`, in one transaction: workers processing different ranges of
    /// one document never touch each other's rows, and a retried range
    /// replaces its earlier attempt. Claims the document row like
    /// [`Index::replace_document`](super::Index::replace_document) (another owner's document is refused).
    async fn replace_pages(
        &self,
        doc: &DocumentRecord,
        first: u32,
        last: u32,
        pages: &[PageRecord],
        chunks: &[ChunkRecord],
    ) -> Result<(), IndexError>;
    /// Best pages by exact MaxSim over candidates found through HNSW.
    async fn search_pages(&self, query: &PageQuery) -> Result<Vec<PageHit>, IndexError>;
}
