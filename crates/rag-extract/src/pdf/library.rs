//! Finding and binding `libpdfium.so` once per process.
//!
//! PDFium is loaded at run time (`dlopen`), never linked: the same binary
//! runs with it (Lambda layer, a developer's fetched copy) and without it
//! (then PDFs go through the pure-Rust extractor). The first use binds the
//! library and logs once which copy was taken, or why none was.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use pdfium_render::prelude::Pdfium;

/// Environment variable naming the library file, or a directory holding it;
/// searched first.
pub const LIBRARY_PATH_VAR: &str = "PDFIUM_LIBRARY_PATH";

/// Where the Lambda layer built by `layers/pdfium/build.sh` puts the library
/// (Lambda mounts layers at `/opt`).
const LAYER_DIR: &str = "/opt/lib";

/// The copy `scripts/fetch-pdfium.sh` puts in the checkout (git-ignored), for
/// tests and local runs of binaries built from this checkout.
const FETCHED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/pdfium/lib");

/// The bound library and the file it came from, or why no copy could be bound.
static BOUND: OnceLock<Result<(Pdfium, PathBuf), String>> = OnceLock::new();

/// Serializes work on PDFium across threads. pdfium-render's `thread_safe`
/// feature already locks each FFI call; this lock keeps whole operations
/// (open a document and read its error code, read a page, render a page)
/// from interleaving, as the PDFium authors ask of multi-threaded callers.
static OPERATION: Mutex<()> = Mutex::new(());

/// The process's PDFium, binding it on first use.
pub(crate) fn pdfium() -> Result<&'static Pdfium, &'static str> {
    match BOUND.get_or_init(bind) {
        Ok((pdfium, _)) => Ok(pdfium),
        Err(reason) => Err(reason),
    }
}

/// Which `libpdfium.so` this process uses, or why it uses none: for logs,
/// health checks and the engine comparison's output.
pub fn pdfium_library() -> Result<&'static Path, &'static str> {
    match BOUND.get_or_init(bind) {
        Ok((_, path)) => Ok(path),
        Err(reason) => Err(reason),
    }
}

/// Exclusive use of PDFium for one operation.
pub(crate) fn lock() -> MutexGuard<'static, ()> {
    OPERATION.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Exclusive use of this process's PDFium, as every read and render of
/// this crate holds it for each operation: for a caller driving
/// pdfium-render itself. While it is held, no PDF of this process is read;
/// documents read by workers (`crate::sandbox`) are not held up.
pub fn exclusive_pdfium() -> MutexGuard<'static, ()> {
    lock()
}

/// Where to look, in order: `$PDFIUM_LIBRARY_PATH`, the Lambda layer, the
/// fetched copy.
fn candidates() -> Vec<PathBuf> {
    let name = Pdfium::pdfium_platform_library_name();
    let mut found = Vec::with_capacity(3);
    if let Some(value) = std::env::var_os(LIBRARY_PATH_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        found.push(if path.is_dir() {
            path.join(&name)
        } else {
            path
        });
    }
    found.push(Path::new(LAYER_DIR).join(&name));
    // The checkout the process runs in first: a build cache shared between
    // checkouts may hold a binary whose FETCHED_DIR names another one.
    found.extend(in_working_checkout(
        Path::new(".local/pdfium/lib").join(&name),
    ));
    let fetched = Path::new(FETCHED_DIR);
    found.push(
        fetched
            .canonicalize()
            .unwrap_or_else(|_| fetched.to_path_buf())
            .join(&name),
    );
    found
}

fn bind() -> Result<(Pdfium, PathBuf), String> {
    let mut tried = Vec::new();
    for path in candidates() {
        if !path.is_file() {
            tried.push(format!("{}: not found", path.display()));
            continue;
        }
        match Pdfium::bind_to_library(&path) {
            Ok(bindings) => {
                tracing::info!(library = %path.display(), "PDF engine: PDFium");
                return Ok((Pdfium::new(bindings), path));
            }
            Err(error) => tried.push(format!("{}: {error:?}", path.display())),
        }
    }
    let reason = format!(
        "no usable libpdfium.so ({}); set {LIBRARY_PATH_VAR} or run scripts/fetch-pdfium.sh",
        tried.join("; ")
    );
    tracing::warn!(
        %reason,
        "PDF engine: PDFium unavailable, PDFs are read by the pure-Rust extractor \
         (no embedded images, no page rendering)"
    );
    Err(reason)
}

/// `relative` under the nearest ancestor of the working directory that has
/// it (the repository's root, from the root or from a crate's directory).
fn in_working_checkout(relative: PathBuf) -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .map(|a| a.join(&relative))
        .find(|p| p.is_file())
}
