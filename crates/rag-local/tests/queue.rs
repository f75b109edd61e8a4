//! The file queue keeps SQS's rules (visibility, receipts, dead letters),
//! survives a restart, and its consumer loop drives the core's JobConsumer.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::domain::status::Stage;
use rag_core::ingest::pipeline::{
    Deadline, Fault, JobConsumer, JobRunner, RunOutcome, RunReporter, TransientError,
};
use rag_core::ports::JobQueue;
use rag_local::{
    consume, consume_with, ConsumeOptions, FileJobQueue, LocalJobQueues, MemoryStatusStore,
    QueueConfig, QueueStats,
};
use tokio::sync::watch;

const SHORT: Duration = Duration::from_millis(200);

fn config(visibility_timeout: Duration) -> QueueConfig {
    QueueConfig {
        visibility_timeout,
        max_receives: 3,
    }
}

fn open(dir: &std::path::Path, visibility: Duration) -> FileJobQueue {
    FileJobQueue::open(dir, config(visibility)).unwrap()
}

fn job(key: &str, pipeline: Pipeline) -> PipelineJob {
    PipelineJob {
        status_id: format!("local#{key}"),
        run_id: "run-1".into(),
        user: "alice".into(),
        bucket: "local".into(),
        key: key.into(),
        pipeline,
        file_name: key.into(),
        content_type: None,
        size: 1,
        force_reprocess: false,
        password: None,
        range: None,
        reembed: false,
        attributes: Default::default(),
    }
}

/// Waits (up to 10 s) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn send_receive_delete() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Duration::from_secs(60));
    let a = q.send_body("a".into()).unwrap();
    let b = q.send_body("b".into()).unwrap();
    let got = q.receive(10).unwrap();
    assert_eq!(
        got.iter()
            .map(|r| (r.id.as_str(), r.body.as_str(), r.receive_count))
            .collect::<Vec<_>>(),
        vec![(a.as_str(), "a", 1), (b.as_str(), "b", 1)],
        "oldest first, counted"
    );
    assert!(q.receive(10).unwrap().is_empty(), "in flight is hidden");
    assert_eq!(
        q.stats().unwrap(),
        QueueStats {
            visible: 0,
            in_flight: 2,
            dead: 0
        }
    );
    assert!(q.delete(&got[0].receipt).unwrap());
    assert!(!q.delete(&got[0].receipt).unwrap(), "deleting twice");
    assert!(!q.delete("garbage").unwrap());
    assert!(!q.delete("no-such-id:receipt").unwrap());
    assert_eq!(q.stats().unwrap().in_flight, 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("messages"))
            .unwrap()
            .count(),
        1,
        "one file per message"
    );
    assert!(q.receive(0).unwrap().is_empty());
}

#[test]
fn receive_respects_max_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Duration::from_secs(60));
    let ids: Vec<String> = (0..5)
        .map(|i| q.send_body(format!("m{i}")).unwrap())
        .collect();
    let first: Vec<String> = q.receive(2).unwrap().into_iter().map(|r| r.id).collect();
    let rest: Vec<String> = q.receive(10).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(first, ids[..2]);
    assert_eq!(rest, ids[2..]);
}

#[test]
fn unacked_messages_come_back_after_the_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), SHORT);
    q.send_body("job".into()).unwrap();
    let first = q.receive(1).unwrap();
    assert_eq!(first[0].receive_count, 1);
    assert!(q.receive(1).unwrap().is_empty());
    let wait = q.next_visible_in().unwrap();
    assert!(wait <= SHORT, "{wait:?}");
    std::thread::sleep(SHORT + Duration::from_millis(50));
    let second = q.receive(1).unwrap();
    assert_eq!(
        (second[0].id.as_str(), second[0].receive_count),
        (first[0].id.as_str(), 2)
    );
    assert_ne!(
        second[0].receipt, first[0].receipt,
        "a new receipt per delivery"
    );
    assert!(
        !q.delete(&first[0].receipt).unwrap(),
        "a stale receipt cannot delete a redelivered message"
    );
    assert!(q.delete(&second[0].receipt).unwrap());
    assert_eq!(q.next_visible_in(), None);
}

#[test]
fn the_receive_after_the_last_moves_a_message_to_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Duration::from_millis(50));
    let id = q.send_body("poison".into()).unwrap();
    let keep = q.send_body("fine".into()).unwrap();
    for attempt in 1..=3 {
        let got = q.receive(1).unwrap();
        assert_eq!(
            (got[0].id.as_str(), got[0].receive_count),
            (id.as_str(), attempt)
        );
        std::thread::sleep(Duration::from_millis(80));
    }
    let got = q.receive(1).unwrap();
    assert_eq!(
        (got.len(), got[0].id.as_str()),
        (1, keep.as_str()),
        "the 4th receive dead-letters the poison message and returns the next one"
    );
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id.as_str(),
            dead[0].body.as_str(),
            dead[0].receive_count
        ),
        (id.as_str(), "poison", 3)
    );
    assert!(dead[0].dead_at >= dead[0].sent_at);
    assert_eq!(q.stats().unwrap().dead, 1);
    assert!(dir.path().join("dead").join(format!("{id}.json")).is_file());
    assert!(!dir
        .path()
        .join("messages")
        .join(format!("{id}.json"))
        .exists());
}

#[test]
fn extend_and_release_need_the_current_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), Duration::from_secs(1));
    q.send_body("job".into()).unwrap();
    let got = q.receive(1).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(q.extend_visibility(&got[0].receipt).unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        q.receive(1).unwrap().is_empty(),
        "extended past the first deadline"
    );
    assert!(q.release(&got[0].receipt).unwrap());
    assert!(
        !q.release(&got[0].receipt).unwrap(),
        "a released receipt is spent"
    );
    let again = q.receive(1).unwrap();
    assert_eq!(
        again[0].receive_count, 1,
        "an interrupted attempt is not counted"
    );
    assert!(!q.extend_visibility(&got[0].receipt).unwrap());
}

#[test]
fn messages_survive_a_restart_including_those_in_flight() {
    // Long enough that a busy machine does not reveal in-flight messages early.
    const VISIBILITY: Duration = Duration::from_millis(700);
    let dir = tempfile::tempdir().unwrap();
    let (queued, in_flight, dead) = {
        let q = FileJobQueue::open(
            dir.path(),
            QueueConfig {
                visibility_timeout: VISIBILITY,
                max_receives: 1,
            },
        )
        .unwrap();
        let dead = q.send_body("dead".into()).unwrap();
        q.receive(1).unwrap();
        std::thread::sleep(VISIBILITY + Duration::from_millis(50));
        assert!(q.receive(0).unwrap().is_empty());
        let in_flight = q.send_body("in flight".into()).unwrap();
        let got = q.receive(10).unwrap();
        assert_eq!(got.len(), 1, "the first message went to the dead letters");
        assert_eq!(got[0].id, in_flight);
        let queued = q.send_body("queued".into()).unwrap();
        (queued, in_flight, dead)
        // Dropped without deleting anything: a crash.
    };
    // Leftovers of an interrupted write are ignored and cleaned up.
    std::fs::write(dir.path().join("messages/.x.json.123.tmp"), b"{").unwrap();
    std::fs::write(dir.path().join("messages/not-a-message.json"), b"{").unwrap();

    let q = open(dir.path(), VISIBILITY);
    let now = q.receive(10).unwrap();
    assert_eq!(
        now.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [queued.as_str()],
        "in-flight stays hidden until its deadline"
    );
    assert!(q.delete(&now[0].receipt).unwrap());
    std::thread::sleep(VISIBILITY + Duration::from_millis(50));
    let later = q.receive(10).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].id.as_str(), later[0].receive_count),
        (in_flight.as_str(), 2)
    );
    assert_eq!(q.dead_letters().unwrap()[0].id, dead);
    assert!(!dir.path().join("messages/.x.json.123.tmp").exists());
    assert!(dir.path().join("messages/not-a-message.corrupt").exists());
}

#[test]
fn concurrent_senders_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(open(dir.path(), Duration::from_secs(60)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| q.send_body(format!("{t}-{i}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut sent: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut got: Vec<String> = q.receive(1000).unwrap().into_iter().map(|r| r.id).collect();
    sent.sort();
    got.sort();
    assert_eq!(got.len(), 200);
    assert_eq!(got, sent);
    drop(q);
    let reopened = open(dir.path(), Duration::from_secs(60));
    assert_eq!(reopened.stats().unwrap().in_flight, 200);
}

#[test]
fn oversized_bodies_are_refused_like_sqs() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path(), SHORT);
    let err = q
        .send_body("x".repeat(FileJobQueue::MAX_BODY_BYTES + 1))
        .unwrap_err();
    assert!(err.to_string().contains("over the"), "{err}");
}

#[tokio::test]
async fn jobs_go_to_the_queue_of_their_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let queues = LocalJobQueues {
        text_rag: Arc::new(open(&dir.path().join("text"), SHORT)),
        vdr: Arc::new(open(&dir.path().join("vdr"), SHORT)),
    };
    queues.send(&job("a.md", Pipeline::TextRag)).await.unwrap();
    queues.send(&job("b.pptx", Pipeline::Vdr)).await.unwrap();
    let text = queues.text_rag.receive(10).unwrap();
    let vdr = queues.vdr.receive(10).unwrap();
    assert_eq!((text.len(), vdr.len()), (1, 1));
    let parsed: PipelineJob = serde_json::from_str(&text[0].body).unwrap();
    assert_eq!(parsed, job("a.md", Pipeline::TextRag));
    assert!(vdr[0].body.contains("b.pptx"));
}

// ---------------------------------------------------------------- consumer

/// Completes `ok*` keys, fails others transiently, hangs on `hang*`, and
/// takes 2.5 s on `slow*`.
#[derive(Default)]
struct FakeRunner {
    runs: AtomicUsize,
}

#[async_trait]
impl JobRunner for FakeRunner {
    async fn run_until(
        &self,
        job: &PipelineJob,
        _: Deadline,
    ) -> Result<RunOutcome, TransientError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if job.key.starts_with("hang") {
            std::future::pending::<()>().await;
        }
        if job.key.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
        if job.key.starts_with("ok") || job.key.starts_with("slow") {
            Ok(RunOutcome::Completed {
                chunks: 1,
                pages: 1,
            })
        } else {
            Err(TransientError::new(
                Stage::Embedding,
                Fault::Embedding,
                "embedding service down",
            ))
        }
    }
}

struct Harness {
    queue: Arc<FileJobQueue>,
    status: Arc<MemoryStatusStore>,
    runner: Arc<FakeRunner>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn start(visibility: Duration, options: ConsumeOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(open(dir.path(), visibility));
    let runner = Arc::new(FakeRunner::default());
    let status = Arc::new(MemoryStatusStore::default());
    let consumer = Arc::new(JobConsumer {
        runner: runner.clone(),
        status: status.clone(),
        max_receives: 3,
    });
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(consume_with(queue.clone(), consumer, options, stop));
    Harness {
        queue,
        status,
        runner,
        shutdown,
        task,
        _dir: dir,
    }
}

impl Harness {
    /// Records the job's run, then queues it, as every sender does (a job
    /// without a record is one whose document was deleted).
    async fn send(&self, key: &str) {
        let job = job(key, Pipeline::TextRag);
        assert!(
            RunReporter::new(self.status.clone(), &job)
                .start_run(false, "queued")
                .await
        );
        self.queue
            .send_body(serde_json::to_string(&job).unwrap())
            .unwrap();
    }

    fn runs(&self) -> usize {
        self.runner.runs.load(Ordering::SeqCst)
    }

    /// Stops the consumer; the queue (and its directory) stay usable.
    async fn stop(self) -> (Arc<FileJobQueue>, tempfile::TempDir) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the consumer stops on shutdown")
            .unwrap();
        (self.queue, self._dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_deletes_and_retry_ends_in_the_dead_letters() {
    let h = start(SHORT, ConsumeOptions::new(Duration::from_millis(50)));
    h.send("ok.md").await;
    eventually("the completed job is deleted", || {
        h.runs() == 1 && h.queue.stats().unwrap() == QueueStats::default()
    })
    .await;
    h.send("broken.md").await;
    eventually("the failing job is dead-lettered", || {
        h.queue.dead_letters().unwrap().len() == 1
    })
    .await;
    assert_eq!(h.runs(), 1 + 3, "three attempts, then the dead letters");
    let (queue, _dir) = h.stop().await;
    assert_eq!(
        queue.stats().unwrap().in_flight + queue.stats().unwrap().visible,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_record_is_gone_is_dropped_unrun() {
    // Deleting a document removes its status record last: a job of it still
    // in the queue must not index it again.
    let h = start(SHORT, ConsumeOptions::new(Duration::from_millis(20)));
    let orphan = job("ok-deleted.md", Pipeline::TextRag);
    h.queue
        .send_body(serde_json::to_string(&orphan).unwrap())
        .unwrap();
    h.send("ok.md").await;
    eventually("both messages are settled", || {
        h.runs() == 1 && h.queue.stats().unwrap() == QueueStats::default()
    })
    .await;
    assert!(h.queue.dead_letters().unwrap().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_wakes_an_idle_consumer() {
    // With an hour-long poll, only the wake-up can start the job in time.
    let h = start(SHORT, ConsumeOptions::new(Duration::from_secs(3600)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.send("ok.md").await;
    eventually("the job ran", || h.runs() == 1).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_is_not_delivered_twice() {
    // The job takes 2.5 visibility timeouts.
    let h = start(
        Duration::from_secs(1),
        ConsumeOptions::new(Duration::from_millis(20)),
    );
    h.send("slow.md").await;
    eventually("the slow job finished", || {
        h.queue.stats().unwrap() == QueueStats::default()
    })
    .await;
    assert_eq!(h.runs(), 1, "its visibility was extended while it ran");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_loop_and_hands_running_jobs_back() {
    let h = start(
        Duration::from_secs(60),
        ConsumeOptions {
            poll: Duration::from_millis(20),
            concurrency: 2,
            job_time_limit: ConsumeOptions::DEFAULT_JOB_TIME_LIMIT,
        },
    );
    h.send("hang-1.md").await;
    h.send("hang-2.md").await;
    h.send("hang-3.md").await;
    eventually("two jobs running", || h.runs() == 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.runs(), 2, "no more than `concurrency` at once");
    let (queue, _dir) = h.stop().await;
    let back = queue.receive(10).unwrap();
    assert_eq!(back.len(), 3, "all visible again at once");
    assert!(back.iter().all(|r| r.receive_count == 1));
}

#[tokio::test]
async fn consume_stops_when_the_shutdown_sender_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(open(dir.path(), SHORT));
    let consumer = Arc::new(JobConsumer {
        runner: Arc::new(FakeRunner::default()),
        status: Arc::new(MemoryStatusStore::default()),
        max_receives: 3,
    });
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(consume(queue, consumer, Duration::from_secs(3600), stop));
    drop(shutdown);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped")
        .unwrap();
}
