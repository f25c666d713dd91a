//! Render tests: draw the console into ratatui's `TestBackend` and read the
//! screen back as text (and, for the status badge, as colours).

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;
use yoi_protocol::{
    ApiError, ErrorCode, EventKind, MessageState, ProviderInfo, Role, RunId, RunUsage, Seq,
    SnapshotReason, WorkerRef, WorkerSummary, WorkspaceEvent,
};

use super::*;
use crate::app::{update, AppEvent, Command, FeedEvent};
use crate::client::ClientError;
use crate::notice::Notice;
use crate::picker::worker_ref;
use crate::testing::{event, message, runtime, snapshot, worker};

const WIDTH: u16 = 80;
const HEIGHT: u16 = 24;

struct Screen {
    app: App,
    worker: WorkerSummary,
    target: WorkerRef,
}

impl Screen {
    fn live() -> Screen {
        let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
        app.start();
        app.size = (WIDTH, HEIGHT);
        let worker = worker("backend-internal", "companion");
        let target = worker_ref(&worker);
        let mut s = Screen {
            app,
            worker,
            target,
        };
        let w = s.worker.clone();
        s.feed(FeedEvent::Resolved {
            worker: w.clone(),
            provider: Some(ProviderInfo {
                configured: true,
                model: "gpt-test".into(),
                hint: None,
            }),
        });
        s.feed(FeedEvent::Connected { cursor: None });
        s.frame(0, snapshot(&w, Vec::new(), None, None));
        s
    }

    fn feed(&mut self, event: FeedEvent) {
        let generation = self.app.generation;
        update(&mut self.app, AppEvent::Feed { generation, event });
    }

    fn frame(&mut self, seq: u64, kind: EventKind) {
        let e = event(&self.target, seq, kind);
        self.feed(FeedEvent::Frame(Box::new(e)));
    }

    /// A finished exchange: the user's text and the answer with a final state.
    fn exchange(&mut self, seq: u64, user: &str, answer: &str, end: MessageState) -> u64 {
        let run = RunId::new();
        self.frame(
            seq,
            EventKind::InputAccepted {
                run_id: run,
                message: message(Role::User, run, user, MessageState::Complete),
            },
        );
        self.frame(
            seq + 1,
            EventKind::AssistantDelta {
                run_id: run,
                text: answer.into(),
            },
        );
        let terminal = match end {
            MessageState::Cancelled => EventKind::RunCancelled { run_id: run },
            MessageState::Failed => EventKind::RunFailed {
                run_id: run,
                error: yoi_protocol::ApiError::new(
                    yoi_protocol::ErrorCode::ProviderError,
                    "upstream 500",
                ),
            },
            MessageState::Complete => EventKind::RunCompleted {
                run_id: run,
                usage: RunUsage {
                    prompt_tokens: 12,
                    completion_tokens: 34,
                },
                duration_ms: 1500,
            },
            MessageState::Streaming => return seq + 2,
        };
        self.frame(seq + 2, terminal);
        seq + 3
    }

    fn draw(&self) -> Buffer {
        self.draw_at(WIDTH)
    }

    fn draw_at(&self, width: u16) -> Buffer {
        self.draw_sized(width, HEIGHT)
    }

    fn draw_sized(&self, width: u16, height: u16) -> Buffer {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal
            .draw(|f| render(f, &self.app))
            .expect("draw into the test backend");
        terminal.backend().buffer().clone()
    }

    fn text(&self) -> String {
        screen_text(&self.draw())
    }
}

fn screen_text(buffer: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

#[test]
fn the_status_bar_shows_connection_worker_status_model_and_last_run() {
    let mut s = Screen::live();
    s.exchange(1, "hello", "You said: hello", MessageState::Complete);
    let text = s.text();
    let status = last_line(&text);
    assert!(status.contains("● live"), "{status}");
    assert!(status.contains("companion@backend-internal"), "{status}");
    assert!(status.contains("idle"), "{status}");
    assert!(status.contains("gpt-test"), "{status}");
    assert!(status.contains("12↑ 34↓ tok 1.5s"), "{status}");
    assert!(
        !status.contains("F1 help"),
        "the hint goes first when short: {status}"
    );
    let wide = screen_text(&s.draw_at(120));
    assert!(last_line(&wide).contains("F1 help"), "{wide}");
    let buffer = s.draw();
    assert_eq!(buffer[(1, HEIGHT - 1)].bg, Color::Green, "live is green");
}

#[test]
fn the_status_bar_shows_reconnecting_resumed_reset_and_dropped_duplicates() {
    let mut s = Screen::live();
    s.feed(FeedEvent::Retrying {
        attempt: 2,
        delay: Duration::from_millis(500),
        error: ClientError::Unreachable("connection refused".into()),
    });
    let text = s.text();
    assert!(last_line(&text).contains("reconnecting in 0.5s"), "{text}");
    assert!(last_line(&text).contains("server unreachable"), "{text}");
    assert_eq!(s.draw()[(1, HEIGHT - 1)].bg, Color::Yellow);

    s.feed(FeedEvent::Connected {
        cursor: Some(Seq(14)),
    });
    assert!(last_line(&s.text()).contains("live · resumed from #14"));

    let w = s.worker.clone();
    s.frame(
        3,
        snapshot(&w, Vec::new(), None, Some(SnapshotReason::CursorAhead)),
    );
    s.frame(
        3,
        EventKind::Status {
            status: yoi_protocol::WorkerStatus::Idle,
        },
    );
    let text = screen_text(&s.draw_at(120));
    assert!(
        last_line(&text).contains("live · reset: server restarted"),
        "{text}"
    );
    assert!(last_line(&text).contains("1 dup dropped"), "{text}");
}

#[test]
fn a_server_that_is_down_at_start_is_a_state_on_screen() {
    let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
    app.start();
    app.size = (WIDTH, HEIGHT);
    let generation = app.generation;
    update(
        &mut app,
        AppEvent::Feed {
            generation,
            event: FeedEvent::Retrying {
                attempt: 1,
                delay: Duration::from_millis(250),
                error: ClientError::Unreachable("connection refused".into()),
            },
        },
    );
    let s = Screen {
        app,
        worker: worker("backend-internal", "companion"),
        target: worker_ref(&worker("backend-internal", "companion")),
    };
    let text = s.text();
    assert!(text.contains("Waiting for the server"), "{text}");
    assert!(last_line(&text).contains("reconnecting"), "{text}");
}

#[test]
fn user_and_assistant_messages_look_different() {
    let mut s = Screen::live();
    s.exchange(
        1,
        "hello there",
        "You said: hello there",
        MessageState::Complete,
    );
    let text = s.text();
    assert!(text.contains("› you"), "{text}");
    assert!(text.contains("▌ hello there"), "{text}");
    assert!(text.contains("◆ companion"), "{text}");
    assert!(text.contains("  You said: hello there"), "{text}");
}

#[test]
fn partial_answers_are_marked_cancelled_or_failed() {
    let mut s = Screen::live();
    let next = s.exchange(1, "[[slow]] count", "one two", MessageState::Cancelled);
    s.exchange(next, "again", "half an", MessageState::Failed);
    let text = s.text();
    assert!(text.contains("one two"), "{text}");
    assert!(text.contains("⊘ cancelled"), "{text}");
    assert!(text.contains("half an"), "{text}");
    assert!(
        text.contains("✗ failed: The model provider answered with an error: upstream 500"),
        "{text}"
    );
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn after_a_reload_every_failed_run_says_why_and_an_early_stop_says_so() {
    let mut s = Screen::live();
    let w = s.worker.clone();
    let (r1, r2, r3, r4) = (RunId::new(), RunId::new(), RunId::new(), RunId::new());
    let failed = |run, text: &str, code, why: &str| {
        let mut m = message(Role::Assistant, run, text, MessageState::Failed);
        m.error = Some(ApiError::new(code, why));
        m
    };
    s.frame(
        9,
        snapshot(
            &w,
            vec![
                message(Role::User, r1, "one", MessageState::Complete),
                failed(r1, "", ErrorCode::Timeout, "no first token"),
                message(Role::User, r2, "two", MessageState::Complete),
                message(Role::Assistant, r2, "", MessageState::Cancelled),
                message(Role::User, r3, "three", MessageState::Complete),
                message(Role::Assistant, r3, "tok1 tok2", MessageState::Cancelled),
                message(Role::User, r4, "four", MessageState::Complete),
                failed(r4, "half an", ErrorCode::ProviderError, "upstream 500"),
            ],
            None,
            None,
        ),
    );
    // Tall enough for the whole conversation.
    let text = screen_text(&s.draw_sized(WIDTH, 40));
    // An older failed run as well as the last one, in the words of a live failure.
    assert!(
        text.contains("✗ failed: The model provider did not answer in time: no first token"),
        "{text}"
    );
    assert!(
        text.contains("✗ failed: The model provider answered with an error: upstream 500"),
        "{text}"
    );
    assert!(!text.contains("the run failed"), "{text}");
    // Stopped before any text: a short marker instead of an empty answer.
    assert_eq!(count(&text, "⊘ stopped before any answer"), 1, "{text}");
    assert_eq!(count(&text, "⊘ cancelled"), 1, "{text}");
    assert!(text.contains("tok1 tok2"), "{text}");
}

#[test]
fn a_live_failure_shows_its_reason_once() {
    let mut s = Screen::live();
    let run = RunId::new();
    let error = ApiError::new(ErrorCode::ProviderError, "upstream 500");
    let mut answer = message(Role::Assistant, run, "", MessageState::Failed);
    answer.error = Some(error.clone());
    s.frame(
        1,
        EventKind::InputAccepted {
            run_id: run,
            message: message(Role::User, run, "fail please", MessageState::Complete),
        },
    );
    s.frame(
        2,
        EventKind::AssistantMessage {
            run_id: run,
            message: answer,
        },
    );
    s.frame(3, EventKind::RunFailed { run_id: run, error });
    let text = s.text();
    assert_eq!(count(&text, "◆ companion"), 1, "{text}");
    assert_eq!(count(&text, "✗ failed:"), 1, "{text}");
    assert_eq!(
        count(
            &text,
            "The model provider answered with an error: upstream 500"
        ),
        1,
        "{text}"
    );
    assert!(
        text.contains("✗ The answer failed"),
        "the notice line points at it: {text}"
    );
}

#[test]
fn a_streaming_answer_shows_a_cursor_and_answering() {
    let mut s = Screen::live();
    s.exchange(1, "go", "streaming so far", MessageState::Streaming);
    let text = s.text();
    assert!(text.contains("answering…"), "{text}");
    assert!(text.contains("streaming so far▍"), "{text}");
}

#[test]
fn code_blocks_are_framed_and_set_apart_from_prose() {
    let mut s = Screen::live();
    let answer = "Here:\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\nThat is all.";
    s.exchange(1, "code please", answer, MessageState::Complete);
    let text = s.text();
    assert!(text.contains("  Here:"), "{text}");
    assert!(text.contains("╭─ rust"), "{text}");
    assert!(text.contains("│ fn main() {"), "{text}");
    assert!(text.contains("│     println!(\"hi\");"), "{text}");
    assert!(text.contains("╰─"), "{text}");
    assert!(text.contains("  That is all."), "{text}");
    assert!(!text.contains("```"), "fences are not shown: {text}");
    let buffer = s.draw();
    let (x, y) = find(&buffer, "fn main").expect("code on screen");
    assert_eq!(buffer[(x, y)].fg, Color::Yellow, "code has its own colour");
}

#[test]
fn headings_and_list_items_read_as_such() {
    let mut s = Screen::live();
    let answer = "## Steps\n- first\n- second";
    s.exchange(1, "how?", answer, MessageState::Complete);
    let buffer = s.draw();
    let text = screen_text(&buffer);
    assert!(text.contains("   Steps"), "{text}");
    assert!(!text.contains("## Steps"), "{text}");
    assert!(text.contains("• first"), "{text}");
    let (x, y) = find(&buffer, "Steps").expect("heading on screen");
    assert!(buffer[(x, y)]
        .modifier
        .contains(ratatui::style::Modifier::BOLD));
}

#[test]
fn emphasis_links_and_tables_are_drawn_through_the_commonmark_parser() {
    let mut s = Screen::live();
    let answer = "Some *soft* and **loud** text, see [docs](https://example.com/d).\n\n| name | size |\n|---|---|\n| alpha | 1 |\n| beta | 22 |\n\n1. one\n2. two";
    s.exchange(1, "show me", answer, MessageState::Complete);
    let buffer = s.draw();
    let text = screen_text(&buffer);
    assert!(
        !text.contains("**loud**") && !text.contains("*soft*"),
        "{text}"
    );
    let (x, y) = find(&buffer, "loud").expect("strong text on screen");
    assert!(buffer[(x, y)]
        .modifier
        .contains(ratatui::style::Modifier::BOLD));
    let (x, y) = find(&buffer, "soft").expect("emphasis on screen");
    assert!(buffer[(x, y)]
        .modifier
        .contains(ratatui::style::Modifier::ITALIC));
    let (x, y) = find(&buffer, "docs (https").expect("a link and its address");
    assert!(buffer[(x, y)]
        .modifier
        .contains(ratatui::style::Modifier::UNDERLINED));
    assert!(text.contains("name  │ size"), "{text}");
    assert!(text.contains("alpha │ 1"), "{text}");
    assert!(text.contains("──────┼─"), "{text}");
    assert!(text.contains("1. one") && text.contains("2. two"), "{text}");
}

#[test]
fn run_durations_read_naturally() {
    assert_eq!(super::duration(850), "850ms");
    assert_eq!(super::duration(1500), "1.5s");
    assert_eq!(super::duration(125_000), "2m05s");
}

#[test]
fn reasoning_is_folded_by_default_and_shown_dimmed_on_request() {
    let mut s = Screen::live();
    let run = RunId::new();
    s.frame(
        1,
        EventKind::ReasoningDelta {
            run_id: run,
            text: "first thought\nsecond thought".into(),
        },
    );
    s.frame(
        2,
        EventKind::AssistantDelta {
            run_id: run,
            text: "Answer".into(),
        },
    );
    let text = s.text();
    assert!(
        text.contains("▸ reasoning, 2 lines (Ctrl-R shows it)"),
        "{text}"
    );
    assert!(!text.contains("first thought"), "{text}");
    s.app.show_reasoning = true;
    let buffer = s.draw();
    let text = screen_text(&buffer);
    assert!(text.contains("┊ first thought"), "{text}");
    let (x, y) = find(&buffer, "first thought").expect("reasoning on screen");
    assert_eq!(buffer[(x, y)].fg, Color::DarkGray, "reasoning is dimmed");
}

#[test]
fn the_notice_line_shows_errors_above_the_composer() {
    let mut s = Screen::live();
    s.app.notice = Some(Notice::warning(
        "Companion is still answering — press Esc to stop it",
    ));
    let text = s.text();
    assert!(
        text.contains("⚠ Companion is still answering — press Esc to stop it"),
        "{text}"
    );
}

#[test]
fn the_composer_shows_a_hint_then_grows_with_the_draft() {
    let mut s = Screen::live();
    let text = s.text();
    assert!(text.contains("Message companion…"), "{text}");
    assert!(text.contains("Enter send · Alt-Enter new line"), "{text}");
    s.app.composer.set_text("one\ntwo\nthree");
    let text = s.text();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    assert!(lines[n - 5].contains("│ one"), "{text}");
    assert!(lines[n - 4].contains("│ two"), "{text}");
    assert!(lines[n - 3].contains("│ three"), "{text}");
}

#[test]
fn the_help_overlay_lists_the_keys() {
    let mut s = Screen::live();
    s.app.focus = crate::keys::Focus::Help;
    let text = s.text();
    assert!(text.contains(" keys "), "{text}");
    for (key, what) in crate::keys::KEY_HELP {
        assert!(text.contains(key), "{key} missing: {text}");
        assert!(text.contains(what), "{what} missing: {text}");
    }
}

#[test]
fn the_picker_lists_runtimes_and_their_workers_live() {
    let mut s = Screen::live();
    let coder = worker("gpu-box", "coder");
    let scribe = worker("side", "scribe");
    let mut gpu = runtime("gpu-box");
    gpu.kind = yoi_protocol::RuntimeKind::Remote;
    gpu.status = yoi_protocol::RuntimeStatus::Unavailable;
    let mut side = runtime("side");
    side.kind = yoi_protocol::RuntimeKind::Local;
    update(
        &mut s.app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("backend-internal"), gpu, side],
            workers: vec![s.worker.clone(), coder, scribe],
        }),
    );
    s.app.focus = crate::keys::Focus::Picker;
    let current = s.app.resolved();
    s.app.picker.select(current.as_ref());
    let text = s.text();
    assert!(text.contains("workers · live"), "{text}");
    assert!(
        text.contains("▾ backend-internal embedded · available"),
        "{text}"
    );
    assert!(text.contains("◆ companion@backend-internal"), "{text}");
    assert!(text.contains("▾ gpu-box remote · unavailable"), "{text}");
    assert!(text.contains("coder@gpu-box"), "{text}");
    assert!(text.contains("▾ side local · available"), "{text}");
    assert!(text.contains("scribe@side"), "{text}");
}

#[test]
fn scrolled_back_the_transcript_says_how_much_is_below() {
    let mut s = Screen::live();
    let mut seq = 1;
    for i in 0..20 {
        seq = s.exchange(
            seq,
            &format!("question {i}"),
            "answer",
            MessageState::Complete,
        );
    }
    s.app.scroll = crate::app::Scroll::At(0);
    let text = s.text();
    assert!(text.contains("question 0"), "{text}");
    assert!(text.contains("more lines · End follows"), "{text}");
}

fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let first = needle.chars().next()?;
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count() as u16;
            if buffer[(x, y)].symbol().starts_with(first) {
                return Some((x, y));
            }
        }
    }
    None
}

#[test]
fn queued_messages_show_dimmed_under_the_answer_and_the_keys_say_so() {
    let mut s = Screen::live();
    s.exchange(1, "first", "still answer", MessageState::Streaming);
    s.frame(
        3,
        EventKind::InputQueued {
            message_id: yoi_protocol::MessageId::new(),
            text: "next please".into(),
            position: 1,
        },
    );
    let buffer = s.draw();
    let text = screen_text(&buffer);
    assert!(text.contains("› you · queued 1"), "{text}");
    assert!(text.contains("┊ next please"), "{text}");
    assert!(text.contains("Enter queues"), "{text}");
    assert!(text.contains("Ctrl-X"), "{text}");
    let answer_row = text.lines().position(|l| l.contains("still answer"));
    let queued_row = text.lines().position(|l| l.contains("next please"));
    assert!(
        answer_row < queued_row,
        "the queue is under the answer: {text}"
    );
    let (x, y) = text
        .lines()
        .enumerate()
        .find_map(|(y, l)| l.find("┊ next").map(|x| (l[..x].chars().count(), y)))
        .unwrap();
    let cell = &buffer[(u16::try_from(x).unwrap() + 2, u16::try_from(y).unwrap())];
    assert_eq!(cell.fg, Color::DarkGray, "queued text is dimmed");
}

#[test]
fn above_the_oldest_message_the_transcript_says_whether_earlier_ones_load_or_it_starts_there() {
    let mut s = Screen::live();
    let run = RunId::new();
    let shown = message(
        Role::User,
        run,
        "the newest question",
        MessageState::Complete,
    );
    let w = s.worker.clone();
    s.frame(1, snapshot(&w, vec![shown.clone()], None, None));
    assert!(
        !s.text().contains("earlier messages"),
        "nothing before scrolling up"
    );

    let commands = update(
        &mut s.app,
        AppEvent::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Home,
        )),
    );
    assert!(matches!(commands.as_slice(), [Command::LoadOlder { .. }]));
    assert!(s.text().contains("… loading earlier messages"));

    let older = message(
        Role::User,
        run,
        "the first question",
        MessageState::Complete,
    );
    let generation = s.app.generation;
    update(
        &mut s.app,
        AppEvent::OlderAnswered {
            generation,
            before: shown.id,
            result: Ok(yoi_protocol::Transcript {
                messages: vec![older],
                seq: Seq(1),
                truncated: false,
            }),
        },
    );
    let text = s.text();
    assert!(text.contains("beginning of the conversation"), "{text}");
    assert!(text.find("the first question") < text.find("the newest question"));
}
