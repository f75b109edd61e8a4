//! `async-v2-websocket-default`: $default, subscribe, unsubscribe and ping.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    rag_lambda::logging::init();
    let service = rag_lambda::wiring::websocket(rag_lambda::wiring::WsRoute::Default).await?;
    let service = &service;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, Error>(rag_lambda::websocket::default(service, event.payload).await)
        },
    ))
    .await
}
