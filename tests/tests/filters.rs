//! Attribute filters inside both retrievers: a filter narrows the scope
//! before the dense and BM25 lists are cut, so a filter matching 1% of a
//! scope still returns full top-k, and never reaches past what the caller
//! may see.

use std::collections::BTreeSet;
use std::sync::Arc;

use integration_tests::{embedder, index, new_user};
use rag_core::domain::attributes::Filter;
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::pipeline::indexing::chunk_records;
use rag_core::ports::{
    Bm25Params, DenseQuery, DocumentRecord, Embedder, Index, IndexQuery, QueryVector, SearchScope,
    SparseQuery,
};
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{QueryConfig, QueryRequest, QueryService};
use rag_core::Caller;
use rag_index_pg::PgIndex;
use serde_json::{json, Value};

/// Chunks per document: 100 documents make a scope of 1,200 chunks.
const CHUNKS: usize = 12;

/// A unit vector that depends on `seed` only.
fn vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

/// Stores a document of `owner` with `attributes`, its chunks all about
/// ledgers (so every chunk matches the BM25 query).
async fn store(index: &PgIndex, owner: &str, name: &str, attributes: Value, seed: u64) -> String {
    let dims = embedder().await.dimensions();
    let id = format!("files#{owner}/{name}");
    let chunks: Vec<(Option<u32>, String)> = (0..CHUNKS)
        .map(|i| {
            (
                Some(1),
                format!("ledger entry {i} of {name}: quarterly ledger totals"),
            )
        })
        .collect();
    let vectors = (0..CHUNKS as u64)
        .map(|i| vector(seed * 100 + i, dims))
        .collect();
    let records = chunk_records(
        &Analyzer::new(),
        chunks,
        vectors,
        &json!({"file_name": name}),
    );
    let doc = DocumentRecord {
        document_id: id.clone(),
        owner: owner.to_owned(),
        bucket: "files".into(),
        key: format!("{owner}/{name}"),
        file_name: name.to_owned(),
        content_type: Some("text/plain".into()),
        pipeline: Pipeline::TextRag,
        embedding_model: embedder().await.model_id().to_owned(),
        page_count: None,
        metadata: json!({"format": "text", "attributes": attributes}),
    };
    index.replace_document(&doc, &records).await.unwrap();
    id
}

/// The documents of the dense and the sparse list of a search over `scope`.
async fn lists(index: &PgIndex, scope: SearchScope, k: usize) -> (Vec<String>, Vec<String>) {
    let dims = embedder().await.dimensions();
    let query = IndexQuery {
        scope,
        dense: Some(DenseQuery {
            vector: QueryVector::ready(vector(7, dims)),
            model: embedder().await.model_id().to_owned(),
            limit: k,
        }),
        sparse: Some(SparseQuery {
            terms: Analyzer::new().query_terms("ledger totals"),
            params: Bm25Params::default(),
            limit: k,
        }),
    };
    let found = index.search(&query).await.unwrap();
    let docs = |list: Vec<(rag_core::ports::ChunkHit, f64)>| {
        list.into_iter().map(|(hit, _)| hit.document_id).collect()
    };
    (docs(found.dense), docs(found.sparse))
}

fn scope(user: &str, filter: Value) -> SearchScope {
    SearchScope {
        caller: Caller::new(user),
        document_ids: None,
        pipeline: None,
        filter: Some(Filter::from_json(&filter).unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_matching_one_percent_of_a_scope_returns_full_top_k_within_access() {
    let index = index().await;
    let alice = new_user("filter-alice").user;
    let carol = new_user("filter-carol").user;
    let dave = new_user("filter-dave").user;
    // Alice's 100 documents: one (1%) tagged "audit" in knowledge base kb-9.
    let mut rare = String::new();
    for i in 0..100u64 {
        let attributes = if i == 42 {
            json!({"tags": ["audit", "2024"], "knowledge_base_id": "kb-9", "year": 2024, "signed": "2024-03-15T00:00:00.000Z"})
        } else {
            json!({"tags": ["routine"], "knowledge_base_id": "kb-1", "year": 2000 + (i % 20), "signed": "2019-01-01T00:00:00.000Z"})
        };
        let id = store(&index, &alice, &format!("doc-{i}.txt"), attributes, i).await;
        if i == 42 {
            rare = id;
        }
    }
    // Carol's audit documents are not Alice's to see; Dave shares one.
    let carols = store(
        &index,
        &carol,
        "audit.txt",
        json!({"tags": ["audit"], "knowledge_base_id": "kb-9"}),
        500,
    )
    .await;
    let daves = store(
        &index,
        &dave,
        "shared-audit.txt",
        json!({"tags": ["audit"], "knowledge_base_id": "kb-9", "year": 2024}),
        600,
    )
    .await;
    assert!(index
        .grant(&Caller::new(dave.as_str()), &daves, &alice)
        .await
        .unwrap());

    let k = 10;
    let allowed: BTreeSet<String> = [rare.clone(), daves.clone()].into();
    for filter in [
        json!({"field": "tags", "contains": "audit"}),
        json!({"field": "knowledge_base_id", "eq": "kb-9"}),
        json!({"field": "knowledge_base_id", "in": ["kb-9", "kb-404"]}),
        json!({"and": [{"field": "tags", "contains": "audit"}, {"field": "year", "gte": 2024}]}),
    ] {
        let (dense, sparse) = lists(&index, scope(&alice, filter.clone()), k).await;
        for (name, list) in [("dense", &dense), ("sparse", &sparse)] {
            // The dense list also scores the BM25 list's chunks (for
            // fusion), so it may hold more than k.
            assert!(
                list.len() >= k,
                "{filter}: {name} list came back short: {list:?}"
            );
            let seen: BTreeSet<String> = list.iter().cloned().collect();
            assert!(
                seen.is_subset(&allowed),
                "{filter}: {name} reached {seen:?}"
            );
            assert!(!seen.contains(&carols));
        }
    }
    // Ranges over numbers and dates, and or.
    let only = |list: &[String], doc: &str| list.iter().all(|d| d == doc) && !list.is_empty();
    let (dense, sparse) = lists(
        &index,
        scope(
            &alice,
            json!({"field": "signed", "gte": "2024-01-01", "lt": "2025-01-01"}),
        ),
        k,
    )
    .await;
    assert!(
        only(&dense, &rare) && only(&sparse, &rare),
        "{dense:?} {sparse:?}"
    );
    let (dense, _) = lists(
        &index,
        scope(&alice, json!({"field": "year", "gt": 2018.5, "lte": 2019})),
        100,
    )
    .await;
    let years: BTreeSet<&str> = dense.iter().map(String::as_str).collect();
    assert_eq!(years.len(), 5, "documents of 2019: {years:?}");
    let (dense, _) = lists(&index, scope(&alice, json!({"or": [{"field": "year", "eq": 2024}, {"field": "tags", "contains": "nothing"}]})), k).await;
    let seen: BTreeSet<String> = dense.into_iter().collect();
    assert_eq!(seen, allowed);
    // Nothing matches: nothing found, and no error.
    let (dense, sparse) = lists(
        &index,
        scope(&alice, json!({"field": "tags", "contains": "nothing"})),
        k,
    )
    .await;
    assert!(dense.is_empty() && sparse.is_empty());
    // A date bound never matches a number, nor a number a date.
    let (dense, _) = lists(
        &index,
        scope(&alice, json!({"field": "year", "gte": "2000-01-01"})),
        k,
    )
    .await;
    assert!(dense.is_empty(), "{dense:?}");
    // document_ids still narrow: the filter never widens them.
    let mut narrowed = scope(&alice, json!({"field": "tags", "contains": "audit"}));
    narrowed.document_ids = Some(vec![daves.clone(), carols.clone()]);
    let (dense, sparse) = lists(&index, narrowed, k).await;
    assert!(
        only(&dense, &daves) && only(&sparse, &daves),
        "{dense:?} {sparse:?}"
    );

    // Through the query service, from the request's JSON.
    let service = QueryService {
        embedder: embedder().await,
        index: Arc::new(index.clone()),
        analyzer: Arc::new(Analyzer::new()),
        config: QueryConfig::default(),
        pages: None,
        links: None,
        reranker: None,
    };
    for mode in ["hybrid", "dense", "sparse"] {
        let body = json!({"query": "ledger totals", "top_k": k, "search_mode": mode,
                          "filter": {"field": "tags", "contains": "audit"}});
        let req = QueryRequest::from_json(body.to_string().as_bytes()).unwrap();
        let response = service
            .search(&Caller::new(alice.as_str()), &req)
            .await
            .unwrap();
        assert_eq!(response.results.len(), k, "{mode}");
        assert!(
            response
                .results
                .iter()
                .all(|r| allowed.contains(&r.document_id)),
            "{mode}"
        );
    }
    let bad = json!({"query": "q", "filter": {"field": "tags", "contains": {"x": 1}}});
    let err = QueryRequest::from_json(bad.to_string().as_bytes()).unwrap_err();
    assert_eq!((err.status, err.code), (400, "invalid_field"));
}
