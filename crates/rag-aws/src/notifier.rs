//! [`Notifier`] on the API Gateway Management API (`PostToConnection`).

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use rag_core::ports::{Notifier, NotifyError};
use serde_json::Value;

use crate::error::{describe, http_status};

/// The WebSocket management endpoint is not a usable URL.
#[derive(Debug, thiserror::Error)]
#[error("invalid WebSocket management endpoint {0:?}: expected https://<api>.execute-api.<region>.amazonaws.com/<stage>")]
pub struct InvalidEndpoint(
    /// The URL as configured.
    pub String,
);

/// The management endpoint for a WebSocket API URL.
///
/// API Gateway serves the management API at the WebSocket API's own URL
/// with `https://`. The original stored the `wss://` URL by mistake and its
/// pushes failed, so a `wss://` (or `ws://`, for local gateways) URL is
/// converted rather than trusted; a trailing slash is dropped so the SDK's
/// `/@connections/{id}` path does not get a double slash.
pub fn management_endpoint(url: &str) -> Result<String, InvalidEndpoint> {
    let url = url.trim().trim_end_matches('/');
    let converted = if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_owned()
    };
    let host = converted
        .strip_prefix("https://")
        .or_else(|| converted.strip_prefix("http://"));
    match host {
        Some(h) if !h.is_empty() && !h.starts_with('/') => Ok(converted),
        _ => Err(InvalidEndpoint(url.to_owned())),
    }
}

/// Pushes messages to WebSocket clients through API Gateway.
#[derive(Debug, Clone)]
pub struct ApiGatewayNotifier {
    client: Client,
}

impl ApiGatewayNotifier {
    /// A notifier for the WebSocket API at `endpoint` (`WEBSOCKET_API_ENDPOINT`,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`).
    ///
    /// Unlike every other client, this one sets its endpoint explicitly: the
    /// management API has no regional endpoint, it *is* the API's own URL.
    /// Region and credentials still come from `config`.
    pub fn new(config: &SdkConfig, endpoint: &str) -> Result<Self, InvalidEndpoint> {
        let endpoint = management_endpoint(endpoint)?;
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .endpoint_url(endpoint)
            .timeout_config(crate::config::quick_timeouts())
            .build();
        Ok(Self {
            client: Client::from_conf(conf),
        })
    }
}

#[async_trait]
impl Notifier for ApiGatewayNotifier {
    async fn send(&self, connection_id: &str, message: &Value) -> Result<(), NotifyError> {
        let data = serde_json::to_vec(message)
            .map_err(|e| NotifyError::Failed(format!("encoding message: {e}")))?;
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // API Gateway answers 410 with `x-amzn-ErrorType: GoneException`
            // and no parseable body; the status alone is enough to know.
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    || http_status(&e) == Some(410) =>
            {
                tracing::debug!(connection_id, "connection gone");
                Err(NotifyError::Gone)
            }
            Err(e) => {
                let detail = describe(&e);
                tracing::warn!(connection_id, error = %detail, "PostToConnection failed");
                Err(NotifyError::Failed(detail))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_become_management_endpoints() {
        let ok = |u: &str| management_endpoint(u).unwrap();
        assert_eq!(
            ok("wss://abc.execute-api.us-east-1.amazonaws.com/dev"),
            "https://abc.execute-api.us-east-1.amazonaws.com/dev"
        );
        assert_eq!(
            ok("https://abc.execute-api.us-east-1.amazonaws.com/dev/"),
            "https://abc.execute-api.us-east-1.amazonaws.com/dev"
        );
        assert_eq!(ok(" ws://127.0.0.1:3001 "), "http://127.0.0.1:3001");
        assert!(management_endpoint("").is_err());
        assert!(management_endpoint("abc.execute-api.amazonaws.com").is_err());
        assert!(management_endpoint("https://").is_err());
    }
}
