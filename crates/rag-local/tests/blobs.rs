//! Uploads into the directory blob store behave like S3 objects: content
//! type and user metadata come back from HEAD, and keys stay in their bucket.

use std::collections::BTreeMap;

use rag_core::ports::{BlobError, BlobRef, BlobStore};
use rag_local::FsBlobStore;

fn blob(key: &str) -> BlobRef {
    BlobRef {
        bucket: "local".into(),
        key: key.into(),
    }
}

fn store(dir: &std::path::Path) -> FsBlobStore {
    FsBlobStore::new().with_bucket("local", dir.join("files/local"))
}

#[tokio::test]
async fn put_then_head_returns_type_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let metadata = BTreeMap::from([
        ("fileName".to_owned(), "Quarterly Report.pdf".to_owned()),
        ("scanned".to_owned(), "true".to_owned()),
    ]);
    store
        .put(
            &blob("uploads/u1/report"),
            b"%PDF-1.7 ...",
            Some("application/pdf"),
            metadata,
        )
        .await
        .unwrap();
    let meta = store.head(&blob("uploads/u1/report")).await.unwrap();
    assert_eq!(meta.size, 12);
    assert_eq!(meta.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(
        meta.metadata,
        BTreeMap::from([
            ("filename".to_owned(), "Quarterly Report.pdf".to_owned()),
            ("scanned".to_owned(), "true".to_owned()),
        ]),
        "names lower-cased, as S3 does"
    );
    assert_eq!(
        store.get(&blob("uploads/u1/report"), 100).await.unwrap(),
        b"%PDF-1.7 ..."
    );

    // Replacing the object replaces its metadata.
    store
        .put(
            &blob("uploads/u1/report"),
            b"# notes",
            None,
            BTreeMap::new(),
        )
        .await
        .unwrap();
    let meta = store.head(&blob("uploads/u1/report")).await.unwrap();
    assert_eq!(
        (meta.size, meta.content_type, meta.metadata.len()),
        (7, None, 0)
    );

    // Without a sidecar (or with one for other bytes), the name decides.
    store
        .put(&blob("a.md"), b"# a", None, BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(
        store
            .head(&blob("a.md"))
            .await
            .unwrap()
            .content_type
            .as_deref(),
        Some("text/markdown")
    );
    std::fs::write(dir.path().join("files/local/by-hand.txt"), b"hi").unwrap();
    assert_eq!(
        store
            .head(&blob("by-hand.txt"))
            .await
            .unwrap()
            .content_type
            .as_deref(),
        Some("text/plain")
    );
    store
        .put(
            &blob("c.bin"),
            b"abc",
            Some("application/x-custom"),
            BTreeMap::new(),
        )
        .await
        .unwrap();
    std::fs::write(dir.path().join("files/local/c.bin"), b"replaced by hand").unwrap();
    assert_eq!(
        store
            .head(&blob("c.bin"))
            .await
            .unwrap()
            .content_type
            .as_deref(),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn keys_cannot_climb_out_or_reach_the_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    store
        .put(&blob("x.md"), b"x", Some("text/markdown"), BTreeMap::new())
        .await
        .unwrap();
    for key in [
        "../escape.md",
        "a/../../escape.md",
        "/etc/passwd",
        ".meta/x.md.json",
        "./.meta/x.md.json",
        "a//b.md",
        "./a.md",
        "a/./b.md",
        "dir/",
        "",
    ] {
        assert!(
            matches!(
                store.put(&blob(key), b"evil", None, BTreeMap::new()).await,
                Err(BlobError::InvalidKey(_))
            ),
            "{key:?} must be refused"
        );
    }
    assert!(!dir.path().join("files/escape.md").exists());
    assert!(!dir.path().join("escape.md").exists());
    for key in [".meta/x.md.json", "./.meta/x.md.json", "../local/x.md"] {
        assert!(
            matches!(store.head(&blob(key)).await, Err(BlobError::NotFound)),
            "{key:?} must not be readable"
        );
        assert!(matches!(
            store.get(&blob(key), 100).await,
            Err(BlobError::NotFound)
        ));
    }
    assert!(matches!(
        store
            .put(
                &BlobRef {
                    bucket: "other".into(),
                    key: "x.md".into()
                },
                b"x",
                None,
                BTreeMap::new()
            )
            .await,
        Err(BlobError::NotFound)
    ));
    // Keys that merely contain ".meta" further down are ordinary keys.
    store
        .put(&blob("a/.meta/b.md"), b"ok", None, BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(store.head(&blob("a/.meta/b.md")).await.unwrap().size, 2);
}

#[tokio::test]
async fn uploads_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    for i in 0..3 {
        store
            .put(
                &blob(&format!("d/{i}.md")),
                b"x",
                Some("text/markdown"),
                BTreeMap::new(),
            )
            .await
            .unwrap();
    }
    let incoming = dir.path().join("files/local/.meta/.incoming");
    assert_eq!(std::fs::read_dir(incoming).unwrap().count(), 0);
    let mut sidecars: Vec<String> = std::fs::read_dir(dir.path().join("files/local/.meta/d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    sidecars.sort();
    assert_eq!(sidecars, ["0.md.json", "1.md.json", "2.md.json"]);
}
