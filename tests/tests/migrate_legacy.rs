//! `migrate-legacy`: the old amplify-rag index (its `embeddings` table on
//! real PostgreSQL, its DynamoDB tables on the emulator) into this one.

use integration_tests::legacy::{LegacySystem, ZEBRAS};
use integration_tests::{embedder, new_user, Harness};
use rag_core::ports::{Embedder, Index};
use rag_core::search::query::{QueryRequest, SearchMode};
use rag_core::Caller;
use serde_json::json;

async fn search(h: &Harness, who: &Caller, query: &str, mode: SearchMode) -> Vec<String> {
    let mut req = QueryRequest::new(query);
    req.search_mode = mode;
    h.query
        .search(who, &req)
        .await
        .expect("search")
        .results
        .into_iter()
        .map(|r| r.document_id)
        .collect()
}

#[tokio::test]
async fn the_old_index_moves_over_with_owners_and_grants_and_a_killed_run_resumes() {
    let old = LegacySystem::new(1536).await;
    let h = Harness::new().await;
    let plan = old.plan().await;
    assert_eq!(
        plan.per_user(),
        [(old.alice.user.clone(), 2, 6), (old.bob.user.clone(), 1, 3)]
    );
    assert_eq!(plan.orphans.len(), 1, "{:?}", plan.orphans);
    assert!(plan.orphans[0].src.ends_with("orphan.content.json"));
    let slides = plan
        .documents
        .iter()
        .find(|d| d.key == old.keys["slides"])
        .unwrap();
    assert_eq!(slides.grantees, std::slice::from_ref(&old.bob.user));
    // Planning reads only.
    assert!(h.index.documents(&old.alice).await.unwrap().is_empty());

    // 1536-d vectors of another model: embedded again. Killed after the
    // first document (the run's future dropped mid-way, as a kill would).
    let migration = old.migration(false).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::select! {
        r = migration.run(&plan, 1, |_, _| { if let Some(t) = tx.take() { let _ = t.send(()); } }) => {
            panic!("the run should have been stopped: {r:?}")
        }
        _ = rx => {}
    }
    let mut before = 0;
    for who in [&old.alice, &old.bob] {
        before += h.index.documents(who).await.unwrap().len();
    }
    assert!(
        (1..3).contains(&before),
        "{before} documents after the kill"
    );

    let tally = migration.run(&plan, 1, |_, _| {}).await.expect("resumed");
    assert_eq!(
        (tally.present, tally.embedded, tally.copied),
        (before, 3 - before, 0)
    );
    let again = migration.run(&plan, 100, |_, _| {}).await.unwrap();
    assert_eq!((again.present, again.chunks_written), (3, 0));

    // Pages from page and slide numbers; the unreadable one has none.
    let pages = |chunks: Vec<rag_core::ports::StoredChunk>| {
        chunks.into_iter().map(|c| c.page_num).collect::<Vec<_>>()
    };
    let report = h
        .index
        .chunks(&old.alice, &old.id("report"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pages(report), [Some(1), Some(2), Some(3)]);
    let slides_rows = h
        .index
        .chunks(&old.alice, &old.id("slides"))
        .await
        .unwrap()
        .unwrap();
    assert!(slides_rows[0].content.starts_with("Onboarding week one"));
    assert_eq!(pages(slides_rows), [Some(1), Some(2), None]);
    assert_eq!(
        h.index
            .chunks(&old.bob, &old.id("sheet"))
            .await
            .unwrap()
            .unwrap()
            .len(),
        3
    );
    // Owners and grants: Bob finds Alice's shared slides and his sheet, not
    // her report; a stranger finds nothing.
    let stranger = new_user("carol");
    for mode in [SearchMode::Hybrid, SearchMode::Sparse] {
        let found = search(
            &h,
            &old.bob,
            "mentors review pull requests on Thursday",
            mode,
        )
        .await;
        assert_eq!(found.first(), Some(&old.id("slides")), "{mode:?}");
        let found = search(&h, &old.bob, "Atlas Marine olive oil invoice", mode).await;
        assert_eq!(found.first(), Some(&old.id("sheet")), "{mode:?}");
        assert!(!search(&h, &old.bob, "Lisbon bakery revenue", mode)
            .await
            .contains(&old.id("report")));
        assert!(search(&h, &stranger, "Lisbon bakery revenue", mode)
            .await
            .is_empty());
    }
    let summary = h
        .index
        .document(&old.alice, &old.id("report"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.file_name, "report.pdf");
    assert_eq!(summary.metadata["tags"], json!(["finance"]));

    // --verify: faithful, until a row is tampered with.
    for doc in &plan.documents {
        assert_eq!(
            migration.verify(doc, &h.query).await.unwrap(),
            Vec::<String>::new()
        );
    }
    sqlx::query(
        "UPDATE hybrid_chunks SET content = 'tampered' WHERE document_id = $1 AND chunk_index = 1",
    )
    .bind(old.id("report"))
    .execute(h.index.pool())
    .await
    .unwrap();
    let report = plan
        .documents
        .iter()
        .find(|d| d.key == old.keys["report"])
        .unwrap();
    let problems = migration.verify(report, &h.query).await.unwrap();
    assert!(
        problems.iter().any(|p| p.contains("chunk 1")),
        "{problems:?}"
    );
    old.drop().await;
}

#[tokio::test]
async fn vectors_of_the_configured_model_are_copied() {
    let model = embedder().await;
    let old = LegacySystem::new(model.dimensions()).await;
    let h = Harness::new().await;
    let plan = old.plan().await;
    let tally = old
        .migration(true)
        .await
        .run(&plan, 2, |_, _| {})
        .await
        .unwrap();
    assert_eq!((tally.copied, tally.embedded), (3, 0));
    // The old vector of the flour row is that of ZEBRAS (scaled by 3, as
    // inner-product vectors need not be unit): copied, it answers them at
    // cosine 1; embedded again it would not.
    let mut req = QueryRequest::new(ZEBRAS);
    req.search_mode = SearchMode::Dense;
    let top = &h.query.search(&old.alice, &req).await.unwrap().results[0];
    assert_eq!(top.document_id, old.id("report"));
    assert!((top.score - 1.0).abs() < 1e-4, "{}", top.score);
    old.drop().await;
}
