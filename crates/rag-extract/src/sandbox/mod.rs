//! Every document read in a process of its own, so that one hostile file
//! cannot stall or take down the worker that reads the next.
//!
//! In-process reading protects the process from a reader's panics and its
//! time: readers run on a thread of their own under `catch_unwind`, and an
//! extraction over its budget is abandoned. That is not enough for native
//! code. PDFium is used under a process-wide lock, so a page that hangs
//! inside it holds the lock, and every later PDF of the process waits
//! forever; the VDR renderer had no time budget at all; and a crash in
//! native code (or a reader exhausting memory) kills the whole process, so
//! the job is redelivered into the same crash until the queue dead-letters
//! it, with no `failed` status ever written.
//!
//! So [`SandboxedExtractor`] and [`SandboxedRenderer`] start a worker
//! process per document (per extraction, per opened document for
//! rendering), hand it the document over a pipe ([`wire`]), and wait for
//! its answer within a time limit: the document's reading budget plus a
//! grace, or a limit per rendered page. A worker over its time is killed,
//! and the caller gets a clear document error (the document fails, the
//! next one starts a fresh worker); a worker that dies (a signal, the
//! memory cap it runs under) is reported as the file having crashed the
//! reader. The worker is this very binary, started again with
//! [`WORKER_ENV`] set ([`WorkerProgram::this_binary`]), so nothing extra
//! ships with a Lambda function; its `main` calls [`serve_if_worker`]
//! before anything else.
//!
//! The cost is a process start and a copy of the document through a pipe
//! per document: about 5 ms, measured by `cargo run -p rag-extract
//! --release --example sandbox_overhead` (the numbers are there).

mod session;
mod wire;
mod worker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rag_core::ports::{ExtractError, ExtractInput, ExtractedDocument};
use rag_core::ports::{Extractor, PageRenderer, PageSource, RenderError, RenderedPage};

use self::session::{Lost, Session};
use self::wire::{Reply, Request};
use crate::{Extraction, FileExtractor, Limits, PdfPageRenderer};

pub use worker::serve_if_worker;

/// Set in a worker's environment: the process serves requests instead of
/// running its own `main` ([`serve_if_worker`]).
pub const WORKER_ENV: &str = "RAG_EXTRACT_WORKER";
/// The address-space cap a worker puts on itself, in bytes.
const MEMORY_LIMIT_ENV: &str = "RAG_EXTRACT_WORKER_MEMORY";

/// Time a worker gets on top of a document's reading budget: to start, to
/// receive the document and to send the text back.
const GRACE: Duration = Duration::from_secs(30);

/// How to start a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerProgram {
    /// The program: a binary whose `main` calls [`serve_if_worker`] first.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The address space a worker may use; `None` leaves it unbounded.
    pub memory_limit_bytes: Option<u64>,
}

impl WorkerProgram {
    /// The address space a worker may use by default: a 200 MB document,
    /// PDFium's page caches and a rendered page at 600 dpi take well under
    /// half of it; a reader that needs more is stopped.
    pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 4 * 1024 * 1024 * 1024;

    /// This process's own binary (which must call [`serve_if_worker`] at
    /// the start of `main`), with the default memory cap.
    pub fn this_binary() -> std::io::Result<Self> {
        Ok(Self::at(std::env::current_exe()?))
    }

    /// The program at `path`, with the default memory cap.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            args: Vec::new(),
            memory_limit_bytes: Some(Self::DEFAULT_MEMORY_LIMIT_BYTES),
        }
    }
}

/// The text pipeline's [`Extractor`] reading each document in a worker
/// process; same reading (formats, limits, OCR) as `extractor`.
#[derive(Debug, Clone)]
pub struct SandboxedExtractor {
    program: WorkerProgram,
    extractor: FileExtractor,
    grace: Duration,
}

impl SandboxedExtractor {
    /// Reads as `extractor` does, in workers started from `program`.
    pub fn new(program: WorkerProgram, extractor: FileExtractor) -> Self {
        Self {
            program,
            extractor,
            grace: GRACE,
        }
    }

    /// The same extractor giving a worker `grace` on top of the reading
    /// budget (30 s by default) before it is killed.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// As [`FileExtractor::extract_with_notes`], in a worker.
    pub fn extract_with_notes(&self, input: ExtractInput<'_>) -> Result<Extraction, ExtractError> {
        let limits = self.extractor.limits();
        let mut session = match Session::start(&self.program) {
            Ok(session) => session,
            Err(lost) => {
                // A deployment without its worker still reads documents;
                // the log says isolation is off.
                tracing::error!(program = %self.program.path.display(), reason = ?lost, "no document worker could be started; reading in this process");
                return self.extractor.extract_with_notes(input);
            }
        };
        let request = Request::Extract {
            file_name: input.file_name.to_owned(),
            content_type: input.content_type.map(str::to_owned),
            password: input.password.map(str::to_owned),
            pages: input.pages.map(|p| (p.first, p.last)),
            limits,
            ocr: self.extractor.ocr_enabled(),
            libreoffice: self.extractor.libreoffice_enabled(),
        };
        let budget = limits.max_duration.saturating_add(self.grace);
        match session.call(&request, input.bytes, budget) {
            Ok((Reply::Extracted(document), images)) => {
                document.into_extraction(&images).map_err(|e| {
                    tracing::error!(error = %e, "a worker's extraction did not decode");
                    unreadable("the reader's answer was damaged")
                })
            }
            Ok((Reply::Failed(error), _)) => Err(error.into_extract_error()),
            Ok((other, _)) => {
                tracing::error!(reply = ?other, "a worker answered an extraction with something else");
                Err(unreadable("the reader's answer was not an extraction"))
            }
            Err(Lost::TimedOut) => {
                tracing::warn!(
                    file_name = input.file_name,
                    budget_s = budget.as_secs(),
                    "document worker over its time; killed"
                );
                Err(ExtractError::LimitExceeded(format!(
                    "reading the document took longer than {} s",
                    budget.as_secs()
                )))
            }
            Err(Lost::Died(how)) => {
                tracing::warn!(file_name = input.file_name, how = %how, "document worker died");
                Err(unreadable(&format!("the file crashed the reader ({how})")))
            }
            Err(Lost::Broken(why)) => {
                tracing::error!(reason = %why, "document worker broken");
                Err(unreadable("the reader failed"))
            }
        }
    }
}

impl Extractor for SandboxedExtractor {
    fn extract(&self, input: ExtractInput<'_>) -> Result<ExtractedDocument, ExtractError> {
        self.extract_with_notes(input).map(|e| e.document)
    }
}

fn unreadable(detail: &str) -> ExtractError {
    ExtractError::Corrupt {
        format: "document",
        detail: detail.to_owned(),
    }
}

/// The VDR pipeline's [`PageRenderer`] opening each document in a worker
/// process that renders its pages one request at a time, each within
/// `page_time` (OCR of a scanned page included).
#[derive(Debug, Clone)]
pub struct SandboxedRenderer {
    program: WorkerProgram,
    limits: Limits,
    page_time: Duration,
}

impl SandboxedRenderer {
    /// Time one page may take by default: rendering at 150 dpi takes well
    /// under a second, OCR of a dense scan some seconds.
    pub const DEFAULT_PAGE_TIME: Duration = Duration::from_secs(120);

    /// Renders as [`PdfPageRenderer`] with `limits` does, in workers started
    /// from `program`.
    pub fn new(program: WorkerProgram, limits: Limits) -> Self {
        Self {
            program,
            limits,
            page_time: Self::DEFAULT_PAGE_TIME,
        }
    }

    /// The same renderer giving each page `page_time`.
    pub fn with_page_time(mut self, page_time: Duration) -> Self {
        self.page_time = page_time;
        self
    }
}

impl PageRenderer for SandboxedRenderer {
    fn open(&self, input: ExtractInput<'_>) -> Result<Arc<dyn PageSource>, RenderError> {
        let mut session = match Session::start(&self.program) {
            Ok(session) => session,
            Err(lost) => {
                tracing::error!(program = %self.program.path.display(), reason = ?lost, "no document worker could be started; rendering in this process");
                return PdfPageRenderer::default().open(input);
            }
        };
        let request = Request::Open {
            file_name: input.file_name.to_owned(),
            content_type: input.content_type.map(str::to_owned),
            password: input.password.map(str::to_owned),
            limits: self.limits,
        };
        let budget = self.limits.max_duration.saturating_add(GRACE);
        match session.call(&request, input.bytes, budget) {
            Ok((Reply::Opened { pages }, converted)) => Ok(Arc::new(WorkerPages {
                session: Mutex::new(Some(session)),
                pages,
                page_time: self.page_time,
                converted: (!converted.is_empty()).then(|| Arc::new(converted)),
            })),
            Ok((Reply::Failed(error), _)) => Err(error.into_render_error()),
            Ok((other, _)) => {
                tracing::error!(reply = ?other, "a worker answered an open with something else");
                Err(RenderError::Unavailable(
                    "the renderer's answer was not an open".into(),
                ))
            }
            Err(lost) => Err(RenderError::Document(lost_document(
                lost,
                "opening it",
                budget,
            ))),
        }
    }
}

/// A document open in a worker.
struct WorkerPages {
    /// `None` once the worker was lost: the document failed.
    session: Mutex<Option<Session>>,
    pages: u32,
    page_time: Duration,
    /// The worker's PDF conversion of an Office document.
    converted: Option<Arc<Vec<u8>>>,
}

impl PageSource for WorkerPages {
    fn page_count(&self) -> u32 {
        self.pages
    }

    fn converted_pdf(&self) -> Option<Arc<Vec<u8>>> {
        self.converted.clone()
    }

    fn render(&self, page_num: u32, dpi: u32) -> Result<RenderedPage, RenderError> {
        let mut slot = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(session) = slot.as_mut() else {
            return Err(RenderError::Document(unreadable(
                "the renderer stopped on an earlier page",
            )));
        };
        let request = Request::Render {
            page: page_num,
            dpi,
        };
        match session.call(&request, &[], self.page_time) {
            Ok((Reply::Rendered(page), png)) => Ok(page.into_page(png)),
            Ok((Reply::Failed(error), _)) => Err(error.into_render_error()),
            Ok((other, _)) => {
                tracing::error!(reply = ?other, "a worker answered a render with something else");
                *slot = None;
                Err(RenderError::Unavailable(
                    "the renderer's answer was not a page".into(),
                ))
            }
            Err(lost) => {
                *slot = None;
                Err(RenderError::Document(lost_document(
                    lost,
                    &format!("rendering page {page_num}"),
                    self.page_time,
                )))
            }
        }
    }
}

/// The document error of a worker lost while `doing` something.
fn lost_document(lost: Lost, doing: &str, limit: Duration) -> ExtractError {
    match lost {
        Lost::TimedOut => {
            tracing::warn!(
                doing,
                limit_s = limit.as_secs(),
                "document worker over its time; killed"
            );
            ExtractError::LimitExceeded(format!("{doing} took longer than {} s", limit.as_secs()))
        }
        Lost::Died(how) => {
            tracing::warn!(doing, how = %how, "document worker died");
            unreadable(&format!(
                "the file crashed the renderer while {doing} ({how})"
            ))
        }
        Lost::Broken(why) => {
            tracing::error!(doing, reason = %why, "document worker broken");
            unreadable(&format!("the renderer failed while {doing}"))
        }
    }
}
