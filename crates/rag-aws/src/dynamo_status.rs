//! [`StatusStore`] on a DynamoDB table, with optimistic concurrency.
//!
//! Table layout (the contract with `infra/`): hash key `statusId` (S); GSI
//! `UserIndex` (hash `user` S, range `timestamp` S, projection ALL); TTL
//! attribute `ttl` (N, epoch seconds). Items are the camelCase
//! [`StatusRecord`] plus a `version` number that every write increments.
//!
//! A write reads the current item (strongly consistent), lets the core decide
//! ([`StatusRecord::check`]), and puts the new record *only if the version is
//! still the one it read*. A racing writer makes the put fail, and the whole
//! read-check-write starts over on the newer record; so two updates can never
//! both pass the check against the same old state, and progress can never
//! move backwards.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rag_core::ports::{StatusStore, StatusStoreError, StatusWrite};
use rag_core::status::{StatusRecord, StatusUpdate};

use crate::error::{backoff, describe};

type Item = HashMap<String, AttributeValue>;

/// Document status records in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStatusStore {
    client: Client,
    table: String,
    ttl_secs: i64,
}

/// What the table holds for a statusId before a write.
struct Current {
    /// The record, if there is a live one that decodes.
    record: Option<StatusRecord>,
    /// Whether any item exists (even an expired or undecodable one).
    exists: bool,
    /// Its `version`, absent on items written by other code.
    version: Option<u64>,
}

impl DynamoStatusStore {
    /// The GSI that lists a user's records by time.
    pub const USER_INDEX: &'static str = "UserIndex";
    /// Records live 30 days after their last update, unless configured.
    pub const DEFAULT_TTL_SECS: i64 = rag_core::status::DEFAULT_TTL_SECS;
    /// Conflicting writes are retried this often before giving up: enough
    /// for dozens of racing writers on one document, bounded so a bug cannot
    /// spin forever.
    pub const MAX_ATTEMPTS: u32 = 10;

    /// A store on `table` (the `DOCUMENT_STATUS_TABLE`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            ttl_secs: Self::DEFAULT_TTL_SECS,
        }
    }

    /// A store on a client from the shared configuration.
    pub fn from_config(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// How long a record lives after its last update (DynamoDB TTL).
    pub fn with_ttl_secs(mut self, ttl_secs: i64) -> Self {
        self.ttl_secs = ttl_secs;
        self
    }

    fn key(status_id: &str) -> Item {
        HashMap::from([(
            "statusId".to_owned(),
            AttributeValue::S(status_id.to_owned()),
        )])
    }

    /// The raw item, read strongly consistent: a subscriber's first status
    /// must not be older than a push it already got, and a conditional write
    /// must start from the latest version.
    async fn item(&self, status_id: &str) -> Result<Option<Item>, StatusStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(status_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", describe(&e)))?;
        Ok(out.item)
    }

    async fn read(&self, status_id: &str) -> Result<Current, StatusStoreError> {
        let Some(item) = self.item(status_id).await? else {
            return Ok(Current {
                record: None,
                exists: false,
                version: None,
            });
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok());
        let record = match decode(item) {
            Ok(r) if !expired(&r) => Some(r),
            Ok(_) => None,
            Err(e) => {
                // Written by other code (e.g. the original service): only a
                // new run may replace it.
                tracing::warn!(table = %self.table, status_id, error = %e.0, "undecodable status item");
                None
            }
        };
        Ok(Current {
            record,
            exists: true,
            version,
        })
    }
}

fn store_error(operation: &str, detail: String) -> StatusStoreError {
    StatusStoreError(format!("{operation}: {detail}"))
}

fn expired(record: &StatusRecord) -> bool {
    // DynamoDB deletes expired items lazily (up to days later).
    record.is_expired(Utc::now().timestamp())
}

/// `timestamp` is the `UserIndex` sort key, compared as a string: a fixed
/// width (always six fractional digits) keeps string order equal to time
/// order, which chrono's default RFC 3339 (variable digits) would not.
fn timestamp_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn encode(record: &StatusRecord, version: u64) -> Result<Item, StatusStoreError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|e| StatusStoreError(format!("encoding status record: {e}")))?;
    item.insert(
        "timestamp".into(),
        AttributeValue::S(timestamp_key(record.timestamp)),
    );
    item.insert("version".into(), AttributeValue::N(version.to_string()));
    Ok(item)
}

fn decode(item: Item) -> Result<StatusRecord, StatusStoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StatusStoreError(format!("decoding status record: {e}")))
}

#[async_trait]
impl StatusStore for DynamoStatusStore {
    async fn apply(&self, update: &StatusUpdate) -> Result<StatusWrite, StatusStoreError> {
        for attempt in 0..Self::MAX_ATTEMPTS {
            let current = self.read(&update.status_id).await?;
            if let Err(rejection) = StatusRecord::check(current.record.as_ref(), update) {
                tracing::debug!(
                    status_id = %update.status_id,
                    run_id = %update.run_id,
                    stage = %update.stage,
                    ?rejection,
                    "stale status update dropped"
                );
                return Ok(StatusWrite::Stale);
            }
            // Stored with microseconds: truncate now so the record we return
            // is exactly the one a later read gives back.
            let now = Utc::now().trunc_subsecs(6);
            let record = StatusRecord::applied(current.record.as_ref(), update, now, self.ttl_secs);
            let item = encode(&record, current.version.unwrap_or(0) + 1)?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            put = match (current.exists, current.version) {
                (false, _) => put.condition_expression("attribute_not_exists(statusId)"),
                (true, None) => put.condition_expression(
                    "attribute_exists(statusId) AND attribute_not_exists(version)",
                ),
                (true, Some(v)) => put
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
            };
            match put.send().await {
                Ok(_) => return Ok(StatusWrite::Applied(record)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    tracing::debug!(status_id = %update.status_id, attempt, "status write raced; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(store_error("PutItem", describe(&e))),
            }
        }
        tracing::warn!(status_id = %update.status_id, attempts = Self::MAX_ATTEMPTS, "status write kept conflicting");
        Err(StatusStoreError(format!(
            "status write for {} conflicted {} times",
            update.status_id,
            Self::MAX_ATTEMPTS
        )))
    }

    async fn get(&self, status_id: &str) -> Result<Option<StatusRecord>, StatusStoreError> {
        match self.item(status_id).await? {
            Some(item) => Ok(Some(decode(item)?).filter(|r| !expired(r))),
            None => Ok(None),
        }
    }

    async fn list_for_user(
        &self,
        user: &str,
        limit: usize,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let mut records = Vec::new();
        let mut start: Option<Item> = None;
        while records.len() < limit {
            let page = i32::try_from(limit - records.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(Self::USER_INDEX)
                .key_condition_expression("#user = :user")
                .expression_attribute_names("#user", "user")
                .expression_attribute_values(":user", AttributeValue::S(user.to_owned()))
                .scan_index_forward(false)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error("Query", describe(&e)))?;
            for item in out.items.unwrap_or_default() {
                match decode(item) {
                    Ok(r) if !expired(&r) => records.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(table = %self.table, user, error = %e.0, "skipping undecodable status item")
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        records.truncate(limit);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rag_core::classify::Pipeline;
    use rag_core::status::Stage;

    #[test]
    fn items_have_the_table_contract() {
        let update = StatusUpdate {
            pipeline: Some(Pipeline::TextRag),
            starts_run: true,
            ..StatusUpdate::new("b#k", "alice", "r1", Stage::Queued, 5, "queued")
        };
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let record = StatusRecord::applied(None, &update, now, 60);
        let item = encode(&record, 3).unwrap();
        assert_eq!(item["statusId"], AttributeValue::S("b#k".into()));
        assert_eq!(item["user"], AttributeValue::S("alice".into()));
        assert_eq!(item["runId"], AttributeValue::S("r1".into()));
        assert_eq!(item["status"], AttributeValue::S("queued".into()));
        assert_eq!(item["pipeline"], AttributeValue::S("text_rag".into()));
        assert_eq!(
            item["timestamp"],
            AttributeValue::S("2026-11-24T10:30:00.000000Z".into())
        );
        assert_eq!(
            item["ttl"],
            AttributeValue::N((now.timestamp() + 60).to_string())
        );
        assert_eq!(item["version"], AttributeValue::N("3".into()));
        assert!(!item.contains_key("error"));
        assert_eq!(decode(item).unwrap(), record);
    }

    #[test]
    fn timestamp_keys_sort_like_time() {
        let a = DateTime::parse_from_rfc3339("2026-11-24T10:30:00Z").unwrap();
        let b = DateTime::parse_from_rfc3339("2026-11-24T10:30:00.5Z").unwrap();
        let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
        assert!(timestamp_key(a) < timestamp_key(b));
    }
}
