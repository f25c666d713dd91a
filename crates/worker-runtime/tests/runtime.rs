//! Integration tests: the real Runtime and Worker actors against the mock
//! OpenAI-compatible server. Nothing of ours is faked.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use worker_runtime::testing::next;
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig, RuntimeError, WorkerStream};
use yoi_protocol::{
    ClientMessageId, CreateWorker, ErrorCode, EventKind, InputRequest, MessageState, Role,
    RuntimeId, Seq, SnapshotReason, ToApiError, TranscriptPage, WorkerId, WorkerStatus,
};
use yoi_test_support::{MockOpenAi, Reply};

const WAIT: Duration = Duration::from_secs(15);

fn config(mock: &MockOpenAi) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    c.workspace_name = "testspace".into();
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

/// Reads frames until the run's terminal event, then the `status` that follows it.
async fn until_idle(sub: &mut WorkerStream) -> Vec<Arc<EventFrame>> {
    let mut out = Vec::new();
    let mut ended = false;
    loop {
        let f = next(sub).await;
        let done = ended && matches!(f.event.kind, EventKind::Status { .. });
        ended |= f.event.is_terminal();
        out.push(f);
        if done {
            return out;
        }
    }
}

fn kinds(frames: &[Arc<EventFrame>]) -> Vec<&'static str> {
    frames
        .iter()
        .map(|f| match &f.event.kind {
            EventKind::Snapshot { .. } => "snapshot",
            EventKind::InputAccepted { .. } => "input_accepted",
            EventKind::InputQueued { .. } => "input_queued",
            EventKind::InputDequeued { .. } => "input_dequeued",
            EventKind::RunStarted { .. } => "run_started",
            EventKind::AssistantDelta { .. } => "assistant_delta",
            EventKind::ReasoningDelta { .. } => "reasoning_delta",
            EventKind::AssistantMessage { .. } => "assistant_message",
            EventKind::RunCompleted { .. } => "run_completed",
            EventKind::RunFailed { .. } => "run_failed",
            EventKind::RunCancelled { .. } => "run_cancelled",
            EventKind::Status { .. } => "status",
            EventKind::WorkerStopped => "worker_stopped",
            EventKind::ToolCallStarted { .. } => "tool_call_started",
            EventKind::ToolCallFinished { .. } => "tool_call_finished",
            EventKind::ToolApprovalRequested { .. } => "tool_approval_requested",
            EventKind::ToolApprovalDecided { .. } => "tool_approval_decided",
        })
        .collect()
}

fn assert_gapless(frames: &[Arc<EventFrame>]) {
    let seqs: Vec<u64> = frames
        .iter()
        .filter(|f| !f.event.is_snapshot())
        .map(|f| f.seq().0)
        .collect();
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "seq gap or repeat in {seqs:?}");
    }
}

fn run_error(frames: &[Arc<EventFrame>]) -> yoi_protocol::ApiError {
    frames
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::RunFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("a run_failed event")
}

#[tokio::test]
async fn a_run_streams_in_contract_order_with_usage() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["Hel", "lo", " there"]).usage(11, 3));
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    let snap = next(&mut sub).await;
    assert!(matches!(
        snap.event.kind,
        EventKind::Snapshot { reset: false, .. }
    ));
    assert_eq!(snap.seq(), Seq(0));

    let accepted = rt.input(w, InputRequest::text("hi")).await.unwrap();
    assert_eq!(accepted.seq, Seq(1));
    let frames = until_idle(&mut sub).await;
    assert_eq!(
        kinds(&frames),
        [
            "input_accepted",
            "status",
            "run_started",
            "assistant_delta",
            "assistant_delta",
            "assistant_delta",
            "assistant_message",
            "run_completed",
            "status"
        ]
    );
    assert_eq!(frames[0].seq(), Seq(1));
    assert_gapless(&frames);
    match &frames[6].event.kind {
        EventKind::AssistantMessage { message, .. } => {
            assert_eq!(message.text, "Hello there");
            assert_eq!(message.state, MessageState::Complete);
            assert_eq!(message.role, Role::Assistant);
        }
        other => panic!("unexpected {other:?}"),
    }
    match &frames[7].event.kind {
        EventKind::RunCompleted { usage, run_id, .. } => {
            assert_eq!(*run_id, accepted.run_id);
            assert_eq!((usage.prompt_tokens, usage.completion_tokens), (11, 3));
        }
        other => panic!("unexpected {other:?}"),
    }
    let detail = rt.worker(w).await.unwrap();
    assert_eq!(detail.summary.status, WorkerStatus::Idle);
    assert_eq!(
        (
            detail.usage.runs,
            detail.usage.prompt_tokens,
            detail.usage.completion_tokens
        ),
        (1, 11, 3)
    );
    let recorded = mock.wait_for_requests(1).await;
    assert_eq!(recorded[0].body["stream_options"]["include_usage"], true);
    assert_eq!(
        recorded[0].authorization.as_deref(),
        Some("Bearer sk-test-secret")
    );
}

#[tokio::test]
async fn the_second_turn_sends_system_prompt_history_and_new_message() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("first answer"));
    mock.push(Reply::text("second answer"));
    let (rt, w) = start(&mock, |_| {}).await;
    rt.input_wait(w, InputRequest::text("first question"))
        .await
        .unwrap();
    let outcome = rt
        .input_wait(w, InputRequest::text("second question"))
        .await
        .unwrap();
    assert_eq!(outcome.message.text, "second answer");
    assert_eq!(outcome.usage.runs, 1);
    let requests = mock.wait_for_requests(2).await;
    let messages = requests[1].messages();
    let roles: Vec<&str> = messages.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(
        messages[0].1.contains("testspace"),
        "system prompt has the workspace name"
    );
    assert_eq!(messages[1].1, "first question");
    assert_eq!(messages[2].1, "first answer");
    assert_eq!(messages[3].1, "second question");
    assert_eq!(requests[1].body["model"], "mock-model");
}

#[tokio::test]
async fn second_input_while_running_is_busy_with_the_active_run() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let (rt, w) = start(&mock, |_| {}).await;
    let first = rt.input(w, InputRequest::text("one")).await.unwrap();
    match rt.input(w, InputRequest::text("two")).await {
        Err(RuntimeError::Busy { active_run, .. }) => assert_eq!(active_run, first.run_id),
        other => panic!("expected busy, got {other:?}"),
    }
    let err = rt
        .input(w, InputRequest::text("three"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::Busy);
    assert_eq!(err.active_run_id, Some(first.run_id));
    assert!(err.retryable);
    rt.cancel(w).await.unwrap();
}

#[tokio::test]
async fn twenty_concurrent_inputs_give_exactly_one_accepted() {
    let mock = MockOpenAi::start().await;
    // The accepted run lasts until it is cancelled: every other input meets it.
    mock.set_default(Reply::hang());
    let (rt, w) = start(&mock, |_| {}).await;
    let results = join_all((0..20).map(|i| {
        let rt = rt.clone();
        async move { rt.input(w, InputRequest::text(format!("msg {i}"))).await }
    }))
    .await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(RuntimeError::Busy { .. })))
        .count();
    assert_eq!((accepted, busy), (1, 19));
    rt.cancel(w).await.unwrap();
}

#[tokio::test]
async fn cancel_mid_stream_keeps_partial_text_and_drops_the_request() {
    let mock = MockOpenAi::start().await;
    mock.push(
        Reply::tokens((0..200).map(|i| format!("t{i} "))).token_delay(Duration::from_millis(20)),
    );
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    let accepted = rt
        .input(w, InputRequest::text("long please"))
        .await
        .unwrap();
    // Wait for streamed text, then cancel.
    loop {
        if matches!(
            next(&mut sub).await.event.kind,
            EventKind::AssistantDelta { .. }
        ) {
            break;
        }
    }
    let cancelled = rt.cancel(w).await.unwrap();
    assert_eq!(cancelled.run_id, accepted.run_id);
    let frames = until_idle(&mut sub).await;
    let tail = kinds(&frames);
    assert_eq!(
        &tail[tail.len() - 3..],
        ["assistant_message", "run_cancelled", "status"]
    );
    let partial = frames
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::AssistantMessage { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(partial.state, MessageState::Cancelled);
    assert!(partial.text.starts_with("t0 "));
    mock.wait_for_open_streams(0).await;
    let transcript = rt.transcript(w, TranscriptPage::newest(100)).await.unwrap();
    assert_eq!(
        transcript.messages.last().unwrap().state,
        MessageState::Cancelled
    );
    assert_eq!(
        rt.worker(w).await.unwrap().summary.status,
        WorkerStatus::Idle
    );
    // Exactly one terminal event for the run.
    let terminals = frames.iter().filter(|f| f.event.is_terminal()).count();
    assert_eq!(terminals, 1);
}

#[tokio::test]
async fn cancel_when_idle_is_not_running() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |_| {}).await;
    let err = rt.cancel(w).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotRunning);
}

async fn failed_run(
    reply: Reply,
    tweak: impl FnOnce(&mut RuntimeConfig),
) -> (Vec<Arc<EventFrame>>, Runtime, WorkerId) {
    let mock = MockOpenAi::start().await;
    mock.push(reply);
    let (rt, w) = start(&mock, tweak).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    rt.input(w, InputRequest::text("hello")).await.unwrap();
    let frames = until_idle(&mut sub).await;
    assert_eq!(frames.iter().filter(|f| f.event.is_terminal()).count(), 1);
    assert_eq!(
        rt.worker(w).await.unwrap().summary.status,
        WorkerStatus::Idle
    );
    (frames, rt, w)
}

#[tokio::test]
async fn an_http_error_fails_the_run_with_the_providers_message_and_no_key() {
    let (frames, rt, w) =
        failed_run(Reply::http_error(500, "the model is overloaded"), |_| {}).await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(
        err.message.contains("the model is overloaded"),
        "{}",
        err.message
    );
    assert!(err.message.contains("500"));
    assert!(
        !err.message.contains("\"error\""),
        "the provider's message, not its raw body: {}",
        err.message
    );
    for f in &frames {
        assert!(!f.json.contains("sk-test-secret"));
    }
    let detail = rt.worker(w).await.unwrap();
    assert_eq!(
        detail.last_run.unwrap().error.unwrap().code,
        ErrorCode::ProviderError
    );
}

#[tokio::test]
async fn an_unauthorized_answer_is_a_provider_error() {
    let (frames, ..) =
        failed_run(Reply::http_error(401, "Incorrect API key provided"), |_| {}).await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(err.message.contains("401"));
}

#[tokio::test]
async fn a_cut_connection_fails_the_run_and_keeps_partial_text() {
    let (frames, rt, w) =
        failed_run(Reply::tokens(["a", "b", "c", "d"]).cut_after(2), |_| {}).await;
    assert_eq!(run_error(&frames).code, ErrorCode::ProviderError);
    let last = rt
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap()
        .messages
        .pop()
        .unwrap();
    assert_eq!(last.role, Role::Assistant);
    assert_eq!(last.state, MessageState::Failed);
    assert_eq!(last.text, "ab");
}

#[tokio::test]
async fn a_stream_without_finish_is_a_failure_not_a_completion() {
    let (frames, ..) = failed_run(Reply::text("half an answer").without_done(), |_| {}).await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(!kinds(&frames).contains(&"run_completed"));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_provider_error_without_its_url() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |c| {
        c.provider.base_url = "http://127.0.0.1:9/v1".into();
    })
    .await;
    let err = rt
        .input_wait(w, InputRequest::text("hi"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(!err.message.contains("127.0.0.1"), "{}", err.message);
}

#[tokio::test]
async fn a_hanging_provider_hits_the_first_token_timeout() {
    let (frames, rt, w) = failed_run(Reply::hang(), |c| {
        // Long enough never to fire on a loaded machine before a real answer.
        c.provider.first_token_timeout = Duration::from_secs(2);
    })
    .await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::Timeout);
    assert!(err.retryable);
    // The transcript shows how the run ended, even with no text streamed.
    let last = rt
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap()
        .messages
        .pop()
        .unwrap();
    assert_eq!(
        (last.role, last.state, last.text.as_str()),
        (Role::Assistant, MessageState::Failed, "")
    );
    assert_eq!(last.error.unwrap().code, ErrorCode::Timeout);
}

#[tokio::test]
async fn a_slow_run_hits_the_run_timeout_and_keeps_partial_text() {
    let reply =
        Reply::tokens((0..100).map(|i| format!("w{i} "))).token_delay(Duration::from_millis(50));
    let (frames, rt, w) = failed_run(reply, |c| {
        c.provider.run_timeout = Duration::from_millis(600);
    })
    .await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::Timeout);
    let last = rt
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap()
        .messages
        .pop()
        .unwrap();
    assert_eq!(last.state, MessageState::Failed);
    assert!(last.text.starts_with("w0 "));
}

#[tokio::test]
async fn reasoning_deltas_become_reasoning_events() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("answer").reasoning(["think", "ing"]));
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    rt.input(w, InputRequest::text("why?")).await.unwrap();
    let frames = until_idle(&mut sub).await;
    let reasoning: String = frames
        .iter()
        .filter_map(|f| match &f.event.kind {
            EventKind::ReasoningDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasoning, "thinking");
    let answer = rt
        .transcript(w, TranscriptPage::newest(1))
        .await
        .unwrap()
        .messages
        .pop()
        .unwrap();
    assert_eq!(
        answer.reasoning.as_deref(),
        Some("thinking"),
        "the transcript keeps the reasoning"
    );
    let k = kinds(&frames);
    let first_reasoning = k.iter().position(|k| *k == "reasoning_delta").unwrap();
    let first_text = k.iter().position(|k| *k == "assistant_delta").unwrap();
    assert!(first_reasoning < first_text);
}

#[tokio::test]
async fn no_key_and_a_remote_url_is_provider_unconfigured() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |c| {
        c.provider.api_key = None;
        c.provider.base_url = "https://api.example.invalid/v1".into();
    })
    .await;
    let err = rt
        .input(w, InputRequest::text("hi"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::ProviderUnconfigured);
    assert!(err.message.contains("OPENAI_API_KEY"));
    assert!(
        rt.transcript(w, TranscriptPage::newest(10))
            .await
            .unwrap()
            .messages
            .is_empty(),
        "nothing joined the transcript"
    );
}

#[tokio::test]
async fn a_loopback_url_needs_no_key() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("local model here"));
    let (rt, w) = start(&mock, |c| c.provider.api_key = None).await;
    let outcome = rt.input_wait(w, InputRequest::text("hi")).await.unwrap();
    assert_eq!(outcome.message.text, "local model here");
}

#[tokio::test]
async fn bad_text_is_invalid_input() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |_| {}).await;
    for text in ["", "   \n\t", &"x".repeat(32 * 1024 + 1)] {
        let err = rt.input(w, InputRequest::text(text)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
    }
    assert!(rt
        .input(w, InputRequest::text("x".repeat(32 * 1024)))
        .await
        .is_ok());
}

#[tokio::test]
async fn cursor_replays_every_later_event_exactly_once() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::tokens(["a", "b"]));
    let (rt, w) = start(&mock, |_| {}).await;
    rt.input_wait(w, InputRequest::text("one")).await.unwrap();
    rt.input_wait(w, InputRequest::text("two")).await.unwrap();
    let mut all = rt.subscribe(w, Some(Seq(0))).await.unwrap();
    let first = next(&mut all).await;
    assert_eq!(first.seq(), Seq(1), "cursor 0 replays from the first event");
    let mut sub = rt.subscribe(w, Some(Seq(3))).await.unwrap();
    let replayed = next(&mut sub).await;
    assert_eq!(replayed.seq(), Seq(4));
    assert!(!replayed.event.is_snapshot());
    // Then live events follow without a gap.
    let mut seen = vec![replayed];
    let last = rt
        .transcript(w, TranscriptPage::newest(1))
        .await
        .unwrap()
        .seq;
    while seen.last().unwrap().seq() < last {
        seen.push(next(&mut sub).await);
    }
    rt.input(w, InputRequest::text("three")).await.unwrap();
    seen.extend(until_idle(&mut sub).await);
    assert_gapless(&seen);
}

#[tokio::test]
async fn an_expired_cursor_gets_a_reset_snapshot() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::tokens(["a", "b", "c"]));
    let (rt, w) = start(&mock, |c| c.event_ring = 8).await;
    rt.input_wait(w, InputRequest::text("one")).await.unwrap();
    rt.input_wait(w, InputRequest::text("two")).await.unwrap();
    let mut sub = rt.subscribe(w, Some(Seq(1))).await.unwrap();
    let snap = next(&mut sub).await;
    match &snap.event.kind {
        EventKind::Snapshot {
            reset,
            reason,
            transcript,
            ..
        } => {
            assert!(reset);
            assert_eq!(*reason, Some(SnapshotReason::CursorExpired));
            assert_eq!(transcript.len(), 4);
        }
        other => panic!("expected snapshot, got {other:?}"),
    }
    assert_eq!(
        snap.seq(),
        rt.transcript(w, TranscriptPage::newest(1))
            .await
            .unwrap()
            .seq
    );
}

#[tokio::test]
async fn a_cursor_ahead_gets_a_reset_snapshot() {
    let mock = MockOpenAi::start().await;
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, Some(Seq(99))).await.unwrap();
    match next(&mut sub).await.event.kind.clone() {
        EventKind::Snapshot { reset, reason, .. } => {
            assert!(reset);
            assert_eq!(reason, Some(SnapshotReason::CursorAhead));
        }
        other => panic!("expected snapshot, got {other:?}"),
    }
}

/// A subscriber that reads nothing while a long run streams, then reads on.
async fn read_after_a_flood(event_ring: usize) -> (Vec<Arc<EventFrame>>, Seq) {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens((0..1500).map(|i| format!("{i} "))));
    let (rt, w) = start(&mock, |c| c.event_ring = event_ring).await;
    let mut slow = rt.subscribe(w, None).await.unwrap();
    let first = next(&mut slow).await;
    // Read nothing while the whole run streams.
    rt.input_wait(w, InputRequest::text("flood")).await.unwrap();
    let last = rt
        .transcript(w, TranscriptPage::newest(1))
        .await
        .unwrap()
        .seq;
    let mut frames = vec![first];
    while frames.last().unwrap().seq() < last {
        frames.push(next(&mut slow).await);
    }
    (frames, last)
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_catches_up_from_the_ring() {
    let (frames, last) = read_after_a_flood(4096).await;
    assert!(
        last.0 > 1500,
        "more events than the live channel holds: {last:?}"
    );
    // The snapshot, then every event once, in order: no reset.
    assert!(frames[0].event.is_snapshot());
    let seqs: Vec<u64> = frames[1..].iter().map(|f| f.seq().0).collect();
    let expected: Vec<u64> = (frames[0].seq().0 + 1..=last.0).collect();
    assert_eq!(seqs, expected);
    assert!(frames[1..].iter().all(|f| !f.event.is_snapshot()));
}

#[tokio::test]
async fn a_subscriber_that_falls_out_of_the_ring_is_reset_with_lagged() {
    let (frames, _) = read_after_a_flood(100).await;
    let reset = frames[1..]
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::Snapshot {
                reset,
                reason,
                transcript,
                ..
            } => Some((*reset, *reason, transcript.last().map(|m| m.state))),
            _ => None,
        })
        .expect("the slow subscriber was told it lagged");
    assert_eq!(
        reset,
        (
            true,
            Some(SnapshotReason::Lagged),
            Some(MessageState::Complete)
        )
    );
}

#[tokio::test]
async fn a_snapshot_mid_run_carries_the_partial_text() {
    let mock = MockOpenAi::start().await;
    mock.push(
        Reply::tokens((0..100).map(|i| format!("p{i} "))).token_delay(Duration::from_millis(30)),
    );
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    let run = rt.input(w, InputRequest::text("go")).await.unwrap();
    loop {
        if matches!(
            next(&mut sub).await.event.kind,
            EventKind::AssistantDelta { .. }
        ) {
            break;
        }
    }
    let mut late = rt.subscribe(w, None).await.unwrap();
    let snap = next(&mut late).await;
    rt.cancel(w).await.unwrap();
    let (in_flight, transcript, worker) = match &snap.event.kind {
        EventKind::Snapshot {
            in_flight,
            transcript,
            worker,
            ..
        } => (
            in_flight.clone().unwrap(),
            transcript.clone(),
            worker.clone(),
        ),
        other => panic!("expected snapshot, got {other:?}"),
    };
    assert_eq!(in_flight.run_id, run.run_id);
    assert_eq!(worker.summary.status, WorkerStatus::Running);
    let streaming = transcript.last().unwrap();
    assert_eq!(streaming.state, MessageState::Streaming);
    assert_eq!(streaming.text, in_flight.text);
    // The snapshot holds exactly the text of the deltas up to its seq.
    let frames = until_idle(&mut sub).await;
    let text_until_snapshot: String = frames
        .iter()
        .filter(|f| f.seq() <= snap.seq())
        .filter_map(|f| match &f.event.kind {
            EventKind::AssistantDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .fold("p0 ".to_owned(), |acc, t| acc + t);
    assert_eq!(in_flight.text, text_until_snapshot);
    // The late subscriber continues exactly after the snapshot's seq.
    let after = next(&mut late).await;
    assert_eq!(after.seq(), snap.seq().next());
}

#[tokio::test]
async fn a_retried_client_message_id_returns_the_first_answer() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("once"));
    let (rt, w) = start(&mock, |_| {}).await;
    let req = InputRequest {
        text: "only once".into(),
        client_message_id: Some(ClientMessageId::parse("retry-42").unwrap()),
        on_busy: None,
    };
    let first = rt.input(w, req.clone()).await.unwrap();
    let again = rt.input(w, req.clone()).await.unwrap();
    assert_eq!(first, again);
    rt.await_run(w, first.run_id).await.unwrap();
    let third = rt.input(w, req).await.unwrap();
    assert_eq!(first, third);
    let users = rt
        .transcript(w, TranscriptPage::newest(100))
        .await
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .count();
    assert_eq!(users, 1);
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_panicking_worker_is_restarted_with_its_history_and_fails_the_run() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("remember me"));
    mock.push(Reply::hang());
    mock.push(Reply::text("back again"));
    let (rt, w) = start(&mock, |_| {}).await;
    rt.input_wait(w, InputRequest::text("first")).await.unwrap();
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    let run = rt
        .input(w, InputRequest::text("will be lost"))
        .await
        .unwrap();
    rt.inject_worker_panic(w).await.unwrap();
    let frames = until_idle(&mut sub).await;
    let err = run_error(&frames);
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(frames.iter().filter(|f| f.event.is_terminal()).count(), 1);
    assert!(frames
        .iter()
        .any(|f| f.event.run_id() == Some(run.run_id) && f.event.is_terminal()));
    assert_gapless(&frames);
    // The restarted worker kept its transcript and takes input again.
    let transcript = rt.transcript(w, TranscriptPage::newest(100)).await.unwrap();
    assert_eq!(transcript.messages[0].text, "first");
    assert_eq!(transcript.messages[1].text, "remember me");
    let outcome = rt.input_wait(w, InputRequest::text("again")).await.unwrap();
    assert_eq!(outcome.message.text, "back again");
    let history = mock.wait_for_requests(3).await[2].messages();
    assert!(history.iter().any(|(_, c)| c == "remember me"));
}

#[tokio::test]
async fn the_transcript_is_bounded() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("ok"));
    let (rt, w) = start(&mock, |c| c.transcript_bound = 6).await;
    for i in 0..5 {
        rt.input_wait(w, InputRequest::text(format!("q{i}")))
            .await
            .unwrap();
    }
    let t = rt
        .transcript(w, TranscriptPage::newest(1000))
        .await
        .unwrap();
    assert_eq!(t.messages.len(), 6);
    assert!(t.truncated);
    assert_eq!(t.messages[0].text, "q2");
    let last_request = mock.wait_for_requests(5).await[4].messages();
    // The system prompt, then exactly the bound of history: the transcript as
    // it stood when q4 was accepted (a1 q2 a2 q3 a3 q4).
    assert_eq!(last_request.len(), 7, "{last_request:?}");
    assert_eq!(last_request[0].0, "system");
    let history: Vec<&str> = last_request[1..].iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(history, ["ok", "q2", "ok", "q3", "ok", "q4"]);
}

#[tokio::test]
async fn stopping_a_worker_cancels_its_run_and_ends_subscriptions() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let (rt, w) = start(&mock, |_| {}).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    next(&mut sub).await;
    rt.input(w, InputRequest::text("hang")).await.unwrap();
    rt.stop_worker(w).await.unwrap();
    let mut frames = Vec::new();
    while let Some(f) = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("ends in time")
    {
        frames.push(f);
    }
    let k = kinds(&frames);
    assert!(k.contains(&"run_cancelled"));
    assert_eq!(k.last(), Some(&"worker_stopped"));
    let err = rt.worker(w).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::WorkerNotFound);
    assert!(rt
        .list_workers(yoi_protocol::WorkerPage::all())
        .await
        .unwrap()
        .workers
        .is_empty());
    mock.wait_for_open_streams(0).await;
}

#[tokio::test]
async fn wait_mode_maps_failures_to_typed_errors() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::http_error(503, "try later"));
    let (rt, w) = start(&mock, |_| {}).await;
    let err = rt
        .input_wait(w, InputRequest::text("hi"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(err.code, ErrorCode::ProviderError);
    assert!(err.message.contains("try later"));
}

#[tokio::test]
async fn unknown_workers_and_profiles_are_typed_errors() {
    let mock = MockOpenAi::start().await;
    let (rt, _) = start(&mock, |_| {}).await;
    let err = rt.worker(WorkerId::new()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::WorkerNotFound);
    let err = rt
        .create_worker(CreateWorker {
            display_name: None,
            profile: Some("root-shell".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let err = rt
        .create_worker(CreateWorker {
            display_name: Some("bad@name".into()),
            profile: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[tokio::test]
async fn workers_survive_a_runtime_restart_with_their_seq() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("remembered"));
    let dir = std::env::temp_dir().join(format!("yoi-state-{}", WorkerId::new()));
    let (rt, w) = start(&mock, |c| c.state_dir = Some(dir.clone())).await;
    rt.input_wait(w, InputRequest::text("keep this"))
        .await
        .unwrap();
    let before = rt.transcript(w, TranscriptPage::newest(100)).await.unwrap();
    let gone = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    rt.stop_worker(gone).await.unwrap();
    rt.shutdown().await;

    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let rt = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let workers = rt
        .list_workers(yoi_protocol::WorkerPage::all())
        .await
        .unwrap()
        .workers;
    assert_eq!(workers.len(), 1, "the stopped worker is not restored");
    assert_eq!(workers[0].worker_id, w);
    let after = rt.transcript(w, TranscriptPage::newest(100)).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(rt.worker(w).await.unwrap().usage.runs, 1);

    // A client that kept its cursor gets nothing replayed and no reset...
    let mut sub = rt.subscribe(w, Some(after.seq)).await.unwrap();
    rt.input(w, InputRequest::text("and this")).await.unwrap();
    let next_frame = next(&mut sub).await;
    assert_eq!(next_frame.seq(), after.seq.next());
    assert!(matches!(
        next_frame.event.kind,
        EventKind::InputAccepted { .. }
    ));
    // ...and an older cursor gets a reset snapshot, never a gap.
    let mut old = rt.subscribe(w, Some(Seq(1))).await.unwrap();
    assert!(matches!(
        next(&mut old).await.event.kind,
        EventKind::Snapshot {
            reset: true,
            reason: Some(SnapshotReason::CursorExpired),
            ..
        }
    ));
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until the store's database holds a message with `text`.
async fn wait_for_saved_text(dir: &std::path::Path, text: &str) {
    let db = dir.join("yoi.db");
    let needle = serde_json::to_string(text).unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let found = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM messages WHERE instr(data, ?1) > 0",
                    [&needle],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
            if found > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the partial answer is written");
}

#[tokio::test]
async fn a_run_cut_short_by_a_crash_is_failed_when_restored_and_no_seq_is_reused() {
    let mock = MockOpenAi::start().await;
    // Streams a few tokens, then hangs: the run is in flight when we crash.
    mock.push(Reply::tokens(["kept ", "partial ", "text"]).then_hang());
    let dir = std::env::temp_dir().join(format!("yoi-state-{}", WorkerId::new()));
    let (rt, w) = start(&mock, |c| c.state_dir = Some(dir.clone())).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    let run = rt
        .input(w, InputRequest::text("never finished"))
        .await
        .unwrap();
    let mut streamed = String::new();
    let mut highest = Seq::ZERO;
    while streamed != "kept partial text" {
        let f = next(&mut sub).await;
        highest = highest.max(f.seq());
        if let EventKind::AssistantDelta { text, .. } = &f.event.kind {
            streamed.push_str(text);
        }
    }
    // The partial answer is written within the flush period: wait until the
    // database holds it, as a long answer would have.
    wait_for_saved_text(&dir, "kept partial text").await;
    rt.crash().await;

    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let restored = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let detail = restored.worker(w).await.unwrap();
    assert_eq!(detail.summary.status, WorkerStatus::Idle);
    let last_run = detail.last_run.unwrap();
    assert_eq!(
        (last_run.run_id, last_run.state),
        (run.run_id, yoi_protocol::RunState::Failed)
    );
    let t = restored
        .transcript(w, TranscriptPage::newest(10))
        .await
        .unwrap();
    let answer = t.messages.last().unwrap();
    assert_eq!(
        (answer.role, answer.state),
        (Role::Assistant, MessageState::Failed)
    );
    assert_eq!(
        answer.text, "kept partial text",
        "the streamed text is kept"
    );
    let error = answer.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(error.message.contains("restart"), "{}", error.message);
    // The restored worker goes on above every seq handed out before the
    // crash: its terminal events reuse none of them.
    assert!(t.seq > highest, "{:?} must be above {highest:?}", t.seq);
    let mut after = restored.subscribe(w, Some(Seq(t.seq.0 - 3))).await.unwrap();
    let frames = [
        next(&mut after).await,
        next(&mut after).await,
        next(&mut after).await,
    ];
    assert!(frames.iter().all(|f| f.seq() > highest));
    let kinds: Vec<_> = frames.iter().map(|f| f.event.is_terminal()).collect();
    assert_eq!(
        kinds,
        [false, true, false],
        "assistant_message, run_failed, status"
    );
    // A client holding a cursor from before the crash gets a reset, never a
    // seq it has seen with other content.
    let mut old = restored.subscribe(w, Some(highest)).await.unwrap();
    assert!(matches!(
        next(&mut old).await.event.kind,
        EventKind::Snapshot {
            reset: true,
            reason: Some(SnapshotReason::CursorExpired),
            ..
        }
    ));
    restored.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Walks a worker's history back page by page, oldest first.
async fn whole_history(rt: &Runtime, w: WorkerId, page: usize) -> Vec<String> {
    let mut before = None;
    let mut all = Vec::new();
    loop {
        let t = rt
            .transcript(
                w,
                TranscriptPage {
                    limit: page,
                    before,
                },
            )
            .await
            .unwrap();
        let mut texts: Vec<String> = t.messages.iter().map(|m| m.text.clone()).collect();
        texts.extend(all);
        all = texts;
        if !t.truncated {
            return all;
        }
        before = Some(t.messages.first().unwrap().id);
    }
}

#[tokio::test]
async fn history_past_the_memory_bound_pages_from_the_store_and_survives_a_restart() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = std::env::temp_dir().join(format!("yoi-state-{}", WorkerId::new()));
    let (rt, w) = start(&mock, |c| {
        c.state_dir = Some(dir.clone());
        c.transcript_bound = 4;
    })
    .await;
    for i in 0..6 {
        rt.input_wait(w, InputRequest::text(format!("q{i}")))
            .await
            .unwrap();
    }
    let expected: Vec<String> = (0..6)
        .flat_map(|i| [format!("q{i}"), format!("You said: q{i}")])
        .collect();
    // Only four messages are in memory; the rest comes from the store.
    let newest = rt.transcript(w, TranscriptPage::newest(100)).await.unwrap();
    assert_eq!(
        newest.messages.len(),
        12,
        "the newest page reaches into the store"
    );
    assert!(!newest.truncated);
    assert_eq!(whole_history(&rt, w, 3).await, expected);
    assert_eq!(whole_history(&rt, w, 5).await, expected);
    // A message id that is not this worker's is a typed error.
    let err = rt
        .transcript(
            w,
            TranscriptPage {
                limit: 3,
                before: Some(yoi_protocol::MessageId::new()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    rt.shutdown().await;

    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    c.transcript_bound = 4;
    let rt = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    assert_eq!(whole_history(&rt, w, 4).await, expected);
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_second_runtime_on_the_same_state_directory_is_refused() {
    let mock = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!("yoi-state-{}", WorkerId::new()));
    let (rt, _) = start(&mock, |c| c.state_dir = Some(dir.clone())).await;
    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let Err(err) = Runtime::start(c, yoi_providers::Providers::shared()).await else {
        panic!("a second runtime must not open the same state");
    };
    assert!(err.to_string().contains("yoi.lock"), "{err}");
    rt.shutdown().await;
    // Once the first let go, the state opens again.
    let mut c = config(&mock);
    c.state_dir = Some(dir.clone());
    let again = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .unwrap();
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
