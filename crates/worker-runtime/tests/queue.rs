//! Queued input (`on_busy: queue`): the real Runtime and Worker actors against
//! the mock OpenAI-compatible server. Runs last because the mock hangs or
//! slows them; every wait is on an event, with a timeout that only fails.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use worker_runtime::testing::next;
use worker_runtime::{Runtime, RuntimeApi, RuntimeConfig, RuntimeError, WorkerStream};
use yoi_protocol::{
    ClientMessageId, CreateWorker, DequeueReason, ErrorCode, EventKind, InputAccepted,
    InputRequest, MessageId, OnBusy, Role, RuntimeId, ToApiError, TranscriptPage, WorkerId,
    WorkerStatus,
};
use yoi_test_support::{MockOpenAi, Reply};

const WAIT: Duration = Duration::from_secs(20);

fn config(mock: &MockOpenAi) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    c
}

async fn start(mock: &MockOpenAi, tweak: impl FnOnce(&mut RuntimeConfig)) -> (Runtime, WorkerId) {
    let mut c = config(mock);
    tweak(&mut c);
    let runtime = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .expect("runtime starts");
    let worker = runtime
        .create_worker(CreateWorker::default())
        .await
        .expect("worker created");
    (runtime, worker.summary.worker_id)
}

fn queued(text: &str) -> InputRequest {
    InputRequest {
        text: text.into(),
        client_message_id: None,
        on_busy: Some(OnBusy::Queue),
    }
}

/// Starts a run that hangs until it is cancelled, and waits until the
/// provider has its request.
async fn hanging_run(mock: &MockOpenAi, rt: &Runtime, w: WorkerId) -> InputAccepted {
    mock.push(Reply::tokens(["thinking"]).then_hang());
    let accepted = rt.input(w, queued("first")).await.unwrap();
    assert!(!accepted.queued, "an idle worker runs the input at once");
    mock.wait_for_open_streams(1).await;
    accepted
}

/// The texts of the user messages in the order their runs were accepted,
/// read from events until `n` runs after the first have completed.
async fn accepted_texts(sub: &mut WorkerStream, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    let mut completed = 0;
    while completed < n {
        match &next(sub).await.event.kind {
            EventKind::InputAccepted { message, .. } => texts.push(message.text.clone()),
            EventKind::RunCompleted { .. } => completed += 1,
            _ => {}
        }
    }
    texts
}

#[tokio::test]
async fn twenty_clients_queueing_at_once_each_run_exactly_once_in_queue_order() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let (rt, w) = start(&mock, |c| c.queue_limit = 32).await;
    let rt = Arc::new(rt);
    hanging_run(&mock, &rt, w).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await; // the snapshot

    let answers = join_all((0..20).map(|i| {
        let rt = rt.clone();
        tokio::spawn(async move { rt.input(w, queued(&format!("client {i}"))).await })
    }))
    .await;
    let mut by_position: Vec<(u32, String, InputAccepted)> = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let a = a.unwrap().unwrap();
            assert!(a.queued);
            (a.position.unwrap(), format!("client {i}"), a)
        })
        .collect();
    by_position.sort_by_key(|(p, _, _)| *p);
    let positions: Vec<u32> = by_position.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(positions, (1..=20).collect::<Vec<_>>());
    let expected: Vec<String> = by_position.iter().map(|(_, t, _)| t.clone()).collect();
    let detail = rt.worker(w).await.unwrap();
    let listed: Vec<String> = detail.queue.iter().map(|q| q.text.clone()).collect();
    assert_eq!(
        listed, expected,
        "the detail lists the queue, the next first"
    );

    // Ending the run in flight starts the queue, one run after another.
    rt.cancel(w).await.unwrap();
    assert_eq!(accepted_texts(&mut sub, 20).await, expected);
    let requests = mock.wait_for_requests(21).await;
    let asked: Vec<String> = requests[1..]
        .iter()
        .map(|r| r.messages().last().unwrap().1.clone())
        .collect();
    assert_eq!(
        asked, expected,
        "each input reached the provider once, in order"
    );
    // Each run kept the id its queued answer named.
    for (_, _, a) in &by_position {
        let outcome = rt.await_run(w, a.run_id).await.unwrap();
        assert_eq!(outcome.run_id, a.run_id);
    }
    let detail = rt.worker(w).await.unwrap();
    assert!(detail.queue.is_empty());
    assert_eq!(detail.usage.runs, 21);
    assert_eq!(mock.requests().len(), 21, "nothing ran twice");
    rt.shutdown().await;
}

#[tokio::test]
async fn inputs_racing_the_ends_of_short_runs_each_run_once_in_the_order_they_joined() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let (rt, w) = start(&mock, |c| c.queue_limit = 32).await;
    let rt = Arc::new(rt);
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    // Runs end while inputs arrive: some start at once, some queue.
    let answers = join_all((0..20).map(|i| {
        let rt = rt.clone();
        tokio::spawn(async move { rt.input(w, queued(&format!("racer {i}"))).await })
    }))
    .await;
    let mut joined: Vec<(u64, String)> = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| (a.unwrap().unwrap().seq.0, format!("racer {i}")))
        .collect();
    joined.sort();
    let expected: Vec<String> = joined.into_iter().map(|(_, t)| t).collect();
    assert_eq!(accepted_texts(&mut sub, 20).await, expected);
    let asked: Vec<String> = mock
        .wait_for_requests(20)
        .await
        .iter()
        .map(|r| r.messages().last().unwrap().1.clone())
        .collect();
    assert_eq!(
        asked, expected,
        "each input ran once, in the order it joined"
    );
    assert_eq!(rt.worker(w).await.unwrap().usage.runs, 20);
    rt.shutdown().await;
}

#[tokio::test]
async fn past_the_queue_limit_input_is_queue_full() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |c| c.queue_limit = 2).await;
    hanging_run(&mock, &rt, w).await;
    rt.input(w, queued("one")).await.unwrap();
    let two = rt.input(w, queued("two")).await.unwrap();
    assert_eq!(two.position, Some(2));
    let err = rt.input(w, queued("three")).await.unwrap_err();
    let api = err.to_api_error();
    assert_eq!((api.code, api.retryable), (ErrorCode::QueueFull, true));
    assert_eq!(api.code.http_status(), 409);
    // Without `on_busy: queue` it stays single-flight.
    let mut plain = queued("plain");
    plain.on_busy = None;
    let busy = rt.input(w, plain).await.unwrap_err();
    assert!(matches!(busy, RuntimeError::Busy { .. }));
    assert_eq!(rt.worker(w).await.unwrap().queue.len(), 2);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_removed_input_never_runs_and_a_second_remove_is_not_found() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let (rt, w) = start(&mock, |_| {}).await;
    hanging_run(&mock, &rt, w).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    let gone = rt.input(w, queued("remove me")).await.unwrap();
    let kept = rt.input(w, queued("keep me")).await.unwrap();
    rt.remove_queued(w, gone.message_id).await.unwrap();
    let err = rt.remove_queued(w, gone.message_id).await.unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::NotFound);
    let err = rt.remove_queued(w, MessageId::new()).await.unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::NotFound);

    rt.cancel(w).await.unwrap();
    let mut dequeued = Vec::new();
    let texts = loop {
        let f = next(&mut sub).await;
        match &f.event.kind {
            EventKind::InputDequeued { message_id, reason } => {
                dequeued.push((*message_id, *reason));
            }
            EventKind::RunCompleted { .. } => break rt.transcript(w, TranscriptPage::newest(10)),
            _ => {}
        }
    }
    .await
    .unwrap();
    assert_eq!(
        dequeued,
        [
            (gone.message_id, DequeueReason::Removed),
            (kept.message_id, DequeueReason::Started)
        ]
    );
    assert!(texts.messages.iter().all(|m| m.text != "remove me"));
    // Once its run started, an input is no longer queued.
    let err = rt.remove_queued(w, kept.message_id).await.unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::NotFound);
    rt.shutdown().await;
}

#[tokio::test]
async fn removing_an_input_as_its_turn_comes_either_removes_it_or_finds_it_started() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let (rt, w) = start(&mock, |_| {}).await;
    let rt = Arc::new(rt);
    for _ in 0..5 {
        hanging_run(&mock, &rt, w).await;
        let racer = rt.input(w, queued("racing")).await.unwrap();
        let (cancel, removed) = tokio::join!(rt.cancel(w), rt.remove_queued(w, racer.message_id));
        cancel.unwrap();
        let outcome = rt.await_run(w, racer.run_id).await;
        match removed {
            // Removed first: its run never starts.
            Ok(()) => assert_eq!(outcome.unwrap_err().code(), ErrorCode::NotRunning),
            // Started first: the remove finds it gone, the run is whole.
            Err(e) => {
                assert_eq!(e.to_api_error().code, ErrorCode::NotFound);
                assert_eq!(outcome.unwrap().run_id, racer.run_id);
            }
        }
        let detail = rt.worker(w).await.unwrap();
        assert!(detail.queue.is_empty());
        assert_eq!(detail.summary.status, WorkerStatus::Idle);
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn stopping_a_worker_drops_its_queue_with_events() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |_| {}).await;
    hanging_run(&mock, &rt, w).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    let a = rt.input(w, queued("a")).await.unwrap();
    rt.input(w, queued("b")).await.unwrap();
    // `a`'s `input_queued` and `b`'s.
    next(&mut sub).await;
    next(&mut sub).await;
    rt.stop_worker(w).await.unwrap();
    let mut kinds = Vec::new();
    while let Ok(Some(f)) = tokio::time::timeout(WAIT, sub.next()).await {
        kinds.push(match &f.event.kind {
            EventKind::InputDequeued { message_id, reason } => {
                assert_eq!(*reason, DequeueReason::WorkerStopped);
                if *message_id == a.message_id {
                    "dequeued a"
                } else {
                    "dequeued b"
                }
            }
            EventKind::RunCancelled { .. } => "run_cancelled",
            EventKind::WorkerStopped => "worker_stopped",
            EventKind::Status { status } if *status == WorkerStatus::Stopped => "stopped",
            _ => continue,
        });
    }
    assert_eq!(
        kinds,
        [
            "run_cancelled",
            "dequeued a",
            "dequeued b",
            "stopped",
            "worker_stopped"
        ]
    );
    assert_eq!(mock.requests().len(), 1, "no queued input ran");
}

#[tokio::test]
async fn a_retried_client_message_id_returns_the_queued_answer_and_queues_once() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |_| {}).await;
    hanging_run(&mock, &rt, w).await;
    let mut req = queued("only once");
    req.client_message_id = Some(ClientMessageId::parse("queued-1").unwrap());
    let first = rt.input(w, req.clone()).await.unwrap();
    let again = rt.input(w, req).await.unwrap();
    assert_eq!(first, again);
    assert!(first.queued);
    assert_eq!(rt.worker(w).await.unwrap().queue.len(), 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn queued_inputs_survive_a_crash_and_run_in_order_after_restore() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = std::env::temp_dir().join(format!("yoi-queue-{}", WorkerId::new()));
    let (rt, w) = start(&mock, |c| c.state_dir = Some(dir.clone())).await;
    hanging_run(&mock, &rt, w).await;
    let a = rt.input(w, queued("after the crash a")).await.unwrap();
    let b = rt.input(w, queued("after the crash b")).await.unwrap();
    // A `202` for a queued input means it is stored.
    rt.crash().await;

    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let restored = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    // The interrupted run ends as failed, then the queue goes on in order.
    let outcome_a = restored.await_run(w, a.run_id).await.unwrap();
    assert_eq!(outcome_a.message.text, "You said: after the crash a");
    let outcome_b = restored.await_run(w, b.run_id).await.unwrap();
    assert_eq!(outcome_b.message.text, "You said: after the crash b");
    let t = restored
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap();
    let users: Vec<&str> = t
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(users, ["first", "after the crash a", "after the crash b"]);
    let detail = restored.worker(w).await.unwrap();
    assert!(detail.queue.is_empty());
    restored.shutdown().await;

    // Nothing runs again after a clean restart.
    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let again = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    assert!(again.worker(w).await.unwrap().queue.is_empty());
    assert_eq!(mock.requests().len(), 3);
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn queued_inputs_survive_a_clean_restart_and_run_after_it() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = std::env::temp_dir().join(format!("yoi-queue-clean-{}", WorkerId::new()));
    let (rt, w) = start(&mock, |c| c.state_dir = Some(dir.clone())).await;
    hanging_run(&mock, &rt, w).await;
    let waiting = rt.input(w, queued("kept over a restart")).await.unwrap();
    // A clean stop cancels the run in flight and keeps the queue.
    rt.shutdown().await;

    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let restarted = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let outcome = restarted.await_run(w, waiting.run_id).await.unwrap();
    assert_eq!(outcome.message.text, "You said: kept over a restart");
    let t = restarted
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap();
    let states: Vec<(Role, yoi_protocol::MessageState)> =
        t.messages.iter().map(|m| (m.role, m.state)).collect();
    assert_eq!(
        states,
        [
            (Role::User, yoi_protocol::MessageState::Complete),
            (Role::Assistant, yoi_protocol::MessageState::Cancelled),
            (Role::User, yoi_protocol::MessageState::Complete),
            (Role::Assistant, yoi_protocol::MessageState::Complete),
        ]
    );
    restarted.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
