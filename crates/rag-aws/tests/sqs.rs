//! SqsJobQueue against moto: each job lands on its pipeline's queue.

// A test or example fails loudly where it cannot go on: unwrap is its assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rag_aws::SqsJobQueue;
use rag_core::domain::classify::Pipeline;
use rag_core::domain::job::PipelineJob;
use rag_core::ports::JobQueue;

fn job(key: &str, pipeline: Pipeline) -> PipelineJob {
    PipelineJob {
        status_id: format!("bkt#{key}"),
        run_id: "run-1".into(),
        user: "alice".into(),
        bucket: "bkt".into(),
        key: key.into(),
        pipeline,
        file_name: key.into(),
        content_type: Some("application/pdf".into()),
        size: 42,
        force_reprocess: false,
        password: None,
        range: None,
        reembed: false,
        attributes: Default::default(),
    }
}

async fn receive_all(client: &aws_sdk_sqs::Client, url: &str) -> Vec<PipelineJob> {
    let out = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn jobs_go_to_the_queue_of_their_pipeline() {
    let client = aws_sdk_sqs::Client::new(&common::sdk().await);
    let mut urls = Vec::new();
    for name in ["text-rag", "vdr"] {
        let out = client
            .create_queue()
            .queue_name(common::unique(name))
            .send()
            .await
            .unwrap();
        urls.push(out.queue_url().unwrap().to_owned());
    }
    let queue = SqsJobQueue::new(client.clone(), &urls[0], &urls[1]);
    assert_eq!(queue.queue_url(Pipeline::Vdr), urls[1]);
    let text = job("notes.txt", Pipeline::TextRag);
    let slides = job("deck.pptx", Pipeline::Vdr);
    queue.send(&text).await.unwrap();
    queue.send(&slides).await.unwrap();
    assert_eq!(receive_all(&client, &urls[0]).await, [text]);
    assert_eq!(receive_all(&client, &urls[1]).await, [slides]);

    let broken = SqsJobQueue::new(client, format!("{}-missing", urls[0]), &urls[1]);
    assert!(broken.send(&job("x.txt", Pipeline::TextRag)).await.is_err());
}
