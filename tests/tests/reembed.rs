//! After the embedding model changes: search names the documents it could
//! not compare densely, and re-embedding (in process, or as a queue job the
//! text pipeline runs) makes them searchable again, on real PostgreSQL.

use integration_tests::{new_user, Harness};
use rag_core::domain::job::PipelineJob;
use rag_core::ingest::pipeline::JobRunner as _;
use rag_core::ingest::pipeline::{RunOutcome, RunReporter};
use rag_core::ingest::reembed::Reembedder;
use rag_core::ports::{BlobRef, Index};
use rag_core::search::query::SearchMode;

const TIDES: &str = "# Tides\n\nThe moon's pull raises two bulges of ocean water; the earth turns through them twice a day.";
const BEES: &str =
    "Honey bees pollinate crops. A colony has one queen, thousands of workers and a few drones.";

/// Marks a document's vectors as those of an older model, as if indexed
/// before the configured model changed.
async fn indexed_with_an_older_model(h: &Harness, document_id: &str) {
    for sql in [
        "UPDATE hybrid_documents SET embedding_model = 'old:model-v1' WHERE document_id = $1",
        "UPDATE hybrid_dense_embeddings SET model = 'old:model-v1' WHERE document_id = $1",
    ] {
        sqlx::query(sql)
            .bind(document_id)
            .execute(h.index.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn documents_of_an_older_model_are_named_by_search_and_re_embedded() {
    let h = Harness::new().await;
    let (alice, bob) = (new_user("alice"), new_user("bob"));
    let tides = h.put(&format!("{}/tides.md", alice.user), TIDES.as_bytes());
    let bees = h.put(&format!("{}/bees.txt", bob.user), BEES.as_bytes());
    h.ingest(&alice, &format!("{}/tides.md", alice.user)).await;
    h.ingest(&bob, &format!("{}/bees.txt", bob.user)).await;
    indexed_with_an_older_model(&h, &tides).await;
    indexed_with_an_older_model(&h, &bees).await;

    // Dense search cannot compare them, and says so; BM25 still finds them.
    let r = h
        .search(&alice, "why are there two tides a day", SearchMode::Dense)
        .await;
    assert!(r.results.iter().all(|x| x.document_id != tides), "{r:?}");
    let named: Vec<(&str, &str)> = r
        .not_searched_densely
        .iter()
        .map(|d| (d.document_id.as_str(), d.embedding_model.as_str()))
        .collect();
    assert_eq!(
        named,
        [(tides.as_str(), "old:model-v1")],
        "only the caller's own"
    );
    let r = h
        .search(&alice, "moon tides ocean", SearchMode::Sparse)
        .await;
    assert_eq!(r.results[0].document_id, tides);
    assert!(
        r.not_searched_densely.is_empty(),
        "a sparse search misses nothing"
    );

    // In process (`ragctl reembed`).
    let reembedder = Reembedder {
        index: std::sync::Arc::new(h.index.clone()),
        embedder: integration_tests::embedder().await,
        batch: 8,
    };
    let stale: Vec<String> = reembedder
        .stale(10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.document_id)
        .collect();
    assert!(stale.contains(&tides) && stale.contains(&bees));
    let mut seen = 0;
    assert_eq!(
        reembedder
            .reembed(&alice.user, &tides, |n| seen += n)
            .await
            .unwrap(),
        1
    );
    assert_eq!(seen, 1);
    let r = h
        .search(&alice, "why are there two tides a day", SearchMode::Dense)
        .await;
    assert_eq!(r.results[0].document_id, tides);
    assert!(r.not_searched_densely.is_empty());
    // Only the owner's own documents.
    assert!(reembedder.reembed(&bob.user, &tides, |_| {}).await.is_err());

    // As a queue job the text processor runs.
    let blob = BlobRef {
        bucket: h.bucket.clone(),
        key: format!("{}/bees.txt", bob.user),
    };
    let meta = h.pipeline.blobs.head(&blob).await.unwrap();
    let (mut job, _) =
        PipelineJob::for_object(&blob, &meta, None, &bob.user, "re-1".into(), true).unwrap();
    job.reembed = true;
    RunReporter::new(h.status.clone(), &job)
        .start_run(true, "queued")
        .await;
    // The file is not read again: it may be gone.
    std::fs::remove_file(h.dir.path().join(&blob.key)).unwrap();
    match h.pipeline.run(&job).await.unwrap() {
        RunOutcome::Completed { chunks, .. } => assert_eq!(chunks, 1),
        other => panic!("{other:?}"),
    }
    let r = h
        .search(&bob, "who pollinates the crops", SearchMode::Hybrid)
        .await;
    assert_eq!(r.results[0].document_id, bees);
    assert!(r.not_searched_densely.is_empty());
    let summary = h.index.document(&bob, &bees).await.unwrap().unwrap();
    assert_eq!(summary.chunks, 1);
}
