//! `async-v2-api-processor`: accepts documents for processing and reports
//! their status (`POST /v2/process-document`, `GET /v2/status[/{statusId}]`).

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::api_processor().await?;
    let handler = &handler;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(handler.handle(event.payload).await)
        },
    ))
    .await
}
