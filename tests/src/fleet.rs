//! The Lambda fleet under test: AWS resources created in moto exactly as
//! `infra/serverless-async-separate.yml` declares them (under a fresh stage
//! name per test), the real handlers wired to them through the real
//! adapters, and a local API Gateway Management API that records pushes.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};

use crate::workspace;

/// The emulator's base URL, once the process points at it (see
/// [`rag_aws::emulator::point_at_emulator`]).
pub fn emulator_url() -> String {
    rag_aws::emulator::point_at_emulator(&workspace().join("scripts/moto.sh"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The SDK configuration the functions use, pointed at moto.
pub async fn sdk() -> SdkConfig {
    emulator_url();
    rag_aws::sdk_config().await
}

// ---------------------------------------------------------------- the YAML

/// `infra/serverless-async-separate.yml` as JSON.
pub fn serverless_config() -> Value {
    let path = workspace().join("infra/serverless-async-separate.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Replaces `${sls:stage}` (and the service name variable) in every string.
fn substitute(value: &Value, stage: &str) -> Value {
    match value {
        Value::String(s) => Value::String(
            s.replace("${sls:stage}", stage)
                .replace("${self:service}", "amplify-rag-async"),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, stage)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, stage)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    v.as_array()
        .unwrap_or_else(|| panic!("KeySchema is not a list: {v}"))
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_at(k, "AttributeName"))
                .key_type(KeyType::from(str_at(k, "KeyType")))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// Creates a DynamoDB table from CloudFormation `Properties` (the YAML's shape);
/// returns its name. A table already there is kept.
pub async fn create_table(sdk: &SdkConfig, props: &Value) -> String {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = str_at(props, "TableName").to_owned();
    let mut create = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::from(str_at(props, "BillingMode")))
        .set_key_schema(Some(key_schema(&props["KeySchema"])));
    for a in props["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(str_at(a, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(str_at(a, "AttributeType")))
                .build()
                .expect("attribute definition"),
        );
    }
    for g in props["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(str_at(g, "IndexName"))
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(str_at(
                            &g["Projection"],
                            "ProjectionType",
                        )))
                        .build(),
                )
                .build()
                .expect("global secondary index"),
        );
    }
    match create.send().await {
        Ok(_) => {}
        // Already there (a re-run of the local stack): keep it.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => panic!("creating table {name}: {e:?}"),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(str_at(ttl, "AttributeName"))
                    .enabled(ttl["Enabled"].as_bool().unwrap_or(false))
                    .build()
                    .expect("ttl specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("enabling TTL on {name}: {e:?}"));
    }
    name
}

/// A created queue.
#[derive(Debug, Clone)]
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub attributes: Value,
}

async fn create_queue(sdk: &SdkConfig, props: &Value, arns: &HashMap<String, String>) -> Queue {
    let client = aws_sdk_sqs::Client::new(sdk);
    let name = str_at(props, "QueueName");
    let mut create = client.create_queue().queue_name(name);
    for (key, attribute) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
    ] {
        if let Some(n) = props.get(key) {
            create = create.attributes(attribute, n.to_string());
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("deadLetterTargetArn is not a GetAtt: {redrive}"));
        let policy = json!({
            "deadLetterTargetArn": arns.get(target).unwrap_or_else(|| panic!("no queue {target}")),
            "maxReceiveCount": redrive["maxReceiveCount"],
        });
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = create
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating queue {name}: {e:?}"))
        .queue_url
        .unwrap_or_default();
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes)
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    Queue {
        url,
        arn,
        attributes: props.clone(),
    }
}

/// Every table and queue of the serverless config, created for `stage`;
/// returns them by logical id (tables as their names, queues as [`Queue`]).
pub async fn create_declared_resources(
    sdk: &SdkConfig,
    stage: &str,
) -> (HashMap<String, String>, HashMap<String, Queue>) {
    let config = substitute(&serverless_config(), stage);
    let resources = config["resources"]["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut tables = HashMap::new();
    let mut queues = HashMap::new();
    let mut arns = HashMap::new();
    // Dead-letter queues first: the others name them.
    let mut sqs: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SQS::Queue")
        .collect();
    sqs.sort_by_key(|(_, r)| r["Properties"].get("RedrivePolicy").is_some());
    for (id, r) in sqs {
        let q = create_queue(sdk, &r["Properties"], &arns).await;
        arns.insert(id.clone(), q.arn.clone());
        queues.insert(id.clone(), q);
    }
    for (id, r) in &resources {
        if r["Type"] == "AWS::DynamoDB::Table" {
            tables.insert(id.clone(), create_table(sdk, &r["Properties"]).await);
        }
    }
    (tables, queues)
}

// ---------------------------------------------------------------- management API

/// A local API Gateway Management API: records every `POST
/// /@connections/{id}`, and answers `410 GoneException` for connections
/// marked gone, as API Gateway does for a closed connection.
#[derive(Clone, Default)]
pub struct ManagementApi {
    pub posts: Arc<Mutex<Vec<(String, Value)>>>,
    pub gone: Arc<Mutex<HashSet<String>>>,
}

impl ManagementApi {
    /// Starts it on a free loopback port; returns its `http://` endpoint.
    pub async fn start(&self) -> String {
        async fn post_to_connection(
            State(api): State<ManagementApi>,
            UrlPath(id): UrlPath<String>,
            body: String,
        ) -> (StatusCode, HeaderMap, String) {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "application/json".parse().expect("header"));
            if api.gone.lock().map(|g| g.contains(&id)).unwrap_or(false) {
                headers.insert("x-amzn-errortype", "GoneException".parse().expect("header"));
                return (StatusCode::GONE, headers, r#"{"message":null}"#.to_owned());
            }
            let message = serde_json::from_str(&body).unwrap_or(Value::String(body));
            if let Ok(mut p) = api.posts.lock() {
                p.push((id, message));
            }
            (StatusCode::OK, headers, String::new())
        }
        let app = axum::Router::new()
            .route("/@connections/{id}", post(post_to_connection))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the management API");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    /// Messages pushed to `connection_id`, in order.
    pub fn messages_to(&self, connection_id: &str) -> Vec<Value> {
        self.posts
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|(id, _)| id == connection_id)
                    .map(|(_, m)| m.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Makes API Gateway report `connection_id` gone.
    pub fn close(&self, connection_id: &str) {
        if let Ok(mut g) = self.gone.lock() {
            g.insert(connection_id.to_owned());
        }
    }
}

// ---------------------------------------------------------------- events

/// A sample event committed under `functions/<function>/events/`.
pub fn sample_event(function: &str, name: &str) -> Value {
    let path = workspace()
        .join("functions")
        .join(function)
        .join("events")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A REST event from a sample, with `user` as the authorizer's identity
/// (none for `None`) and `body` as its body.
pub fn rest_event(
    function: &str,
    sample: &str,
    user: Option<&str>,
    body: Option<&str>,
) -> ApiGatewayProxyRequest {
    let mut event = sample_event(function, sample);
    match user {
        Some(u) => event["requestContext"]["authorizer"]["claims"]["cognito:username"] = u.into(),
        None => {
            if let Some(ctx) = event["requestContext"].as_object_mut() {
                ctx.remove("authorizer");
            }
        }
    }
    if let Some(b) = body {
        event["body"] = b.into();
    }
    serde_json::from_value(event).expect("a valid API Gateway REST event")
}

/// A WebSocket event from a `ws-*` sample with its connection id and body
/// or query replaced.
pub fn ws_event(
    function: &str,
    sample: &str,
    connection_id: &str,
    body: Option<&str>,
    query: Option<Value>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = sample_event(function, sample);
    event["requestContext"]["connectionId"] = connection_id.into();
    if let Some(b) = body {
        event["body"] = b.into();
    }
    if let Some(q) = query {
        event["queryStringParameters"] = q;
        event["multiValueQueryStringParameters"] = Value::Null;
    }
    serde_json::from_value(event).expect("a valid API Gateway WebSocket event")
}

/// An SQS event carrying messages as received from a queue.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a valid SQS event")
}

/// The JSON body of a handler's response.
pub fn response_json(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        Some(Body::Binary(b)) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------- Cognito

/// A user pool in moto with two app clients: tokens of `client_id` are the
/// ones the service accepts; `other_client_id` is another application.
pub struct Cognito {
    pub pool_id: String,
    pub client_id: String,
    pub other_client_id: String,
    client: aws_sdk_cognitoidentityprovider::Client,
}

static COGNITO: tokio::sync::OnceCell<Cognito> = tokio::sync::OnceCell::const_new();

/// The test binary's user pool.
pub async fn cognito() -> &'static Cognito {
    COGNITO
        .get_or_init(|| async {
            let client = aws_sdk_cognitoidentityprovider::Client::new(&sdk().await);
            let pool_id = client
                .create_user_pool()
                .pool_name(format!("amplify-{}", uuid::Uuid::new_v4().simple()))
                .send()
                .await
                .expect("create user pool")
                .user_pool
                .and_then(|p| p.id)
                .expect("pool id");
            let mut ids = Vec::new();
            for name in ["amplify-frontend", "another-app"] {
                let id = client
                    .create_user_pool_client()
                    .user_pool_id(&pool_id)
                    .client_name(name)
                    .explicit_auth_flows(
                        aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType::AllowAdminUserPasswordAuth,
                    )
                    .send()
                    .await
                    .expect("create app client")
                    .user_pool_client
                    .and_then(|c| c.client_id)
                    .expect("client id");
                ids.push(id);
            }
            Cognito {
                pool_id,
                client_id: ids[0].clone(),
                other_client_id: ids[1].clone(),
                client,
            }
        })
        .await
}

impl Cognito {
    /// Creates `user` and signs them in through `client_id`; returns the id token.
    pub async fn id_token(&self, user: &str, client_id: &str) -> String {
        use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, MessageActionType};
        let password = "Corr3ct-Horse-Battery!";
        let _ = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(user)
            .message_action(MessageActionType::Suppress)
            .send()
            .await;
        self.client
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(user)
            .password(password)
            .permanent(true)
            .send()
            .await
            .expect("set password");
        self.client
            .admin_initiate_auth()
            .user_pool_id(&self.pool_id)
            .client_id(client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", user)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .expect("sign in")
            .authentication_result
            .and_then(|r| r.id_token)
            .expect("id token")
    }

    /// The verifier the `ws-connect` function builds, with its clock moved
    /// `skew_secs` ahead.
    pub fn verifier(&self, skew_secs: i64) -> rag_aws::CognitoVerifier {
        let config =
            rag_aws::CognitoConfig::new("us-east-1", &self.pool_id, &self.client_id).with_jwks_url(
                format!("{}/{}/.well-known/jwks.json", emulator_url(), self.pool_id),
            );
        rag_aws::CognitoVerifier::new(config)
            .expect("verifier")
            .with_clock(move || chrono::Utc::now().timestamp() + skew_secs)
    }
}

// ---------------------------------------------------------------- the stack

/// Every function of the fleet wired to its own freshly created resources.
pub struct Stack {
    pub sdk: SdkConfig,
    pub stage: String,
    pub bucket: String,
    pub tables: HashMap<String, String>,
    pub queues: HashMap<String, Queue>,
    pub resources: rag_lambda::wiring::Resources,
    pub management: ManagementApi,
    pub index: rag_index_pg::PgIndex,
    pub api: rag_lambda::api_processor::ApiProcessor,
    pub text: rag_core::ingest::pipeline::JobConsumer,
    pub vdr: rag_core::ingest::pipeline::JobConsumer,
    pub query: rag_lambda::query_handler::QueryHandler,
    pub connect: rag_core::realtime::WebSocketService,
    pub default: rag_core::realtime::WebSocketService,
    pub disconnect: rag_core::realtime::WebSocketService,
}

/// Limit on documents in the test stack, small enough to test `413`.
pub const STACK_MAX_DOCUMENT_BYTES: u64 = 2 * 1024 * 1024;

/// The model and an index, as the processors and the query handler get them.
pub async fn search_parts() -> rag_lambda::wiring::SearchParts {
    parts_over(crate::index().await).await
}

async fn parts_over(index: rag_index_pg::PgIndex) -> rag_lambda::wiring::SearchParts {
    let setup = rag_embed::EmbedderSetup::local(crate::embedder().await);
    let models = rag_lambda::wiring::SearchModels::from_env(&setup).expect("search models");
    rag_lambda::wiring::SearchParts::over(index.pool().clone(), setup, models)
        .expect("search parts")
}

impl Stack {
    /// A new stack under a fresh stage name.
    pub async fn new() -> Self {
        use rag_core::domain::classify::Pipeline;
        use rag_lambda::wiring::{self, WsRoute};
        let sdk = sdk().await;
        let stage = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let (tables, queues) = create_declared_resources(&sdk, &stage).await;
        let bucket = format!("amplify-files-{stage}");
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
        let management = ManagementApi::default();
        let endpoint = management.start().await;
        let resources = wiring::Resources {
            status_table: tables.get("DocumentStatusTable").cloned(),
            connections_table: tables.get("WebSocketConnectionsTable").cloned(),
            websocket_endpoint: Some(endpoint),
            text_rag_queue_url: queues.get("TextRagQueue").map(|q| q.url.clone()),
            vdr_queue_url: queues.get("VdrQueue").map(|q| q.url.clone()),
        };
        // One pool for every function of the stack, as one container has.
        let index = crate::index().await;
        let parts = parts_over(index.clone()).await;
        let api = wiring::api_processor_from(
            &sdk,
            &resources,
            rag_core::api::ProcessConfig {
                max_object_bytes: STACK_MAX_DOCUMENT_BYTES,
                allowed_buckets: vec![bucket.clone()],
                enable_vdr: true,
            },
            parts.index.clone(),
        )
        .expect("api-processor");
        let consumer = |processor| {
            wiring::consumer_from(
                &sdk,
                &resources,
                &parts,
                processor,
                wiring::ProcessorSettings::new(STACK_MAX_DOCUMENT_BYTES),
                &wiring::Readers::isolated(crate::extract_worker()),
            )
            .expect("consumer")
        };
        let text = consumer(Pipeline::TextRag);
        let vdr = consumer(Pipeline::Vdr);
        let links: Arc<dyn rag_core::ports::BlobLinker> =
            Arc::new(rag_aws::S3BlobStore::from_config(&sdk));
        let query = wiring::query_handler_from(&parts, true, Some(links));
        let verifier: Arc<dyn rag_core::ports::TokenVerifier> =
            Arc::new(cognito().await.verifier(0));
        let ws = |route, verifier| {
            wiring::websocket_from(&sdk, &resources, route, verifier, Default::default())
                .expect("websocket service")
        };
        Self {
            connect: ws(WsRoute::Connect, Some(verifier)),
            default: ws(WsRoute::Default, None),
            disconnect: ws(WsRoute::Disconnect, None),
            index,
            sdk,
            stage,
            bucket,
            tables,
            queues,
            resources,
            management,
            api,
            text,
            vdr,
            query,
        }
    }
}
