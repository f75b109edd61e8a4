//! `async-v2-vdr-processor`: consumes the VDR queue: documents indexed page by page.

fn main() -> Result<(), lambda_runtime::Error> {
    rag_lambda::processor_main(rag_core::domain::classify::Pipeline::Vdr)
}
