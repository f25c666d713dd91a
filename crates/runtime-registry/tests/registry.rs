//! The registry routes every command to the embedded runtime, with typed errors.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use runtime_registry::{Registry, RegistryError};
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_protocol::{
    CreateWorker, ErrorCode, EventKind, InputRequest, RuntimeId, RuntimeKind, RuntimeStatus,
    ToApiError, TranscriptPage, WorkerId, WorkspaceEvent,
};
use yoi_test_support::{MockOpenAi, Reply};

async fn registry(mock: &MockOpenAi) -> Registry {
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("sk-registry".into());
    let runtime = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let registry = Registry::start().await.unwrap();
    registry.register(Arc::new(runtime)).await.unwrap();
    registry
}

/// How long a test waits for what it expects before it fails.
const WAIT: Duration = Duration::from_secs(15);

/// `what`'s outcome; the test fails when it takes longer than [`WAIT`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not come in time"))
}

#[tokio::test]
async fn the_embedded_runtime_is_registered_and_routed() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("routed answer"));
    let reg = registry(&mock).await;
    let rid = RuntimeId::backend_internal();
    let mut events = reg.workspace_events();

    let runtimes = reg.summaries().await.unwrap();
    assert_eq!(runtimes.len(), 1);
    assert_eq!(runtimes[0].runtime_id, rid);
    assert_eq!(runtimes[0].kind, RuntimeKind::Embedded);
    assert_eq!(runtimes[0].status, RuntimeStatus::Available);
    assert!(runtimes[0].capabilities.create_worker);
    assert_eq!(runtimes[0].worker_count, 0);

    let created = reg
        .route(&rid)
        .await
        .unwrap()
        .create_worker(CreateWorker {
            display_name: Some("helper".into()),
            profile: None,
        })
        .await
        .unwrap();
    let w = created.summary.worker_id;
    assert_eq!(created.summary.display_ref, "helper@backend-internal");
    assert!(created.tools.is_empty());
    match within("worker_created", events.recv()).await.unwrap() {
        WorkspaceEvent::WorkerCreated { worker } => assert_eq!(worker.worker_id, w),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        reg.route(&rid)
            .await
            .unwrap()
            .summary()
            .await
            .unwrap()
            .worker_count,
        1
    );
    assert_eq!(
        reg.route(&rid)
            .await
            .unwrap()
            .list_workers(yoi_protocol::WorkerPage::all())
            .await
            .unwrap()
            .workers[0]
            .worker_id,
        w
    );
    assert_eq!(
        reg.route(&rid)
            .await
            .unwrap()
            .worker(w)
            .await
            .unwrap()
            .summary
            .worker_id,
        w
    );

    let mut sub = reg
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, None)
        .await
        .unwrap();
    let snap = within("the snapshot", sub.next()).await.unwrap();
    assert!(snap.event.is_snapshot());
    let outcome = reg
        .route(&rid)
        .await
        .unwrap()
        .input_wait(w, InputRequest::text("hello"))
        .await
        .unwrap();
    assert_eq!(outcome.message.text, "routed answer");
    let transcript = reg
        .route(&rid)
        .await
        .unwrap()
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap();
    assert_eq!(transcript.messages.len(), 2);
    let err = reg.route(&rid).await.unwrap().cancel(w).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotRunning);

    reg.route(&rid).await.unwrap().stop_worker(w).await.unwrap();
    loop {
        let event = within("worker_stopped", events.recv()).await.unwrap();
        if matches!(event, WorkspaceEvent::WorkerStopped { worker_id, .. } if worker_id == w) {
            break;
        }
    }
    // The worker's stream ends after its last event.
    let mut last = None;
    while let Some(f) = within("a frame or the stream's end", sub.next()).await {
        last = Some(f);
    }
    assert!(matches!(last.unwrap().event.kind, EventKind::WorkerStopped));
    assert_eq!(
        reg.route(&rid)
            .await
            .unwrap()
            .worker(w)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::WorkerNotFound
    );
}

#[tokio::test]
async fn unknown_runtimes_and_workers_are_typed_errors() {
    let mock = MockOpenAi::start().await;
    let reg = registry(&mock).await;
    let nowhere = RuntimeId::parse("nowhere").unwrap();
    let Err(err) = reg.route(&nowhere).await else {
        panic!("no runtime `nowhere` is registered");
    };
    assert!(matches!(err, RegistryError::RuntimeNotFound(_)));
    assert_eq!(err.to_api_error().code, ErrorCode::RuntimeNotFound);
    let err = reg
        .route(&RuntimeId::backend_internal())
        .await
        .unwrap()
        .input(WorkerId::new(), InputRequest::text("hi"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::WorkerNotFound);
}

#[tokio::test]
async fn busy_is_carried_unchanged() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let reg = registry(&mock).await;
    let rid = RuntimeId::backend_internal();
    let w = reg
        .route(&rid)
        .await
        .unwrap()
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    let first = reg
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("one"))
        .await
        .unwrap();
    let err = reg
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("two"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::Busy);
    assert_eq!(err.active_run_id, Some(first.run_id));
    assert_eq!(
        reg.route(&rid)
            .await
            .unwrap()
            .cancel(w)
            .await
            .unwrap()
            .run_id,
        first.run_id
    );
}

#[tokio::test]
async fn a_runtime_id_is_registered_once() {
    let mock = MockOpenAi::start().await;
    let reg = registry(&mock).await;
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "again");
    config.provider.base_url = mock.base_url();
    let again = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let err = reg.register(Arc::new(again)).await.unwrap_err();
    assert!(matches!(err, RegistryError::DuplicateRuntime(_)));
}
