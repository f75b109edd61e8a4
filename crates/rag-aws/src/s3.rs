//! [`BlobStore`] on S3: HEAD for what the API needs to route a document, GET
//! with a hard size limit for the pipelines.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use rag_core::ports::{BlobError, BlobLinker, BlobMeta, BlobRef, BlobStore};

use crate::config::has_custom_endpoint;
use crate::error::{describe, http_status, HttpResponse};

/// An S3 client from the shared configuration.
///
/// With an endpoint override (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`,
/// i.e. an emulator such as moto, LocalStack or MinIO) it uses path-style
/// addressing (`http://host/bucket/key`): emulators do not serve
/// `bucket.host` subdomains, and the Rust SDK reads no environment variable
/// for this setting. Against AWS itself (no override) nothing changes.
pub fn s3_client(config: &SdkConfig) -> Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if has_custom_endpoint(config, "S3") {
        builder = builder.force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// Objects in S3 buckets, as the core's [`BlobStore`].
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
}

impl S3BlobStore {
    /// A store on a client the caller built (see [`s3_client`]), so tests and
    /// tools can point it anywhere.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A store on [`s3_client`] of the shared configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self::new(s3_client(config))
    }
}

/// S3 says "no such object" in several ways: `NoSuchKey` (GET), a bare 404
/// `NotFound` (HEAD has no body), `NoSuchBucket`. All mean the document the
/// caller named does not exist.
fn classify<E>(err: SdkError<E, HttpResponse>, blob: &BlobRef) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code();
    if matches!(code, Some("NoSuchKey" | "NotFound" | "NoSuchBucket"))
        || http_status(&err) == Some(404)
    {
        return BlobError::NotFound;
    }
    let detail = describe(&err);
    tracing::warn!(bucket = %blob.bucket, key = %blob.key, error = %detail, "S3 request failed");
    BlobError::Backend(detail)
}

fn size_of(length: Option<i64>) -> Option<u64> {
    length.and_then(|n| u64::try_from(n).ok())
}

/// Reads a body, giving up as soon as more than `max_bytes` arrived: a
/// missing or wrong `Content-Length` can never make us buffer a huge object.
pub(crate) async fn read_limited(
    mut body: ByteStream,
    max_bytes: u64,
    declared: Option<u64>,
) -> Result<Vec<u8>, BlobError> {
    // Preallocate what the object says it is, within the limit and a sane cap.
    let capacity = declared.unwrap_or(0).min(max_bytes).min(64 << 20);
    let mut buf = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| BlobError::Backend(format!("reading object body: {e}")))?
    {
        let size = buf.len() as u64 + chunk.len() as u64;
        if size > max_bytes {
            return Err(BlobError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn head(&self, blob: &BlobRef) -> Result<BlobMeta, BlobError> {
        let out = self
            .client
            .head_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .send()
            .await
            .map_err(|e| classify(e, blob))?;
        Ok(BlobMeta {
            size: size_of(out.content_length()).unwrap_or(0),
            content_type: out.content_type().map(str::to_owned),
            metadata: out
                .metadata()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect::<BTreeMap<_, _>>()
                })
                .unwrap_or_default(),
        })
    }

    async fn get(&self, blob: &BlobRef, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let out = self
            .client
            .get_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .send()
            .await
            .map_err(|e| classify(e, blob))?;
        let declared = size_of(out.content_length());
        if let Some(size) = declared.filter(|&n| n > max_bytes) {
            // Dropping the body closes the connection without reading it.
            return Err(BlobError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        read_limited(out.body, max_bytes, declared).await
    }

    async fn put(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| classify(e, blob))?;
        Ok(())
    }

    /// Lists the prefix a page (1,000 keys) at a time and deletes each page
    /// with one `DeleteObjects`.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, BlobError> {
        rag_core::ports::check_folder_prefix(prefix)?;
        let blob = BlobRef {
            bucket: bucket.to_owned(),
            key: prefix.to_owned(),
        };
        let mut deleted = 0;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, &blob))?;
            let objects = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BlobError::Backend(e.to_string()))?;
            if objects.is_empty() {
                continue;
            }
            let count = objects.len() as u64;
            let request = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BlobError::Backend(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(request)
                .send()
                .await
                .map_err(|e| classify(e, &blob))?;
            if let Some(failed) = out.errors().first() {
                return Err(BlobError::Backend(format!(
                    "{} of {count} objects under {prefix} could not be deleted: {}",
                    out.errors().len(),
                    failed.message().unwrap_or("no reason given")
                )));
            }
            deleted += count;
        }
        Ok(deleted)
    }
}

/// How long a presigned link to a rendered page stays valid: long enough
/// to look through a page of results, short enough that a leaked link dies.
pub const LINK_VALIDITY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

#[async_trait]
impl BlobLinker for S3BlobStore {
    /// A presigned GET URL, signed with this function's own credentials
    /// (no network call).
    async fn link(&self, blob: &BlobRef) -> Result<String, BlobError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(LINK_VALIDITY)
            .map_err(|e| BlobError::Backend(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .presigned(config)
            .await
            .map_err(|e| BlobError::Backend(describe(&e)))?;
        Ok(request.uri().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::SdkBody;

    #[tokio::test]
    async fn the_running_limit_stops_an_undeclared_body() {
        let body = ByteStream::new(SdkBody::from(vec![7u8; 1000]));
        match read_limited(body, 999, None).await {
            Err(BlobError::TooLarge { size, limit }) => assert_eq!((size, limit), (1000, 999)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let body = ByteStream::new(SdkBody::from(vec![7u8; 1000]));
        let bytes = read_limited(body, 1000, Some(1000)).await.unwrap();
        assert_eq!(bytes.len(), 1000);
        // A declared length that lies low does not lift the limit either.
        let body = ByteStream::new(SdkBody::from(vec![7u8; 1000]));
        assert!(matches!(
            read_limited(body, 10, Some(5)).await,
            Err(BlobError::TooLarge { .. })
        ));
    }
}
