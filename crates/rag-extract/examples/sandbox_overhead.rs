//! What reading each document in a worker process costs
//! (`rag_extract::sandbox`), against reading it in this process: the same
//! files, alternately, in one run.
//!
//! ```sh
//! cargo run --release -p rag-extract --example sandbox_overhead -- [-n ROUNDS] [FILE...]
//!     # default: every PDF of ../shared/data/docs/pdf, 5 rounds
//! ```
//!
//! Prints, per file and in all, the median milliseconds of each way and
//! their ratio. This binary is its own worker.
//!
//! Measured on the 2-core development machine, 2026-12-04 (the 11 sample
//! PDFs, 1 to 4 pages each, 5 rounds, release build): 27.2 ms in all in
//! this process, 79.3 ms in workers, so 4.7 ms more per document (starting
//! the process, initialising PDFium, the pipe). Embedding one page of text
//! takes 100 ms or more on the same machine.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use rag_core::ports::ExtractInput;
use rag_core::ports::Extractor;
use rag_extract::sandbox::{serve_if_worker, SandboxedExtractor, WorkerProgram};
use rag_extract::FileExtractor;

fn main() {
    serve_if_worker();
    let mut rounds = 5usize;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-n" => rounds = args.next().and_then(|n| n.parse().ok()).expect("-n ROUNDS"),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if files.is_empty() {
        let shared =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/docs/pdf");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&shared)
            .unwrap_or_else(|e| panic!("{}: {e}", shared.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
            .collect();
        found.sort();
        files = found;
    }
    let in_process = FileExtractor::default();
    let sandboxed = SandboxedExtractor::new(
        WorkerProgram::this_binary().expect("this binary"),
        FileExtractor::default(),
    );
    println!(
        "{:<40} {:>10} {:>10} {:>7}",
        "file", "in-proc ms", "worker ms", "ratio"
    );
    let (mut all_in, mut all_out) = (0.0f64, 0.0f64);
    for file in &files {
        let bytes = std::fs::read(file).expect("file");
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let input = || ExtractInput::new(&bytes, &name, None);
        let (mut inside, mut outside) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            let a = in_process.extract(input());
            inside.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let b = sandboxed.extract(input());
            outside.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(a.is_ok(), b.is_ok(), "{name}: the same outcome either way");
        }
        let (a, b) = (median(&mut inside), median(&mut outside));
        all_in += a;
        all_out += b;
        println!("{name:<40} {a:>10.1} {b:>10.1} {:>7.2}", b / a);
    }
    println!(
        "{:<40} {all_in:>10.1} {all_out:>10.1} {:>7.2}",
        "all (sum of medians)",
        all_out / all_in
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
