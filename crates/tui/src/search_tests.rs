//! Tests of the search overlay: keys, the requests it asks for, the answers
//! folded in, and what it draws.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use yoi_protocol::{
    MatchRange, MessageId, MessageState, Role, RunId, RuntimeId, SearchHit, SearchResults, Snippet,
    Timestamp, TranscriptWindow, WorkerId,
};

use super::*;
use crate::app::{update, AppEvent, Command};
use crate::render::{render, transcript_extent};
use crate::testing::message;

fn app() -> App {
    let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
    app.start();
    app
}

fn press(app: &mut App, code: KeyCode) -> Vec<Command> {
    update(app, AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn hit(worker_id: WorkerId, message_id: MessageId) -> SearchHit {
    SearchHit {
        runtime_id: RuntimeId::parse("near").unwrap(),
        worker_id,
        display_name: "helper".into(),
        message_id,
        role: Role::User,
        at: Timestamp::now(),
        // "会議" after an astral character: UTF-16 offsets 3..5.
        snippet: Snippet {
            text: "a🎉会議 <b>".into(),
            matches: vec![MatchRange { start: 3, end: 5 }],
        },
        rank: -1.0,
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| render(f, app)).unwrap();
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

#[test]
fn slash_in_the_picker_searches_and_enter_opens_a_hit_in_context_then_its_conversation() {
    let mut app = app();
    update(
        &mut app,
        AppEvent::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL)),
    );
    assert_eq!(app.focus, Focus::Picker);
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.focus, Focus::Search);
    // Letters the picker would take (q, n, d) are words here.
    type_text(&mut app, "qnd 会議");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Command::Search {
            q: "qnd 会議".into()
        }]
    );

    let (worker_id, message_id) = (WorkerId::new(), MessageId::new());
    update(
        &mut app,
        AppEvent::SearchAnswered {
            q: "qnd 会議".into(),
            result: Ok(SearchResults {
                hits: vec![
                    hit(WorkerId::new(), MessageId::new()),
                    hit(worker_id, message_id),
                ],
                next_after: None,
                missing: vec![RuntimeId::parse("gpu").unwrap()],
            }),
        },
    );
    let text = screen(&app);
    assert!(text.contains("2 messages"), "{text}");
    assert!(text.contains("not searched (unavailable): gpu"), "{text}");
    // Wide characters take two cells: the screen holds a space after each.
    assert!(text.contains("helper@near you: a🎉"), "{text}");

    press(&mut app, KeyCode::Down);
    let commands = press(&mut app, KeyCode::Enter);
    let target = WorkerRef {
        runtime_id: RuntimeId::parse("near").unwrap(),
        worker_id,
    };
    assert_eq!(
        commands,
        vec![Command::LoadContext {
            target: target.clone(),
            around: message_id
        }]
    );
    let run = RunId::new();
    let mut found = message(Role::User, run, "the 会議 message", MessageState::Complete);
    found.id = message_id;
    let before = message(
        Role::User,
        RunId::new(),
        "an earlier one",
        MessageState::Complete,
    );
    update(
        &mut app,
        AppEvent::ContextAnswered {
            around: message_id,
            result: Ok(TranscriptWindow {
                messages: vec![before, found],
                seq: yoi_protocol::Seq(4),
                truncated: false,
                newer: Some(false),
            }),
        },
    );
    let text = screen(&app);
    assert!(text.contains("You: an earlier one"), "{text}");
    assert!(text.contains("▶ You: the "), "{text}");

    // Esc goes back to the hits, Enter again shows the hit, Enter opens it.
    press(&mut app, KeyCode::Esc);
    assert!(app.search.as_ref().unwrap().context.is_none());
    press(&mut app, KeyCode::Enter);
    let commands = press(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Composer);
    assert!(
        matches!(&commands[..], [Command::Subscribe { target: crate::app::Target::Worker(w), .. }] if *w == target),
        "{commands:?}"
    );
}

#[test]
fn the_matches_are_marked_at_their_utf16_offsets() {
    let mut app = app();
    app.focus = Focus::Search;
    app.search = Some(Search {
        searched: Some("会議".into()),
        query: "会議".into(),
        hits: vec![hit(WorkerId::new(), MessageId::new())],
        ..Search::default()
    });
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| render(f, &app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let marked: String = (0..buffer.area.height)
        .flat_map(|y| (0..buffer.area.width).map(move |x| (x, y)))
        .filter(|&(x, y)| buffer[(x, y)].fg == ratatui::style::Color::Yellow)
        .map(|(x, y)| buffer[(x, y)].symbol().to_owned())
        .collect();
    assert_eq!(marked, "会議");
}

#[test]
fn escape_leaves_the_search_for_the_picker_and_a_failed_search_says_why() {
    let mut app = app();
    app.focus = Focus::Picker;
    press(&mut app, KeyCode::Char('s'));
    type_text(&mut app, "x");
    press(&mut app, KeyCode::Enter);
    update(
        &mut app,
        AppEvent::SearchAnswered {
            q: "x".into(),
            result: Err(ClientError::Decode("query_empty".into())),
        },
    );
    assert!(screen(&app).contains("query_empty"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Picker);
}
