//! The fuzzers' smoke run in CI: every input the coverage-guided runs kept
//! (`fuzz/corpus/<target>`), every input that once crashed a reader and was
//! fixed (`fuzz/regressions/<target>`), and the fixtures they are seeded
//! with, replayed through the same entry points (`rag_extract::fuzzing`).
//! A replay must end: no escaped panic, no crash, within the reading limits.
//! The kept corpus is a sample (40 small inputs a target) of what a 5-minute
//! run a target found; the whole of it stays in `.local/fuzz/corpus`.
//! The fuzzing itself: `scripts/fuzz.sh` (crates/rag-extract/fuzz).

use std::path::{Path, PathBuf};

use rag_extract::fuzzing;
use rag_extract::pdf::PdfEngine;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, or none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.is_file());
    found.sort();
    found
}

/// Runs `target` on every kept and regression input of `name`; returns how
/// many.
fn replay(name: &str, target: impl Fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for file in files(&fuzz_dir().join(kind).join(name)) {
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            target(&bytes);
            count += 1;
        }
    }
    count
}

/// A fixture as a family target's input: the byte picking its format first.
fn seeded(selector: usize, path: &Path) -> Vec<u8> {
    let mut input = vec![selector as u8];
    input.extend(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    input
}

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

fn position(names: &[&str], extension: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n.rsplit('.').next() == Some(extension))
}

#[test]
fn pdf_inputs_replay_on_both_engines() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/docs/pdf");
    let seeds = files(&shared);
    for pdf in seeds
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
    {
        let bytes = std::fs::read(pdf).unwrap();
        fuzzing::pdf(PdfEngine::PureRust, &bytes);
        if PdfEngine::preferred() == PdfEngine::Pdfium {
            fuzzing::pdf(PdfEngine::Pdfium, &bytes);
        }
    }
    assert!(replay("pdf_pure_rust", |b| fuzzing::pdf(PdfEngine::PureRust, b)) > 0);
    if PdfEngine::preferred() == PdfEngine::Pdfium {
        assert!(replay("pdf_pdfium", |b| fuzzing::pdf(PdfEngine::Pdfium, b)) > 0);
    }
}

#[test]
fn office_email_and_image_inputs_replay() {
    for (dir, names, target) in [
        ("office", &fuzzing::OFFICE[..], fuzzing::office as fn(&[u8])),
        ("email", &fuzzing::EMAIL[..], fuzzing::email),
        ("images", &fuzzing::IMAGE[..], fuzzing::image),
    ] {
        let mut seeds = 0;
        for file in files(&fixtures(dir)) {
            let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            if let Some(selector) = position(names, extension) {
                target(&seeded(selector, &file));
                seeds += 1;
            }
        }
        assert!(seeds > 0, "no {dir} fixture seeds a fuzzer");
    }
    for (name, target) in [
        ("office", fuzzing::office as fn(&[u8])),
        ("email", fuzzing::email),
        ("image", fuzzing::image),
    ] {
        assert!(replay(name, target) > 0, "no kept {name} corpus");
    }
}

#[test]
fn text_format_inputs_replay() {
    fuzzing::html(b"<html><body><h1>T</h1><table><tr><td>1</td></tr></table></body></html>");
    fuzzing::csv(b"\x00a,b\n1,\"2\n3\"\n");
    fuzzing::text(b"\x00{\"a\": [1, {\"b\": null}]}");
    for (name, target) in [
        ("html", fuzzing::html as fn(&[u8])),
        ("csv", fuzzing::csv),
        ("text", fuzzing::text),
    ] {
        assert!(replay(name, target) > 0, "no kept {name} corpus");
    }
}
