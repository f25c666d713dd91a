//! The registry reaches runtimes in other processes through `RemoteRuntime`:
//! worker-runtime's own server on TCP (with a token) and on a Unix socket,
//! against the mock OpenAI server. Same contract, same cursors, same errors
//! as the embedded runtime; only `kind` tells them apart.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use runtime_registry::{Endpoint, Registry, RemoteConfig, RemoteRuntime};
use support::{
    available, quick, remote, runtime_status, workspace_event, Proxy, Served, TOKEN, WAIT,
};
use worker_runtime::{EventFrame, RuntimeApi, WorkerStream};
use yoi_protocol::{
    CreateWorker, ErrorCode, EventKind, InputRequest, RuntimeId, RuntimeKind, RuntimeStatus, Seq,
    SnapshotReason, ToApiError, TranscriptPage, WorkerId, WorkspaceEvent,
};
use yoi_test_support::{MockOpenAi, Reply};

fn helper() -> CreateWorker {
    CreateWorker {
        display_name: Some("helper".into()),
        profile: None,
    }
}

async fn next(stream: &mut WorkerStream) -> Option<Arc<EventFrame>> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("a frame (or the end) arrives in time")
}

async fn frame(stream: &mut WorkerStream) -> Arc<EventFrame> {
    next(stream).await.expect("the stream is open")
}

/// Frames up to the terminal event of a run and the `status` after it.
async fn until_idle(stream: &mut WorkerStream) -> Vec<Arc<EventFrame>> {
    let mut out = Vec::new();
    let mut ended = false;
    loop {
        let f = frame(stream).await;
        let done = ended && matches!(f.event.kind, EventKind::Status { .. });
        ended |= f.event.is_terminal();
        out.push(f);
        if done {
            return out;
        }
    }
}

fn assert_gapless_from(start: Seq, frames: &[Arc<EventFrame>]) {
    let seqs: Vec<u64> = frames
        .iter()
        .filter(|f| !f.event.is_snapshot())
        .map(|f| f.seq().0)
        .collect();
    let expected: Vec<u64> = (start.0 + 1..=start.0 + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every seq once, in order");
}

fn text_of(frames: &[Arc<EventFrame>]) -> String {
    frames
        .iter()
        .filter_map(|f| match &f.event.kind {
            EventKind::AssistantDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

async fn registry_with(handle: RemoteRuntime) -> Registry {
    let registry = Registry::start().await.unwrap();
    registry.register(Arc::new(handle)).await.unwrap();
    registry
}

/// The whole conversation: create, subscribe, input, stream, transcript,
/// busy, cancel, provider fault, stop; all with the registered id.
async fn converse(registry: &Registry, mock: &MockOpenAi, id: &str) {
    let rid = RuntimeId::parse(id).unwrap();
    let mut events = registry.workspace_events();
    let created = registry
        .route(&rid)
        .await
        .unwrap()
        .create_worker(helper())
        .await
        .unwrap();
    let w = created.summary.worker_id;
    assert_eq!(created.summary.runtime_id, rid);
    assert_eq!(created.summary.display_ref, format!("helper@{id}"));
    match workspace_event(&mut events, |e| {
        matches!(e, WorkspaceEvent::WorkerCreated { .. })
    })
    .await
    {
        WorkspaceEvent::WorkerCreated { worker } => {
            assert_eq!(worker.worker_id, w);
            assert_eq!(worker.runtime_id, rid);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .summary()
            .await
            .unwrap()
            .worker_count,
        1
    );
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .list_workers(yoi_protocol::WorkerPage::all())
            .await
            .unwrap()
            .workers[0]
            .display_ref,
        format!("helper@{id}")
    );

    let mut stream = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, None)
        .await
        .unwrap();
    let snap = frame(&mut stream).await;
    assert!(snap.event.is_snapshot());
    assert_eq!(snap.event.runtime_id, rid);
    match &snap.event.kind {
        EventKind::Snapshot { worker, reset, .. } => {
            assert!(!reset);
            assert_eq!(worker.summary.display_ref, format!("helper@{id}"));
        }
        _ => unreachable!(),
    }

    mock.push(Reply::tokens(["Hello", " from", " afar"]).usage(7, 3));
    let accepted = registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("hi"))
        .await
        .unwrap();
    assert_eq!(accepted.seq, Seq(1));
    let frames = until_idle(&mut stream).await;
    assert_gapless_from(Seq::ZERO, &frames);
    assert_eq!(text_of(&frames), "Hello from afar");
    assert!(frames.iter().all(|f| f.event.runtime_id == rid));
    assert!(frames
        .iter()
        .all(|f| f.json.contains(&format!("\"runtime_id\":\"{id}\""))));
    let last = frames.last().unwrap().seq();

    let transcript = registry
        .route(&rid)
        .await
        .unwrap()
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap();
    assert_eq!(transcript.messages.len(), 2);
    assert_eq!(transcript.seq, last);

    // Busy and cancel.
    mock.push(
        Reply::tokens((0..400).map(|i| format!("t{i} "))).token_delay(Duration::from_millis(20)),
    );
    let first = registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("long"))
        .await
        .unwrap();
    let busy = registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("again"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(busy.code, ErrorCode::Busy);
    assert_eq!(busy.active_run_id, Some(first.run_id));
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .cancel(w)
            .await
            .unwrap()
            .run_id,
        first.run_id
    );
    let frames = until_idle(&mut stream).await;
    assert_gapless_from(last, &frames);
    assert!(frames
        .iter()
        .any(|f| matches!(f.event.kind, EventKind::RunCancelled { .. })));
    let last = frames.last().unwrap().seq();
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .cancel(w)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotRunning
    );

    // A provider fault: a run_failed event, and the typed error for wait=true.
    mock.push(Reply::http_error(500, "upstream exploded"));
    registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("fail"))
        .await
        .unwrap();
    let frames = until_idle(&mut stream).await;
    assert_gapless_from(last, &frames);
    let failed = frames
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::RunFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("run_failed");
    assert_eq!(failed.code, ErrorCode::ProviderError);
    mock.push(Reply::http_error(500, "upstream exploded"));
    let err = registry
        .route(&rid)
        .await
        .unwrap()
        .input_wait(w, InputRequest::text("fail again"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(err.message.contains("upstream exploded"));
    mock.push(Reply::text("waited"));
    let outcome = registry
        .route(&rid)
        .await
        .unwrap()
        .input_wait(w, InputRequest::text("wait"))
        .await
        .unwrap();
    assert_eq!(outcome.message.text, "waited");

    // Unknown workers are the runtime's own typed error.
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .worker(WorkerId::new())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::WorkerNotFound
    );
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .subscribe(WorkerId::new(), None)
            .await
            .err()
            .unwrap()
            .code(),
        ErrorCode::WorkerNotFound
    );

    // Stopping ends the stream with worker_stopped.
    registry
        .route(&rid)
        .await
        .unwrap()
        .stop_worker(w)
        .await
        .unwrap();
    workspace_event(&mut events, |e| {
        matches!(e, WorkspaceEvent::WorkerStopped { worker_id, runtime_id } if *worker_id == w && *runtime_id == rid)
    })
    .await;
    let mut tail = None;
    while let Some(f) = next(&mut stream).await {
        tail = Some(f);
    }
    assert!(matches!(tail.unwrap().event.kind, EventKind::WorkerStopped));
    assert_eq!(
        registry
            .route(&rid)
            .await
            .unwrap()
            .summary()
            .await
            .unwrap()
            .worker_count,
        0
    );
}

#[tokio::test]
async fn a_remote_runtime_over_tcp_works_like_the_embedded_one() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let handle = remote("gpu", &served.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let summary = registry
        .route(&RuntimeId::parse("gpu").unwrap())
        .await
        .unwrap()
        .summary()
        .await
        .unwrap();
    assert_eq!(summary.kind, RuntimeKind::Remote);
    assert_eq!(summary.display_name, "gpu box");
    assert_eq!(summary.status, RuntimeStatus::Available);
    let diagnostics = summary.diagnostics.unwrap();
    assert!(diagnostics.last_seen.is_some());
    assert!(diagnostics.last_error.is_none());
    converse(&registry, &mock, "gpu").await;
    served.stop().await;
}

#[tokio::test]
async fn a_runtime_on_a_unix_socket_works_the_same() {
    let mock = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!("yoi-reg-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rt.sock");
    let _ = std::fs::remove_file(&path);
    let served = Served::unix(&mock, path.clone()).await;
    let handle = RemoteRuntime::start(RemoteConfig {
        runtime_id: RuntimeId::parse("near").unwrap(),
        display_name: "near".into(),
        kind: RuntimeKind::Local,
        endpoint: Endpoint::Unix { path },
        timing: quick(),
    })
    .await
    .unwrap();
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "near").await;
    assert_eq!(
        registry
            .route(&RuntimeId::parse("near").unwrap())
            .await
            .unwrap()
            .summary()
            .await
            .unwrap()
            .kind,
        RuntimeKind::Local
    );
    converse(&registry, &mock, "near").await;
    served.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_broken_connection_resumes_from_the_cursor_without_gaps_or_repeats() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let proxy = Proxy::start(served.addr.unwrap()).await;
    let handle = remote("gpu", &proxy.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let rid = RuntimeId::parse("gpu").unwrap();
    let w = registry
        .route(&rid)
        .await
        .unwrap()
        .create_worker(helper())
        .await
        .unwrap()
        .summary
        .worker_id;
    let mut stream = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, None)
        .await
        .unwrap();
    assert!(frame(&mut stream).await.event.is_snapshot());

    mock.push(
        Reply::tokens((0..60).map(|i| format!("w{i} "))).token_delay(Duration::from_millis(15)),
    );
    registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("go"))
        .await
        .unwrap();
    let mut frames = Vec::new();
    let mut cuts = 0;
    let mut ended = false;
    loop {
        let f = frame(&mut stream).await;
        // Cut the link three times while the answer streams.
        if matches!(f.event.kind, EventKind::AssistantDelta { .. })
            && f.seq().0 % 15 == 0
            && cuts < 3
        {
            proxy.cut();
            cuts += 1;
        }
        let done = ended && matches!(f.event.kind, EventKind::Status { .. });
        ended |= f.event.is_terminal();
        frames.push(f);
        if done {
            break;
        }
    }
    assert_eq!(cuts, 3, "the link was cut mid-run");
    assert!(
        frames.iter().all(|f| !f.event.is_snapshot()),
        "resumed, not reset"
    );
    assert_gapless_from(Seq::ZERO, &frames);
    assert_eq!(
        text_of(&frames),
        (0..60).map(|i| format!("w{i} ")).collect::<String>()
    );
    assert!(matches!(
        frames[frames.len() - 2].event.kind,
        EventKind::RunCompleted { .. }
    ));
    served.stop().await;
}

#[tokio::test]
async fn a_runtime_that_goes_away_answers_unavailable_ends_streams_and_comes_back() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let proxy = Proxy::start(served.addr.unwrap()).await;
    let handle = remote("gpu", &proxy.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let rid = RuntimeId::parse("gpu").unwrap();
    let w = registry
        .route(&rid)
        .await
        .unwrap()
        .create_worker(helper())
        .await
        .unwrap()
        .summary
        .worker_id;
    let mut stream = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, None)
        .await
        .unwrap();
    assert!(frame(&mut stream).await.event.is_snapshot());
    mock.push(Reply::hang());
    registry
        .route(&rid)
        .await
        .unwrap()
        .input(w, InputRequest::text("hang"))
        .await
        .unwrap();
    loop {
        if matches!(
            frame(&mut stream).await.event.kind,
            EventKind::RunStarted { .. }
        ) {
            break;
        }
    }

    proxy.set_down(true);
    let down = runtime_status(&mut events, "gpu", |r| {
        r.status == RuntimeStatus::Unavailable
    })
    .await;
    let reason = down.diagnostics.unwrap().last_error.unwrap();
    assert!(
        ["connection lost", "cannot connect", "timed out"].contains(&reason.as_str()),
        "{reason}"
    );
    for err in [
        registry
            .route(&rid)
            .await
            .unwrap()
            .input(w, InputRequest::text("hello?"))
            .await
            .unwrap_err(),
        registry
            .route(&rid)
            .await
            .unwrap()
            .worker(w)
            .await
            .unwrap_err(),
        registry
            .route(&rid)
            .await
            .unwrap()
            .create_worker(helper())
            .await
            .unwrap_err(),
        registry
            .route(&rid)
            .await
            .unwrap()
            .subscribe(w, Some(Seq(1)))
            .await
            .err()
            .unwrap(),
    ] {
        let api = err.to_api_error();
        assert_eq!(api.code, ErrorCode::RuntimeUnavailable);
        assert!(api.retryable);
    }
    // The subscriber is not left in silence: its stream ends.
    while let Some(f) = next(&mut stream).await {
        assert!(
            !f.event.is_snapshot()
                || matches!(&f.event.kind, EventKind::Snapshot { reset: true, .. })
        );
    }

    proxy.set_down(false);
    available(&mut events, "gpu").await;
    // The runtime kept the worker and its run: a new subscriber sees it.
    let mut again = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, None)
        .await
        .unwrap();
    match &frame(&mut again).await.event.kind {
        EventKind::Snapshot { in_flight, .. } => assert!(in_flight.is_some()),
        other => panic!("unexpected {other:?}"),
    }
    registry.route(&rid).await.unwrap().cancel(w).await.unwrap();
    let frames = until_idle(&mut again).await;
    assert!(frames
        .iter()
        .any(|f| matches!(f.event.kind, EventKind::RunCancelled { .. })));
    served.stop().await;
}

#[tokio::test]
async fn a_cursor_ahead_is_reset_by_the_runtime_and_forwarded() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let handle = remote("gpu", &served.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let rid = RuntimeId::parse("gpu").unwrap();
    let w = registry
        .route(&rid)
        .await
        .unwrap()
        .create_worker(helper())
        .await
        .unwrap()
        .summary
        .worker_id;
    let mut stream = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(w, Some(Seq(99)))
        .await
        .unwrap();
    match &frame(&mut stream).await.event.kind {
        EventKind::Snapshot { reset, reason, .. } => {
            assert!(*reset);
            assert_eq!(*reason, Some(SnapshotReason::CursorAhead));
        }
        other => panic!("unexpected {other:?}"),
    }
    served.stop().await;
}

#[tokio::test]
async fn an_expired_cursor_is_reset_by_the_runtime_and_forwarded() {
    let mock = MockOpenAi::start().await;
    // The runtime keeps only its last 8 events.
    let served = Served::tcp_with(&mock, |c| c.event_ring = 8).await;
    let handle = remote("gpu", &served.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let rid = RuntimeId::parse("gpu").unwrap();
    let runtime = registry.route(&rid).await.unwrap();
    let w = runtime
        .create_worker(helper())
        .await
        .unwrap()
        .summary
        .worker_id;
    mock.set_default(Reply::tokens(["one", " two", " three"]));
    for text in ["first", "second"] {
        runtime
            .input_wait(w, InputRequest::text(text))
            .await
            .unwrap();
    }
    let last = runtime
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap()
        .seq;
    assert!(last.0 > 9, "more events than the ring holds: {last:?}");
    // Cursor 1 is older than the ring: a reset snapshot, then live events.
    let mut stream = runtime.subscribe(w, Some(Seq(1))).await.unwrap();
    let first = frame(&mut stream).await;
    match &first.event.kind {
        EventKind::Snapshot {
            reset,
            reason,
            transcript,
            ..
        } => {
            assert!(*reset);
            assert_eq!(*reason, Some(SnapshotReason::CursorExpired));
            assert_eq!(transcript.len(), 4);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(first.seq(), last);
    // A cursor still in the ring replays from there, without a snapshot.
    let mut stream = runtime.subscribe(w, Some(Seq(last.0 - 2))).await.unwrap();
    let replayed = frame(&mut stream).await;
    assert_eq!(replayed.seq(), Seq(last.0 - 1));
    assert!(!matches!(replayed.event.kind, EventKind::Snapshot { .. }));
    served.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_unavailable_and_says_unauthorized() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let handle = remote("gpu", &served.url(), "a-wrong-token-123").await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    let down = runtime_status(&mut events, "gpu", |r| {
        r.diagnostics.as_ref().and_then(|d| d.last_error.as_deref()) == Some("unauthorized")
    })
    .await;
    assert_eq!(down.status, RuntimeStatus::Unavailable);
    let rid = RuntimeId::parse("gpu").unwrap();
    let err = registry
        .route(&rid)
        .await
        .unwrap()
        .create_worker(helper())
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::RuntimeUnavailable);
    assert!(!err.message.contains(&served.url()));
    let err = registry
        .route(&rid)
        .await
        .unwrap()
        .subscribe(WorkerId::new(), None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::RuntimeUnavailable);
    let snapshot = registry.workspace_snapshot().await.unwrap();
    let text = serde_json::to_string(&snapshot).unwrap();
    assert!(text.contains("\"last_error\":\"unauthorized\""));
    for secret in [
        TOKEN,
        "a-wrong-token-123",
        served.url().as_str(),
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    served.stop().await;
}

#[tokio::test]
async fn queued_input_works_through_a_remote_runtime() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let served = Served::tcp(&mock).await;
    let handle = remote("gpu", &served.url(), TOKEN).await;
    let mut events = handle.workspace_events();
    let registry = registry_with(handle).await;
    available(&mut events, "gpu").await;
    let rt = registry
        .route(&RuntimeId::parse("gpu").unwrap())
        .await
        .unwrap();
    let w = rt.create_worker(helper()).await.unwrap().summary.worker_id;
    let mut stream = rt.subscribe(w, None).await.unwrap();
    frame(&mut stream).await;
    mock.push(Reply::tokens(["hold"]).then_hang());
    rt.input(w, InputRequest::text("first")).await.unwrap();
    let queue = |text: &str, id: &str| InputRequest {
        text: text.into(),
        client_message_id: Some(yoi_protocol::ClientMessageId::parse(id).unwrap()),
        on_busy: Some(yoi_protocol::OnBusy::Queue),
    };
    let gone = rt.input(w, queue("gone", "c-1")).await.unwrap();
    let kept = rt.input(w, queue("kept", "c-2")).await.unwrap();
    assert!(gone.queued && kept.queued);
    assert_eq!((gone.position, kept.position), (Some(1), Some(2)));
    assert_eq!(rt.input(w, queue("kept", "c-2")).await.unwrap(), kept);
    let detail = rt.worker(w).await.unwrap();
    assert_eq!(detail.queue.len(), 2);
    rt.remove_queued(w, gone.message_id).await.unwrap();
    let err = rt.remove_queued(w, gone.message_id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);

    rt.cancel(w).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let f = frame(&mut stream).await;
        match &f.event.kind {
            EventKind::InputQueued { text, .. } => seen.push(format!("queued {text}")),
            EventKind::InputDequeued { reason, .. } => seen.push(format!("dequeued {reason:?}")),
            EventKind::InputAccepted { message, .. } => seen.push(format!("run {}", message.text)),
            EventKind::RunCompleted { .. } => break,
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "run first",
            "queued gone",
            "queued kept",
            "dequeued Removed",
            "dequeued Started",
            "run kept"
        ]
    );
    assert_eq!(mock.requests().len(), 2);
    served.stop().await;
}
