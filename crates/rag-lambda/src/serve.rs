//! The Lambda runtime loop every function runs.

use std::future::Future;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Hands each invocation's event to `handler` until the runtime stops the
/// container. Handlers answer every event (errors are responses, not
/// invocation failures), so a bad request never counts as a Lambda error.
pub async fn serve<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(E) -> Fut,
    Fut: Future<Output = R>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        Ok::<R, Error>(handler(event.payload).await)
    }))
    .await
}

/// [`serve`] for handlers that must know when the invocation ends (the
/// queue consumers): the runtime's deadline, in epoch milliseconds, is
/// handed over with each event.
pub async fn serve_until<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(E, u64) -> Fut,
    Fut: Future<Output = R>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        Ok::<R, Error>(handler(event.payload, event.context.deadline).await)
    }))
    .await
}

/// The whole `main` of a queue processor: the process may first be one of
/// its own document workers (`rag_extract::sandbox`), which serves its
/// parent and exits before any runtime starts; otherwise it consumes
/// `processor`'s queue, handing each job the invocation's deadline.
#[cfg(feature = "ingest")]
pub fn processor_main(pipeline: rag_core::domain::classify::Pipeline) -> Result<(), Error> {
    crate::serve_if_worker();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            crate::logging::init();
            let metrics = crate::emf::Emf::install();
            let handler = crate::wiring::consumer(pipeline).await?;
            let handler = &handler;
            let metrics = &metrics;
            serve_until(|event, deadline_ms| async move {
                let deadline = crate::sqs::Deadline::at_epoch_ms(deadline_ms);
                let response = crate::sqs::handle_until(handler, event, deadline).await;
                if let Some(m) = metrics {
                    m.flush();
                }
                response
            })
            .await
        })
}
