//! Times `FileExtractor::default()` in-process, for comparisons with other
//! extractors (`scripts/compare-markitdown.sh`) without counting process
//! start-up.
//!
//! ```sh
//! cargo run --release -p rag-extract --example extract_bench -- [-n N] FILE...
//!     # each file N times (default 5), median seconds per file
//! cargo run --release -p rag-extract --example extract_bench -- --serve [--out DIR]
//!     # reads one path per line on stdin, extracts it once and answers
//!     # `seconds<TAB>pages<TAB>ok|error: ...` on stdout (one line); with
//!     # --out, also writes the text (as `ragctl extract` prints it) to
//!     # DIR/<file name>.md
//! ```
//!
//! The text is read from the file name's extension alone (no MIME type), as
//! `ragctl extract` does for every format measured here. Only the call to
//! `extract` is timed, not reading the file.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rag_core::ports::Extractor;
use rag_core::ports::{ExtractInput, ExtractedDocument};
use rag_extract::FileExtractor;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: extract_bench [-n N] FILE... | extract_bench --serve [--out DIR]");
        return;
    }
    let mut rounds = 5usize;
    let mut serve = false;
    let mut out: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-n" => rounds = it.next().and_then(|n| n.parse().ok()).expect("-n N"),
            "--serve" => serve = true,
            "--out" => out = Some(PathBuf::from(it.next().expect("--out DIR"))),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let extractor = FileExtractor::default();
    if serve {
        let stdin = std::io::stdin();
        let mut stdout = std::io::stdout().lock();
        for line in stdin.lock().lines() {
            let line = line.expect("stdin");
            let path = Path::new(line.trim());
            if line.trim().is_empty() {
                continue;
            }
            let (secs, result) = time_one(&extractor, path);
            let status = match &result {
                Ok(doc) => {
                    if let Some(dir) = &out {
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        let _ = std::fs::write(dir.join(format!("{name}.md")), doc.marked_text());
                    }
                    format!("{}\tok", doc.pages.len())
                }
                Err(e) => format!("0\terror: {}", e.replace(['\t', '\n'], " ")),
            };
            writeln!(stdout, "{secs:.6}\t{status}").expect("stdout");
            stdout.flush().expect("stdout");
        }
        return;
    }
    println!("| file | pages | median s | status |");
    println!("| --- | ---: | ---: | --- |");
    for file in &files {
        let mut times = Vec::with_capacity(rounds);
        let mut last = None;
        for _ in 0..rounds.max(1) {
            let (secs, result) = time_one(&extractor, file);
            times.push(secs);
            last = Some(result);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let (pages, status) = match last.expect("one round") {
            Ok(doc) => (doc.pages.len(), "ok".to_owned()),
            Err(e) => (0, format!("error: {e}")),
        };
        println!("| {} | {pages} | {median:.4} | {status} |", file.display());
    }
}

/// Seconds spent in `extract` (not in reading the file), and its result.
fn time_one(extractor: &FileExtractor, path: &Path) -> (f64, Result<ExtractedDocument, String>) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return (0.0, Err(format!("reading {}: {e}", path.display()))),
    };
    let name = path.to_string_lossy();
    let start = Instant::now();
    let result = extractor.extract(ExtractInput::new(&bytes, &name, None));
    let secs = start.elapsed().as_secs_f64();
    (secs, result.map_err(|e| e.to_string()))
}
