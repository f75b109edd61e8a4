//! The file status store enforces the core's status rules atomically and
//! keeps its records across a restart.

use std::sync::Arc;

use rag_core::domain::classify::Pipeline;
use rag_core::domain::status::{Stage, StatusUpdate};
use rag_core::ports::{StatusStore, StatusWrite};
use rag_local::FileStatusStore;

fn update(id: &str, run: &str, stage: Stage, progress: u8) -> StatusUpdate {
    StatusUpdate {
        starts_run: stage == Stage::Queued,
        pipeline: Some(Pipeline::TextRag),
        ..StatusUpdate::new(id, "alice", run, stage, progress, stage.to_string())
    }
}

fn applied(write: StatusWrite) -> bool {
    matches!(write, StatusWrite::Applied(_))
}

#[tokio::test]
async fn the_status_rules_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStatusStore::open(dir.path()).unwrap();
    let id = "local#docs/a.pdf";
    assert_eq!(
        store
            .apply(&update(id, "r1", Stage::Embedding, 50))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "no run yet"
    );
    assert!(applied(
        store
            .apply(&update(id, "r1", Stage::Queued, 5))
            .await
            .unwrap()
    ));
    assert!(applied(
        store
            .apply(&update(id, "r1", Stage::Embedding, 60))
            .await
            .unwrap()
    ));
    assert_eq!(
        store
            .apply(&update(id, "r1", Stage::Embedding, 55))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "backwards"
    );
    assert_eq!(
        store
            .apply(&update(id, "r0", Stage::Storing, 90))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "another run"
    );
    assert_eq!(
        store
            .apply(&update(id, "r2", Stage::Queued, 5))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "a live run is not replaced without force"
    );
    assert!(applied(
        store
            .apply(&update(id, "r1", Stage::Completed, 100))
            .await
            .unwrap()
    ));
    assert_eq!(
        store
            .apply(&update(id, "r1", Stage::Storing, 99))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "the run ended"
    );
    let done = store.get(id).await.unwrap().unwrap();
    assert_eq!((done.status, done.progress), (Stage::Completed, 100));
    assert!(applied(
        store
            .apply(&update(id, "r2", Stage::Queued, 5))
            .await
            .unwrap()
    ));
    assert_eq!(store.get(id).await.unwrap().unwrap().run_id, "r2");
    assert_eq!(store.get("local#other").await.unwrap(), None);
}

#[tokio::test]
async fn records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = FileStatusStore::open(dir.path()).unwrap();
        for (i, id) in ["local#a.md", "local#dir/b c.pdf", "weird/#?%\u{e9}"]
            .iter()
            .enumerate()
        {
            store
                .apply(&update(id, "r1", Stage::Queued, 5))
                .await
                .unwrap();
            store
                .apply(&update(id, "r1", Stage::Embedding, 50 + i as u8))
                .await
                .unwrap();
        }
        store
            .list_for_user("alice", &rag_core::ports::Listing::recent(10))
            .await
            .unwrap()
    };
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.len() == 64 + 5 && n.ends_with(".json")));

    let store = FileStatusStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .list_for_user("alice", &rag_core::ports::Listing::recent(10))
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        store
            .apply(&update("local#a.md", "r1", Stage::Chunking, 45))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "the rules still see the stored progress"
    );
}

#[tokio::test]
async fn listing_is_per_user_and_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStatusStore::open(dir.path()).unwrap();
    rag_core::testing::conformance::lists_each_users_records_newest_first(&store, "local").await;
    let memory = rag_local::MemoryStatusStore::default();
    rag_core::testing::conformance::lists_each_users_records_newest_first(&memory, "local").await;
}

#[tokio::test]
async fn expired_records_are_absent_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStatusStore::open(dir.path())
        .unwrap()
        .with_ttl_secs(-10);
    rag_core::testing::conformance::expired_records_are_gone(&store, "local#old").await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(store);
    let reopened = FileStatusStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get("local#old").await.unwrap(), None);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "deleted on open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStatusStore::open(dir.path()).unwrap());
    let id = "local#race.pdf";
    store
        .apply(&update(id, "r", Stage::Queued, 5))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = store.clone();
            // Progress in an order that is neither ascending nor descending.
            let progress = 46 + (i * 7) % 20;
            tokio::spawn(async move {
                store
                    .apply(&update(id, "r", Stage::Embedding, progress))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.get(id).await.unwrap().unwrap().progress, 65);
    drop(store);
    let reopened = FileStatusStore::open(dir.path()).unwrap();
    assert_eq!(
        reopened.get(id).await.unwrap().unwrap().progress,
        65,
        "the file holds the maximum too"
    );
}

#[tokio::test]
async fn unreadable_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.json"), b"not json").unwrap();
    std::fs::write(dir.path().join(".x.json.1.tmp"), b"{").unwrap();
    let store = FileStatusStore::open(dir.path()).unwrap();
    assert!(store
        .list_for_user("alice", &rag_core::ports::Listing::recent(10))
        .await
        .unwrap()
        .is_empty());
    assert!(!dir.path().join(".x.json.1.tmp").exists());
}
