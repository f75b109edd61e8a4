//! The old system's DynamoDB tables, read for `ragctl migrate-legacy`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use rag_core::ingest::legacy::{LegacyCatalog, LegacyError, LegacyFile, LegacyGrant};
use serde::Deserialize;

/// Names of the old tables, as the old functions' environment has them.
#[derive(Debug, Clone)]
pub struct LegacyTableNames {
    /// `HASH_FILES_DYNAMO_TABLE`: file key -> content hash and text location.
    pub hash_files: String,
    /// `FILES_DYNAMO_TABLE`: file key -> name, type, tags, knowledge base.
    pub files: String,
    /// `OBJECT_ACCESS_DYNAMODB_TABLE`: grants on objects (here, hashes).
    pub object_access: String,
}

/// The old hash-files, files and object-access tables.
pub struct DynamoLegacyCatalog {
    client: Client,
    tables: LegacyTableNames,
}

impl DynamoLegacyCatalog {
    /// Reads (scans) `tables` with `client`; writes nothing.
    pub fn new(client: Client, tables: LegacyTableNames) -> Self {
        Self { client, tables }
    }

    /// Every item of `table`, page by page.
    async fn scan<T: for<'de> Deserialize<'de>>(&self, table: &str) -> Result<Vec<T>, LegacyError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    LegacyError(format!("scanning {table}: {}", e.into_service_error()))
                })?;
            for item in page.items.unwrap_or_default() {
                // A row the old code wrote differently is skipped, not fatal.
                match serde_dynamo::from_item(item) {
                    Ok(v) => items.push(v),
                    Err(e) => tracing::warn!(table, error = %e, "unreadable legacy item skipped"),
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

#[derive(Deserialize)]
struct HashFile {
    id: String,
    #[serde(rename = "textLocationKey")]
    text_location_key: Option<String>,
}

#[derive(Deserialize)]
struct FileItem {
    id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    content_type: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(rename = "knowledgeBase")]
    knowledge_base: Option<String>,
    #[serde(rename = "createdBy")]
    created_by: Option<String>,
}

#[derive(Deserialize)]
struct AccessItem {
    object_id: String,
    principal_id: String,
    permission_level: Option<String>,
    #[serde(alias = "objectType")]
    object_type: Option<String>,
}

#[async_trait]
impl LegacyCatalog for DynamoLegacyCatalog {
    async fn files(&self) -> Result<Vec<LegacyFile>, LegacyError> {
        let hashes: Vec<HashFile> = self.scan(&self.tables.hash_files).await?;
        let mut files: HashMap<String, FileItem> = self
            .scan::<FileItem>(&self.tables.files)
            .await?
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect();
        let mut out: Vec<LegacyFile> = hashes
            .into_iter()
            .filter_map(|h| {
                let src = h.text_location_key.filter(|k| !k.is_empty())?;
                let file = files.remove(&h.id);
                Some(LegacyFile {
                    key: h.id,
                    src,
                    name: file.as_ref().and_then(|f| f.name.clone()),
                    content_type: file.as_ref().and_then(|f| f.content_type.clone()),
                    tags: file
                        .as_ref()
                        .and_then(|f| f.tags.clone())
                        .unwrap_or_default(),
                    knowledge_base: file.as_ref().and_then(|f| f.knowledge_base.clone()),
                    created_by: file.and_then(|f| f.created_by),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn grants(&self) -> Result<Vec<LegacyGrant>, LegacyError> {
        let items: Vec<AccessItem> = self.scan(&self.tables.object_access).await?;
        Ok(items
            .into_iter()
            .filter(|a| {
                a.object_type
                    .as_deref()
                    .is_none_or(|t| t == "fileEmbedding")
            })
            .filter_map(|a| {
                let permission = a.permission_level?;
                matches!(permission.as_str(), "read" | "write" | "owner").then(|| LegacyGrant {
                    src: a.object_id,
                    principal: a.principal_id,
                    permission,
                })
            })
            .collect())
    }
}
