//! Subscribers that connect while nothing changes share one snapshot frame
//! (the transcript is made into JSON once, not once per socket); any change
//! (an event, a rename) makes the next one anew, so none is ever stale.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig, WorkerStream};
use yoi_protocol::{CreateWorker, EventKind, InputRequest, RuntimeId};
use yoi_test_support::{MockOpenAi, Reply};

const WAIT: Duration = Duration::from_secs(15);

async fn first(sub: &mut WorkerStream) -> Arc<EventFrame> {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a frame arrives in time")
        .expect("the subscription is open")
}

fn display_name(frame: &EventFrame) -> String {
    match &frame.event.kind {
        EventKind::Snapshot { worker, .. } => worker.summary.display_name.clone(),
        other => panic!("not a snapshot: {other:?}"),
    }
}

#[tokio::test]
async fn subscribers_share_one_snapshot_until_something_changes() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("an answer worth sharing"));
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    let rt = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let w = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    rt.input_wait(
        w,
        InputRequest {
            text: "hello".into(),
            client_message_id: None,
            on_busy: None,
        },
    )
    .await
    .unwrap();

    let mut a = rt.subscribe(w, None).await.unwrap();
    let mut b = rt.subscribe(w, None).await.unwrap();
    let (first_a, first_b) = (first(&mut a).await, first(&mut b).await);
    assert!(
        Arc::ptr_eq(&first_a, &first_b),
        "two sockets got two copies of one snapshot"
    );

    // A rename emits no worker event: the next snapshot is made anew.
    rt.rename_worker(w, "renamed".into()).await.unwrap();
    let mut c = rt.subscribe(w, None).await.unwrap();
    let first_c = first(&mut c).await;
    assert!(!Arc::ptr_eq(&first_a, &first_c));
    assert_eq!(display_name(&first_c), "renamed");
}
