//! [`ConnectionStore`] on one DynamoDB table.
//!
//! Table layout (the contract with `infra/`): hash key `connectionId` (S),
//! range key `sk` (S); GSI `StatusIdIndex` (hash `statusId` S, range
//! `connectionId` S, projection ALL); TTL attribute `ttl` (N, epoch seconds).
//!
//! One partition per connection: `sk = "connection"` holds the connection
//! (`user`, `connectedAt`, `ttl`), and `sk = "sub#<statusId>"` one item per
//! subscription (`statusId`, `user`, `ttl`). So a connection holds any number
//! of subscriptions, `$disconnect` removes a connection with one query, and
//! the pipelines find the subscribers of a document through the GSI (only
//! subscription items carry `statusId`, so the index holds nothing else).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, Select, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use rag_core::ports::{Connection, ConnectionStore, ConnectionStoreError, Subscriber};

use crate::error::{backoff, describe};

type Item = HashMap<String, AttributeValue>;

const CONNECTION_SK: &str = "connection";
const SUBSCRIPTION_PREFIX: &str = "sub#";
/// BatchWriteItem takes at most 25 requests.
const BATCH_LIMIT: usize = 25;
/// Rounds of retrying the unprocessed part of a batch (throttling).
const BATCH_ATTEMPTS: u32 = 8;

/// WebSocket connections and their subscriptions in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoConnectionStore {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn err(operation: &str, detail: String) -> ConnectionStoreError {
    ConnectionStoreError(format!("{operation}: {detail}"))
}

fn ttl_of(item: &Item) -> Option<i64> {
    item.get("ttl")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// DynamoDB deletes expired items lazily (up to days later): reads skip them.
fn live(item: &Item, now: i64) -> bool {
    ttl_of(item).is_none_or(|ttl| ttl >= now)
}

fn string_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

impl DynamoConnectionStore {
    /// The GSI that finds the connections subscribed to a statusId.
    pub const STATUS_ID_INDEX: &'static str = "StatusIdIndex";

    /// A store on `table` (the `WEBSOCKET_CONNECTIONS_TABLE`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on a client from the shared configuration.
    pub fn from_config(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(crate::config::dynamodb_client(config), table)
    }

    fn key(connection_id: &str, sk: &str) -> Item {
        HashMap::from([
            ("connectionId".to_owned(), s(connection_id)),
            ("sk".to_owned(), s(sk)),
        ])
    }

    /// Keys of the connection's items whose `sk` starts with `prefix`
    /// (`""`: all of them).
    async fn keys_of(
        &self,
        connection_id: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, ConnectionStoreError> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .projection_expression("connectionId, sk")
                .expression_attribute_values(":c", s(connection_id))
                .set_exclusive_start_key(start.take());
            query = if prefix.is_empty() {
                query.key_condition_expression("connectionId = :c")
            } else {
                query
                    .key_condition_expression("connectionId = :c AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(prefix))
            };
            let out = query.send().await.map_err(|e| err("Query", describe(&e)))?;
            keys.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Deletes items by key, 25 per request, retrying what DynamoDB leaves
    /// unprocessed (it may, under throttling, without failing the call).
    async fn delete_all(&self, keys: Vec<Item>) -> Result<(), ConnectionStoreError> {
        for chunk in keys.chunks(BATCH_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| err("BatchWriteItem", e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt == BATCH_ATTEMPTS {
                    return Err(err(
                        "BatchWriteItem",
                        format!("{} deletes still unprocessed", requests.len()),
                    ));
                }
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| err("BatchWriteItem", describe(&e)))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn put(&self, connection: &Connection) -> Result<(), ConnectionStoreError> {
        let mut item: Item = serde_dynamo::to_item(connection)
            .map_err(|e| err("PutItem", format!("encoding connection: {e}")))?;
        item.insert("sk".into(), s(CONNECTION_SK));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| err("PutItem", describe(&e)))?;
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, ConnectionStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(connection_id, CONNECTION_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", describe(&e)))?;
        match out.item {
            Some(item) if live(&item, Utc::now().timestamp()) => serde_dynamo::from_item(item)
                .map(Some)
                .map_err(|e| err("GetItem", format!("decoding connection: {e}"))),
            _ => Ok(None),
        }
    }

    async fn remove(&self, connection_id: &str) -> Result<(), ConnectionStoreError> {
        let keys = self.keys_of(connection_id, "").await?;
        let count = keys.len();
        self.delete_all(keys).await?;
        tracing::debug!(connection_id, items = count, "connection removed");
        Ok(())
    }

    async fn subscribe(
        &self,
        connection: &Connection,
        status_id: &str,
    ) -> Result<(), ConnectionStoreError> {
        let item = HashMap::from([
            ("connectionId".to_owned(), s(&connection.connection_id)),
            (
                "sk".to_owned(),
                s(format!("{SUBSCRIPTION_PREFIX}{status_id}")),
            ),
            ("statusId".to_owned(), s(status_id)),
            ("user".to_owned(), s(&connection.user)),
            (
                "ttl".to_owned(),
                AttributeValue::N(connection.ttl.to_string()),
            ),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| err("PutItem", describe(&e)))?;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        status_id: Option<&str>,
    ) -> Result<(), ConnectionStoreError> {
        match status_id {
            Some(status_id) => {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(
                        connection_id,
                        &format!("{SUBSCRIPTION_PREFIX}{status_id}"),
                    )))
                    .send()
                    .await
                    .map_err(|e| err("DeleteItem", describe(&e)))?;
                Ok(())
            }
            None => {
                let keys = self.keys_of(connection_id, SUBSCRIPTION_PREFIX).await?;
                self.delete_all(keys).await
            }
        }
    }

    async fn subscription_count(&self, connection_id: &str) -> Result<usize, ConnectionStoreError> {
        let mut count = 0usize;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .select(Select::Count)
                .key_condition_expression("connectionId = :c AND begins_with(sk, :p)")
                .expression_attribute_values(":c", s(connection_id))
                .expression_attribute_values(":p", s(SUBSCRIPTION_PREFIX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| err("Query", describe(&e)))?;
            count += usize::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    async fn subscribers(&self, status_id: &str) -> Result<Vec<Subscriber>, ConnectionStoreError> {
        let now = Utc::now().timestamp();
        let mut subscribers = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(Self::STATUS_ID_INDEX)
                .key_condition_expression("statusId = :s")
                .expression_attribute_values(":s", s(status_id))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| err("Query", describe(&e)))?;
            subscribers.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter(|item| live(item, now))
                    .filter_map(|item| {
                        Some(Subscriber {
                            connection_id: string_of(item, "connectionId")?,
                            user: string_of(item, "user")?,
                        })
                    }),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(subscribers);
            }
        }
    }
}
