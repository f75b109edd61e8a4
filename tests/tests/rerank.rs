//! `rerank: true` against a local server speaking the real wire format of
//! Cohere's `POST /v2/rerank` (Jina's `/v1/rerank` is the same): the best
//! candidates go to it, its order is the results' order, and its faults are
//! a clear `503`.

use std::sync::Arc;

use integration_tests::rerank_server::{RerankServer, RERANK_KEY};
use integration_tests::{new_user, Harness};
use rag_core::search::query::{QueryConfig, QueryRequest};
use rag_embed::{HttpReranker, RerankConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_reorders_the_best_candidates_by_the_hosted_model() {
    let server = RerankServer::start().await;

    let mut h = Harness::new().await;
    let alice = new_user("rerank");
    for (name, text) in [
        ("a.md", "Volcanoes erupt lava. Magma chambers feed them."),
        (
            "b.md",
            "Lava flows cool into basalt. Basalt columns form slowly as lava cools.",
        ),
        (
            "c.md",
            "Glaciers carve valleys. Ice sheets retreat in warm periods.",
        ),
    ] {
        h.put(&format!("alice/{name}"), text.as_bytes());
        h.ingest(&alice, &format!("alice/{name}")).await;
    }
    let request = |rerank: bool| {
        let mut req = QueryRequest::new("basalt lava cools");
        req.rerank = rerank;
        req.top_k = 2;
        req
    };
    // Not configured: refused, saying why.
    let err = h.query.search(&alice, &request(true)).await.unwrap_err();
    assert_eq!((err.status, err.code), (400, "invalid_field"));
    assert!(err.error.contains("no reranker"), "{}", err.error);

    let mut config = RerankConfig::new(server.url());
    config.api_key = Some(rag_embed::ApiKey::new(RERANK_KEY));
    config.model = "rerank-test".into();
    h.query.reranker = Some(Arc::new(HttpReranker::new(config).unwrap()));
    h.query.config = QueryConfig {
        rerank_candidates: 3,
        ..QueryConfig::default()
    };
    let r = h.query.search(&alice, &request(true)).await.unwrap();
    assert_eq!(r.results.len(), 2);
    assert!(
        r.results[0].document_id.ends_with("b.md"),
        "{:?}",
        r.results
    );
    assert_eq!(r.results[0].score, 1.0);
    assert!(r.results[0].score >= r.results[1].score);
    assert!(r.results[0].metadata["retrieval_score"].is_number());
    assert_eq!(r.results[0].metadata["reranker"], "rerank-test");
    let sent = server.requests.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent["model"], "rerank-test");
    assert_eq!(sent["query"], "basalt lava cools");
    assert_eq!(
        sent["documents"].as_array().map(Vec::len),
        Some(3),
        "the rerank_candidates best: {sent}"
    );

    // Without rerank, the server is not asked.
    let asked = server.requests.lock().unwrap().len();
    let plain = h.query.search(&alice, &request(false)).await.unwrap();
    assert!(plain.results[0].metadata.get("retrieval_score").is_none());
    assert_eq!(server.requests.lock().unwrap().len(), asked);

    // The model down: a clear 503, no internals.
    *server.failing.lock().unwrap() = true;
    let err = h.query.search(&alice, &request(true)).await.unwrap_err();
    assert_eq!(err.status, 503);
    assert!(!err.error.contains("127.0.0.1"), "{}", err.error);

    // The request's JSON.
    let req = QueryRequest::from_json(br#"{"query": "q", "rerank": true}"#).unwrap();
    assert!(req.rerank);
    assert_eq!(
        QueryRequest::from_json(br#"{"query": "q", "rerank": "yes"}"#)
            .unwrap_err()
            .status,
        400
    );
}
