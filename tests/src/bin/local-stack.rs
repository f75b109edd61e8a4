//! Creates the fleet's AWS resources in moto for local runs of the real
//! functions (`cargo lambda watch`): the tables and queues exactly as
//! `infra/serverless-async-separate.yml` declares them for a stage, the files
//! bucket of the sample events with the objects they name, and a Cognito
//! user pool with a user; then writes the functions'
//! environment as `KEY=VALUE` lines (for `cargo lambda watch --env-file`).
//!
//! Usage: `local-stack STAGE ENV_FILE` (run by `scripts/lambda-local.sh`).

use std::fmt::Write as _;

use anyhow::Context;

use integration_tests::fleet::{cognito, create_declared_resources, emulator_url, sdk};
use integration_tests::workspace;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let stage = args.next().unwrap_or_else(|| "local".into());
    let env_file = args.next().unwrap_or_else(|| ".local/lambda.env".into());
    let sdk = sdk().await;
    let (tables, queues) = create_declared_resources(&sdk, &stage).await;
    // The bucket the sample events under functions/*/events name.
    let bucket = "amplify-files-dev".to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    if s3.head_bucket().bucket(&bucket).send().await.is_err() {
        s3.create_bucket().bucket(&bucket).send().await?;
    }
    // The objects the sample events submit and process.
    let pdf = workspace().join("../shared/data/docs/pdf/crazyones-pdfa.pdf");
    let samples = [
        (
            "alice/test-documents/sample.pdf",
            std::fs::read(&pdf).with_context(|| format!("reading the sample {}", pdf.display()))?,
            "application/pdf",
        ),
        (
            "alice/test-documents/sample.txt",
            b"Sample document: the heron waits at the weir every morning.".to_vec(),
            "text/plain",
        ),
    ];
    for (key, bytes, content_type) in samples {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await?;
    }
    let cognito = cognito().await;
    let token = cognito.id_token("alice", &cognito.client_id).await;
    let endpoint = emulator_url();
    let mut env = String::new();
    for (key, value) in [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        (
            "DOCUMENT_STATUS_TABLE",
            tables["DocumentStatusTable"].clone(),
        ),
        (
            "WEBSOCKET_CONNECTIONS_TABLE",
            tables["WebSocketConnectionsTable"].clone(),
        ),
        (
            "TEXT_RAG_PROCESSING_QUEUE_URL",
            queues["TextRagQueue"].url.clone(),
        ),
        ("VDR_PROCESSING_QUEUE_URL", queues["VdrQueue"].url.clone()),
        ("FILES_BUCKET", bucket.clone()),
        ("COGNITO_USER_POOL_ID", cognito.pool_id.clone()),
        ("COGNITO_CLIENT_ID", cognito.client_id.clone()),
        (
            "COGNITO_JWKS_URL",
            format!("{endpoint}/{}/.well-known/jwks.json", cognito.pool_id),
        ),
    ] {
        writeln!(env, "{key}={value}")?;
    }
    std::fs::write(&env_file, env)?;
    println!("stack '{stage}' in {endpoint}; environment in {env_file}");
    println!("files bucket: {bucket}");
    println!("id token of alice (for ws-connect's ?token=): {token}");
    Ok(())
}
