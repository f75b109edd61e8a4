//! `async-v2-vdr-processor`: consumes the VDR queue: documents indexed page by page.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use rag_lambda::wiring::{consumer, Processor};

#[tokio::main]
async fn main() -> Result<(), Error> {
    rag_lambda::logging::init();
    let consumer = consumer(Processor::Vdr).await?;
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(rag_lambda::sqs::handle(consumer, event.payload).await)
    }))
    .await
}
