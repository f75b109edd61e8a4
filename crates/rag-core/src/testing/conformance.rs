//! Behaviour every adapter of a port must have, written once and run by
//! each adapter's own tests against the real service (DynamoDB on moto,
//! the local file and memory stores).

use std::time::Duration;

use crate::domain::classify::Pipeline;
use crate::domain::status::{Stage, StatusRecord, StatusUpdate};
use crate::ports::{Listing, StatusStore, StatusWrite};

/// A status update of run `r1`, starting it at `queued`.
fn update(id: &str, user: &str, stage: Stage, progress: u8) -> StatusUpdate {
    StatusUpdate {
        starts_run: stage == Stage::Queued,
        pipeline: (stage == Stage::Queued).then_some(Pipeline::TextRag),
        ..StatusUpdate::new(id, user, "r1", stage, progress, stage.to_string())
    }
}

/// [`StatusStore::list_for_user`]: each user sees only their own records,
/// the most recently written first, at most the listing's limit; writing
/// to a record makes it the newest. `prefix` keeps the ids apart from the
/// store's other tests (`bucket#` of the ids written).
///
/// # Panics
///
/// When the store breaks the contract (this is a test).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn lists_each_users_records_newest_first(store: &dyn StatusStore, prefix: &str) {
    let id = |key: &str| format!("{prefix}#{key}");
    let applied = |w: StatusWrite| assert!(matches!(w, StatusWrite::Applied(_)));
    for key in ["a", "b", "c"] {
        applied(
            store
                .apply(&update(&id(key), "alice", Stage::Queued, 5))
                .await
                .unwrap(),
        );
        // Records written in one millisecond may list in either order.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    applied(
        store
            .apply(&update(&id("z"), "bob", Stage::Queued, 5))
            .await
            .unwrap(),
    );
    let listed = |user: &'static str, limit: usize| async move {
        let records: Vec<StatusRecord> = store
            .list_for_user(user, &Listing::recent(limit))
            .await
            .unwrap();
        records.into_iter().map(|r| r.status_id).collect::<Vec<_>>()
    };
    assert_eq!(listed("alice", 10).await, [id("c"), id("b"), id("a")]);
    assert_eq!(listed("alice", 2).await, [id("c"), id("b")]);
    assert_eq!(listed("bob", 10).await, [id("z")]);
    assert!(listed("carol", 10).await.is_empty());
    assert!(listed("alice", 0).await.is_empty());
    tokio::time::sleep(Duration::from_millis(5)).await;
    applied(
        store
            .apply(&update(&id("a"), "alice", Stage::ProcessingStarted, 10))
            .await
            .unwrap(),
    );
    assert_eq!(listed("alice", 10).await, [id("a"), id("c"), id("b")]);
}

/// A store whose records expire at once (its time to live below zero):
/// an expired record is gone (`get` and listings say so), an update of its
/// expired run is stale, and a new run may start where it was. `id` is the
/// statusId written, of user `alice`.
///
/// # Panics
///
/// When the store breaks the contract (this is a test).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn expired_records_are_gone(store: &dyn StatusStore, id: &str) {
    let write = store
        .apply(&update(id, "alice", Stage::Queued, 5))
        .await
        .unwrap();
    assert!(matches!(write, StatusWrite::Applied(_)));
    assert_eq!(store.get(id).await.unwrap(), None);
    assert!(store
        .list_for_user("alice", &Listing::recent(10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .apply(&update(id, "alice", Stage::Embedding, 50))
            .await
            .unwrap(),
        StatusWrite::Stale,
        "an expired run is no run"
    );
    let new_run = StatusUpdate {
        run_id: "r2".into(),
        ..update(id, "alice", Stage::Queued, 5)
    };
    assert!(
        matches!(
            store.apply(&new_run).await.unwrap(),
            StatusWrite::Applied(_)
        ),
        "a new run may start where an expired one was"
    );
}
