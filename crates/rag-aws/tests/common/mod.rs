//! Shared setup of the moto-backed tests: one emulator per machine, one
//! environment per test process, unique resource names per test.

// Test helpers fail loudly where a test cannot go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

/// The emulator's URL, once the process points at it.
pub fn endpoint() -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/moto.sh");
    rag_aws::emulator::point_at_emulator(&script).unwrap_or_else(|e| panic!("{e}"))
}

/// The crate's own SDK configuration, pointed at moto.
pub async fn sdk() -> SdkConfig {
    endpoint();
    rag_aws::sdk_config().await
}

/// A name no other test (or earlier run) uses: `prefix-<32 hex>`, lowercase
/// so it is also a valid bucket name.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn attr(name: &str) -> AttributeDefinition {
    typed_attr(name, ScalarAttributeType::S)
}

fn typed_attr(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element")
}

fn gsi(name: &str, hash: &str, range: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("global secondary index")
}

async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str) {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .expect("UpdateTimeToLive");
}

/// The status table as `infra/` declares it: `statusId` hash key, GSI
/// `UserIndex` (`user`, `timestamp`, ALL), TTL on `ttl`.
pub async fn create_status_table(client: &aws_sdk_dynamodb::Client) -> String {
    let table = unique("status");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("statusId"))
        .attribute_definitions(attr("user"))
        .attribute_definitions(attr("timestamp"))
        .attribute_definitions(typed_attr("leaseShard", ScalarAttributeType::N))
        .attribute_definitions(typed_attr("leaseUntil", ScalarAttributeType::N))
        .key_schema(key("statusId", KeyType::Hash))
        .global_secondary_indexes(gsi(
            rag_aws::DynamoStatusStore::USER_INDEX,
            "user",
            "timestamp",
        ))
        .global_secondary_indexes(gsi(
            rag_aws::DynamoStatusStore::LEASE_INDEX,
            "leaseShard",
            "leaseUntil",
        ))
        .send()
        .await
        .expect("CreateTable status");
    enable_ttl(client, &table).await;
    table
}

/// The connections table as `infra/` declares it: `connectionId` hash key,
/// `sk` range key, GSI `StatusIdIndex` (`statusId`, `connectionId`, ALL),
/// TTL on `ttl`.
pub async fn create_connections_table(client: &aws_sdk_dynamodb::Client) -> String {
    let table = unique("connections");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("connectionId"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("statusId"))
        .key_schema(key("connectionId", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(gsi(
            rag_aws::DynamoConnectionStore::STATUS_ID_INDEX,
            "statusId",
            "connectionId",
        ))
        .send()
        .await
        .expect("CreateTable connections");
    enable_ttl(client, &table).await;
    table
}
