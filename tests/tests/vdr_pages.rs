//! VDR page storage and MaxSim search on the real PostgreSQL + pgvector.

use integration_tests::{index, new_user};
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::pipeline::indexing::chunk_records;
use rag_core::ports::{
    DocumentRecord, Index, PageIndex, PageQuery, PageRecord, PageTextSource, SearchScope,
};
use rag_core::search::analyzer::Analyzer;
use rag_core::Caller;
use rag_index_pg::PgIndex;
use serde_json::json;

const MODEL: &str = "test-page-model";

/// A unit vector along axis `i` (of the index's dimension), tilted towards
/// axis `j` by `tilt` when given.
fn axis(dims: usize, i: usize, tilt: Option<(usize, f32)>) -> Vec<f32> {
    let mut v = vec![0.0; dims];
    v[i] = 1.0;
    if let Some((j, t)) = tilt {
        v[j] = t;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn document(owner: &Caller, name: &str) -> DocumentRecord {
    DocumentRecord {
        document_id: format!("bucket#{}/{name}", owner.user),
        owner: owner.user.clone(),
        bucket: "bucket".into(),
        key: format!("{}/{name}", owner.user),
        file_name: name.into(),
        content_type: Some("application/pdf".into()),
        pipeline: Pipeline::Vdr,
        embedding_model: MODEL.into(),
        page_count: None,
        metadata: json!({}),
    }
}

fn page(n: u32, vectors: Vec<Vec<f32>>) -> PageRecord {
    PageRecord {
        page_num: n,
        image_key: Some(format!("_pages/doc/{n}.png")),
        content: format!("text of page {n}"),
        text_source: PageTextSource::TextLayer,
        vectors,
        metadata: json!({}),
    }
}

fn scope(caller: &Caller) -> SearchScope {
    SearchScope {
        caller: caller.clone(),
        document_ids: None,
        pipeline: None,
        filter: None,
    }
}

async fn count(index: &PgIndex, table: &str, document_id: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE document_id = $1"
    )))
    .bind(document_id)
    .fetch_one(index.pool())
    .await
    .expect("count")
}

#[tokio::test]
async fn maxsim_ranks_pages_by_the_sum_of_best_matches_and_ranges_replace_independently() {
    let index = index().await;
    let (_, dims) = index.dimensions();
    let alice = new_user("vdr-alice");
    let doc = document(&alice, "deck.pdf");
    let analyzer = Analyzer::default();

    // Two ranges written by two "workers"; page 3 matches both query
    // vectors, page 1 only the first, page 2 neither.
    let chunks = |pages: &[u32]| {
        let texts: Vec<(Option<u32>, String)> = pages
            .iter()
            .map(|p| (Some(*p), format!("words on page {p}")))
            .collect();
        let vectors = vec![axis(dims, 50, None); texts.len()];
        let mut records = chunk_records(&analyzer, texts, vectors, &json!({}));
        for (r, p) in records.iter_mut().zip(pages) {
            r.chunk_index = p * 10_000;
        }
        records
    };
    index
        .replace_pages(
            &doc,
            1,
            2,
            &[
                page(1, vec![axis(dims, 0, None), axis(dims, 7, None)]),
                page(2, vec![axis(dims, 9, None)]),
            ],
            &chunks(&[1, 2]),
        )
        .await
        .unwrap();
    index
        .replace_pages(
            &doc,
            3,
            3,
            &[page(
                3,
                vec![axis(dims, 0, Some((1, 0.5))), axis(dims, 1, None)],
            )],
            &chunks(&[3]),
        )
        .await
        .unwrap();
    assert_eq!(count(&index, "vdr_pages", &doc.document_id).await, 3);
    assert_eq!(count(&index, "vdr_page_vectors", &doc.document_id).await, 5);
    assert_eq!(count(&index, "hybrid_chunks", &doc.document_id).await, 3);

    let query = PageQuery {
        scope: scope(&alice),
        vectors: vec![axis(dims, 0, None), axis(dims, 1, None)],
        model: MODEL.into(),
        candidates_per_vector: 10,
        limit: 10,
    };
    let hits = index.search_pages(&query).await.unwrap();
    let ranked: Vec<u32> = hits.iter().map(|h| h.page_num).collect();
    assert_eq!(ranked[..2], [3, 1], "{hits:?}");
    // Page 3: best for q0 is 1/sqrt(1.25) (the tilted vector), best for q1 is 1.
    let expected = 1.0 / 1.25f64.sqrt() + 1.0;
    assert!((hits[0].score - expected).abs() < 1e-5, "{}", hits[0].score);
    // Page 1: q0 matches exactly, q1 is orthogonal to both its vectors.
    assert!((hits[1].score - 1.0).abs() < 1e-5, "{}", hits[1].score);
    assert_eq!(hits[0].image_key.as_deref(), Some("_pages/doc/3.png"));
    assert_eq!(hits[0].file_name, "deck.pdf");

    // Re-running range 1..=2 replaces it: page 2 now matches q1 best of all.
    index
        .replace_pages(
            &doc,
            1,
            2,
            &[
                page(1, vec![axis(dims, 7, None)]),
                page(2, vec![axis(dims, 0, None), axis(dims, 1, None)]),
            ],
            &chunks(&[1, 2]),
        )
        .await
        .unwrap();
    assert_eq!(count(&index, "vdr_pages", &doc.document_id).await, 3);
    // 1 + 2 in the new range, 2 on page 3.
    assert_eq!(count(&index, "vdr_page_vectors", &doc.document_id).await, 5);
    assert_eq!(count(&index, "hybrid_chunks", &doc.document_id).await, 3);
    let hits = index.search_pages(&query).await.unwrap();
    assert_eq!(hits[0].page_num, 2, "{hits:?}");
    assert!((hits[0].score - 2.0).abs() < 1e-5);

    // Nobody else sees the pages; document_ids narrows.
    let bob = new_user("vdr-bob");
    let theirs = PageQuery {
        scope: scope(&bob),
        ..query.clone()
    };
    assert!(index.search_pages(&theirs).await.unwrap().is_empty());
    let narrowed = PageQuery {
        scope: SearchScope {
            document_ids: Some(vec!["bucket#elsewhere".into()]),
            ..scope(&alice)
        },
        ..query.clone()
    };
    assert!(index.search_pages(&narrowed).await.unwrap().is_empty());

    // A page outside the range is refused; another owner cannot write.
    assert!(index
        .replace_pages(&doc, 1, 1, &[page(2, vec![])], &[])
        .await
        .is_err());
    let stolen = DocumentRecord {
        owner: bob.user.clone(),
        ..doc.clone()
    };
    assert!(index
        .replace_pages(&stolen, 1, 1, &[page(1, vec![])], &[])
        .await
        .is_err());

    // Deleting the document removes its pages and vectors.
    assert!(index
        .delete_document(&alice, &doc.document_id)
        .await
        .unwrap());
    assert_eq!(count(&index, "vdr_pages", &doc.document_id).await, 0);
    assert_eq!(count(&index, "vdr_page_vectors", &doc.document_id).await, 0);
}

#[tokio::test]
async fn a_shorter_new_version_leaves_no_page_of_the_old_one() {
    let index = index().await;
    let (_, dims) = index.dimensions();
    let owner = new_user("vdr-shorter");
    let analyzer = Analyzer::default();
    let chunks = |pages: &[u32]| {
        let texts: Vec<(Option<u32>, String)> = pages
            .iter()
            .map(|p| (Some(*p), format!("version text on page {p}")))
            .collect();
        let vectors = vec![axis(dims, 3, None); texts.len()];
        let mut records = chunk_records(&analyzer, texts, vectors, &json!({}));
        for (r, p) in records.iter_mut().zip(pages) {
            r.chunk_index = p * 10_000;
        }
        records
    };
    let pages = |range: std::ops::RangeInclusive<u32>| -> Vec<PageRecord> {
        range.map(|n| page(n, vec![axis(dims, 0, None)])).collect()
    };
    // Version 1: six pages in two ranges, plus a stray chunk of no page
    // (as an unpaged earlier version would have left).
    let mut doc = document(&owner, "report.pdf");
    doc.page_count = Some(6);
    for (first, last) in [(1, 3), (4, 6)] {
        let numbers: Vec<u32> = (first..=last).collect();
        index
            .replace_pages(&doc, first, last, &pages(first..=last), &chunks(&numbers))
            .await
            .unwrap();
    }
    let stray = chunk_records(
        &analyzer,
        vec![(None, "unpaged leftover".into())],
        vec![axis(dims, 3, None)],
        &json!({}),
    );
    sqlx::query("INSERT INTO hybrid_chunks (document_id, owner, chunk_index, page_num, pipeline, content, term_count) VALUES ($1, $2, 99999999, NULL, 'vdr', $3, 1)")
        .bind(&doc.document_id)
        .bind(&doc.owner)
        .bind(&stray[0].content)
        .execute(index.pool())
        .await
        .expect("a stray chunk");
    assert_eq!(count(&index, "vdr_pages", &doc.document_id).await, 6);
    assert_eq!(count(&index, "hybrid_chunks", &doc.document_id).await, 7);

    // Version 2 has four pages, stored by one range: nothing of pages 5
    // and 6, or of no page, is left.
    doc.page_count = Some(4);
    index
        .replace_pages(&doc, 1, 2, &pages(1..=2), &chunks(&[1, 2]))
        .await
        .unwrap();
    let pages_left: Vec<i32> = sqlx::query_scalar(
        "SELECT page_num FROM vdr_pages WHERE document_id = $1 ORDER BY page_num",
    )
    .bind(&doc.document_id)
    .fetch_all(index.pool())
    .await
    .unwrap();
    assert_eq!(pages_left, [1, 2, 3, 4]);
    let chunk_pages: Vec<Option<i32>> = sqlx::query_scalar(
        "SELECT page_num FROM hybrid_chunks WHERE document_id = $1 ORDER BY page_num",
    )
    .bind(&doc.document_id)
    .fetch_all(index.pool())
    .await
    .unwrap();
    assert_eq!(chunk_pages, [Some(1), Some(2), Some(3), Some(4)]);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hybrid_bm25_index b WHERE NOT EXISTS
         (SELECT 1 FROM hybrid_chunks c WHERE c.chunk_id = b.chunk_id)",
    )
    .fetch_one(index.pool())
    .await
    .unwrap();
    assert_eq!(orphans, 0, "postings went with their chunks");
}
