//! The one place that builds the AWS SDK configuration.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Time to open a connection to any AWS endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The timeouts every client starts from: a connection opens within 3 s and
/// a response never stalls for more than 30 s between reads. No overall
/// limit: an S3 GET of a 200 MB document may take minutes, but not stall.
pub fn base_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(Duration::from_secs(30))
        .build()
}

/// The timeouts of calls with small requests and answers (DynamoDB, SQS,
/// the Management API's pushes, Secrets Manager): an attempt answers within
/// 5 s, the call with its retries within 12 s. So a stalled endpoint costs a
/// pipeline seconds, never the rest of its invocation: a push or a status
/// write that hangs would otherwise hold a worker until Lambda kills it.
pub fn quick_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

/// The SDK configuration every adapter's client is built from: region,
/// credentials and endpoint come from the standard chain (environment,
/// profile, Lambda's role), so `AWS_ENDPOINT_URL` alone points every client at
/// an emulator; no adapter has an endpoint code path of its own.
///
/// The HTTPS client is hyper + rustls on *ring* (the SDK's default client
/// brings aws-lc-sys, a C library build that the workspace does not otherwise
/// need). Clients must be built from this config: the SDK crates are compiled
/// without a default HTTP client.
pub async fn sdk_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(base_timeouts())
        .load()
        .await
}

/// A configuration for talking to local stand-ins of AWS (the local gateway's
/// Management API, an emulator) without looking for credentials: static
/// dummy credentials and a fixed region, so nothing probes the instance
/// metadata service. Same HTTP client as [`sdk_config`].
pub fn local_sdk_config(region: &str) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("local", "local", None, None, "local"),
            ),
        )
        .http_client(http_client)
        .timeout_config(base_timeouts())
        .build()
}

/// Whether an endpoint override is configured for `service_env` (e.g. `S3`
/// for `AWS_ENDPOINT_URL_S3`) or for all services: emulators then stand in
/// for AWS and need their quirks (e.g. S3 path-style addressing).
pub(crate) fn has_custom_endpoint(config: &SdkConfig, service_env: &str) -> bool {
    config.endpoint_url().is_some()
        || std::env::var_os(format!("AWS_ENDPOINT_URL_{service_env}")).is_some()
}

/// A DynamoDB client with [`quick_timeouts`].
pub(crate) fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(quick_timeouts())
            .build(),
    )
}

/// A Secrets Manager client with [`quick_timeouts`].
pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(config)
            .timeout_config(quick_timeouts())
            .build(),
    )
}
