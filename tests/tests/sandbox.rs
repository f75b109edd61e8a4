//! Documents read in worker processes (`rag_extract::sandbox`): a reader
//! stuck in PDFium, a worker that hangs or crashes, cost one document, not
//! the process that reads the next.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::{extract_worker, new_user, shared_pdf, Harness};
use rag_core::domain::status::Stage;
use rag_core::ingest::pipeline::RunOutcome;
use rag_core::ports::{ExtractError, ExtractInput};
use rag_core::ports::{Extractor, PageRenderer, RenderError};
use rag_extract::sandbox::{SandboxedExtractor, SandboxedRenderer, WorkerProgram};
use rag_extract::{FileExtractor, Limits};

/// A worker that is a shell script, for the ways a real one goes wrong.
fn script(dir: &Path, name: &str, body: &str) -> WorkerProgram {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    WorkerProgram::at(path)
}

fn pdf_input(bytes: &[u8]) -> ExtractInput<'_> {
    ExtractInput::new(bytes, "crazyones.pdf", Some("application/pdf"))
}

fn crazy_ones() -> Vec<u8> {
    std::fs::read(shared_pdf("crazyones-pdfa.pdf")).expect("sample PDF")
}

#[test]
fn a_reader_stuck_in_pdfium_does_not_stall_the_next_document() {
    let bytes = crazy_ones();
    if rag_extract::pdf::pdfium_library().is_err() {
        panic!("PDFium is needed here: scripts/fetch-pdfium.sh");
    }
    // A page stuck inside PDFium, on another thread of this process, holds
    // its process-wide lock.
    let stuck = rag_extract::pdf::exclusive_pdfium();
    // In this process, the next PDF waits for it...
    let waiting = {
        let bytes = bytes.clone();
        std::thread::spawn(move || FileExtractor::default().extract(pdf_input(&bytes)))
    };
    // ...read in a worker, it does not.
    let sandboxed = SandboxedExtractor::new(extract_worker(), FileExtractor::default());
    let read = sandboxed
        .extract(pdf_input(&bytes))
        .expect("read in a worker");
    assert!(
        read.full_text().contains("crazy ones"),
        "{:?}",
        read.full_text()
    );
    assert!(
        !waiting.is_finished(),
        "the in-process read waits on the lock"
    );
    drop(stuck);
    let late = waiting
        .join()
        .expect("no panic")
        .expect("read once the lock is free");
    assert_eq!(late, read, "the same text either way");
}

#[test]
fn a_worker_that_hangs_is_killed_at_its_time_and_the_next_one_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_duration: Duration::from_secs(1),
        ..Limits::default()
    };
    let hangs = SandboxedExtractor::new(
        script(dir.path(), "hangs", "exec sleep 600"),
        FileExtractor::new(limits),
    )
    .with_grace(Duration::from_secs(1));
    let bytes = crazy_ones();
    match hangs.extract(pdf_input(&bytes)) {
        Err(ExtractError::LimitExceeded(why)) => assert!(why.contains("longer than 2 s"), "{why}"),
        other => panic!("{other:?}"),
    }
    let good = SandboxedExtractor::new(extract_worker(), FileExtractor::new(limits));
    assert!(good.extract(pdf_input(&bytes)).is_ok());
}

#[tokio::test]
async fn a_reader_that_crashes_fails_its_document_with_a_status_not_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash in native code looks like from outside: a signal.
    let crashes = script(dir.path(), "crashes", "kill -SEGV $$");
    let sandboxed = SandboxedExtractor::new(crashes, FileExtractor::default());
    let bytes = crazy_ones();
    match sandboxed.extract(pdf_input(&bytes)) {
        Err(ExtractError::Corrupt { detail, .. }) => assert!(
            detail.contains("crashed the reader") && detail.contains("segmentation fault"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    // Through the text pipeline: the run ends `failed`, with its reason.
    let mut harness = Harness::new().await;
    harness.pipeline.extractor = Arc::new(sandboxed);
    let user = new_user("crash");
    harness.put(&format!("{}/crash.pdf", user.user), &bytes);
    let outcome = harness
        .ingest(&user, &format!("{}/crash.pdf", user.user))
        .await;
    let RunOutcome::Failed(failure) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(failure.code, "corrupt_file");
    let status_id = format!("{}#{}/crash.pdf", harness.bucket, user.user);
    let last = harness
        .status
        .history_of(&status_id)
        .pop()
        .expect("a status");
    assert_eq!(last.status, Stage::Failed);
    assert!(
        last.error
            .as_deref()
            .is_some_and(|e| e.contains("crashed the reader")),
        "{last:?}"
    );
}

#[test]
fn a_page_that_hangs_the_renderer_fails_its_document_and_frees_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // A worker that opens the document (its answer, written as a worker
    // would), then hangs on the first page.
    let opened = br#"{"answer":"opened","pages":3}"#;
    let mut frame = (opened.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(opened);
    frame.extend_from_slice(&0u64.to_le_bytes());
    let answer: PathBuf = dir.path().join("opened.bin");
    std::fs::write(&answer, frame).unwrap();
    let hangs = script(
        dir.path(),
        "hangs-on-a-page",
        &format!("cat '{}'\nexec sleep 600", answer.display()),
    );
    let renderer =
        SandboxedRenderer::new(hangs, Limits::default()).with_page_time(Duration::from_secs(1));
    let bytes = crazy_ones();
    let source = renderer.open(pdf_input(&bytes)).expect("opened");
    assert_eq!(source.page_count(), 3);
    match source.render(1, 72) {
        Err(RenderError::Document(ExtractError::LimitExceeded(why))) => {
            assert!(
                why.contains("rendering page 1 took longer than 1 s"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(source.render(2, 72), Err(RenderError::Document(_))),
        "the document is done for"
    );
    // The next document, in a fresh worker, renders.
    let good = SandboxedRenderer::new(extract_worker(), Limits::default());
    let source = good.open(pdf_input(&bytes)).expect("opened");
    let page = source.render(1, 36).expect("rendered");
    assert!(page.png.starts_with(b"\x89PNG"));
    assert!(page.text.contains("crazy ones"), "{}", page.text);
}
