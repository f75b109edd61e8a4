//! The old amplify-rag system, as its code has it: the `embeddings` table
//! in a database of its own (real PostgreSQL + pgvector) and the hash-files,
//! files and object-access tables on the emulator, filled with a few users'
//! documents, for `migrate-legacy`'s tests.

use std::collections::HashMap;
use std::sync::Arc;

use rag_aws::{DynamoLegacyCatalog, LegacyTableNames};
use rag_core::ingest::legacy::{self, LegacyCatalog, LegacyMigration, LegacyTable, Plan};
use rag_core::ports::Embedder;
use rag_core::search::analyzer::Analyzer;
use rag_core::Caller;
use rag_index_pg::{PgConfig, PgLegacyTable, PgPool};
use serde_json::{json, Value};

use crate::fleet::{create_table, sdk};
use crate::{embedder, index, new_user};

pub const BUCKET: &str = "amplify-user-files";
pub const ZEBRAS: &str = "zebras graze the open savanna at dawn";

/// Alice's report (pages), her slides (one row with unreadable
/// `locations`), Bob's spreadsheet (rows), and a source nobody's file
/// points at. Alice's slides are shared with Bob.
fn documents() -> Vec<(&'static str, Vec<(&'static str, Value)>)> {
    vec![
        (
            "report",
            vec![
                ("The Lisbon bakery's quarterly revenue rose eleven percent on pastel de nata sales.", json!({"page_number": 1})),
                ("Flour prices doubled after the harvest failed, squeezing the margin on bread.", json!({"page_number": 2})),
                ("The board approved a second oven and two apprentices for the night shift.", json!({"page_number": 3})),
            ],
        ),
        (
            "slides",
            vec![
                ("Onboarding week one covers badge access, laptop setup and the security briefing.", json!({"slide_number": 1})),
                ("Mentors meet new hires every Thursday to review their first pull requests.", json!({"slide_number": 2})),
                ("Parking permits for the riverside garage are issued by the facilities desk.", json!({"page_number": "iv"})),
            ],
        ),
        (
            "sheet",
            vec![
                ("Invoice 4471, Harbor Logistics, 18 pallets of ceramic tiles, due March 3.", json!({"row_number": 1})),
                ("Invoice 4472, Northwind Freight, 6 crates of copper piping, due March 9.", json!({"row_number": 2})),
                ("Invoice 4473, Atlas Marine, 2 containers of olive oil, due March 21.", json!({"row_number": 3})),
            ],
        ),
        (
            "orphan",
            vec![
                ("A draft whose file was deleted long ago still sits in the table.", json!({"page_number": 1})),
                ("Nobody can own it, so the migration leaves it where it is.", json!({"page_number": 2})),
            ],
        ),
    ]
}

/// The old system, with vectors of `dims` dimensions: the local model's
/// (scaled, as inner-product vectors need not be unit) when `dims` is its
/// dimension, else arbitrary ones of another model.
pub struct LegacySystem {
    pub pool: PgPool,
    /// The URL of its database.
    pub url: String,
    database: String,
    pub alice: Caller,
    pub bob: Caller,
    /// File key of each document but the orphan.
    pub keys: HashMap<&'static str, String>,
    pub tables: LegacyTableNames,
    pub table: Arc<PgLegacyTable>,
    pub catalog: DynamoLegacyCatalog,
}

impl LegacySystem {
    /// The old system with vectors of `dims` dimensions.
    pub async fn new(dims: usize) -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("legacy_{}", &tag[..12]);
        let config = PgConfig::from_env().with_database(&database);
        let pool = config.connect_creating().await.expect("legacy database");
        for sql in [
            "CREATE EXTENSION IF NOT EXISTS vector".to_owned(),
            format!(
                "CREATE TABLE embeddings (id BIGSERIAL PRIMARY KEY, src VARCHAR(255), locations jsonb,
                 orig_indexes jsonb, char_index INTEGER, token_count INTEGER, embedding_index INTEGER,
                 owner_email VARCHAR(255), content TEXT, vector_embedding vector({dims}),
                 qa_vector_embedding vector({dims}), content_tsvector TSVECTOR)"
            ),
            "ALTER TABLE embeddings ADD COLUMN child_chunk VARCHAR(10)".to_owned(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("legacy schema");
        }
        let model = embedder().await;
        let (alice, bob) = (new_user("alice"), new_user("bob"));
        let mut keys = HashMap::new();
        let sdk = sdk().await;
        let table_names = LegacyTableNames {
            hash_files: format!("legacy-hash-files-{tag}"),
            files: format!("legacy-files-{tag}"),
            object_access: format!("legacy-object-access-{tag}"),
        };
        let hash_key = |name: &str| {
            json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
        };
        create_table(&sdk, &hash_key(&table_names.hash_files)).await;
        create_table(&sdk, &hash_key(&table_names.files)).await;
        create_table(
            &sdk,
            &json!({"TableName": table_names.object_access, "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": "object_id", "KeyType": "HASH"},
                                  {"AttributeName": "principal_id", "KeyType": "RANGE"}],
                    "AttributeDefinitions": [{"AttributeName": "object_id", "AttributeType": "S"},
                                             {"AttributeName": "principal_id", "AttributeType": "S"}]}),
        )
        .await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let put = |table: &str, item: Value| {
            let dynamo = dynamo.clone();
            let table = table.to_owned();
            async move {
                dynamo
                    .put_item()
                    .table_name(table)
                    .set_item(Some(serde_dynamo::to_item(item).expect("item")))
                    .send()
                    .await
                    .expect("put legacy item");
            }
        };

        for (name, rows) in documents() {
            let src = format!("global/{tag}{name}.content.json");
            // Inserted last row first: the document's order is
            // embedding_index, not the row id.
            for (i, (content, locations)) in rows.iter().enumerate().rev() {
                let vector: Vec<f32> = if dims == model.dimensions() {
                    // One row's vector is of other words: a search by them
                    // tells a copied vector from one embedded again.
                    let text = if content.starts_with("Flour") {
                        ZEBRAS
                    } else {
                        content
                    };
                    let v = model.embed_query(text).await.expect("embed");
                    v.iter().map(|x| x * 3.0).collect()
                } else {
                    (0..dims).map(|d| ((d * 7 + i) as f32).sin()).collect()
                };
                sqlx::query(
                    "INSERT INTO embeddings (src, locations, orig_indexes, char_index, token_count,
                     embedding_index, content, vector_embedding, child_chunk)
                     VALUES ($1, $2, '[]', $3, 20, $4, $5, $6::real[]::vector, NULL)",
                )
                .bind(&src)
                .bind(locations)
                .bind((i * 100) as i32)
                .bind(i as i32)
                .bind(content)
                .bind(&vector)
                .execute(&pool)
                .await
                .expect("legacy row");
            }
            let owner = match name {
                "sheet" => &bob,
                "orphan" => continue,
                _ => &alice,
            };
            let key = format!("{}/2024-05-01/{}.json", owner.user, uuid::Uuid::new_v4());
            put(
                &table_names.hash_files,
                json!({"id": key, "hash": format!("{tag}{name}"),
                       "textLocationBucket": "amplify-file-text", "textLocationKey": src}),
            )
            .await;
            put(
                &table_names.files,
                json!({"id": key, "name": format!("{name}.pdf"), "type": "application/pdf",
                       "tags": ["finance"], "knowledgeBase": "kb-1", "createdBy": owner.user, "data": {}}),
            )
            .await;
            put(
                &table_names.object_access,
                json!({"object_id": src, "principal_id": owner.user, "permission_level": "owner",
                       "object_type": "fileEmbedding", "principal_type": "user"}),
            )
            .await;
            if name == "slides" {
                put(
                    &table_names.object_access,
                    json!({"object_id": src, "principal_id": bob.user, "permission_level": "read",
                           "object_type": "fileEmbedding", "principal_type": "user"}),
                )
                .await;
            }
            keys.insert(name, key);
        }
        Self {
            table: Arc::new(PgLegacyTable::new(pool.clone())),
            pool,
            database,
            alice,
            bob,
            keys,
            catalog: DynamoLegacyCatalog::new(dynamo, table_names.clone()),
            tables: table_names,
            url: config.url,
        }
    }

    /// What a migration of it would move.
    pub async fn plan(&self) -> Plan {
        let sources = self.table.sources().await.expect("sources");
        legacy::plan(
            &sources,
            &self.catalog.files().await.expect("files"),
            &self.catalog.grants().await.expect("grants"),
        )
    }

    /// A migration of it into the test index.
    pub async fn migration(&self, copy_vectors: bool) -> LegacyMigration {
        LegacyMigration {
            table: self.table.clone(),
            index: Arc::new(index().await),
            embedder: embedder().await,
            analyzer: Arc::new(Analyzer::new()),
            bucket: BUCKET.to_owned(),
            copy_vectors,
        }
    }

    /// The document id the migration gives document `name`.
    pub fn id(&self, name: &str) -> String {
        format!("{BUCKET}#{}", self.keys[name])
    }

    /// Removes its database (its DynamoDB tables go with the emulator).
    pub async fn drop(self) {
        self.pool.close().await;
        crate::drop_database(&self.database).await;
    }
}
