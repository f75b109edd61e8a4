#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rag_extract::fuzzing::pdf(rag_extract::pdf::PdfEngine::Pdfium, data));
