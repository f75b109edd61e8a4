//! `async-v2-query-handler`: hybrid search (`POST /v2/query`).

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    rag_lambda::logging::init();
    let handler = rag_lambda::wiring::query_handler().await?;
    let handler = &handler;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(handler.handle(event.payload).await)
        },
    ))
    .await
}
