//! The console with tool calls, driven through `update` and drawn into a
//! `TestBackend`: call lines in the answer, the approval prompt and its
//! keys, the answers to a decision, a snapshot that waits, the picker's mark.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use yoi_protocol::{
    ApiError, ApprovalAnswer, ApprovalDecision, ApprovalRequest, ApprovalScope, ErrorCode,
    EventKind, InFlight, MessageState, PendingApproval, ProviderInfo, Role, RunId, Seq, Timestamp,
    ToolCall, ToolCallState, WorkerEvent, WorkerRef, WorkerStatus, WorkerSummary, WorkspaceEvent,
};

use crate::app::{update, App, AppEvent, Command, FeedEvent};
use crate::client::ClientError;
use crate::picker::worker_ref;
use crate::render::{render, transcript_extent};
use crate::testing::{detail, message, runtime, worker};

/// 10:00:00 plus `ms` milliseconds, as the server writes times.
fn at(ms: u64) -> Timestamp {
    let text = format!("2026-11-23T10:00:{:02}.{:03}Z", ms / 1000, ms % 1000);
    serde_json::from_value(serde_json::Value::String(text)).expect("a test time")
}

struct Screen {
    app: App,
    worker: WorkerSummary,
    target: WorkerRef,
    seq: u64,
}

impl Screen {
    fn live() -> Screen {
        let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
        app.start();
        app.size = (100, 24);
        let worker = worker("backend-internal", "companion");
        let target = worker_ref(&worker);
        let mut s = Screen {
            app,
            worker,
            target,
            seq: 0,
        };
        let w = s.worker.clone();
        s.feed(FeedEvent::Resolved {
            worker: w,
            provider: Some(ProviderInfo {
                configured: true,
                model: "gpt-test".into(),
                hint: None,
            }),
        });
        s.feed(FeedEvent::Connected { cursor: None });
        s.snapshot(detail(&s.worker), Vec::new(), None);
        s
    }

    fn feed(&mut self, event: FeedEvent) {
        let generation = self.app.generation;
        update(&mut self.app, AppEvent::Feed { generation, event });
    }

    fn snapshot(
        &mut self,
        worker: yoi_protocol::WorkerDetail,
        transcript: Vec<yoi_protocol::Message>,
        in_flight: Option<InFlight>,
    ) {
        let kind = EventKind::Snapshot {
            worker: Box::new(worker),
            transcript,
            in_flight,
            reset: false,
            reason: None,
        };
        self.event_at(self.seq, kind, at(0));
    }

    fn event_at(&mut self, seq: u64, kind: EventKind, when: Timestamp) {
        let e = WorkerEvent {
            seq: Seq(seq),
            at: when,
            runtime_id: self.target.runtime_id.clone(),
            worker_id: self.target.worker_id,
            kind,
        };
        self.feed(FeedEvent::Frame(Box::new(e)));
    }

    /// The next event, `ms` after 10:00:00.
    fn next(&mut self, kind: EventKind, ms: u64) {
        self.seq += 1;
        self.event_at(self.seq, kind, at(ms));
    }

    fn key(&mut self, c: char) -> Vec<Command> {
        update(
            &mut self.app,
            AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        )
    }

    fn ctrl(&mut self, c: char) -> Vec<Command> {
        update(
            &mut self.app,
            AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
        )
    }

    fn answered(&mut self, call_id: &str, result: Result<ApprovalAnswer, ClientError>) {
        let generation = self.app.generation;
        update(
            &mut self.app,
            AppEvent::DecisionAnswered {
                generation,
                call_id: call_id.into(),
                result,
            },
        );
    }

    fn text(&self) -> String {
        let (w, h) = self.app.size;
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal
            .draw(|f| render(f, &self.app))
            .expect("draw into the test backend");
        let buffer = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    /// A run that wrote some text, then called `yoi.ask_worker`, which asks.
    fn waiting_call(&mut self) -> RunId {
        let run = RunId::new();
        self.next(
            EventKind::RunStarted {
                run_id: run,
                model: "gpt-test".into(),
            },
            0,
        );
        self.next(
            EventKind::Status {
                status: WorkerStatus::Running,
            },
            0,
        );
        self.next(
            EventKind::AssistantDelta {
                run_id: run,
                text: "Let me ask.".into(),
            },
            0,
        );
        let args = serde_json::json!({"worker": "notes"});
        self.next(
            EventKind::ToolCallStarted {
                run_id: run,
                call_id: "call_1".into(),
                name: "yoi.ask_worker".into(),
                arguments: args.clone(),
            },
            100,
        );
        self.next(
            EventKind::ToolApprovalRequested {
                run_id: run,
                call_id: "call_1".into(),
                name: "yoi.ask_worker".into(),
                arguments: args,
            },
            100,
        );
        self.next(
            EventKind::Status {
                status: WorkerStatus::WaitingApproval,
            },
            100,
        );
        run
    }
}

/// A `Decide` command's call and request, whatever its target.
fn decided(commands: &[Command]) -> Vec<(String, ApprovalRequest)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Decide {
                call_id, request, ..
            } => Some((call_id.clone(), *request)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_that_asks_shows_its_line_and_the_prompt_and_y_allows_it_once() {
    let mut s = Screen::live();
    let run = s.waiting_call();
    let text = s.text();
    assert!(
        text.contains(r#"⚙ yoi.ask_worker {"worker":"notes"} → waiting for approval"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"Allow yoi.ask_worker {"worker":"notes"}? [y]es once / [a]lways here / [n]o"#
        ),
        "{text}"
    );
    // The letter answers the prompt; it does not go into the message.
    let commands = s.key('y');
    assert_eq!(
        decided(&commands),
        vec![(
            "call_1".to_owned(),
            ApprovalRequest {
                decision: ApprovalDecision::Allow,
                scope: ApprovalScope::Once
            }
        )]
    );
    assert!(s.app.composer.is_empty());
    // A second press while the answer is on its way sends nothing.
    assert!(decided(&s.key('y')).is_empty());
    s.next(
        EventKind::ToolApprovalDecided {
            run_id: run,
            call_id: "call_1".into(),
            decision: ApprovalDecision::Allow,
            scope: ApprovalScope::Once,
        },
        1_000,
    );
    assert!(s.app.approvals.is_empty());
    assert!(s.text().contains("→ running…"), "{}", s.text());
    s.next(
        EventKind::ToolCallFinished {
            run_id: run,
            call_id: "call_1".into(),
            ok: true,
            summary: "notes answered".into(),
            state: ToolCallState::Ok,
            output: Some("hello from notes".into()),
        },
        1_012,
    );
    let text = s.text();
    assert!(
        text.contains(r#"⚙ yoi.ask_worker {"worker":"notes"} → ok 12 ms"#),
        "{text}"
    );
    assert!(!text.contains("[y]es once"), "the prompt is gone: {text}");
    // The call sits after the text written before it.
    let before = text.find("Let me ask.").expect("the text before the call");
    let call = text.find("⚙ yoi.ask_worker").expect("the call");
    assert!(before < call);
}

#[test]
fn a_allows_for_the_worker_and_n_denies() {
    let mut s = Screen::live();
    s.waiting_call();
    assert_eq!(
        decided(&s.key('a'))[0].1,
        ApprovalRequest {
            decision: ApprovalDecision::Allow,
            scope: ApprovalScope::Worker
        }
    );
    s.answered(
        "call_1",
        Err(ClientError::Api(ApiError::new(
            ErrorCode::StoreUnavailable,
            "the disk is full",
        ))),
    );
    assert!(
        s.app.notice.is_some(),
        "a failure that is not a race is shown"
    );
    assert_eq!(
        decided(&s.key('n'))[0].1,
        ApprovalRequest {
            decision: ApprovalDecision::Deny,
            scope: ApprovalScope::Once
        }
    );
}

#[test]
fn a_call_decided_elsewhere_leaves_the_prompt_quietly() {
    let mut s = Screen::live();
    s.waiting_call();
    s.app.notice = None;
    let _ = s.key('y');
    s.answered(
        "call_1",
        Err(ClientError::Api(ApiError::new(
            ErrorCode::NotPending,
            "no longer waits",
        ))),
    );
    assert!(s.app.approvals.is_empty());
    assert!(
        s.app.notice.is_none(),
        "no error for a race that ended well"
    );
}

#[test]
fn without_a_waiting_call_the_letters_go_into_the_message() {
    let mut s = Screen::live();
    assert!(decided(&s.key('y')).is_empty());
    assert_eq!(s.app.composer.text(), "y");
}

#[test]
fn a_run_waiting_for_approval_is_still_in_flight_and_escape_cancels_it() {
    let mut s = Screen::live();
    s.waiting_call();
    assert!(s.app.run_in_flight());
    let commands = update(
        &mut s.app,
        AppEvent::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    assert!(
        commands.iter().any(|c| matches!(c, Command::Cancel { .. })),
        "{commands:?}"
    );
}

#[test]
fn a_snapshot_brings_back_the_prompt_and_the_waiting_call() {
    let mut s = Screen::live();
    let run = RunId::new();
    let mut d = detail(&s.worker);
    d.summary.status = WorkerStatus::WaitingApproval;
    d.pending_approvals = vec![PendingApproval {
        run_id: run,
        call_id: "call_9".into(),
        name: "yoi.list_workers".into(),
        arguments: serde_json::json!({}),
        requested_at: at(0),
    }];
    s.seq = 7;
    s.snapshot(
        d,
        vec![message(
            Role::User,
            run,
            "who is here?",
            MessageState::Complete,
        )],
        Some(InFlight {
            run_id: run,
            text: String::new(),
            reasoning: None,
        }),
    );
    let text = s.text();
    assert!(
        text.contains("Allow yoi.list_workers {}? [y]es once"),
        "{text}"
    );
    assert!(
        text.contains("⚙ yoi.list_workers {} → waiting for approval"),
        "{text}"
    );
}

#[test]
fn a_finished_answer_shows_each_turn_then_its_calls_and_ctrl_o_unfolds_them() {
    let mut s = Screen::live();
    let run = RunId::new();
    let mut answer = message(Role::Assistant, run, "Two workers.", MessageState::Complete);
    answer.tool_calls = vec![ToolCall {
        call_id: "call_2".into(),
        name: "yoi.list_workers".into(),
        arguments: serde_json::json!({"limit": 5}),
        state: ToolCallState::Ok,
        round: 1,
        text_before: Some("Looking.".into()),
        summary: Some("2 workers".into()),
        output: Some("notes\nhelper".into()),
        duration_ms: Some(12),
    }];
    s.seq = 3;
    s.snapshot(
        detail(&s.worker),
        vec![
            message(Role::User, run, "who?", MessageState::Complete),
            answer,
        ],
        None,
    );
    let text = s.text();
    let order: Vec<usize> = [
        "Looking.",
        "⚙ yoi.list_workers {\"limit\":5} → ok 12 ms",
        "Two workers.",
    ]
    .iter()
    .map(|needle| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(!text.contains("result:"), "folded by default: {text}");
    let _ = s.ctrl('o');
    let text = s.text();
    assert!(text.contains("arguments:"), "{text}");
    assert!(text.contains("\"limit\": 5"), "pretty JSON: {text}");
    assert!(
        text.contains("result:") && text.contains("helper"),
        "{text}"
    );
}

#[test]
fn the_picker_marks_a_worker_that_waits() {
    let mut s = Screen::live();
    let mut other = worker("backend-internal", "notes");
    other.status = WorkerStatus::WaitingApproval;
    update(
        &mut s.app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("backend-internal")],
            workers: vec![s.worker.clone(), other],
        }),
    );
    let _ = s.ctrl('p');
    let text = s.text();
    assert!(
        text.contains("notes@backend-internal  ⏸ waits for you"),
        "{text}"
    );
}

#[test]
fn the_help_lists_the_tool_keys() {
    let mut s = Screen::live();
    update(
        &mut s.app,
        AppEvent::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)),
    );
    let text = s.text();
    assert!(text.contains("Ctrl-O"), "{text}");
    assert!(text.contains("y / a / n"), "{text}");
}

#[test]
fn a_snapshot_mid_run_keeps_the_earlier_turns_and_calls_in_place() {
    let mut s = Screen::live();
    let run = RunId::new();
    let mut streaming = message(Role::Assistant, run, "Now ", MessageState::Streaming);
    streaming.tool_calls = vec![ToolCall {
        call_id: "call_3".into(),
        name: "yoi.list_workers".into(),
        arguments: serde_json::json!({}),
        state: ToolCallState::Ok,
        round: 1,
        text_before: Some("First I look.".into()),
        summary: None,
        output: None,
        duration_ms: Some(5),
    }];
    s.seq = 4;
    s.snapshot(
        detail(&s.worker),
        vec![
            message(Role::User, run, "go", MessageState::Complete),
            streaming,
        ],
        Some(InFlight {
            run_id: run,
            text: "Now I know.".into(),
            reasoning: None,
        }),
    );
    let text = s.text();
    let order: Vec<usize> = [
        "First I look.",
        "⚙ yoi.list_workers {} → ok 5 ms",
        "Now I know.",
    ]
    .iter()
    .map(|needle| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
}
