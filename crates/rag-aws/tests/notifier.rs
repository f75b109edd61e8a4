//! ApiGatewayNotifier against a local stand-in for the API Gateway
//! Management API that answers like the real one.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rag_aws::ApiGatewayNotifier;
use rag_core::ports::{Notifier, NotifyError};

#[derive(Default)]
struct Gateway {
    /// (connection id, body, had a SigV4 authorization header)
    posts: Mutex<Vec<(String, Vec<u8>, bool)>>,
}

async fn post_to_connection(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match id.as_str() {
        "L0SM9cOFvHcCIhw=" | "abc" => {
            let signed = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"));
            gw.posts.lock().unwrap().push((id, body.to_vec(), signed));
            StatusCode::OK.into_response()
        }
        "forbidden" => (
            StatusCode::FORBIDDEN,
            [
                ("x-amzn-ErrorType", "ForbiddenException"),
                ("content-type", "application/json"),
            ],
            r#"{"message":"Forbidden"}"#,
        )
            .into_response(),
        // API Gateway's answer for a closed or unknown connection: 410 with
        // the error type in a header and no JSON body.
        _ => (
            StatusCode::GONE,
            [
                ("x-amzn-ErrorType", "GoneException"),
                ("x-amzn-RequestId", "5f1c6a8e-0000-4000-8000-000000000000"),
                ("content-type", "application/json"),
            ],
        )
            .into_response(),
    }
}

/// Serves `/{stage}/@connections/{id}` on a loopback port; returns its
/// `ws://` URL (as a misconfigured deployment might give it).
async fn gateway() -> (Arc<Gateway>, String) {
    let gw = Arc::new(Gateway::default());
    let app = axum::Router::new()
        .route(
            "/dev/@connections/{id}",
            axum::routing::post(post_to_connection),
        )
        .with_state(Arc::clone(&gw));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/dev", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (gw, url)
}

#[tokio::test]
async fn pushes_reach_live_connections_and_gone_ones_are_reported() {
    let (gw, url) = gateway().await;
    let notifier = ApiGatewayNotifier::new(&common::sdk().await, &url).unwrap();
    let message = serde_json::json!({"type": "document_status_update", "statusId": "b#k", "status": "embedding"});

    notifier.send("L0SM9cOFvHcCIhw=", &message).await.unwrap();
    notifier
        .send("abc", &serde_json::json!({"type": "pong"}))
        .await
        .unwrap();
    {
        let posts = gw.posts.lock().unwrap();
        assert_eq!(posts.len(), 2);
        let (id, body, signed) = &posts[0];
        assert_eq!(id, "L0SM9cOFvHcCIhw=");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(body).unwrap(),
            message
        );
        assert!(signed, "requests are SigV4-signed");
    }

    assert!(matches!(
        notifier.send("gone-id=", &message).await,
        Err(NotifyError::Gone)
    ));
    match notifier.send("forbidden", &message).await {
        Err(NotifyError::Failed(detail)) => assert!(detail.contains("Forbidden"), "{detail}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_failure_not_gone() {
    // A port nobody listens on (bound, then released).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let notifier =
        ApiGatewayNotifier::new(&common::sdk().await, &format!("http://{addr}/dev")).unwrap();
    assert!(matches!(
        notifier.send("abc", &serde_json::json!({})).await,
        Err(NotifyError::Failed(_))
    ));
    assert!(ApiGatewayNotifier::new(&common::sdk().await, "not a url").is_err());
}

#[tokio::test]
async fn a_stalled_endpoint_costs_a_push_seconds_not_the_invocation() {
    // Accepts connections and reads requests, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let notifier =
        ApiGatewayNotifier::new(&common::sdk().await, &format!("http://{addr}/dev")).unwrap();
    // A bound on a hang, not a timing assertion: the client's own timeouts
    // (rag_aws::config::quick_timeouts) must end the push well before this.
    let pushed = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        notifier.send("abc", &serde_json::json!({"type": "pong"})),
    )
    .await
    .expect("the push gave up by itself");
    assert!(matches!(pushed, Err(NotifyError::Failed(_))), "{pushed:?}");
}
