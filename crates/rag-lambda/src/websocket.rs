//! `async-v2-websocket-{connect,disconnect,default}`.

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use rag_core::realtime::WebSocketService;
use serde_json::json;

use crate::http::{error_response, json_response};

fn connection_id(req: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    req.request_context
        .connection_id
        .as_deref()
        .filter(|c| !c.is_empty())
}

fn no_connection() -> ApiGatewayProxyResponse {
    error_response(&rag_core::ApiError::bad_request(
        "missing_connection",
        "the event has no connectionId",
    ))
}

/// `$connect`: `200` admits the connection; anything else refuses it.
pub async fn connect(
    service: &WebSocketService,
    req: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(&req) else {
        return no_connection();
    };
    let query: HashMap<String, String> = req
        .query_string_parameters
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match service.connect(id, &query).await {
        Ok(c) => json_response(200, &json!({"connected": true, "user": c.user})),
        Err(e) => error_response(&e),
    }
}

/// `$disconnect`.
pub async fn disconnect(
    service: &WebSocketService,
    req: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(&req) else {
        return no_connection();
    };
    match service.disconnect(id).await {
        Ok(()) => json_response(200, &json!({"disconnected": true})),
        Err(e) => error_response(&e),
    }
}

/// `$default`, `subscribe`, `unsubscribe`, `ping`: replies go out through
/// the Management API (as in the original); the route answers `200`.
pub async fn default(
    service: &WebSocketService,
    req: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(&req) else {
        return no_connection();
    };
    let replies = service.message(id, req.body.as_deref()).await;
    json_response(200, &json!({"replies": replies.len()}))
}
