//! `async-v2-text-rag-processor`: consumes the text-RAG queue: extract, chunk, embed, index.

fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::processor_main(rag_core::domain::classify::Pipeline::TextRag)
}
