//! Tests of `update`: every protocol event, dedupe, cursor, reset snapshots,
//! sending, cancelling, errors and keys.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use yoi_protocol::{
    ApiError, CancelAccepted, ErrorCode, EventKind, InFlight, InputAccepted, LastRun, MessageId,
    MessageState, ProviderInfo, Role, RunId, RunState, RunUsage, Seq, SnapshotReason, WorkerRef,
    WorkerStatus, WorkerSummary, WorkspaceEvent,
};

use super::*;
use crate::keys::Focus;
use crate::notice::Level;
use crate::picker::worker_ref;
use crate::render::transcript_extent;
use crate::testing::{detail, event, message, runtime, snapshot, worker};
use crate::transcript::{Body, History};

struct Console {
    app: App,
    worker: WorkerSummary,
    target: WorkerRef,
}

impl Console {
    /// A console attached to the Companion, after its first (empty) snapshot.
    fn live() -> Console {
        let mut c = Console::resolving();
        let w = c.worker.clone();
        c.feed(FeedEvent::Resolved {
            worker: w.clone(),
            provider: Some(ProviderInfo {
                configured: true,
                model: "gpt-test".into(),
                hint: None,
            }),
        });
        c.feed(FeedEvent::Connected { cursor: None });
        c.frame(0, snapshot(&w, Vec::new(), None, None));
        c
    }

    /// A console that has not reached the server yet.
    fn resolving() -> Console {
        let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
        app.start();
        let worker = worker("backend-internal", "companion");
        let target = worker_ref(&worker);
        Console {
            app,
            worker,
            target,
        }
    }

    fn feed(&mut self, event: FeedEvent) -> Vec<Command> {
        let generation = self.app.generation;
        update(&mut self.app, AppEvent::Feed { generation, event })
    }

    fn frame(&mut self, seq: u64, kind: EventKind) -> Vec<Command> {
        let e = event(&self.target, seq, kind);
        self.feed(FeedEvent::Frame(Box::new(e)))
    }

    fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) -> Vec<Command> {
        update(&mut self.app, AppEvent::Key(KeyEvent::new(code, modifiers)))
    }

    fn press(&mut self, code: KeyCode) -> Vec<Command> {
        self.key(code, KeyModifiers::NONE)
    }

    fn ctrl(&mut self, c: char) -> Vec<Command> {
        self.key(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    fn answered(&mut self, result: Result<InputAccepted, ClientError>) {
        let generation = self.app.generation;
        update(
            &mut self.app,
            AppEvent::InputAnswered { generation, result },
        );
    }

    fn notice(&self) -> &str {
        self.app.notice.as_ref().map_or("", |n| n.text.as_str())
    }

    fn answer(&self, run: RunId) -> (String, MessageState) {
        self.app
            .transcript
            .entries()
            .iter()
            .find_map(|e| match &e.body {
                Body::Assistant { text, state, .. } if e.run_id == run => {
                    Some((text.clone(), *state))
                }
                _ => None,
            })
            .expect("an answer for the run")
    }
}

fn accepted() -> InputAccepted {
    InputAccepted::started(RunId::new(), MessageId::new(), Seq(1))
}

fn api(code: ErrorCode, message: &str) -> ClientError {
    ClientError::Api(ApiError::new(code, message))
}

// --- connection, target, snapshot -------------------------------------------

#[test]
fn without_a_target_the_console_subscribes_to_the_companion() {
    let mut app = App::new("http://x", None, "T", transcript_extent);
    assert_eq!(
        app.start(),
        vec![Command::Subscribe {
            generation: 1,
            target: Target::Companion
        }]
    );
    assert_eq!(app.conn, ConnState::Connecting { attempt: 1 });
    assert_eq!(app.cursor(), None, "the first connect has no cursor");
}

#[test]
fn an_explicit_target_is_subscribed_as_runtime_and_worker_id() {
    let w = worker("gpu-box", "coder");
    let mut app = App::new("http://x", Some(worker_ref(&w)), "T", transcript_extent);
    assert_eq!(
        app.start(),
        vec![Command::Subscribe {
            generation: 1,
            target: Target::Worker(worker_ref(&w))
        }]
    );
    assert_eq!(app.resolved(), Some(worker_ref(&w)));
}

#[test]
fn the_first_snapshot_fills_the_transcript_and_sets_the_cursor() {
    let mut c = Console::resolving();
    let w = c.worker.clone();
    c.feed(FeedEvent::Resolved {
        worker: w.clone(),
        provider: None,
    });
    c.feed(FeedEvent::Connected { cursor: None });
    assert_eq!(c.app.conn, ConnState::Live(LiveKind::Fresh));
    let run = RunId::new();
    let history = vec![
        message(Role::User, run, "hi", MessageState::Complete),
        message(Role::Assistant, run, "You said: hi", MessageState::Complete),
    ];
    c.frame(5, snapshot(&w, history, None, None));
    assert_eq!(c.app.transcript.entries().len(), 2);
    assert_eq!(c.app.cursor(), Some(Seq(5)));
    assert_eq!(c.app.conn, ConnState::Live(LiveKind::Fresh));
    assert_eq!(
        c.answer(run),
        ("You said: hi".into(), MessageState::Complete)
    );
}

#[test]
fn a_snapshot_with_a_run_in_flight_restores_the_streaming_answer() {
    let mut c = Console::live();
    let w = c.worker.clone();
    let run = RunId::new();
    let mut d = detail(&w);
    d.summary.status = WorkerStatus::Running;
    d.last_run = Some(LastRun {
        run_id: run,
        state: RunState::Running,
        error: None,
        usage: None,
        duration_ms: None,
    });
    c.frame(
        3,
        EventKind::Snapshot {
            worker: Box::new(d),
            transcript: vec![message(Role::User, run, "tell me", MessageState::Complete)],
            in_flight: Some(InFlight {
                run_id: run,
                text: "Once upon".into(),
                reasoning: None,
            }),
            reset: false,
            reason: None,
        },
    );
    assert_eq!(c.app.active_run, Some(run));
    assert_eq!(c.answer(run), ("Once upon".into(), MessageState::Streaming));
    c.frame(
        4,
        EventKind::AssistantDelta {
            run_id: run,
            text: " a time".into(),
        },
    );
    assert_eq!(c.answer(run).0, "Once upon a time");
}

// --- one whole run, event by event ---------------------------------------------

#[test]
#[allow(clippy::too_many_lines, reason = "one run told event by event")]
fn a_run_streams_reasoning_and_text_then_completes_with_its_usage() {
    let mut c = Console::live();
    let run = RunId::new();
    let user = message(Role::User, run, "hello", MessageState::Complete);
    c.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: user,
        },
    );
    assert_eq!(c.app.active_run, Some(run));
    c.frame(
        2,
        EventKind::Status {
            status: WorkerStatus::Running,
        },
    );
    assert_eq!(
        c.app.worker.as_ref().map(|w| w.status),
        Some(WorkerStatus::Running)
    );
    c.frame(
        3,
        EventKind::RunStarted {
            run_id: run,
            model: "gpt-live".into(),
        },
    );
    assert_eq!(
        c.app.worker.as_ref().map(|w| w.profile.model.as_str()),
        Some("gpt-live")
    );
    c.frame(
        4,
        EventKind::ReasoningDelta {
            run_id: run,
            text: "they greet".into(),
        },
    );
    c.frame(
        5,
        EventKind::AssistantDelta {
            run_id: run,
            text: "You said: ".into(),
        },
    );
    c.frame(
        6,
        EventKind::AssistantDelta {
            run_id: run,
            text: "hello".into(),
        },
    );
    assert_eq!(
        c.answer(run),
        ("You said: hello".into(), MessageState::Streaming)
    );

    let final_message = message(
        Role::Assistant,
        run,
        "You said: hello",
        MessageState::Complete,
    );
    let final_id = final_message.id;
    c.frame(
        7,
        EventKind::AssistantMessage {
            run_id: run,
            message: final_message,
        },
    );
    let entries = c.app.transcript.entries();
    assert_eq!(
        entries.len(),
        2,
        "the final message replaces the streamed one"
    );
    assert_eq!(entries[1].id, Some(final_id));
    assert!(
        matches!(&entries[1].body, Body::Assistant { reasoning, .. } if reasoning == "they greet")
    );

    c.frame(
        8,
        EventKind::RunCompleted {
            run_id: run,
            usage: RunUsage {
                prompt_tokens: 12,
                completion_tokens: 34,
            },
            duration_ms: 1500,
        },
    );
    assert_eq!(c.app.active_run, None);
    assert_eq!(
        c.app.last_run,
        Some(RunStats {
            usage: RunUsage {
                prompt_tokens: 12,
                completion_tokens: 34
            },
            duration_ms: 1500
        })
    );
    c.frame(
        9,
        EventKind::Status {
            status: WorkerStatus::Idle,
        },
    );
    assert_eq!(
        c.app.worker.as_ref().map(|w| w.status),
        Some(WorkerStatus::Idle)
    );
    assert_eq!(c.app.cursor(), Some(Seq(9)));
}

#[test]
fn a_cancelled_run_keeps_its_partial_answer_marked_cancelled() {
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::AssistantDelta {
            run_id: run,
            text: "partial".into(),
        },
    );
    c.frame(2, EventKind::RunCancelled { run_id: run });
    assert_eq!(c.answer(run), ("partial".into(), MessageState::Cancelled));
    assert!(c.notice().contains("cancelled"));
    assert_eq!(c.app.active_run, None);
}

#[test]
fn a_failed_run_keeps_its_partial_answer_with_a_readable_reason() {
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::AssistantDelta {
            run_id: run,
            text: "half".into(),
        },
    );
    c.frame(
        2,
        EventKind::RunFailed {
            run_id: run,
            error: ApiError::new(ErrorCode::Timeout, "no first token within 60 s"),
        },
    );
    assert_eq!(c.answer(run), ("half".into(), MessageState::Failed));
    let entry = c.app.transcript.entries().last().cloned();
    assert!(matches!(
        entry.map(|e| e.body),
        Some(Body::Assistant { error: Some(e), .. }) if e.code == ErrorCode::Timeout
    ));
    assert_eq!(c.app.notice.as_ref().map(|n| n.level), Some(Level::Error));
}

// --- how each run ended: the assistant message every run ends with ------------

/// The answer rows of the transcript, with their run, text, state and error.
fn answers(c: &Console) -> Vec<(RunId, String, MessageState, Option<ApiError>)> {
    c.app
        .transcript
        .entries()
        .iter()
        .filter_map(|e| match &e.body {
            Body::Assistant {
                text, state, error, ..
            } => Some((e.run_id, text.clone(), *state, error.clone())),
            _ => None,
        })
        .collect()
}

fn failed_message(run: RunId, text: &str, error: &ApiError) -> yoi_protocol::Message {
    let mut m = message(Role::Assistant, run, text, MessageState::Failed);
    m.error = Some(error.clone());
    m
}

#[test]
fn a_snapshot_keeps_how_every_run_ended_with_each_failed_runs_own_error() {
    let mut c = Console::live();
    let w = c.worker.clone();
    let (r1, r2, r3, r4) = (RunId::new(), RunId::new(), RunId::new(), RunId::new());
    let slow = ApiError::new(ErrorCode::Timeout, "no first token within 60 s");
    let upstream = ApiError::new(ErrorCode::ProviderError, "upstream 500");
    let mut reasoned = message(Role::Assistant, r4, "fine", MessageState::Complete);
    reasoned.reasoning = Some("mulling".into());
    c.frame(
        7,
        snapshot(
            &w,
            vec![
                message(Role::User, r1, "one", MessageState::Complete),
                failed_message(r1, "", &slow),
                message(Role::User, r2, "two", MessageState::Complete),
                message(Role::Assistant, r2, "", MessageState::Cancelled),
                message(Role::User, r3, "three", MessageState::Complete),
                failed_message(r3, "half an", &upstream),
                message(Role::User, r4, "four", MessageState::Complete),
                reasoned,
            ],
            None,
            None,
        ),
    );
    assert_eq!(
        answers(&c),
        vec![
            (r1, String::new(), MessageState::Failed, Some(slow)),
            (r2, String::new(), MessageState::Cancelled, None),
            (r3, "half an".into(), MessageState::Failed, Some(upstream)),
            (r4, "fine".into(), MessageState::Complete, None),
        ]
    );
    assert!(
        matches!(&c.app.transcript.entries()[7].body, Body::Assistant { reasoning, .. } if reasoning == "mulling"),
        "a message's own reasoning survives a reload too"
    );
    assert_eq!(c.app.active_run, None);
}

#[test]
fn a_live_failure_gives_its_answer_one_error_whatever_the_order() {
    let upstream = ApiError::new(ErrorCode::ProviderError, "upstream 500");
    // As the server sends it: the message with its error, then run_failed.
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: message(Role::User, run, "fail please", MessageState::Complete),
        },
    );
    c.frame(
        2,
        EventKind::RunStarted {
            run_id: run,
            model: "gpt-test".into(),
        },
    );
    c.frame(
        3,
        EventKind::AssistantMessage {
            run_id: run,
            message: failed_message(run, "", &upstream),
        },
    );
    c.frame(
        4,
        EventKind::RunFailed {
            run_id: run,
            error: upstream.clone(),
        },
    );
    assert_eq!(
        answers(&c),
        vec![(
            run,
            String::new(),
            MessageState::Failed,
            Some(upstream.clone())
        )]
    );
    assert_eq!(c.app.active_run, None);
    // The notice line points at the answer instead of repeating the reason.
    assert_eq!(c.app.notice.as_ref().map(|n| n.level), Some(Level::Error));
    assert!(!c.notice().contains("upstream 500"), "{}", c.notice());

    // The other way round, and a message without its error: still one row, one error.
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::AssistantDelta {
            run_id: run,
            text: "half".into(),
        },
    );
    c.frame(
        2,
        EventKind::RunFailed {
            run_id: run,
            error: upstream.clone(),
        },
    );
    c.frame(
        3,
        EventKind::AssistantMessage {
            run_id: run,
            message: message(Role::Assistant, run, "half", MessageState::Failed),
        },
    );
    assert_eq!(
        answers(&c),
        vec![(run, "half".into(), MessageState::Failed, Some(upstream))]
    );
}

#[test]
fn a_run_cancelled_before_any_text_ends_with_its_empty_answer_and_says_so() {
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::RunStarted {
            run_id: run,
            model: "gpt-test".into(),
        },
    );
    c.frame(
        2,
        EventKind::AssistantMessage {
            run_id: run,
            message: message(Role::Assistant, run, "", MessageState::Cancelled),
        },
    );
    c.frame(3, EventKind::RunCancelled { run_id: run });
    assert_eq!(
        answers(&c),
        vec![(run, String::new(), MessageState::Cancelled, None)]
    );
    assert_eq!(
        c.notice(),
        "Answer cancelled before any text · Ctrl-T retries"
    );
}

#[test]
fn worker_stopped_marks_the_worker_and_says_what_to_do() {
    let mut c = Console::live();
    c.frame(1, EventKind::WorkerStopped);
    assert_eq!(
        c.app.worker.as_ref().map(|w| w.status),
        Some(WorkerStatus::Stopped)
    );
    assert!(c.notice().contains("Ctrl-P"));
}

#[test]
fn tool_calls_are_shown_and_finished() {
    let mut c = Console::live();
    let run = RunId::new();
    c.frame(
        1,
        EventKind::ToolCallStarted {
            run_id: run,
            call_id: "c1".into(),
            name: "search".into(),
            arguments: serde_json::json!({"q": "yoi"}),
        },
    );
    c.frame(
        2,
        EventKind::ToolCallFinished {
            run_id: run,
            call_id: "c1".into(),
            ok: true,
            summary: "3 hits".into(),
            state: yoi_protocol::ToolCallState::Ok,
            output: None,
        },
    );
    let entries = c.app.transcript.entries();
    assert_eq!(entries.len(), 1);
    let Body::Assistant { calls, .. } = &entries[0].body else {
        panic!("{:?}", entries[0].body)
    };
    assert_eq!(calls[0].name, "search");
    assert_eq!(calls[0].state, yoi_protocol::ToolCallState::Ok);
    assert_eq!(calls[0].summary.as_deref(), Some("3 hits"));
}

// --- dedupe, cursor, reconnect, reset -----------------------------------------

#[test]
fn frames_at_or_below_the_applied_seq_are_dropped() {
    let mut c = Console::live();
    let run = RunId::new();
    let delta = |t: &str| EventKind::AssistantDelta {
        run_id: run,
        text: t.into(),
    };
    c.frame(1, delta("a"));
    c.frame(2, delta("b"));
    c.frame(2, delta("b"));
    c.frame(1, delta("a"));
    c.frame(3, delta("c"));
    assert_eq!(c.answer(run).0, "abc");
    assert_eq!(c.app.duplicates_dropped, 2);
    assert_eq!(c.app.cursor(), Some(Seq(3)));
}

#[test]
fn a_reconnect_shows_its_states_and_resumes_from_the_cursor() {
    let mut c = Console::live();
    c.frame(
        1,
        EventKind::Status {
            status: WorkerStatus::Idle,
        },
    );
    c.feed(FeedEvent::Retrying {
        attempt: 1,
        delay: Duration::from_millis(250),
        error: ClientError::Unreachable("connection refused".into()),
    });
    assert!(matches!(
        &c.app.conn,
        ConnState::Reconnecting { reason, .. } if reason == "server unreachable"
    ));
    c.feed(FeedEvent::Connecting { attempt: 2 });
    assert_eq!(c.app.conn, ConnState::Connecting { attempt: 2 });
    assert_eq!(c.app.cursor(), Some(Seq(1)), "the cursor survives the drop");
    c.feed(FeedEvent::Connected {
        cursor: Some(Seq(1)),
    });
    assert_eq!(
        c.app.conn,
        ConnState::Live(LiveKind::Resumed { from: Seq(1) })
    );
}

#[test]
fn a_reset_snapshot_replaces_the_transcript_and_moves_the_cursor_back() {
    let mut c = Console::live();
    let old = RunId::new();
    for seq in 1..=20 {
        c.frame(
            seq,
            EventKind::AssistantDelta {
                run_id: old,
                text: "x".into(),
            },
        );
    }
    c.feed(FeedEvent::Connected {
        cursor: Some(Seq(20)),
    });
    let w = c.worker.clone();
    let run = RunId::new();
    let kept = vec![message(
        Role::User,
        run,
        "after restart",
        MessageState::Complete,
    )];
    c.frame(
        3,
        snapshot(&w, kept, None, Some(SnapshotReason::CursorAhead)),
    );
    assert_eq!(c.app.transcript.entries().len(), 1);
    assert_eq!(
        c.app.cursor(),
        Some(Seq(3)),
        "a reset may move the cursor back"
    );
    assert_eq!(
        c.app.conn,
        ConnState::Live(LiveKind::Reset {
            reason: Some(SnapshotReason::CursorAhead)
        })
    );
    c.frame(
        4,
        EventKind::AssistantDelta {
            run_id: run,
            text: "new".into(),
        },
    );
    assert_eq!(c.answer(run).0, "new", "seq 4 applies after the reset to 3");
}

#[test]
fn frames_of_unknown_kinds_advance_the_cursor_only() {
    let mut c = Console::live();
    c.feed(FeedEvent::UnknownFrame { seq: Some(Seq(7)) });
    assert_eq!(c.app.cursor(), Some(Seq(7)));
    c.feed(FeedEvent::UnknownFrame { seq: Some(Seq(2)) });
    assert_eq!(c.app.cursor(), Some(Seq(7)));
    assert!(c.app.transcript.is_empty());
}

#[test]
fn frames_of_another_worker_or_an_old_generation_are_ignored() {
    let mut c = Console::live();
    let stranger = worker("backend-internal", "other");
    let e = event(
        &worker_ref(&stranger),
        1,
        EventKind::AssistantDelta {
            run_id: RunId::new(),
            text: "not mine".into(),
        },
    );
    c.feed(FeedEvent::Frame(Box::new(e)));
    let late = event(
        &c.target,
        1,
        EventKind::AssistantDelta {
            run_id: RunId::new(),
            text: "late".into(),
        },
    );
    update(
        &mut c.app,
        AppEvent::Feed {
            generation: 0,
            event: FeedEvent::Frame(Box::new(late)),
        },
    );
    assert!(c.app.transcript.is_empty());
    assert_eq!(c.app.cursor(), Some(Seq(0)));
}

#[test]
fn a_companion_that_became_another_worker_starts_afresh() {
    let mut c = Console::live();
    c.frame(
        1,
        EventKind::AssistantDelta {
            run_id: RunId::new(),
            text: "old".into(),
        },
    );
    let new_companion = worker("backend-internal", "companion");
    c.feed(FeedEvent::Resolved {
        worker: new_companion.clone(),
        provider: None,
    });
    assert!(c.app.transcript.is_empty());
    assert_eq!(c.app.cursor(), None);
    assert_eq!(c.app.resolved(), Some(worker_ref(&new_companion)));
    assert!(c.notice().contains("fresh conversation"), "{}", c.notice());
}

#[test]
fn giving_up_shows_the_reason_and_a_readable_line() {
    let mut c = Console::live();
    c.feed(FeedEvent::GaveUp {
        error: api(ErrorCode::WorkerNotFound, "no such worker"),
    });
    assert!(matches!(&c.app.conn, ConnState::Gone { reason } if reason == "worker not found"));
    assert!(c.notice().contains("no longer exists"));
}

#[test]
fn an_unconfigured_provider_is_announced() {
    let mut c = Console::resolving();
    let w = c.worker.clone();
    c.feed(FeedEvent::Resolved {
        worker: w,
        provider: Some(ProviderInfo {
            configured: false,
            model: "gpt-test".into(),
            hint: None,
        }),
    });
    assert!(c.notice().contains("no model provider"));
}

// --- sending ---------------------------------------------------------------------

#[test]
fn enter_sends_with_a_client_message_id_and_acceptance_clears_the_draft() {
    let mut c = Console::live();
    c.type_text("hello");
    let commands = c.press(KeyCode::Enter);
    let Some(Command::SendInput {
        generation,
        target,
        text,
        client_message_id,
    }) = commands.into_iter().next()
    else {
        panic!("Enter must send");
    };
    assert_eq!(generation, 1);
    assert_eq!(target, c.target);
    assert_eq!(text, "hello");
    assert_eq!(
        client_message_id.as_ref().map(ClientMessageId::as_str),
        Some("tui-T-1")
    );
    assert!(c.app.sending);
    c.type_text("xyz");
    assert_eq!(
        c.app.composer.text(),
        "hello",
        "the draft is locked while sending"
    );
    assert!(
        c.press(KeyCode::Enter).is_empty(),
        "no second send while one is on its way"
    );

    c.answered(Ok(accepted()));
    assert!(!c.app.sending);
    assert!(c.app.composer.is_empty());
    assert_eq!(c.app.composer.history(), ["hello"]);
    c.press(KeyCode::Up);
    assert_eq!(
        c.app.composer.text(),
        "hello",
        "Up recalls the sent message"
    );
}

#[test]
fn a_failed_send_keeps_the_draft_and_reuses_its_id_only_when_the_outcome_is_unknown() {
    let mut c = Console::live();
    c.type_text("hello");
    let id_of = |cmds: Vec<Command>| match cmds.into_iter().next() {
        Some(Command::SendInput {
            client_message_id, ..
        }) => client_message_id,
        other => panic!("expected a send, got {other:?}"),
    };
    let first = id_of(c.press(KeyCode::Enter));
    c.answered(Err(ClientError::Unreachable("connection refused".into())));
    assert_eq!(c.app.composer.text(), "hello");
    assert!(c.notice().contains("Cannot reach the server"));

    let retry = id_of(c.press(KeyCode::Enter));
    assert_eq!(retry, first, "a retry of an unknown outcome is idempotent");
    c.answered(Err(api(ErrorCode::Busy, "already running a turn")));
    assert_eq!(c.app.composer.text(), "hello");
    assert_eq!(
        c.notice(),
        "Companion is still answering — press Esc to stop it"
    );

    let after_refusal = id_of(c.press(KeyCode::Enter));
    assert_ne!(
        after_refusal, first,
        "a refused send was not accepted: new id"
    );
    c.answered(Err(ClientError::Unreachable("timed out".into())));
    c.type_text("!");
    let edited = id_of(c.press(KeyCode::Enter));
    assert_ne!(edited, after_refusal, "an edited draft is another message");
}

#[test]
fn every_typed_error_of_a_send_becomes_a_readable_line() {
    let cases = [
        (ErrorCode::Busy, "still answering"),
        (ErrorCode::WorkerNotFound, "no longer exists"),
        (ErrorCode::RuntimeNotFound, "not registered"),
        (ErrorCode::RuntimeUnavailable, "cannot be reached"),
        (ErrorCode::ProviderError, "provider answered with an error"),
        (ErrorCode::Timeout, "did not answer in time"),
        (
            ErrorCode::ProviderUnconfigured,
            "set OPENAI_API_KEY to use the default provider",
        ),
        (ErrorCode::InvalidInput, "refused the message"),
        (ErrorCode::Unauthorized, "YOI_TOKEN"),
        (ErrorCode::Internal, "internal error"),
    ];
    for (code, expected) in cases {
        let mut c = Console::live();
        c.type_text("hi");
        c.press(KeyCode::Enter);
        c.answered(Err(api(
            code,
            "set OPENAI_API_KEY to use the default provider",
        )));
        assert!(c.notice().contains(expected), "{code}: {}", c.notice());
        assert_eq!(c.app.composer.text(), "hi", "{code}: the draft is kept");
        assert!(!c.app.sending);
    }
}

#[test]
fn before_the_target_is_known_a_send_waits_and_keeps_the_draft() {
    let mut c = Console::resolving();
    c.type_text("early");
    assert!(c.press(KeyCode::Enter).is_empty());
    assert_eq!(c.app.composer.text(), "early");
    assert!(c.notice().contains("Not connected"));
}

#[test]
fn blank_and_oversized_messages_are_not_sent() {
    let mut c = Console::live();
    c.type_text("   ");
    assert!(c.press(KeyCode::Enter).is_empty());
    c.app
        .composer
        .set_text(&"x".repeat(yoi_protocol::MAX_INPUT_TEXT_CHARS + 1));
    assert!(c.press(KeyCode::Enter).is_empty());
    assert!(c.notice().contains("limit"));
}

#[test]
fn alt_enter_and_paste_make_multi_line_drafts() {
    let mut c = Console::live();
    c.type_text("line one");
    c.key(KeyCode::Enter, KeyModifiers::ALT);
    c.type_text("two");
    update(&mut c.app, AppEvent::Paste("\r\nthree".into()));
    assert_eq!(c.app.composer.text(), "line one\ntwo\nthree");
}

#[test]
fn a_late_answer_of_an_old_generation_is_ignored() {
    let mut c = Console::live();
    c.type_text("hi");
    c.press(KeyCode::Enter);
    update(
        &mut c.app,
        AppEvent::InputAnswered {
            generation: 0,
            result: Ok(accepted()),
        },
    );
    assert!(c.app.sending);
}

// --- cancel, quit, overlays ------------------------------------------------------

#[test]
fn escape_cancels_only_a_run_in_flight() {
    let mut c = Console::live();
    assert!(c.press(KeyCode::Esc).is_empty(), "nothing to cancel");
    let run = RunId::new();
    c.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: message(Role::User, run, "[[slow]] go", MessageState::Complete),
        },
    );
    assert_eq!(
        c.press(KeyCode::Esc),
        vec![Command::Cancel {
            generation: 1,
            target: c.target.clone()
        }]
    );
    assert!(c.notice().contains("Stopping"));
    update(
        &mut c.app,
        AppEvent::CancelAnswered {
            generation: 1,
            result: Ok(CancelAccepted { run_id: run }),
        },
    );
    c.frame(2, EventKind::RunCancelled { run_id: run });
    assert!(c.notice().contains("cancelled"));

    update(
        &mut c.app,
        AppEvent::CancelAnswered {
            generation: 1,
            result: Err(api(ErrorCode::NotRunning, "no run")),
        },
    );
    assert!(c.notice().contains("Nothing to cancel"));
}

#[test]
fn ctrl_c_twice_quits_and_any_other_key_disarms_it() {
    let mut c = Console::live();
    assert!(c.ctrl('c').is_empty());
    assert!(c.notice().contains("again"));
    c.press(KeyCode::Char('a'));
    assert!(c.ctrl('c').is_empty(), "disarmed by the key between");
    assert_eq!(c.ctrl('c'), vec![Command::Quit]);
    assert!(c.app.quitting);
}

#[test]
fn ctrl_q_quits_at_once() {
    let mut c = Console::live();
    assert_eq!(c.ctrl('q'), vec![Command::Quit]);
}

#[test]
fn help_opens_with_f1_or_question_mark_and_closes_with_escape() {
    let mut c = Console::live();
    c.press(KeyCode::F(1));
    assert_eq!(c.app.focus, Focus::Help);
    assert!(
        c.press(KeyCode::Esc).is_empty(),
        "Esc closes, cancels nothing"
    );
    assert_eq!(c.app.focus, Focus::Composer);
    c.press(KeyCode::Char('?'));
    assert_eq!(c.app.focus, Focus::Help);
    c.press(KeyCode::Char('?'));
    assert_eq!(c.app.focus, Focus::Composer);
    c.type_text("why?");
    assert_eq!(c.app.composer.text(), "why?");
}

#[test]
fn ctrl_r_folds_and_unfolds_reasoning() {
    let mut c = Console::live();
    assert!(!c.app.show_reasoning);
    c.ctrl('r');
    assert!(c.app.show_reasoning);
}

#[test]
fn the_picker_switches_to_another_worker_and_starts_a_new_stream() {
    let mut c = Console::live();
    c.frame(
        1,
        EventKind::AssistantDelta {
            run_id: RunId::new(),
            text: "old".into(),
        },
    );
    let coder = worker("gpu-box", "coder");
    update(
        &mut c.app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("backend-internal"), runtime("gpu-box")],
            workers: vec![c.worker.clone(), coder.clone()],
        }),
    );
    c.ctrl('p');
    assert_eq!(c.app.focus, Focus::Picker);
    assert_eq!(
        c.app.picker.selected(),
        Some(&c.target),
        "opens on the current worker"
    );
    assert!(
        c.press(KeyCode::Enter).is_empty(),
        "choosing the current one changes nothing"
    );
    c.ctrl('p');
    c.press(KeyCode::Down);
    let commands = c.press(KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::Subscribe {
            generation: 2,
            target: Target::Worker(worker_ref(&coder))
        }]
    );
    assert_eq!(c.app.focus, Focus::Composer);
    assert!(c.app.transcript.is_empty());
    assert_eq!(c.app.cursor(), None);
    assert_eq!(c.app.conn, ConnState::Connecting { attempt: 1 });

    // The old stream's late frames no longer count.
    let generation = 1;
    let late = event(&c.target, 2, EventKind::WorkerStopped);
    update(
        &mut c.app,
        AppEvent::Feed {
            generation,
            event: FeedEvent::Frame(Box::new(late)),
        },
    );
    assert_eq!(c.app.cursor(), None);
}

#[test]
fn the_picker_refuses_a_worker_on_an_unavailable_runtime() {
    let mut c = Console::live();
    let coder = worker("gpu-box", "coder");
    let mut down = runtime("gpu-box");
    down.status = yoi_protocol::RuntimeStatus::Unavailable;
    update(
        &mut c.app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![down],
            workers: vec![coder],
        }),
    );
    c.ctrl('p');
    assert!(c.press(KeyCode::Enter).is_empty());
    assert!(c.notice().contains("unavailable"));
}

// --- scrolling -------------------------------------------------------------------

#[test]
fn page_keys_home_end_and_the_wheel_scroll_the_transcript() {
    let mut c = Console::live();
    update(
        &mut c.app,
        AppEvent::Resize {
            width: 40,
            height: 12,
        },
    );
    for seq in 1..=30 {
        let run = RunId::new();
        c.frame(
            seq,
            EventKind::InputAccepted {
                run_id: run,
                message: message(
                    Role::User,
                    run,
                    &format!("message {seq}"),
                    MessageState::Complete,
                ),
            },
        );
    }
    let (total, height) = c.app.transcript_extent();
    assert!(total > height);
    let max_top = total - height;

    c.press(KeyCode::PageUp);
    assert_eq!(c.app.scroll, Scroll::At(max_top - (height - 1)));
    c.press(KeyCode::PageDown);
    assert_eq!(c.app.scroll, Scroll::Follow);
    c.press(KeyCode::Home);
    assert_eq!(c.app.scroll, Scroll::At(0));
    update(&mut c.app, AppEvent::Wheel(1));
    assert_eq!(c.app.scroll, Scroll::At(3));
    update(&mut c.app, AppEvent::Wheel(-2));
    assert_eq!(c.app.scroll, Scroll::At(0));
    c.press(KeyCode::End);
    assert_eq!(c.app.scroll, Scroll::Follow);
}

#[test]
fn a_short_transcript_does_not_scroll() {
    let mut c = Console::live();
    c.press(KeyCode::PageUp);
    c.press(KeyCode::Home);
    assert_eq!(c.app.scroll, Scroll::Follow);
}

fn with_workspace(c: &mut Console) -> WorkerSummary {
    // It said something: the picker lists it after the silent Companion.
    let mut coder = worker("backend-internal", "coder");
    coder.last_activity = Some(yoi_protocol::Timestamp::now());
    let mut own = runtime("backend-internal");
    own.profiles = Some(vec![
        yoi_protocol::ProfileSummary {
            tools: Vec::new(),
            name: "companion".into(),
            description: None,
            model: "gpt-test".into(),
            configured: true,
            hint: None,
        },
        yoi_protocol::ProfileSummary {
            tools: Vec::new(),
            name: "terse".into(),
            description: Some("Short".into()),
            model: "small".into(),
            configured: true,
            hint: None,
        },
    ]);
    update(
        &mut c.app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![own],
            workers: vec![c.worker.clone(), coder.clone()],
        }),
    );
    coder
}

#[test]
fn the_picker_starts_a_new_worker_of_a_profile_and_switches_to_it() {
    let mut c = Console::live();
    with_workspace(&mut c);
    c.ctrl('p');
    c.press(KeyCode::Char('n'));
    assert_eq!(c.app.focus, Focus::Form);
    c.press(KeyCode::Enter); // the backend's runtime
    c.press(KeyCode::Down); // terse
    c.press(KeyCode::Enter);
    c.type_text("Trip");
    let commands = c.press(KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::CreateWorker {
            runtime_id: yoi_protocol::RuntimeId::backend_internal(),
            request: CreateWorker {
                display_name: Some("Trip".into()),
                profile: Some("terse".into()),
            },
        }]
    );
    assert_eq!(c.app.focus, Focus::Picker);
    let made = worker("backend-internal", "Trip");
    let commands = update(
        &mut c.app,
        AppEvent::CreateAnswered(Ok(Box::new(detail(&made)))),
    );
    assert_eq!(
        commands,
        vec![Command::Subscribe {
            generation: 2,
            target: Target::Worker(worker_ref(&made)),
        }]
    );
    assert_eq!(c.app.focus, Focus::Composer);
    assert!(
        c.notice().contains("Trip@backend-internal"),
        "{}",
        c.notice()
    );
    assert!(c
        .app
        .picker
        .workers
        .iter()
        .any(|w| w.worker_id == made.worker_id));
}

#[test]
fn the_picker_renames_and_stops_the_highlighted_worker_after_a_confirmation() {
    let mut c = Console::live();
    let coder = with_workspace(&mut c);
    c.ctrl('p');
    c.press(KeyCode::Down);
    c.press(KeyCode::Char('r'));
    for _ in 0.."coder".len() {
        c.press(KeyCode::Backspace);
    }
    c.type_text("Notes");
    let commands = c.press(KeyCode::Enter);
    assert_eq!(
        commands,
        vec![Command::RenameWorker {
            target: worker_ref(&coder),
            display_name: "Notes".into(),
        }]
    );
    let mut renamed = coder.clone();
    renamed.display_name = "Notes".into();
    renamed.display_ref = "Notes@backend-internal".into();
    update(&mut c.app, AppEvent::RenameAnswered(Ok(renamed)));
    assert!(c
        .app
        .picker
        .workers
        .iter()
        .any(|w| w.display_name == "Notes"));

    c.press(KeyCode::Char('d'));
    assert!(c.press(KeyCode::Char('n')).is_empty(), "n keeps it");
    assert_eq!(c.app.focus, Focus::Picker);
    c.press(KeyCode::Char('d'));
    assert!(c.press(KeyCode::Enter).is_empty(), "only y stops");
    let commands = c.press(KeyCode::Char('y'));
    assert_eq!(
        commands,
        vec![Command::StopWorker {
            target: worker_ref(&coder),
            display_ref: "Notes@backend-internal".into(),
        }]
    );
    c.press(KeyCode::Esc);
    assert_eq!(c.app.focus, Focus::Composer);
}

#[test]
fn a_rename_of_the_shown_worker_renames_its_title() {
    let mut c = Console::live();
    let mut renamed = c.worker.clone();
    renamed.display_name = "Buddy".into();
    renamed.display_ref = "Buddy@backend-internal".into();
    update(
        &mut c.app,
        AppEvent::Workspace(WorkspaceEvent::WorkerUpdated { worker: renamed }),
    );
    assert_eq!(
        c.app.worker.as_ref().map(|w| w.display_ref.as_str()),
        Some("Buddy@backend-internal")
    );
}

#[test]
fn ctrl_t_retries_a_failed_run_with_the_same_text_and_keeps_the_draft() {
    let mut c = Console::live();
    assert!(c.ctrl('t').is_empty());
    assert!(c.notice().contains("Nothing to retry"), "{}", c.notice());
    let run = RunId::new();
    let question = message(Role::User, run, "why?", MessageState::Complete);
    c.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: question,
        },
    );
    c.frame(
        2,
        EventKind::RunFailed {
            run_id: run,
            error: ApiError::new(ErrorCode::ProviderError, "boom"),
        },
    );
    assert!(c.notice().contains("Ctrl-T retries"), "{}", c.notice());
    c.type_text("draft");
    let commands = c.ctrl('t');
    let [Command::SendInput { text, target, .. }] = commands.as_slice() else {
        panic!("no send: {commands:?}");
    };
    assert_eq!(text, "why?");
    assert_eq!(*target, c.target);
    c.answered(Ok(accepted()));
    assert_eq!(c.app.composer.text(), "draft", "the draft stays");
    assert!(!c.app.sending);
}

#[test]
fn a_run_that_failed_before_its_input_was_answered_keeps_its_notice() {
    let mut c = Console::live();
    c.type_text("fail fast");
    c.press(KeyCode::Enter);
    let run = RunId::new();
    let question = message(Role::User, run, "fail fast", MessageState::Complete);
    c.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: question,
        },
    );
    c.frame(
        2,
        EventKind::RunFailed {
            run_id: run,
            error: ApiError::new(ErrorCode::ProviderError, "boom"),
        },
    );
    let mut answer = accepted();
    answer.run_id = run;
    c.answered(Ok(answer));
    assert!(c.notice().contains("Ctrl-T retries"), "{}", c.notice());
    assert_eq!(c.app.composer.text(), "", "the draft was sent");
}

#[test]
fn queued_inputs_follow_the_events_and_ctrl_x_takes_back_the_last() {
    let mut c = Console::live();
    let (one, two) = (MessageId::new(), MessageId::new());
    c.frame(
        1,
        EventKind::InputQueued {
            message_id: one,
            text: "one".into(),
            position: 1,
        },
    );
    c.frame(
        2,
        EventKind::InputQueued {
            message_id: two,
            text: "two".into(),
            position: 2,
        },
    );
    let texts: Vec<&str> = c
        .app
        .queue
        .items()
        .iter()
        .map(|q| q.text.as_str())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let commands = c.ctrl('x');
    assert_eq!(
        commands,
        [Command::RemoveQueued {
            generation: c.app.generation,
            target: c.target.clone(),
            message_id: two,
        }]
    );
    let generation = c.app.generation;
    update(
        &mut c.app,
        AppEvent::RemoveAnswered {
            generation,
            result: Ok(()),
        },
    );
    assert!(c.notice().contains("Removed"), "{}", c.notice());
    c.frame(
        3,
        EventKind::InputDequeued {
            message_id: two,
            reason: yoi_protocol::DequeueReason::Removed,
        },
    );
    c.frame(
        4,
        EventKind::InputDequeued {
            message_id: one,
            reason: yoi_protocol::DequeueReason::Started,
        },
    );
    let run = RunId::new();
    let mut m = message(Role::User, run, "one", MessageState::Complete);
    m.id = one;
    c.frame(
        5,
        EventKind::InputAccepted {
            run_id: run,
            message: m,
        },
    );
    assert!(c.app.queue.is_empty());
    assert!(c.ctrl('x').is_empty());
    assert!(c.notice().contains("Nothing is queued"));
    update(
        &mut c.app,
        AppEvent::RemoveAnswered {
            generation,
            result: Err(api(ErrorCode::NotFound, "not queued")),
        },
    );
    assert!(c.notice().contains("Too late"), "{}", c.notice());
}

#[test]
fn a_queued_answer_says_where_it_waits_and_a_full_queue_says_what_to_do() {
    let mut c = Console::live();
    c.type_text("later");
    c.press(KeyCode::Enter);
    let mut queued = accepted();
    queued.queued = true;
    queued.position = Some(2);
    c.answered(Ok(queued));
    assert!(c.app.composer.is_empty());
    assert!(c.notice().contains("Queued (2)"), "{}", c.notice());
    c.type_text("more");
    c.press(KeyCode::Enter);
    c.answered(Err(api(ErrorCode::QueueFull, "full")));
    assert_eq!(c.app.composer.text(), "more");
    assert!(c.notice().contains("queue is full"), "{}", c.notice());
}

#[test]
fn a_snapshot_carries_the_queue_and_a_stop_empties_it() {
    let mut c = Console::live();
    let mut d = detail(&c.worker);
    d.queue = vec![yoi_protocol::QueuedInput {
        message_id: MessageId::new(),
        text: "waiting".into(),
        at: yoi_protocol::Timestamp::now(),
    }];
    c.frame(
        3,
        EventKind::Snapshot {
            worker: Box::new(d),
            transcript: Vec::new(),
            in_flight: None,
            reset: true,
            reason: None,
        },
    );
    assert_eq!(c.app.queue.items().len(), 1);
    c.frame(4, EventKind::WorkerStopped);
    assert!(c.app.queue.is_empty());
}

// --- earlier history -------------------------------------------------------------

fn users(n: usize, prefix: &str) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let run = RunId::new();
            message(
                Role::User,
                run,
                &format!("{prefix} {i}"),
                MessageState::Complete,
            )
        })
        .collect()
}

/// A console showing `shown` from a snapshot, on a small screen.
fn showing(shown: Vec<Message>) -> Console {
    let mut c = Console::live();
    update(
        &mut c.app,
        AppEvent::Resize {
            width: 40,
            height: 12,
        },
    );
    let w = c.worker.clone();
    c.frame(1, snapshot(&w, shown, None, None));
    c
}

fn older_answer(c: &mut Console, before: MessageId, messages: Vec<Message>, truncated: bool) {
    let generation = c.app.generation;
    update(
        &mut c.app,
        AppEvent::OlderAnswered {
            generation,
            before,
            result: Ok(yoi_protocol::Transcript {
                messages,
                seq: Seq(1),
                truncated,
            }),
        },
    );
}

fn load_older_before(commands: &[Command]) -> Option<MessageId> {
    commands.iter().find_map(|c| match c {
        Command::LoadOlder { before, .. } => Some(*before),
        _ => None,
    })
}

#[test]
fn at_the_top_the_page_before_the_oldest_message_goes_in_front_and_the_view_stays() {
    let newest = users(30, "new");
    let oldest_shown = newest[0].id;
    let mut c = showing(newest.clone());
    assert_eq!(c.app.transcript.history(), History::Unknown);
    // Scrolling up short of the top asks nothing.
    assert!(load_older_before(&c.press(KeyCode::PageUp)).is_none());
    assert_eq!(
        load_older_before(&c.press(KeyCode::Home)),
        Some(oldest_shown)
    );
    // Only one page at a time.
    assert!(load_older_before(&c.press(KeyCode::Home)).is_none());
    update(&mut c.app, AppEvent::Wheel(1));
    let (total, _) = c.app.transcript_extent();

    let mut page = users(5, "old");
    page.push(newest[0].clone()); // already shown: not shown twice
    let first_old = page[0].id;
    older_answer(&mut c, oldest_shown, page, true);
    assert_eq!(c.app.transcript.entries().len(), 35);
    assert_eq!(c.app.transcript.entries()[0].id, Some(first_old));
    assert_eq!(c.app.transcript.history(), History::More);
    let (grown, _) = c.app.transcript_extent();
    assert_eq!(
        c.app.scroll,
        Scroll::At(3 + grown - total),
        "the same line stays at the top"
    );

    assert_eq!(load_older_before(&c.press(KeyCode::Home)), Some(first_old));
    older_answer(&mut c, first_old, Vec::new(), false);
    assert_eq!(c.app.transcript.history(), History::Complete);
    assert!(load_older_before(&c.press(KeyCode::Home)).is_none());
    assert!(load_older_before(&c.press(KeyCode::PageUp)).is_none());
}

#[test]
fn page_up_past_the_top_and_the_wheel_ask_for_earlier_messages() {
    let shown = users(2, "short");
    let mut c = showing(shown.clone());
    // Nothing to scroll: PageUp still asks.
    assert_eq!(
        load_older_before(&c.press(KeyCode::PageUp)),
        Some(shown[0].id)
    );
    older_answer(&mut c, shown[0].id, users(1, "older"), true);
    let first = c.app.transcript.entries()[0].id;
    assert!(first.is_some() && first != Some(shown[0].id));
    let commands = update(&mut c.app, AppEvent::Wheel(-20));
    assert_eq!(load_older_before(&commands), first);
}

#[test]
fn a_page_for_a_view_that_moved_on_is_dropped() {
    let shown = users(3, "a");
    let mut c = showing(shown.clone());
    c.press(KeyCode::Home);
    // A reset snapshot of something else replaced the view meanwhile.
    let other = users(2, "b");
    let w = c.worker.clone();
    c.frame(
        9,
        snapshot(&w, other.clone(), None, Some(SnapshotReason::CursorExpired)),
    );
    older_answer(&mut c, shown[0].id, users(4, "old"), false);
    let ids: Vec<_> = c.app.transcript.entries().iter().map(|e| e.id).collect();
    assert_eq!(ids, other.iter().map(|m| Some(m.id)).collect::<Vec<_>>());
    assert!(!c.app.loading_older);
    // An answer of an older generation is ignored.
    c.app.loading_older = true;
    let stale = c.app.generation - 1;
    update(
        &mut c.app,
        AppEvent::OlderAnswered {
            generation: stale,
            before: other[0].id,
            result: Ok(yoi_protocol::Transcript {
                messages: users(1, "stale"),
                seq: Seq(1),
                truncated: false,
            }),
        },
    );
    assert_eq!(c.app.transcript.entries().len(), 2);
}

#[test]
fn a_snapshot_that_joins_the_pages_shown_keeps_them() {
    let newest = users(3, "new");
    let mut c = showing(newest.clone());
    c.press(KeyCode::Home);
    let page = users(2, "old");
    older_answer(&mut c, newest[0].id, page.clone(), false);
    // A reconnect's snapshot starts at the second message and adds one.
    let mut again = newest[1..].to_vec();
    again.extend(users(1, "newer"));
    let w = c.worker.clone();
    c.frame(
        5,
        snapshot(&w, again.clone(), None, Some(SnapshotReason::CursorExpired)),
    );
    let ids: Vec<_> = c.app.transcript.entries().iter().map(|e| e.id).collect();
    let mut want: Vec<_> = page
        .iter()
        .chain(newest.iter().take(1))
        .map(|m| Some(m.id))
        .collect();
    want.extend(again.iter().map(|m| Some(m.id)));
    assert_eq!(ids, want);
    assert_eq!(c.app.transcript.history(), History::Complete);
}

#[test]
fn a_failed_page_says_why_and_can_be_asked_again() {
    let shown = users(2, "a");
    let mut c = showing(shown.clone());
    c.press(KeyCode::Home);
    let generation = c.app.generation;
    update(
        &mut c.app,
        AppEvent::OlderAnswered {
            generation,
            before: shown[0].id,
            result: Err(ClientError::Unreachable("refused".into())),
        },
    );
    assert!(!c.notice().is_empty());
    assert_eq!(
        load_older_before(&c.press(KeyCode::Home)),
        Some(shown[0].id)
    );
}
