//! The index's physical layout: an index of the previous schema migrates in
//! place without losing or changing anything a search returns.

use std::borrow::Cow;

use integration_tests::{drop_database, embedder, workspace};
use rag_core::domain::classify::Pipeline;
use rag_core::ingest::pipeline::indexing::chunk_records;
use rag_core::ports::{
    Bm25Params, DenseQuery, DocumentRecord, Embedder, Index, IndexQuery, QueryVector, SearchScope,
    SparseQuery,
};
use rag_core::search::analyzer::Analyzer;
use rag_core::Caller;
use rag_index_pg::{PgConfig, PgIndex};
use serde_json::{json, Value};

/// The last migration of the layout whose postings were keyed by term.
const TERM_FIRST_LAYOUT: i64 = 20261124000003;

fn caller(user: &str) -> Caller {
    Caller::new(user)
}

/// msmarco-5k passages and queries, `n` of each.
fn msmarco(n: usize) -> (Vec<String>, Vec<String>) {
    let dir = workspace().join("../shared/data/beir/msmarco-5k");
    let read = |file: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .lines()
            .take(n)
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["text"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    (read("corpus.jsonl"), read("queries.jsonl"))
}

/// A database of its own, empty, on the test server: its URL and a pool.
async fn fresh_database() -> (String, sqlx::PgPool) {
    let name = format!("layout_{}", uuid::Uuid::new_v4().simple());
    let pool = PgConfig::from_env()
        .with_database(&name)
        .connect_creating()
        .await
        .unwrap();
    (name, pool)
}

/// A query as the index takes it: its vector and its terms with frequencies.
type Asked = (Vec<f32>, Vec<(String, u32)>);

/// Every search the test compares: each caller, each mode, each narrowing.
async fn searches(index: &PgIndex, queries: &[Asked]) -> Vec<String> {
    let mut seen = Vec::new();
    for user in ["alice", "bob", "carol"] {
        for narrowing in [
            None,
            Some(vec!["files#alice/2".to_owned(), "files#bob/0".to_owned()]),
        ] {
            for (vector, terms) in queries {
                let scope = SearchScope {
                    caller: caller(user),
                    document_ids: narrowing.clone(),
                    pipeline: None,
                    filter: None,
                };
                let query = IndexQuery {
                    scope,
                    dense: Some(DenseQuery {
                        vector: QueryVector::ready(vector.clone()),
                        model: "m".into(),
                        limit: 10,
                    }),
                    sparse: Some(SparseQuery {
                        terms: terms.clone(),
                        params: Bm25Params::default(),
                        limit: 10,
                    }),
                };
                for (dense, sparse) in [(true, false), (false, true), (true, true)] {
                    let q = IndexQuery {
                        dense: dense.then(|| query.dense.clone()).flatten(),
                        sparse: sparse.then(|| query.sparse.clone()).flatten(),
                        ..query.clone()
                    };
                    let r = index.search(&q).await.unwrap();
                    let list = |l: &[(rag_core::ports::ChunkHit, f64)]| {
                        l.iter()
                            .map(|(h, s)| format!("{}:{}:{s:.6}", h.document_id, h.chunk_id))
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    seen.push(format!(
                        "{user} {narrowing:?} d={} s={}",
                        list(&r.dense),
                        list(&r.sparse)
                    ));
                }
            }
        }
    }
    seen
}

#[tokio::test]
async fn an_index_of_the_term_first_layout_migrates_in_place_unchanged() {
    let (database, pool) = fresh_database().await;
    // The schema as the previous release left it.
    let mut previous = sqlx::migrate!("../migrations");
    let all = previous.migrations.len();
    previous.migrations = Cow::Owned(
        previous
            .migrations
            .iter()
            .filter(|m| m.version <= TERM_FIRST_LAYOUT)
            .cloned()
            .collect(),
    );
    assert!(previous.migrations.len() < all, "no migration after it");
    previous.run(&pool).await.unwrap();

    // Three owners, five documents, one granted; real passages and vectors.
    let embedder = embedder().await;
    let index = PgIndex::new(pool.clone(), embedder.dimensions());
    let analyzer = Analyzer::new();
    let (passages, queries) = msmarco(120);
    let vectors = embedder.embed_documents(&passages).await.unwrap();
    let owners = ["alice", "alice", "alice", "bob", "carol"];
    for (d, owner) in owners.iter().enumerate() {
        let range = d * 24..(d + 1) * 24;
        let records = chunk_records(
            &analyzer,
            passages[range.clone()]
                .iter()
                .map(|p| (None, p.clone()))
                .collect(),
            vectors[range].to_vec(),
            &json!({}),
        );
        let index_in_owner = owners[..d].iter().filter(|o| *o == owner).count();
        let key = format!("{owner}/{index_in_owner}");
        let doc = DocumentRecord {
            document_id: format!("files#{key}"),
            owner: (*owner).to_owned(),
            bucket: "files".into(),
            key: key.clone(),
            file_name: key,
            content_type: Some("text/plain".into()),
            pipeline: Pipeline::TextRag,
            embedding_model: "m".into(),
            page_count: None,
            metadata: json!({}),
        };
        index.replace_document(&doc, &records).await.unwrap();
    }
    index
        .grant_many(&["alice"], &["files#bob/0"])
        .await
        .unwrap();

    let mut asked = Vec::new();
    for q in queries.iter().take(12) {
        asked.push((
            embedder.embed_query(q).await.unwrap(),
            analyzer.query_terms(q),
        ));
    }
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let postings = count("SELECT count(*) FROM hybrid_bm25_index").await;
    let before = searches(&index, &asked).await;
    assert!(
        before.iter().filter(|s| s.contains("files#")).count() > before.len() / 2,
        "the searches find something to compare"
    );

    // The current schema, over the same rows.
    index.migrate().await.unwrap();
    let key: String = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'hybrid_bm25_index_pkey'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        key.contains("(owner, term, document_id, chunk_id)"),
        "{key}"
    );
    assert_eq!(
        count("SELECT count(*) FROM hybrid_bm25_index").await,
        postings
    );
    let after = searches(&index, &asked).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }

    // And BM25 is still Okapi BM25 counted over each caller's scope.
    for user in ["alice", "bob"] {
        let scope = SearchScope {
            caller: caller(user),
            document_ids: None,
            pipeline: None,
            filter: None,
        };
        for (_, terms) in &asked {
            let exact = index
                .exact_sparse(&scope, terms, Bm25Params::default(), 10)
                .await
                .unwrap();
            let found = index
                .search(&IndexQuery {
                    scope: scope.clone(),
                    dense: None,
                    sparse: Some(SparseQuery {
                        terms: terms.clone(),
                        params: Bm25Params::default(),
                        limit: 10,
                    }),
                })
                .await
                .unwrap();
            // Compared as (score, chunk) sets: the two order ties differently.
            let mut ids: Vec<String> = found
                .sparse
                .iter()
                .map(|(h, s)| format!("{s:.6} {}", h.chunk_id))
                .collect();
            let mut exact_ids: Vec<String> =
                exact.iter().map(|(id, s)| format!("{s:.6} {id}")).collect();
            ids.sort();
            exact_ids.sort();
            assert_eq!(ids, exact_ids, "{user} {terms:?}");
        }
    }
    pool.close().await;
    drop_database(&database).await;
}

#[tokio::test]
async fn dropping_the_schema_removes_ours_and_leaves_the_old_system_alone() {
    let (database, pool) = fresh_database().await;
    let sql = |s: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(s).execute(&pool).await.unwrap() }
    };
    // The old system beside us, in the same database.
    sql("CREATE EXTENSION IF NOT EXISTS vector").await;
    sql("CREATE TABLE embeddings (id BIGSERIAL PRIMARY KEY, src VARCHAR(255), content TEXT, vector_embedding vector(3))").await;
    sql("INSERT INTO embeddings (src, content, vector_embedding) VALUES ('global/x.content.json', 'old text', '[1,2,3]')").await;

    let embedder = embedder().await;
    let index = PgIndex::new(pool.clone(), embedder.dimensions());
    index.migrate().await.unwrap();
    let (passages, _) = msmarco(3);
    let records = chunk_records(
        &Analyzer::new(),
        passages.iter().map(|p| (None, p.clone())).collect(),
        embedder.embed_documents(&passages).await.unwrap(),
        &json!({}),
    );
    let doc = DocumentRecord {
        document_id: "files#alice/a".into(),
        owner: "alice".into(),
        bucket: "files".into(),
        key: "alice/a".into(),
        file_name: "a".into(),
        content_type: None,
        pipeline: Pipeline::TextRag,
        embedding_model: "m".into(),
        page_count: None,
        metadata: json!({}),
    };
    index.replace_document(&doc, &records).await.unwrap();
    let tables = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let ours = tables().await;

    let dropped = index.drop_schema().await.unwrap();
    assert_eq!(dropped.tables.len(), 8, "{dropped:?}");
    assert!(dropped.tables.contains(&("hybrid_chunks".to_owned(), 3)));
    assert!(dropped.migration_table);
    assert_eq!(tables().await, ["embeddings"]);
    let old: (String, String) =
        sqlx::query_as("SELECT content, vector_embedding::text FROM embeddings")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(old, ("old text".to_owned(), "[1,2,3]".to_owned()));
    // A second drop finds nothing; migrate builds it all again, empty.
    assert_eq!(index.drop_schema().await.unwrap().tables.len(), 0);
    index.migrate().await.unwrap();
    assert_eq!(tables().await, ours);
    assert!(index.documents(&caller("alice")).await.unwrap().is_empty());
    index.replace_document(&doc, &records).await.unwrap();
    pool.close().await;
    drop_database(&database).await;
}
