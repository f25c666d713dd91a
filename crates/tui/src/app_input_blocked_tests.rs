//! A worker whose profile is gone (issue 21): its history shows, the
//! composer says why it takes no input, and Enter sends nothing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use yoi_protocol::{ApiError, ErrorCode, EventKind, ProviderInfo};

use super::*;
use crate::picker::worker_ref;
use crate::render::transcript_extent;
use crate::testing::{detail, event, worker};

#[test]
fn a_worker_whose_profile_is_gone_says_why_and_sends_nothing() {
    let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
    app.start();
    let w = worker("backend-internal", "verse");
    let target = worker_ref(&w);
    let generation = app.generation;
    let feed = |app: &mut App, event: FeedEvent| update(app, AppEvent::Feed { generation, event });
    feed(
        &mut app,
        FeedEvent::Resolved {
            worker: w.clone(),
            provider: Some(ProviderInfo {
                configured: true,
                model: "m".into(),
                hint: None,
            }),
        },
    );
    feed(&mut app, FeedEvent::Connected { cursor: None });
    let why = "this worker's profile `poet` is not configured any more; add [profiles.poet] back to yoi.toml";
    let mut error = ApiError::new(ErrorCode::ProfileMissing, why);
    error.retryable = false;
    let mut d = detail(&w);
    d.input_error = Some(error);
    let snapshot = EventKind::Snapshot {
        worker: Box::new(d),
        transcript: Vec::new(),
        in_flight: None,
        reset: false,
        reason: None,
    };
    feed(
        &mut app,
        FeedEvent::Frame(Box::new(event(&target, 3, snapshot))),
    );
    assert!(app.notice.as_ref().is_some_and(|n| n.text.contains(why)));

    for c in "hello".chars() {
        update(
            &mut app,
            AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
    app.notice = None;
    let commands = update(
        &mut app,
        AppEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::SendInput { .. })),
        "nothing is sent: {commands:?}"
    );
    assert!(app.notice.as_ref().is_some_and(|n| n.text.contains(why)));
    assert_eq!(app.composer.text(), "hello", "the draft is kept");
}
