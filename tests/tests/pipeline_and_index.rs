//! The text pipeline and the index, end to end on real PostgreSQL + pgvector.

use std::collections::HashMap;

use integration_tests::{new_user, shared_pdf, Harness};
use rag_core::domain::status::Stage;
use rag_core::ingest::pipeline::RunOutcome;
use rag_core::ports::Index;
use rag_core::search::analyzer::Analyzer;
use rag_core::search::query::{QueryRequest, QueryResponse, SearchMode};

/// What SOLAR answers, in other words than its own.
const SOLAR_QUESTION: &str = "how do solar panels make electricity";
const SOLAR: &str = "# Solar power\n\nPhotovoltaic panels convert sunlight into electricity. \
Inverters turn the panels' direct current into alternating current for the grid.";
const BEES: &str =
    "Honey bees pollinate crops. A colony has one queen, thousands of workers and a few drones.";

fn completed(outcome: RunOutcome) -> usize {
    match outcome {
        RunOutcome::Completed { chunks, .. } => chunks,
        RunOutcome::Failed(f) => panic!("expected completion, got failure: {}", f.error),
        RunOutcome::HandedOver { reason, .. } => {
            panic!("expected completion, handed over: {reason}")
        }
        RunOutcome::Cancelled => panic!("expected completion, cancelled"),
    }
}

#[tokio::test]
async fn ingested_documents_are_found_in_every_mode() {
    let h = Harness::new().await;
    let alice = new_user("alice");
    let solar = h.put("alice/solar.md", SOLAR.as_bytes());
    let bees = h.put("alice/bees.txt", BEES.as_bytes());
    assert_eq!(completed(h.ingest(&alice, "alice/solar.md").await), 1);
    completed(h.ingest(&alice, "alice/bees.txt").await);

    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let r = h.search(&alice, SOLAR_QUESTION, mode).await;
        assert_eq!(r.results[0].document_id, solar, "{mode:?}: {:?}", r.results);
        assert!(r.results[0].content.contains("Photovoltaic"));
        assert_eq!(r.search_mode, mode);
        assert_eq!(r.total_results, r.results.len());
        let r = h.search(&alice, "queen of the colony", mode).await;
        assert_eq!(r.results[0].document_id, bees, "{mode:?}");
    }
    // The API response shape, as the frontend reads it.
    let r = h.search(&alice, "pollinate", SearchMode::Hybrid).await;
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "results",
        "query",
        "total_results",
        "search_mode",
        "processing_time_ms",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let first = &json["results"][0];
    for key in [
        "chunk_id",
        "document_id",
        "content",
        "score",
        "page_num",
        "pipeline",
        "metadata",
    ] {
        assert!(first.get(key).is_some(), "missing results[].{key}");
    }
    assert_eq!(first["pipeline"], "text_rag");
    assert_eq!(first["metadata"]["file_name"], "bees.txt");
}

#[tokio::test]
async fn pdf_pages_are_indexed_with_their_numbers() {
    let h = Harness::new().await;
    let user = new_user("pdf");
    h.put(
        "u/pdflatex-4-pages.pdf",
        &std::fs::read(shared_pdf("pdflatex-4-pages.pdf")).unwrap(),
    );
    completed(h.ingest(&user, "u/pdflatex-4-pages.pdf").await);
    let mut req = QueryRequest::new("Huardest gefburn");
    req.search_mode = SearchMode::Sparse;
    req.top_k = 100;
    let r = h.query.search(&user, &req).await.unwrap();
    let mut pages: Vec<u32> = r.results.iter().filter_map(|x| x.page_num).collect();
    pages.sort();
    pages.dedup();
    assert_eq!(
        pages,
        vec![1, 2, 3, 4],
        "every page has text and a number: {:?}",
        r.results
    );
}

#[tokio::test]
async fn reingesting_replaces_the_previous_version() {
    let h = Harness::new().await;
    let user = new_user("reingest");
    let id = h.put("u/fruit.txt", b"Apples are crunchy and grow in orchards.");
    completed(h.ingest(&user, "u/fruit.txt").await);
    assert!(!h
        .search(&user, "apples", SearchMode::Sparse)
        .await
        .results
        .is_empty());

    h.put(
        "u/fruit.txt",
        b"Oranges are citrus fruits full of vitamin C.",
    );
    completed(h.ingest(&user, "u/fruit.txt").await);
    assert!(
        h.search(&user, "apples", SearchMode::Sparse)
            .await
            .results
            .is_empty(),
        "old postings are gone"
    );
    let r = h.search(&user, "oranges citrus", SearchMode::Hybrid).await;
    assert_eq!(
        r.results.len(),
        1,
        "one document, one chunk: {:?}",
        r.results
    );
    assert_eq!(r.results[0].document_id, id);
    let counts: HashMap<_, _> = h.row_counts(&id).await.into_iter().collect();
    assert_eq!(
        (
            counts["hybrid_documents"],
            counts["hybrid_chunks"],
            counts["hybrid_dense_embeddings"],
            counts["document_bm25_metadata"]
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn deleting_removes_everything_the_document_owns() {
    let h = Harness::new().await;
    let (owner, friend) = (new_user("owner"), new_user("friend"));
    let id = h.put("u/solar.md", SOLAR.as_bytes());
    completed(h.ingest(&owner, "u/solar.md").await);
    assert!(h.index.grant(&owner, &id, &friend.user).await.unwrap());
    assert!(h.row_counts(&id).await.iter().all(|(_, n)| *n > 0));

    assert!(
        !h.index.delete_document(&friend, &id).await.unwrap(),
        "a grantee cannot delete"
    );
    assert!(h.index.delete_document(&owner, &id).await.unwrap());
    for (table, n) in h.row_counts(&id).await {
        assert_eq!(n, 0, "{table} still holds rows of the deleted document");
    }
    assert!(h
        .search(&owner, "solar", SearchMode::Hybrid)
        .await
        .results
        .is_empty());
    assert!(
        !h.index.delete_document(&owner, &id).await.unwrap(),
        "second delete finds nothing"
    );
}

#[tokio::test]
async fn users_only_see_their_own_or_granted_documents() {
    let h = Harness::new().await;
    let (alice, bob) = (new_user("alice"), new_user("bob"));
    let secret = h.put("alice/secret.md", SOLAR.as_bytes());
    completed(h.ingest(&alice, "alice/secret.md").await);
    h.put("bob/bees.txt", BEES.as_bytes());
    completed(h.ingest(&bob, "bob/bees.txt").await);

    for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
        let r = h.search(&bob, "photovoltaic solar panels", mode).await;
        assert!(
            r.results.iter().all(|x| x.document_id != secret),
            "{mode:?} leaked alice's chunk to bob"
        );
    }
    // A document's summary is its owner's alone.
    let own = h.index.document(&alice, &secret).await.unwrap();
    assert_eq!(
        own.map(|d| (d.document_id, d.chunks)),
        Some((secret.clone(), 1))
    );
    assert_eq!(h.index.document(&bob, &secret).await.unwrap(), None);
    // document_ids narrows, never widens.
    let mut req = QueryRequest::new("photovoltaic");
    req.document_ids = Some(vec![secret.clone()]);
    assert!(h.query.search(&bob, &req).await.unwrap().results.is_empty());
    assert_eq!(h.query.search(&alice, &req).await.unwrap().results.len(), 1);
    req.document_ids = Some(vec![]);
    assert!(
        h.query
            .search(&alice, &req)
            .await
            .unwrap()
            .results
            .is_empty(),
        "an empty list narrows to nothing"
    );

    // Bob cannot take over alice's document by ingesting the same object.
    match h.ingest(&bob, "alice/secret.md").await {
        RunOutcome::Failed(f) => assert_eq!(f.code, "not_owner", "{}", f.error),
        other => panic!("bob overwrote alice's document: {other:?}"),
    }
    assert_eq!(
        h.search(&alice, "photovoltaic", SearchMode::Sparse)
            .await
            .results
            .len(),
        1
    );

    // A grant makes it visible to bob, and only to bob.
    assert!(h.index.grant(&alice, &secret, &bob.user).await.unwrap());
    assert_eq!(
        h.search(&bob, "photovoltaic", SearchMode::Sparse)
            .await
            .results[0]
            .document_id,
        secret
    );
    assert!(
        !h.index.grant(&bob, &secret, "mallory").await.unwrap(),
        "only the owner can grant"
    );
}

/// Okapi BM25 over `docs` with Lucene's IDF, the reference the SQL must match.
fn reference_bm25(analyzer: &Analyzer, docs: &[&str], query: &str, k1: f64, b: f64) -> Vec<f64> {
    let analyzed: Vec<(Vec<(String, u32)>, u32)> =
        docs.iter().map(|d| analyzer.document_terms(d)).collect();
    let n = docs.len() as f64;
    let avgdl = analyzed.iter().map(|(_, l)| *l as f64).sum::<f64>() / n;
    let q = analyzer.query_terms(query);
    analyzed
        .iter()
        .map(|(terms, len)| {
            q.iter()
                .map(|(t, qtf)| {
                    let df = analyzed
                        .iter()
                        .filter(|(ts, _)| ts.iter().any(|(x, _)| x == t))
                        .count() as f64;
                    let tf = terms
                        .iter()
                        .find(|(x, _)| x == t)
                        .map_or(0.0, |(_, f)| *f as f64);
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    *qtf as f64 * idf * tf * (k1 + 1.0)
                        / (tf + k1 * (1.0 - b + b * *len as f64 / avgdl))
                })
                .sum()
        })
        .collect()
}

#[tokio::test]
async fn bm25_statistics_are_those_of_the_searched_scope() {
    let h = Harness::new().await;
    let (alice, crowd) = (new_user("alice"), new_user("crowd"));
    let docs = [
        "Kiwi birds cannot fly. The kiwi lives in New Zealand.",
        "Kiwi fruit is green inside and rich in vitamin C.",
        "Penguins cannot fly either but they swim very well.",
    ];
    for (i, d) in docs.iter().enumerate() {
        h.put(&format!("a/{i}.txt"), d.as_bytes());
        completed(h.ingest(&alice, &format!("a/{i}.txt")).await);
    }
    // Another user's many kiwi documents must not change alice's scores.
    for i in 0..12 {
        h.put(
            &format!("c/{i}.txt"),
            format!("kiwi kiwi kiwi number {i}").as_bytes(),
        );
        completed(h.ingest(&crowd, &format!("c/{i}.txt")).await);
    }
    let query = "kiwi cannot fly";
    let params = rag_core::ports::Bm25Params::default();
    let want = reference_bm25(&Analyzer::new(), &docs, query, params.k1, params.b);
    let got = h.search(&alice, query, SearchMode::Sparse).await;
    assert_eq!(got.results.len(), 3);
    for r in &got.results {
        let i: usize = r
            .document_id
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".txt")
            .parse()
            .unwrap();
        assert!(
            (r.score - want[i]).abs() < 1e-9,
            "doc {i}: sql {} vs reference {}",
            r.score,
            want[i]
        );
    }
    // Narrowing the scope narrows the statistics too.
    let mut req = QueryRequest::new(query);
    req.search_mode = SearchMode::Sparse;
    req.document_ids = Some(vec![
        format!("{}#a/0.txt", h.bucket),
        format!("{}#a/2.txt", h.bucket),
    ]);
    let narrowed = h.query.search(&alice, &req).await.unwrap();
    let want = reference_bm25(
        &Analyzer::new(),
        &[docs[0], docs[2]],
        query,
        params.k1,
        params.b,
    );
    assert_eq!(narrowed.results.len(), 2);
    assert!(
        (narrowed.results[0].score - want[0]).abs() < 1e-9,
        "{} vs {}",
        narrowed.results[0].score,
        want[0]
    );
}

#[tokio::test]
async fn every_stage_is_recorded_with_monotonic_progress() {
    let h = Harness::new().await;
    let user = new_user("status");
    let id = h.put("u/solar.md", SOLAR.as_bytes());
    completed(h.ingest(&user, "u/solar.md").await);
    let history = h.status.history_of(&id);
    let stages: Vec<Stage> = history.iter().map(|r| r.status).collect();
    for s in [
        Stage::Queued,
        Stage::ProcessingStarted,
        Stage::ExtractingText,
        Stage::Chunking,
        Stage::Embedding,
        Stage::Storing,
        Stage::Completed,
    ] {
        assert!(stages.contains(&s), "{s} missing from {stages:?}");
    }
    assert!(
        history
            .windows(2)
            .all(|w| w[0].progress <= w[1].progress && w[0].status <= w[1].status),
        "{history:?}"
    );
    let last = history.last().unwrap();
    assert_eq!(
        (last.status, last.progress, last.user.as_str()),
        (Stage::Completed, 100, user.user.as_str())
    );
    assert_eq!(last.metadata["chunks"], 1);
}

#[tokio::test]
async fn bad_documents_fail_clearly_and_leave_nothing_behind() {
    let h = Harness::with_limit(64 * 1024).await;
    let user = new_user("bad");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "u/libreoffice-writer-password.pdf",
            std::fs::read(shared_pdf("libreoffice-writer-password.pdf")).unwrap(),
            "encrypted",
        ),
        (
            "u/corrupt.pdf",
            b"%PDF-1.7\n this is not really a PDF at all".to_vec(),
            "corrupt",
        ),
        ("u/empty.txt", Vec::new(), "no extractable text"),
        (
            "u/blank.md",
            b"   \n\n  \t ".to_vec(),
            "no extractable text",
        ),
        (
            "u/binary.txt",
            vec![0u8, 159, 146, 150, 0, 1, 2, 3, 0, 0, 7],
            "binary",
        ),
        (
            "u/archive.zip",
            b"PK\x03\x04 not really".to_vec(),
            "unsupported file type",
        ),
        ("u/huge.txt", vec![b'a'; 64 * 1024 + 1], "limit"),
    ];
    for (key, bytes, expected) in cases {
        let id = h.put(key, &bytes);
        match h.ingest(&user, key).await {
            RunOutcome::Failed(f) => assert!(
                f.error.to_lowercase().contains(expected),
                "{key}: '{}' should mention '{expected}'",
                f.error
            ),
            other => panic!("{key}: expected a failure, got {other:?}"),
        }
        for (table, n) in h.row_counts(&id).await {
            assert_eq!(n, 0, "{key} left rows in {table}");
        }
        if key.ends_with(".zip") {
            continue; // refused before a run starts, as the API refuses it with 415
        }
        let status = h
            .status
            .history_of(&id)
            .pop()
            .expect("a status was recorded");
        assert_eq!(status.status, Stage::Failed, "{key}");
        assert!(
            status
                .error
                .as_deref()
                .is_some_and(|e| e.to_lowercase().contains(expected)),
            "{key}: {:?}",
            status.error
        );
        assert!(status.failed_at_stage.is_some());
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let index = integration_tests::index().await;
    index.migrate().await.expect("second migrate");
    index.migrate().await.expect("third migrate");
}

#[tokio::test]
async fn ties_rank_by_document_not_by_insertion_order() {
    let h = Harness::new().await;
    let user = new_user("ties");
    // Identical documents, ingested in reverse order: their scores tie exactly.
    let b = h.put("u/b.txt", BEES.as_bytes());
    let a = h.put("u/a.txt", BEES.as_bytes());
    completed(h.ingest(&user, "u/b.txt").await);
    completed(h.ingest(&user, "u/a.txt").await);
    for mode in [SearchMode::Sparse, SearchMode::Dense, SearchMode::Hybrid] {
        let r = h.search(&user, "honey bees pollinate", mode).await;
        let ids: Vec<&str> = r.results.iter().map(|x| x.document_id.as_str()).collect();
        assert_eq!(ids, vec![a.as_str(), b.as_str()], "{mode:?}");
        assert_eq!(r.results[0].score, r.results[1].score, "{mode:?}");
    }
}

#[tokio::test]
async fn vdr_mode_searches_only_vdr_routed_documents() {
    let h = Harness::new().await;
    let user = new_user("vdr");
    // "invoice" in the name routes a PDF to VDR; until page embeddings exist
    // its text is indexed per page under pipeline "vdr".
    let pdf = std::fs::read(shared_pdf("pdflatex-4-pages.pdf")).unwrap();
    let invoice = h.put("u/invoice-2024.pdf", &pdf);
    let plain = h.put(
        "u/notes.txt",
        b"Huardest gefburn is a nonsense phrase from a blind text.",
    );
    completed(h.ingest(&user, "u/invoice-2024.pdf").await);
    completed(h.ingest(&user, "u/notes.txt").await);

    let vdr = h.search(&user, "Huardest gefburn", SearchMode::Vdr).await;
    assert!(!vdr.results.is_empty());
    assert!(
        vdr.results.iter().all(|r| r.document_id == invoice
            && r.pipeline == rag_core::domain::classify::Pipeline::Vdr
            && r.page_num.is_some()),
        "{:?}",
        vdr.results
    );
    let all = h
        .search(&user, "Huardest gefburn", SearchMode::HybridVdrText)
        .await;
    assert!(all.results.iter().any(|r| r.document_id == plain));
    assert!(all.results.iter().any(|r| r.document_id == invoice));
}

#[tokio::test]
async fn with_hybrid_search_off_every_fused_mode_ranks_by_one_list() {
    let mut h = Harness::new().await;
    let alice = new_user("nohybrid");
    h.put("alice/solar.md", SOLAR.as_bytes());
    h.put("alice/bees.txt", BEES.as_bytes());
    completed(h.ingest(&alice, "alice/solar.md").await);
    completed(h.ingest(&alice, "alice/bees.txt").await);
    let question = SOLAR_QUESTION;
    let dense = h.search(&alice, question, SearchMode::Dense).await;
    h.query.config.hybrid = false;
    for mode in [SearchMode::Hybrid, SearchMode::HybridVdrText] {
        let r = h.search(&alice, question, mode).await;
        let scores = |r: &QueryResponse| {
            r.results
                .iter()
                .map(|x| (x.chunk_id.clone(), x.score))
                .collect::<Vec<_>>()
        };
        assert_eq!(scores(&r), scores(&dense), "{mode:?} is dense only");
        assert_eq!(r.search_mode, mode, "the response names the mode asked for");
    }
}

#[tokio::test]
async fn a_query_the_model_cannot_read_is_ranked_by_bm25_alone() {
    let h = Harness::new().await;
    let alice = new_user("arabic");
    // all-MiniLM-L6-v2's card says `language: en`: its Arabic vectors are noise.
    let nile = h.put(
        "alice/nile.txt",
        "نهر النيل أطول نهر في العالم، يجري في مصر والسودان ويصب في البحر المتوسط.".as_bytes(),
    );
    h.put(
        "alice/desert.txt",
        "الصحراء الكبرى أكبر صحراء حارة في العالم وتقع في شمال أفريقيا.".as_bytes(),
    );
    h.put("alice/solar.md", SOLAR.as_bytes());
    for key in ["alice/nile.txt", "alice/desert.txt", "alice/solar.md"] {
        completed(h.ingest(&alice, key).await);
    }
    let ranking = |r: &QueryResponse| {
        r.results
            .iter()
            .map(|x| (x.chunk_id.clone(), x.score))
            .collect::<Vec<_>>()
    };
    let question = "أين يصب نهر النيل؟";
    let sparse = h.search(&alice, question, SearchMode::Sparse).await;
    assert_eq!(sparse.results[0].document_id, nile);
    for mode in [SearchMode::Hybrid, SearchMode::HybridVdrText] {
        let r = h.search(&alice, question, mode).await;
        assert_eq!(ranking(&r), ranking(&sparse), "{mode:?} is BM25 only");
    }
    // Asked for explicitly, the vector search still runs.
    let dense = h.search(&alice, question, SearchMode::Dense).await;
    assert_eq!(dense.results.len(), 3, "dense ranks every chunk");
    // An English query is still fused.
    let english = SOLAR_QUESTION;
    let fused = h.search(&alice, english, SearchMode::Hybrid).await;
    let bm25 = h.search(&alice, english, SearchMode::Sparse).await;
    assert_ne!(ranking(&fused), ranking(&bm25));
}

#[tokio::test]
async fn a_query_that_cannot_be_embedded_is_unavailable_but_bm25_still_answers() {
    let h = Harness::new().await;
    let alice = new_user("alice");
    h.put("alice/solar.md", SOLAR.as_bytes());
    completed(h.ingest(&alice, "alice/solar.md").await);
    let query = rag_core::search::query::QueryService {
        // The local model, except that it cannot embed a query (a hosted
        // embedding API that is down answers this way).
        embedder: std::sync::Arc::new(rag_core::testing::FaultyEmbedder {
            inner: integration_tests::embedder().await,
            documents: rag_core::testing::EmbedFault::None,
            queries: rag_core::testing::EmbedFault::Unavailable,
        }),
        index: std::sync::Arc::new(h.index.clone()),
        analyzer: std::sync::Arc::new(Analyzer::new()),
        config: rag_core::search::query::QueryConfig::default(),
        pages: None,
        links: None,
        reranker: None,
    };

    for mode in [SearchMode::Dense, SearchMode::Hybrid] {
        let mut req = QueryRequest::new("photovoltaic panels");
        req.search_mode = mode;
        // The BM25 postings are read while the query is embedded: the
        // embedding's failure still decides the answer, in its own words.
        let e = query.search(&alice, &req).await.unwrap_err();
        assert_eq!((e.status, e.code), (503, "service_unavailable"), "{mode:?}");
        assert!(e.error.contains("search_mode 'sparse'"), "{}", e.error);
        assert!(!e.error.contains("10.0.0.7"), "{}", e.error);
    }
    let mut req = QueryRequest::new("photovoltaic panels");
    req.search_mode = SearchMode::Sparse;
    let r = query.search(&alice, &req).await.unwrap();
    assert_eq!(r.results.len(), 1);
}

/// A cancel that lands while the chunks are being stored (after the run
/// wrote `storing`, before it completes): the completion is refused, the
/// stored rows are withdrawn, and the document is not searchable.
#[tokio::test]
async fn a_run_cancelled_while_storing_withdraws_its_rows_and_never_completes() {
    let h = Harness::new().await;
    let alice = new_user("alice");
    let solar = h.put("alice/solar.md", SOLAR.as_bytes());
    h.status.cancel_when(Stage::Storing);
    let outcome = h.ingest(&alice, "alice/solar.md").await;
    assert!(matches!(outcome, RunOutcome::Cancelled), "{outcome:?}");
    let history = h.status.history_of(&solar);
    let stages: Vec<Stage> = history.iter().map(|r| r.status).collect();
    assert_eq!(stages.last(), Some(&Stage::Cancelled), "{stages:?}");
    assert!(!stages.contains(&Stage::Completed), "{stages:?}");
    for (table, rows) in h.row_counts(&solar).await {
        assert_eq!(rows, 0, "{table} still holds the cancelled run's rows");
    }
    let r = h.search(&alice, SOLAR_QUESTION, SearchMode::Hybrid).await;
    assert!(r.results.is_empty(), "{:?}", r.results);
}

/// A cancel before the chunks are embedded: the run stops at its next
/// stage, embeds and stores nothing, and an earlier version of the document
/// stays searchable.
#[tokio::test]
async fn a_run_cancelled_before_embedding_stops_there_and_keeps_the_earlier_version() {
    let h = Harness::new().await;
    let alice = new_user("alice");
    let solar = h.put("alice/solar.md", SOLAR.as_bytes());
    completed(h.ingest(&alice, "alice/solar.md").await);
    h.status.cancel_when(Stage::Chunking);
    let outcome = h.ingest(&alice, "alice/solar.md").await;
    assert!(matches!(outcome, RunOutcome::Cancelled), "{outcome:?}");
    let last_run: Vec<Stage> = {
        let history = h.status.history_of(&solar);
        let run = history.last().map(|r| r.run_id.clone()).unwrap_or_default();
        history
            .iter()
            .filter(|r| r.run_id == run)
            .map(|r| r.status)
            .collect()
    };
    assert!(
        !last_run.contains(&Stage::Embedding) && !last_run.contains(&Stage::Storing),
        "{last_run:?}"
    );
    assert_eq!(last_run.last(), Some(&Stage::Cancelled));
    let r = h.search(&alice, SOLAR_QUESTION, SearchMode::Hybrid).await;
    assert_eq!(r.results[0].document_id, solar);
}

/// Every result cites where it came from (the headings above it and its
/// place in the extracted text), and brings the chunks around it on request.
#[tokio::test]
async fn results_cite_their_headings_and_offsets_and_bring_their_context() {
    let h = Harness::new().await;
    let alice = new_user("alice");
    let section = |topic: &str| {
        (0..40)
            .map(|i| format!("Sentence {i} about {topic} goes on for a while."))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let text = format!(
        "# Field guide\n\n## Volcanoes\n\n{}\n\n## Glaciers\n\n{}\n\n### Moraines\n\nA moraine is rock debris a glacier leaves behind as it retreats.",
        section("magma"),
        section("ice")
    );
    let id = h.put("alice/guide.md", text.as_bytes());
    completed(h.ingest(&alice, "alice/guide.md").await);

    // A chunk inside the Volcanoes section: its path, its offsets, and the
    // chunks on both sides of it.
    let mut req = rag_core::search::query::QueryRequest::new("Sentence 20 about magma");
    req.context = 1;
    req.top_k = 3;
    req.search_mode = SearchMode::Sparse;
    let r = h.query.search(&alice, &req).await.unwrap();
    let top = &r.results[0];
    assert_eq!(top.document_id, id);
    let citation = top.citation.as_ref().expect("a citation");
    assert_eq!(
        citation.heading_path,
        ["Field guide", "Volcanoes"],
        "{citation:?}"
    );
    // The offsets point at the chunk in the extracted text.
    let span: String = text
        .chars()
        .skip(citation.char_start)
        .take(citation.char_end - citation.char_start)
        .collect();
    assert_eq!(span, top.content);
    let context = top.context.as_ref().expect("context was asked for");
    assert_eq!(
        (context.before.len(), context.after.len()),
        (1, 1),
        "{context:?}"
    );
    // The last chunk: under Moraines (a chunk takes the path where it
    // starts), context before it only.
    let mut req = rag_core::search::query::QueryRequest::new("moraine debris retreats");
    req.context = 2;
    let r = h.query.search(&alice, &req).await.unwrap();
    let last = &r.results[0];
    assert!(last.content.contains("moraine"), "{:?}", last.content);
    let path = &last.citation.as_ref().expect("a citation").heading_path;
    assert_eq!(&path[..2], ["Field guide", "Glaciers"], "{path:?}");
    let context = last.context.as_ref().expect("context");
    assert!(
        context.after.is_empty() && context.before.len() == 2,
        "{context:?}"
    );
    assert!(
        context.before[1].contains("about ice"),
        "nearest last: {context:?}"
    );
    // As JSON, for the frontend.
    let json = serde_json::to_value(top).unwrap();
    assert_eq!(json["citation"]["heading_path"][1], "Volcanoes");
    assert!(json["metadata"].get("citation").is_none());
    assert_eq!(json["context"]["after"].as_array().map(Vec::len), Some(1));
    // Without `context`, none.
    let r = h
        .search(&alice, "moraine debris retreats", SearchMode::Hybrid)
        .await;
    assert!(r.results[0].context.is_none() && r.results[0].citation.is_some());
    // Another user asking for context of chunks they cannot see gets none.
    let around = h
        .index
        .neighbours(&new_user("mallory"), std::slice::from_ref(&top.chunk_id), 2)
        .await
        .unwrap();
    assert!(around.is_empty());
}
