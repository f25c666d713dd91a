//! The registry routes every command to the embedded runtime, with typed errors.

use std::time::Duration;

use runtime_registry::{Registry, RegistryError, RuntimeHandle};
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_protocol::{
    CreateWorker, ErrorCode, EventKind, InputRequest, RuntimeId, RuntimeKind, RuntimeStatus,
    WorkerId, WorkspaceEvent,
};
use yoi_test_support::{MockOpenAi, Reply};

async fn registry(mock: &MockOpenAi) -> Registry {
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("sk-registry".into());
    let runtime = Runtime::start_openai(config).await.unwrap();
    let registry = Registry::start().await.unwrap();
    registry
        .register(RuntimeHandle::Embedded(runtime))
        .await
        .unwrap();
    registry
}

fn input(text: &str) -> InputRequest {
    InputRequest {
        text: text.into(),
        client_message_id: None,
    }
}

#[tokio::test]
async fn the_embedded_runtime_is_registered_and_routed() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("routed answer"));
    let reg = registry(&mock).await;
    let rid = RuntimeId::backend_internal();
    let mut events = reg.workspace_events();

    let runtimes = reg.runtimes().await.unwrap();
    assert_eq!(runtimes.len(), 1);
    assert_eq!(runtimes[0].runtime_id, rid);
    assert_eq!(runtimes[0].kind, RuntimeKind::Embedded);
    assert_eq!(runtimes[0].status, RuntimeStatus::Available);
    assert!(runtimes[0].capabilities.create_worker);
    assert_eq!(runtimes[0].worker_count, 0);

    let created = reg
        .create_worker(
            &rid,
            CreateWorker {
                display_name: Some("helper".into()),
                profile: None,
            },
        )
        .await
        .unwrap();
    let w = created.summary.worker_id;
    assert_eq!(created.summary.display_ref, "helper@backend-internal");
    assert!(created.tools.is_empty());
    match events.recv().await.unwrap() {
        WorkspaceEvent::WorkerCreated { worker } => assert_eq!(worker.worker_id, w),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(reg.runtime(&rid).await.unwrap().worker_count, 1);
    assert_eq!(reg.workers(&rid).await.unwrap()[0].worker_id, w);
    assert_eq!(reg.worker(&rid, w).await.unwrap().summary.worker_id, w);

    let mut sub = reg.subscribe(&rid, w, None).await.unwrap();
    let snap = sub.next().await.unwrap();
    assert!(snap.event.is_snapshot());
    let outcome = reg.input_wait(&rid, w, input("hello")).await.unwrap();
    assert_eq!(outcome.message.text, "routed answer");
    let transcript = reg.transcript(&rid, w, 10).await.unwrap();
    assert_eq!(transcript.messages.len(), 2);
    let err = reg.cancel(&rid, w).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotRunning);

    reg.stop_worker(&rid, w).await.unwrap();
    let mut saw_stopped = false;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        if matches!(event, WorkspaceEvent::WorkerStopped { worker_id, .. } if worker_id == w) {
            saw_stopped = true;
            break;
        }
    }
    assert!(saw_stopped);
    let mut last = None;
    while let Some(f) = sub.next().await {
        last = Some(f);
    }
    assert!(matches!(last.unwrap().event.kind, EventKind::WorkerStopped));
    assert_eq!(
        reg.worker(&rid, w).await.unwrap_err().code(),
        ErrorCode::WorkerNotFound
    );
}

#[tokio::test]
async fn unknown_runtimes_and_workers_are_typed_errors() {
    let mock = MockOpenAi::start().await;
    let reg = registry(&mock).await;
    let nowhere = RuntimeId::parse("nowhere").unwrap();
    let err = reg.workers(&nowhere).await.unwrap_err();
    assert!(matches!(err, RegistryError::RuntimeNotFound(_)));
    assert_eq!(err.to_api_error().code, ErrorCode::RuntimeNotFound);
    let err = reg
        .input(&RuntimeId::backend_internal(), WorkerId::new(), input("hi"))
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
        .create_worker(&rid, CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    let first = reg.input(&rid, w, input("one")).await.unwrap();
    let err = reg
        .input(&rid, w, input("two"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::Busy);
    assert_eq!(err.active_run_id, Some(first.run_id));
    assert_eq!(reg.cancel(&rid, w).await.unwrap().run_id, first.run_id);
}

#[tokio::test]
async fn a_runtime_id_is_registered_once() {
    let mock = MockOpenAi::start().await;
    let reg = registry(&mock).await;
    let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "again");
    config.provider.base_url = mock.base_url();
    let again = Runtime::start_openai(config).await.unwrap();
    let err = reg
        .register(RuntimeHandle::Embedded(again))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DuplicateRuntime(_)));
}
