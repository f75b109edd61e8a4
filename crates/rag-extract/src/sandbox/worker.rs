//! The worker's side: a loop over requests on stdin, answers on stdout,
//! until the parent closes stdin (or kills the process).

use std::io::{self, BufReader, BufWriter};
use std::sync::Arc;

use rag_core::ports::ExtractInput;
use rag_core::ports::{PageRenderer, PageSource};

use super::wire::{read_frame, write_frame, Reply, Request, WireDocument, WireError, WirePage};
use super::{MEMORY_LIMIT_ENV, WORKER_ENV};
use crate::image::Ocr;
use crate::legacy::find_soffice;
use crate::{FileExtractor, PdfPageRenderer};

/// Runs this process as a document reader and exits, when its parent
/// started it as one (the [`WORKER_ENV`] variable); returns at once
/// otherwise. Every binary that reads documents through
/// [`super::WorkerProgram::this_binary`] calls it first thing in `main`,
/// before any runtime or logger starts.
pub fn serve_if_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    limit_memory();
    let code = match serve(
        &mut BufReader::new(io::stdin().lock()),
        &mut BufWriter::new(io::stdout().lock()),
    ) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rag-extract worker: {e}");
            3
        }
    };
    std::process::exit(code);
}

/// Caps the address space at what the parent asked ([`MEMORY_LIMIT_ENV`]):
/// a document that would take more makes this process fail, alone.
fn limit_memory() {
    let Some(bytes) = std::env::var(MEMORY_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct it is given and changes only this
    // process's limit; no memory is shared with it.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    if set != 0 {
        eprintln!(
            "rag-extract worker: cannot limit memory to {bytes} bytes: {}",
            io::Error::last_os_error()
        );
    }
}

/// Answers requests until the input ends.
fn serve(input: &mut impl io::Read, output: &mut impl io::Write) -> io::Result<()> {
    // The document opened for rendering, if any.
    let mut opened: Option<Arc<dyn PageSource>> = None;
    while let Some(frame) = read_frame(input)? {
        let request: Request = match serde_json::from_slice(&frame.header) {
            Ok(r) => r,
            Err(e) => {
                let error = WireError::Protocol {
                    detail: format!("an unreadable request: {e}"),
                };
                write_frame(output, &Reply::Failed(error), &[])?;
                continue;
            }
        };
        match request {
            Request::Extract {
                file_name,
                content_type,
                password,
                pages,
                limits,
                ocr,
                libreoffice,
            } => {
                let extractor = FileExtractor::new(limits)
                    .with_ocr(ocr)
                    .with_libreoffice(libreoffice);
                let input = ExtractInput {
                    password: password.as_deref(),
                    pages: Request::range(pages),
                    ..ExtractInput::new(&frame.payload, &file_name, content_type.as_deref())
                };
                match extractor.extract_with_notes(input) {
                    Ok(extraction) => {
                        let (document, images) = WireDocument::of(extraction);
                        write_frame(output, &Reply::Extracted(document), &images)?;
                    }
                    Err(e) => write_frame(output, &Reply::Failed((&e).into()), &[])?,
                }
            }
            Request::Open {
                file_name,
                content_type,
                password,
                limits,
            } => {
                let renderer = PdfPageRenderer::new(limits, Ocr::from_env(), find_soffice());
                let input = ExtractInput {
                    password: password.as_deref(),
                    ..ExtractInput::new(&frame.payload, &file_name, content_type.as_deref())
                };
                match renderer.open(input) {
                    Ok(source) => {
                        let pages = source.page_count();
                        // The conversion goes back too: the pipeline shares
                        // it with a split deck's page-range jobs.
                        let converted = source.converted_pdf();
                        opened = Some(source);
                        let payload = converted.as_deref().map_or(&[][..], Vec::as_slice);
                        write_frame(output, &Reply::Opened { pages }, payload)?;
                    }
                    Err(e) => write_frame(output, &Reply::Failed((&e).into()), &[])?,
                }
            }
            Request::Render { page, dpi } => match &opened {
                Some(source) => match source.render(page, dpi) {
                    Ok(rendered) => {
                        let (page, png) = WirePage::of(rendered);
                        write_frame(output, &Reply::Rendered(page), &png)?;
                    }
                    Err(e) => write_frame(output, &Reply::Failed((&e).into()), &[])?,
                },
                None => {
                    let error = WireError::Protocol {
                        detail: "render before open".into(),
                    };
                    write_frame(output, &Reply::Failed(error), &[])?;
                }
            },
        }
    }
    Ok(())
}
