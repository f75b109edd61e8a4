//! DynamoConnectionStore against moto.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SubsecRound, Utc};
use rag_aws::DynamoConnectionStore;
use rag_core::ports::{Connection, ConnectionStore, Subscriber};

async fn store() -> (DynamoConnectionStore, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&common::sdk().await);
    let table = common::create_connections_table(&client).await;
    (
        DynamoConnectionStore::new(client.clone(), &table),
        client,
        table,
    )
}

fn connection(id: &str, user: &str, ttl_from_now: i64) -> Connection {
    let now = Utc::now().trunc_subsecs(0);
    Connection {
        connection_id: id.into(),
        user: user.into(),
        connected_at: now,
        ttl: now.timestamp() + ttl_from_now,
    }
}

fn sorted(mut subs: Vec<Subscriber>) -> Vec<(String, String)> {
    subs.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
    subs.into_iter()
        .map(|s| (s.connection_id, s.user))
        .collect()
}

async fn items_of(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> usize {
    client
        .query()
        .table_name(table)
        .key_condition_expression("connectionId = :c")
        .expression_attribute_values(":c", AttributeValue::S(id.into()))
        .send()
        .await
        .unwrap()
        .count as usize
}

#[tokio::test]
async fn connections_are_stored_and_found() {
    let (store, _, _) = store().await;
    let c = connection("L0SM9cOFvHcCIhw=", "alice", 7200);
    store.put(&c).await.unwrap();
    assert_eq!(store.get("L0SM9cOFvHcCIhw=").await.unwrap(), Some(c));
    assert_eq!(store.get("unknown=").await.unwrap(), None);
}

#[tokio::test]
async fn expired_connections_and_subscriptions_are_ignored() {
    let (store, _, _) = store().await;
    let old = connection("old=", "alice", -60);
    let live = connection("live=", "alice", 3600);
    store.put(&old).await.unwrap();
    store.put(&live).await.unwrap();
    store.subscribe(&old, "b#doc").await.unwrap();
    store.subscribe(&live, "b#doc").await.unwrap();
    assert_eq!(store.get("old=").await.unwrap(), None);
    assert_eq!(
        sorted(store.subscribers("b#doc").await.unwrap()),
        [("live=".to_owned(), "alice".to_owned())]
    );
}

#[tokio::test]
async fn removing_a_connection_drops_all_its_subscriptions() {
    let (store, client, table) = store().await;
    let a = connection("conn-a=", "alice", 3600);
    let b = connection("conn-b=", "bob", 3600);
    store.put(&a).await.unwrap();
    store.put(&b).await.unwrap();
    // More subscriptions than one BatchWriteItem takes (25).
    for i in 0..60 {
        store.subscribe(&a, &format!("bkt#doc-{i}")).await.unwrap();
    }
    store.subscribe(&a, "bkt#doc-1").await.unwrap(); // idempotent
    store.subscribe(&b, "bkt#doc-1").await.unwrap();
    assert_eq!(items_of(&client, &table, "conn-a=").await, 61);
    assert_eq!(
        sorted(store.subscribers("bkt#doc-1").await.unwrap()),
        [
            ("conn-a=".to_owned(), "alice".to_owned()),
            ("conn-b=".to_owned(), "bob".to_owned())
        ]
    );

    store.remove("conn-a=").await.unwrap();
    assert_eq!(items_of(&client, &table, "conn-a=").await, 0);
    assert_eq!(store.get("conn-a=").await.unwrap(), None);
    assert_eq!(
        sorted(store.subscribers("bkt#doc-1").await.unwrap()),
        [("conn-b=".to_owned(), "bob".to_owned())]
    );
    assert!(store.subscribers("bkt#doc-7").await.unwrap().is_empty());
    assert_eq!(store.get("conn-b=").await.unwrap(), Some(b));
    // Removing twice is harmless.
    store.remove("conn-a=").await.unwrap();
}

#[tokio::test]
async fn unsubscribing_one_or_all() {
    let (store, client, table) = store().await;
    let c = connection("c=", "alice", 3600);
    store.put(&c).await.unwrap();
    for i in 0..30 {
        store.subscribe(&c, &format!("bkt#d{i}")).await.unwrap();
    }
    store.unsubscribe("c=", Some("bkt#d3")).await.unwrap();
    assert!(store.subscribers("bkt#d3").await.unwrap().is_empty());
    assert_eq!(store.subscribers("bkt#d4").await.unwrap().len(), 1);
    store.unsubscribe("c=", None).await.unwrap();
    assert!(store.subscribers("bkt#d4").await.unwrap().is_empty());
    // The connection itself stays.
    assert_eq!(items_of(&client, &table, "c=").await, 1);
    assert_eq!(store.get("c=").await.unwrap(), Some(c));
}

#[tokio::test]
async fn many_connections_watch_one_document() {
    let (store, _, _) = store().await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let c = connection(&format!("c{i:02}="), &format!("user{}", i % 3), 3600);
        store.put(&c).await.unwrap();
        store.subscribe(&c, "bkt#shared").await.unwrap();
        expected.push((c.connection_id, c.user));
    }
    assert_eq!(
        sorted(store.subscribers("bkt#shared").await.unwrap()),
        expected
    );
}
