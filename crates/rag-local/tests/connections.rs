//! The in-memory connection store mirrors the DynamoDB one: many-to-many
//! subscriptions, TTLs, and removal that takes the subscriptions along.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rag_core::ports::{Connection, ConnectionStore, Subscriber};
use rag_local::MemoryConnectionStore;

const NOW: i64 = 1_800_000_000;

fn connection(id: &str, user: &str, ttl: i64) -> Connection {
    Connection {
        connection_id: id.into(),
        user: user.into(),
        connected_at: chrono::DateTime::from_timestamp(NOW, 0).unwrap(),
        ttl,
    }
}

fn ids(subscribers: Vec<Subscriber>) -> Vec<String> {
    subscribers.into_iter().map(|s| s.connection_id).collect()
}

#[tokio::test]
async fn subscriptions_are_many_to_many() {
    let store = MemoryConnectionStore::new().with_clock(|| NOW);
    let a = connection("A", "alice", NOW + 3600);
    let b = connection("B", "bob", NOW + 3600);
    store.put(&a).await.unwrap();
    store.put(&b).await.unwrap();
    assert_eq!(store.get("A").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get("nope").await.unwrap(), None);

    store.subscribe(&a, "local#1").await.unwrap();
    store.subscribe(&a, "local#1").await.unwrap(); // idempotent
    store.subscribe(&a, "local#2").await.unwrap();
    store.subscribe(&b, "local#1").await.unwrap();
    assert_eq!(
        store.subscribers("local#1").await.unwrap(),
        vec![
            Subscriber {
                connection_id: "A".into(),
                user: "alice".into()
            },
            Subscriber {
                connection_id: "B".into(),
                user: "bob".into()
            },
        ]
    );
    assert_eq!(ids(store.subscribers("local#2").await.unwrap()), ["A"]);
    assert!(store.subscribers("local#3").await.unwrap().is_empty());

    store.unsubscribe("A", Some("local#1")).await.unwrap();
    assert_eq!(ids(store.subscribers("local#1").await.unwrap()), ["B"]);
    assert_eq!(ids(store.subscribers("local#2").await.unwrap()), ["A"]);
    store.unsubscribe("A", None).await.unwrap();
    assert!(store.subscribers("local#2").await.unwrap().is_empty());
    assert!(
        store.get("A").await.unwrap().is_some(),
        "unsubscribing keeps the connection"
    );
    store.unsubscribe("nobody", None).await.unwrap();
    store.unsubscribe("nobody", Some("local#1")).await.unwrap();
}

#[tokio::test]
async fn remove_drops_the_connection_and_its_subscriptions() {
    let store = MemoryConnectionStore::new().with_clock(|| NOW);
    let a = connection("A", "alice", NOW + 3600);
    store.put(&a).await.unwrap();
    for s in ["local#1", "local#2", "local#3"] {
        store.subscribe(&a, s).await.unwrap();
    }
    store.remove("A").await.unwrap();
    assert_eq!(store.get("A").await.unwrap(), None);
    for s in ["local#1", "local#2", "local#3"] {
        assert!(store.subscribers(s).await.unwrap().is_empty());
    }
    store.remove("A").await.unwrap(); // twice is fine
}

#[tokio::test]
async fn expired_connections_and_subscriptions_are_invisible() {
    let now = Arc::new(AtomicI64::new(NOW));
    let clock = now.clone();
    let store = MemoryConnectionStore::new().with_clock(move || clock.load(Ordering::SeqCst));
    let short = connection("S", "alice", NOW + 10);
    let long = connection("L", "alice", NOW + 7200);
    store.put(&short).await.unwrap();
    store.put(&long).await.unwrap();
    store.subscribe(&short, "local#1").await.unwrap();
    store.subscribe(&long, "local#1").await.unwrap();
    assert_eq!(ids(store.subscribers("local#1").await.unwrap()), ["L", "S"]);

    now.store(NOW + 10, Ordering::SeqCst);
    assert!(
        store.get("S").await.unwrap().is_some(),
        "live up to its ttl"
    );
    now.store(NOW + 11, Ordering::SeqCst);
    assert_eq!(store.get("S").await.unwrap(), None);
    assert_eq!(ids(store.subscribers("local#1").await.unwrap()), ["L"]);

    // A later connection sweeps the expired one away for good.
    store
        .put(&connection("N", "bob", NOW + 7200))
        .await
        .unwrap();
    now.store(NOW, Ordering::SeqCst);
    assert_eq!(
        store.get("S").await.unwrap(),
        None,
        "swept, not just hidden"
    );
    assert_eq!(ids(store.subscribers("local#1").await.unwrap()), ["L"]);
}
