//! `ragctl extract FILE`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rag_core::ports::ExtractInput;
use rag_core::ports::Extractor;
use rag_extract::FileExtractor;
use rag_local::FsBlobStore;

/// Prints the extracted text, with a marker line before each numbered page.
pub fn run(file: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.to_string_lossy();
    let content_type = FsBlobStore::guess_content_type(&name);
    let doc = FileExtractor::default()
        .extract(ExtractInput::new(&bytes, &name, content_type.as_deref()))
        .with_context(|| format!("extracting {}", file.display()))?;
    let out = doc.marked_text();
    // A reader that stops early (`ragctl extract f | head`) is not an error.
    use std::io::Write;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
