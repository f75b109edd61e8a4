//! S3BlobStore against moto (and a fake S3 for an undeclared length).

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_s3::primitives::ByteStream;
use rag_aws::{s3_client, S3BlobStore};
use rag_core::ports::{BlobError, BlobRef, BlobStore};

async fn bucket_with(objects: &[(&str, Vec<u8>)]) -> (aws_sdk_s3::Client, String) {
    let client = s3_client(&common::sdk().await);
    let bucket = common::unique("blobs");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, body) in objects {
        client
            .put_object()
            .bucket(&bucket)
            .key(*key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
    }
    (client, bucket)
}

fn blob(bucket: &str, key: &str) -> BlobRef {
    BlobRef {
        bucket: bucket.into(),
        key: key.into(),
    }
}

#[tokio::test]
async fn head_reports_size_type_and_user_metadata() {
    let (client, bucket) = bucket_with(&[]).await;
    client
        .put_object()
        .bucket(&bucket)
        .key("u/scan.pdf")
        .content_type("application/pdf")
        .metadata("scanned", "true")
        .metadata("Source", "scanner-7")
        .body(ByteStream::from(vec![1u8; 1234]))
        .send()
        .await
        .unwrap();
    let store = S3BlobStore::new(client);
    let meta = store.head(&blob(&bucket, "u/scan.pdf")).await.unwrap();
    assert_eq!(meta.size, 1234);
    assert_eq!(meta.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(
        meta.metadata.into_iter().collect::<Vec<_>>(),
        vec![
            ("scanned".to_owned(), "true".to_owned()),
            ("source".to_owned(), "scanner-7".to_owned())
        ]
    );
}

#[tokio::test]
async fn missing_objects_and_buckets_are_not_found() {
    let (client, bucket) = bucket_with(&[]).await;
    let store = S3BlobStore::new(client);
    let missing = blob(&bucket, "nope.pdf");
    assert!(matches!(
        store.head(&missing).await,
        Err(BlobError::NotFound)
    ));
    assert!(matches!(
        store.get(&missing, 10).await,
        Err(BlobError::NotFound)
    ));
    let no_bucket = blob(&common::unique("nobucket"), "a.txt");
    assert!(matches!(
        store.head(&no_bucket).await,
        Err(BlobError::NotFound)
    ));
    assert!(matches!(
        store.get(&no_bucket, 10).await,
        Err(BlobError::NotFound)
    ));
}

#[tokio::test]
async fn get_reads_objects_up_to_the_limit() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (client, bucket) = bucket_with(&[("doc.txt", body.clone()), ("empty", vec![])]).await;
    let store = S3BlobStore::new(client);
    assert_eq!(
        store.get(&blob(&bucket, "doc.txt"), 100_000).await.unwrap(),
        body
    );
    assert_eq!(
        store
            .get(&blob(&bucket, "doc.txt"), u64::MAX)
            .await
            .unwrap(),
        body
    );
    assert!(store
        .get(&blob(&bucket, "empty"), 0)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn get_refuses_a_declared_size_over_the_limit() {
    let (client, bucket) = bucket_with(&[("big.bin", vec![0u8; 5000])]).await;
    let store = S3BlobStore::new(client);
    match store.get(&blob(&bucket, "big.bin"), 4999).await {
        Err(BlobError::TooLarge { size, limit }) => assert_eq!((size, limit), (5000, 4999)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// An S3 stand-in that streams `chunks` x 400 bytes chunked, with no
/// `Content-Length`: only the running limit can stop the read.
async fn fake_s3_without_length(chunks: usize) -> String {
    use axum::body::{Body, Bytes};
    let app = axum::Router::new().route(
        "/{bucket}/{*key}",
        axum::routing::get(move || async move {
            let parts = (0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![9u8; 400])));
            axum::response::Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(Body::from_stream(futures::stream::iter(parts)))
                .unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn get_stops_an_undeclared_body_at_the_limit() {
    let url = fake_s3_without_length(3).await;
    let conf = aws_sdk_s3::config::Builder::from(&common::sdk().await)
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    let store = S3BlobStore::new(aws_sdk_s3::Client::from_conf(conf));
    let b = blob("fake", "stream.bin");
    assert_eq!(store.get(&b, 1200).await.unwrap().len(), 1200);
    match store.get(&b, 1000).await {
        Err(BlobError::TooLarge { size, limit }) => {
            assert_eq!(limit, 1000);
            assert!(size > 1000 && size <= 1200, "stopped at {size}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}
