//! [`StatusStore`] on a DynamoDB table, with optimistic concurrency.
//!
//! Table layout (the contract with `infra/`): hash key `statusId` (S); GSI
//! `UserIndex` (hash `user` S, range `timestamp` S, projection ALL); GSI
//! `LeaseIndex` (hash `leaseShard` N, range `leaseUntil` N, projection ALL),
//! sparse: only live runs carry a lease, so the sweeper reads just those,
//! spread over [`LEASE_SHARDS`] partitions so that no one partition takes
//! every status write; TTL attribute `ttl` (N, epoch seconds). Items are the
//! camelCase [`StatusRecord`] plus a `version` number that every write
//! increments.
//!
//! A write reads the current item (strongly consistent), lets the core decide
//! ([`StatusRecord::check`]), and puts the new record *only if the version is
//! still the one it read*. A racing writer makes the put fail, and the whole
//! read-check-write starts over on the newer record; so two updates can never
//! both pass the check against the same old state, and progress can never
//! move backwards.
//!
//! A run split into page-range parts keeps its shared counters on the same
//! item, as number sets: `partsDone`, `pagesDone`, `ocrPages`, `blankPages`.
//! [`StatusStore::record_part`] adds to them with one conditional UpdateItem
//! (`ADD` is atomic and, on sets, idempotent), guarded by the run id, a run
//! still live, and, when a part ends, `NOT contains(partsDone, :part)`, so a
//! part is finished by exactly one report; it bumps `version` too, so a
//! racing record write starts over. Record writes of the same run carry the
//! counters over; a new run's write drops them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rag_core::domain::status::{PartProgress, PartReport, StatusRecord, StatusUpdate};
use rag_core::ports::{Listing, StatusStore, StatusStoreError, StatusWrite};

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
    /// The part counters it holds (see the module documentation).
    counters: Item,
}

/// Partitions of the `LeaseIndex`: enough to spread the writes of a busy
/// fleet (DynamoDB takes 1,000 writes a second per partition), few enough
/// for the sweeper to read them all in a few queries.
pub const LEASE_SHARDS: u32 = 8;

/// The `LeaseIndex` partition of a statusId (FNV-1a, stable across builds).
fn lease_shard(status_id: &str) -> u32 {
    let hash = status_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % u64::from(LEASE_SHARDS)) as u32
}

/// The attributes of a split run's shared counters.
const COUNTERS: [&str; 4] = ["partsDone", "pagesDone", "ocrPages", "blankPages"];

/// The counters' totals as an item holds them.
fn part_progress(item: &Item, newly_done: bool) -> PartProgress {
    let numbers = |name: &str| -> Vec<u32> {
        let mut n: Vec<u32> = item
            .get(name)
            .and_then(|v| v.as_ns().ok())
            .map(|ns| ns.iter().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        n.sort_unstable();
        n
    };
    let count = |name: &str| u32::try_from(numbers(name).len()).unwrap_or(u32::MAX);
    PartProgress {
        parts_done: count("partsDone"),
        pages_done: count("pagesDone"),
        ocr_pages: count("ocrPages"),
        blank_pages: numbers("blankPages"),
        newly_done,
    }
}

fn number_set(numbers: &[u32]) -> AttributeValue {
    AttributeValue::Ns(numbers.iter().map(u32::to_string).collect())
}

impl DynamoStatusStore {
    /// The GSI that lists a user's records by time.
    pub const USER_INDEX: &'static str = "UserIndex";
    /// The sparse GSI of live runs by lease end.
    pub const LEASE_INDEX: &'static str = "LeaseIndex";
    /// Records live 30 days after their last update, unless configured.
    pub const DEFAULT_TTL_SECS: i64 = rag_core::domain::status::DEFAULT_TTL_SECS;
    /// Conflicting writes are retried this often before giving up: enough
    /// for dozens of racing writers on one document (every part's counter
    /// update also moves the record's version), bounded so a bug cannot spin
    /// forever. 10 was not: 16 racing part writers on a loaded machine
    /// (moto, the CI run's other tests beside it) ran out once in a CI run.
    pub const MAX_ATTEMPTS: u32 = 30;

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
        Self::new(crate::config::dynamodb_client(config), table)
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
                counters: Item::new(),
            });
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok());
        let counters: Item = COUNTERS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), item.get(*name)?.clone())))
            .collect();
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
            counters,
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
    if record.lease_until.is_some() {
        item.insert(
            "leaseShard".into(),
            AttributeValue::N(lease_shard(&record.status_id).to_string()),
        );
    }
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
                    statusId = %update.status_id,
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
            let mut item = encode(&record, current.version.unwrap_or(0) + 1)?;
            let same_run = !update.starts_run
                && current.record.as_ref().map(|r| r.run_id.as_str()) == Some(&update.run_id);
            if same_run {
                item.extend(current.counters.clone());
            }
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
                    tracing::debug!(statusId = %update.status_id, attempt, "status write raced; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(store_error("PutItem", describe(&e))),
            }
        }
        tracing::warn!(statusId = %update.status_id, attempts = Self::MAX_ATTEMPTS, "status write kept conflicting");
        Err(StatusStoreError(format!(
            "status write for {} conflicted {} times",
            update.status_id,
            Self::MAX_ATTEMPTS
        )))
    }

    async fn record_part(
        &self,
        report: &PartReport,
    ) -> Result<Option<PartProgress>, StatusStoreError> {
        let mut adds = vec!["#version :one".to_owned()];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&report.status_id)))
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#run", "runId")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":run", AttributeValue::S(report.run_id.clone()))
            .expression_attribute_values(":completed", AttributeValue::S("completed".into()))
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":cancelled", AttributeValue::S("cancelled".into()));
        // DynamoDB refuses empty sets: add only what there is.
        for (attribute, placeholder, numbers) in [
            ("pagesDone", ":pages", &report.pages),
            ("ocrPages", ":ocr", &report.ocr_pages),
            ("blankPages", ":blank", &report.blank_pages),
        ] {
            if !numbers.is_empty() {
                adds.push(format!("{attribute} {placeholder}"));
                update = update.expression_attribute_values(placeholder, number_set(numbers));
            }
        }
        let mut condition =
            "#run = :run AND NOT (#status IN (:completed, :failed, :cancelled))".to_owned();
        if report.part_done {
            adds.push("partsDone :parts".into());
            condition.push_str(" AND NOT contains(partsDone, :part)");
            update = update
                .expression_attribute_values(":parts", number_set(&[report.part]))
                .expression_attribute_values(":part", AttributeValue::N(report.part.to_string()));
        }
        let out = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let progress = part_progress(&out.attributes.unwrap_or_default(), report.part_done);
                tracing::debug!(statusId = %report.status_id, part = report.part, pages_done = progress.pages_done, parts_done = progress.parts_done, "part progress counted");
                Ok(Some(progress))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                // Another run, a run that ended, or a part counted already
                // (a redelivered range): the current item tells which.
                let current = self.read(&report.status_id).await?;
                match current.record {
                    Some(r) if r.run_id == report.run_id && !r.status.is_terminal() => {
                        Ok(Some(part_progress(&current.counters, false)))
                    }
                    _ => {
                        tracing::debug!(statusId = %report.status_id, run_id = %report.run_id, "stale part report dropped");
                        Ok(None)
                    }
                }
            }
            Err(e) => Err(store_error("UpdateItem", describe(&e))),
        }
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
        listing: &Listing,
    ) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(Self::USER_INDEX)
            .key_condition_expression("#user = :user")
            .expression_attribute_names("#user", "user")
            .expression_attribute_values(":user", AttributeValue::S(user.to_owned()))
            .scan_index_forward(false);
        // The index's own key of the cursor's record: DynamoDB resumes
        // right after it, in the index's order.
        let start = listing.after.as_ref().map(|after| {
            Item::from([
                ("user".to_owned(), AttributeValue::S(user.to_owned())),
                (
                    "timestamp".to_owned(),
                    AttributeValue::S(timestamp_key(after.timestamp)),
                ),
                (
                    "statusId".to_owned(),
                    AttributeValue::S(after.status_id.clone()),
                ),
            ])
        });
        let mut records = Vec::new();
        self.query_records(
            query,
            start,
            listing.limit,
            |r| listing.admits(r),
            &mut records,
        )
        .await?;
        Ok(records)
    }

    async fn delete(&self, status_id: &str) -> Result<bool, StatusStoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("statusId", AttributeValue::S(status_id.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", describe(&e)))?;
        Ok(out
            .attributes
            .map(decode)
            .transpose()?
            .is_some_and(|r| !expired(&r)))
    }

    async fn expired(&self, now: i64, limit: usize) -> Result<Vec<StatusRecord>, StatusStoreError> {
        let mut lapsed = Vec::new();
        for shard in 0..LEASE_SHARDS {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(Self::LEASE_INDEX)
                .key_condition_expression("leaseShard = :shard AND leaseUntil < :now")
                .expression_attribute_values(":shard", AttributeValue::N(shard.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
            // The index is eventually consistent: the record itself is read
            // again before anyone acts on it.
            self.query_records(query, None, limit, |r| r.lease_expired(now), &mut lapsed)
                .await?;
        }
        Ok(lapsed)
    }
}

impl DynamoStatusStore {
    /// The records `query` finds after `start`, page after page, added to
    /// `into` until it holds `limit`: those `keep` accepts, skipping
    /// expired and undecodable items.
    async fn query_records(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        mut start: Option<Item>,
        limit: usize,
        keep: impl Fn(&StatusRecord) -> bool,
        into: &mut Vec<StatusRecord>,
    ) -> Result<(), StatusStoreError> {
        while into.len() < limit {
            let page = i32::try_from(limit - into.len()).unwrap_or(i32::MAX);
            let out = query
                .clone()
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error("Query", describe(&e)))?;
            for item in out.items.unwrap_or_default() {
                match decode(item) {
                    Ok(r) if !expired(&r) && keep(&r) => into.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(table = %self.table, error = %e.0, "skipping undecodable status item")
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        into.truncate(limit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rag_core::domain::classify::Pipeline;
    use rag_core::domain::status::Stage;

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
