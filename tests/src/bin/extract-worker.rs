//! The document worker of the integration tests: test harnesses cannot
//! serve as their own workers the way the Lambda processors and `ragctl`
//! do (`rag_extract::sandbox`), so their sandboxed readers start this.

fn main() {
    rag_extract::sandbox::serve_if_worker();
    eprintln!(
        "extract-worker: started without RAG_EXTRACT_WORKER; it only serves a parent's reader"
    );
    std::process::exit(2);
}
