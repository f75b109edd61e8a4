//! DynamoStatusStore against moto: the status rules hold under conditional
//! writes, races and redeliveries.

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use rag_aws::DynamoStatusStore;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::status::Stage::{self, *};
use rag_core::domain::status::{PartReport, StatusRecord, StatusUpdate};
use rag_core::ports::{StatusStore, StatusWrite};

async fn store() -> (DynamoStatusStore, aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&common::sdk().await);
    let table = common::create_status_table(&client).await;
    (
        DynamoStatusStore::new(client.clone(), &table),
        client,
        table,
    )
}

fn update(id: &str, user: &str, run: &str, stage: Stage, progress: u8) -> StatusUpdate {
    StatusUpdate {
        starts_run: stage == Queued,
        pipeline: (stage == Queued).then_some(Pipeline::TextRag),
        ..StatusUpdate::new(
            id,
            user,
            run,
            stage,
            progress,
            format!("{stage} {progress}"),
        )
    }
}

fn applied(w: StatusWrite) -> StatusRecord {
    match w {
        StatusWrite::Applied(r) => r,
        StatusWrite::Stale => panic!("expected the update to apply"),
    }
}

#[tokio::test]
async fn a_run_moves_through_its_stages() {
    let (store, client, table) = store().await;
    let id = "bucket#docs/report.pdf";
    let mut last = None;
    for (stage, progress) in [
        (Queued, 5),
        (ProcessingStarted, 10),
        (ExtractingText, 20),
        (Chunking, 42),
        (Embedding, 50),
        (Embedding, 70),
        (Storing, 90),
        (Completed, 0),
    ] {
        let r = applied(
            store
                .apply(&update(id, "alice", "r1", stage, progress))
                .await
                .unwrap(),
        );
        assert_eq!((r.status, r.run_id.as_str()), (stage, "r1"));
        last = Some(r);
    }
    let last = last.unwrap();
    assert_eq!(
        (last.progress, last.pipeline),
        (100, Some(Pipeline::TextRag))
    );
    assert_eq!(store.get(id).await.unwrap(), Some(last.clone()));
    assert_eq!(store.get("bucket#other").await.unwrap(), None);

    // The stored item keeps the table's contract: string timestamp of fixed
    // width (the UserIndex sort key), numeric ttl and version.
    let item = client
        .get_item()
        .table_name(&table)
        .key("statusId", AttributeValue::S(id.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ts = item["timestamp"].as_s().unwrap();
    assert_eq!(ts.len(), "2026-11-24T10:30:00.000000Z".len(), "{ts}");
    assert_eq!(item["ttl"].as_n().unwrap(), &last.ttl.to_string());
    assert_eq!(item["version"].as_n().unwrap(), "8");
    assert_eq!(item["status"].as_s().unwrap(), "completed");
    let ttl_days = (last.ttl - last.timestamp.timestamp()) / 86_400;
    assert_eq!(ttl_days, 30);
}

#[tokio::test]
async fn stale_updates_are_dropped() {
    let (store, _, _) = store().await;
    let id = "bucket#a.txt";
    // Nothing to update yet.
    assert_eq!(
        store
            .apply(&update(id, "alice", "r1", Embedding, 50))
            .await
            .unwrap(),
        StatusWrite::Stale
    );
    applied(
        store
            .apply(&update(id, "alice", "r1", Queued, 5))
            .await
            .unwrap(),
    );
    // The API's `queued` delivered twice.
    assert_eq!(
        store
            .apply(&update(id, "alice", "r1", Queued, 5))
            .await
            .unwrap(),
        StatusWrite::Stale
    );
    applied(
        store
            .apply(&update(id, "alice", "r1", Embedding, 60))
            .await
            .unwrap(),
    );
    // A duplicate at the same point is harmless and applies.
    applied(
        store
            .apply(&update(id, "alice", "r1", Embedding, 60))
            .await
            .unwrap(),
    );
    for stale in [
        update(id, "alice", "r1", Embedding, 55), // progress backwards
        update(id, "alice", "r1", Chunking, 70),  // stage backwards
        update(id, "alice", "r0", Storing, 90),   // another run
        update(id, "alice", "r2", Queued, 5),     // a new run while this one lives
    ] {
        assert_eq!(
            store.apply(&stale).await.unwrap(),
            StatusWrite::Stale,
            "{stale:?}"
        );
    }
    assert_eq!(store.get(id).await.unwrap().unwrap().progress, 60);

    let mut fail = update(id, "alice", "r1", Failed, 0);
    fail.error = Some("PDF is encrypted".into());
    let failed = applied(store.apply(&fail).await.unwrap());
    assert_eq!(
        (failed.progress, failed.failed_at_stage),
        (60, Some(Embedding))
    );
    // The run ended: late messages of it change nothing.
    assert_eq!(
        store
            .apply(&update(id, "alice", "r1", Storing, 95))
            .await
            .unwrap(),
        StatusWrite::Stale
    );
    assert_eq!(
        store
            .apply(&update(id, "alice", "r1", Completed, 100))
            .await
            .unwrap(),
        StatusWrite::Stale
    );
    // A new run starts over.
    let next = applied(
        store
            .apply(&update(id, "alice", "r2", Queued, 5))
            .await
            .unwrap(),
    );
    assert_eq!(
        (next.run_id.as_str(), next.progress, next.error),
        ("r2", 5, None)
    );
    // A forced reprocess replaces even a live run.
    let mut forced = update(id, "alice", "r3", Queued, 5);
    forced.force = true;
    assert_eq!(applied(store.apply(&forced).await.unwrap()).run_id, "r3");
}

#[tokio::test]
async fn users_racing_to_start_runs_on_one_document_leave_one_owner() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    let id = "bucket#shared/race.pdf";
    // Forced new runs from two users at once, none of them first for sure.
    let starts: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            let user = if i % 2 == 0 { "alice" } else { "bob" };
            tokio::spawn(async move {
                let mut start = update(id, user, &format!("r{i}"), Queued, 5);
                start.force = true;
                (user, store.apply(&start).await.expect("no writer gives up"))
            })
        })
        .collect();
    let mut applied_by = std::collections::BTreeSet::new();
    for start in starts {
        if let (user, StatusWrite::Applied(_)) = start.await.unwrap() {
            applied_by.insert(user);
        }
    }
    let owner = store.get(id).await.unwrap().unwrap().user;
    assert_eq!(
        applied_by.into_iter().collect::<Vec<_>>(),
        [owner.as_str()],
        "only the first user's runs applied"
    );
}

#[tokio::test]
async fn racing_writers_never_move_progress_backwards() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    let id = "bucket#race.pdf";
    applied(
        store
            .apply(&update(id, "alice", "r1", Queued, 5))
            .await
            .unwrap(),
    );

    // A reader watches the record while 20 writers race.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(store.get(id).await.unwrap().unwrap().progress);
            }
            seen
        })
    };
    // Progress values in a scrambled order: 46..=85 (the embedding band).
    let values: Vec<u8> = (0..20u8).map(|i| 46 + (i * 7) % 40).collect();
    let max = *values.iter().max().unwrap();
    let writers: Vec<_> = values
        .iter()
        .map(|&p| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.apply(&update(id, "alice", "r1", Embedding, p)).await })
        })
        .collect();
    let mut applied_values = Vec::new();
    for (w, p) in writers.into_iter().zip(&values) {
        match w.await.unwrap().expect("no writer gives up") {
            StatusWrite::Applied(r) => {
                assert_eq!(r.progress, *p);
                applied_values.push(*p);
            }
            StatusWrite::Stale => {}
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.await.unwrap();
    assert_eq!(store.get(id).await.unwrap().unwrap().progress, max);
    assert!(applied_values.contains(&max));
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {seen:?}"
    );
}

#[tokio::test]
async fn users_list_their_own_records_newest_first() {
    let (store, _, _) = store().await;
    rag_core::testing::conformance::lists_each_users_records_newest_first(&store, "bkt").await;
}

#[tokio::test]
async fn expired_records_are_gone_and_only_a_new_run_revives_them() {
    let (store, _, _) = store().await;
    let expiring = store.clone().with_ttl_secs(-10);
    rag_core::testing::conformance::expired_records_are_gone(&expiring, "bkt#old").await;
    // A new run with a time to live stays.
    let store = store.with_ttl_secs(3600);
    let r = applied(
        store
            .apply(&update("bkt#old", "alice", "r3", Queued, 5))
            .await
            .unwrap(),
    );
    assert_eq!(store.get("bkt#old").await.unwrap(), Some(r));
}

fn part_report(
    id: &str,
    run: &str,
    part: u32,
    pages: std::ops::RangeInclusive<u32>,
    done: bool,
) -> PartReport {
    PartReport {
        status_id: id.into(),
        run_id: run.into(),
        part,
        parts_total: 8,
        pages: pages.clone().collect(),
        ocr_pages: pages.filter(|p| p % 10 == 0).collect(),
        blank_pages: vec![],
        part_done: done,
    }
}

#[tokio::test]
async fn racing_parts_count_once_and_finish_once() {
    let (store, _, _) = store().await;
    let store = Arc::new(store);
    let id = "bucket#docs/long.pdf";
    applied(
        store
            .apply(&update(id, "alice", "r1", Queued, 5))
            .await
            .unwrap(),
    );
    // 8 parts of 25 pages, each in batches of 5, each part delivered twice,
    // with record writes of the same run racing them.
    let mut tasks = Vec::new();
    for delivery in 0..2 {
        for part in 0..8u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut finished = Vec::new();
                for batch in 0..5u32 {
                    let first = part * 25 + batch * 5 + 1;
                    let report = part_report(id, "r1", part, first..=first + 4, batch == 4);
                    let progress = store.record_part(&report).await.unwrap().expect("live run");
                    let pct = 46 + (progress.pages_done * 39 / 200) as u8;
                    store
                        .apply(&update(id, "alice", "r1", EmbeddingPages, pct))
                        .await
                        .unwrap();
                    if progress.newly_done {
                        finished.push((delivery, part, progress.all_done(8)));
                    }
                }
                finished
            }));
        }
    }
    let mut finished = Vec::new();
    for t in tasks {
        finished.extend(t.await.unwrap());
    }
    let mut parts: Vec<u32> = finished.iter().map(|(_, p, _)| *p).collect();
    parts.sort_unstable();
    assert_eq!(
        parts,
        (0..8).collect::<Vec<_>>(),
        "each part finished exactly once"
    );
    assert_eq!(
        finished.iter().filter(|(_, _, all)| *all).count(),
        1,
        "{finished:?}"
    );

    // The totals survived the racing record writes.
    let again = store
        .record_part(&part_report(id, "r1", 3, 76..=80, true))
        .await
        .unwrap()
        .expect("live run");
    assert_eq!(
        (again.pages_done, again.parts_done, again.ocr_pages),
        (200, 8, 20)
    );
    assert!(!again.newly_done && again.all_done(8));
    assert_eq!(store.get(id).await.unwrap().unwrap().progress, 85);

    // Once the run ends, and for other runs, reports are stale; a new run
    // starts from zero.
    applied(
        store
            .apply(&update(id, "alice", "r1", Completed, 100))
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .record_part(&part_report(id, "r1", 0, 1..=5, false))
            .await
            .unwrap(),
        None
    );
    applied(
        store
            .apply(&update(id, "alice", "r2", Queued, 5))
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .record_part(&part_report(id, "r1", 0, 1..=5, false))
            .await
            .unwrap(),
        None
    );
    let fresh = store
        .record_part(&part_report(id, "r2", 0, 1..=5, false))
        .await
        .unwrap()
        .expect("live run");
    assert_eq!((fresh.pages_done, fresh.parts_done), (5, 0));
}

/// The size DynamoDB counts for an item against its 400 KB limit, by the
/// rules it documents ("Item sizes and formats"): attribute names and
/// strings by their UTF-8 length, a number by half its significant digits
/// plus one, sets by their elements, maps and lists 3 bytes plus 1 per
/// element. (The emulator checks the size of an update's values, not the
/// item it leaves, so the test counts.)
fn dynamodb_item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn number(n: &str) -> usize {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
        significant.max(1).div_ceil(2) + 1
    }
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number(n),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
            AttributeValue::Ns(ns) => ns.iter().map(|n| number(n)).sum(),
            AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

#[tokio::test]
async fn one_status_item_counts_the_most_pages_a_document_may_have() {
    use rag_core::domain::status::MAX_COUNTED_PAGES;
    let (store, client, table) = store().await;
    // The longest key a submission takes, and a run's usual metadata.
    let id = format!("amplify-files-dev#{}", "k".repeat(1024));
    let mut queued = update(&id, "alice@example.com", "r1", Queued, 5);
    queued.metadata = serde_json::json!({
        "file_name": "n".repeat(255),
        "route_reason": "large_pdf",
        "size": 209_715_200u64,
        "content_type": "application/pdf",
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    applied(store.apply(&queued).await.unwrap());
    // The worst case: every page counted, and each OCR'd as well.
    let half = MAX_COUNTED_PAGES / 2;
    for (part, first, last) in [(0, 1, half), (1, half + 1, MAX_COUNTED_PAGES)] {
        let report = PartReport {
            status_id: id.clone(),
            run_id: "r1".into(),
            part,
            parts_total: 2,
            pages: (first..=last).collect(),
            ocr_pages: (first..=last).collect(),
            blank_pages: vec![],
            part_done: part == 0,
        };
        let progress = store
            .record_part(&report)
            .await
            .unwrap_or_else(|e| panic!("part {part}: {e}"))
            .expect("a live run");
        assert_eq!(progress.pages_done, last);
    }
    let mut progress = update(&id, "alice@example.com", "r1", EmbeddingPages, 85);
    progress.message = format!("Stored {MAX_COUNTED_PAGES} of {MAX_COUNTED_PAGES} pages");
    applied(store.apply(&progress).await.unwrap());
    let mut item = client
        .get_item()
        .table_name(&table)
        .key("statusId", AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the item");
    let size = dynamodb_item_size(&item);
    assert!(
        size < 400 * 1024,
        "{size} bytes at {MAX_COUNTED_PAGES} pages"
    );
    // Half as many pages again would not fit: the limit is what binds.
    let more = (1..=MAX_COUNTED_PAGES * 3 / 2)
        .map(|n| n.to_string())
        .collect::<Vec<_>>();
    item.insert("pagesDone".into(), AttributeValue::Ns(more.clone()));
    item.insert("ocrPages".into(), AttributeValue::Ns(more));
    let over = dynamodb_item_size(&item);
    assert!(over > 400 * 1024, "{over} bytes");
    println!("status item: {size} bytes at {MAX_COUNTED_PAGES} pages, {over} at 1.5 times as many");
}
