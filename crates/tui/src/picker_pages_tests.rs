//! Tests of the picker with many workers: pages asked for as the selection
//! nears a runtime's last row, the filter asked of the server, live frames
//! placed among the rows held or left for a page, only the rows in view drawn.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use yoi_protocol::{Timestamp, WorkerList, WorkerSummary, WorkspaceEvent};

use crate::app::{update, App, AppEvent, Command};
use crate::keys::Focus;
use crate::picker::{worker_ref, PageRequest, WORKER_PAGE};
use crate::render::{render, transcript_extent};
use crate::testing::{runtime, worker};

/// `n` silent workers of `backend-internal`, newest first (as the server sorts them).
fn silent(n: usize) -> Vec<WorkerSummary> {
    let mut out: Vec<WorkerSummary> = (0..n)
        .map(|i| worker("backend-internal", &format!("w{i:05}")))
        .collect();
    out.sort_by(yoi_protocol::by_activity);
    out
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    update(app, AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl_p(app: &mut App) -> Vec<Command> {
    update(
        app,
        AppEvent::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL)),
    )
}

fn pages(commands: &[Command]) -> Vec<PageRequest> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::LoadWorkers(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn answer(
    app: &mut App,
    request: PageRequest,
    workers: Vec<WorkerSummary>,
    more: bool,
) -> Vec<Command> {
    let next_after = more.then(|| workers.last().map(|w| w.worker_id)).flatten();
    update(
        app,
        AppEvent::WorkersAnswered {
            request,
            result: Ok(WorkerList {
                workers,
                next_after,
            }),
        },
    )
}

/// A console whose workspace holds `all` workers, of which the snapshot listed the first `listed`.
fn console(all: &[WorkerSummary], listed: usize) -> App {
    let mut app = App::new("http://127.0.0.1:7760", None, "T", transcript_extent);
    app.start();
    let mut rt = runtime("backend-internal");
    rt.worker_count = all.len() as u64;
    update(
        &mut app,
        AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![rt],
            workers: all[..listed].to_vec(),
        }),
    );
    app
}

#[test]
fn moving_down_the_picker_pages_in_every_worker_once_in_order() {
    let all = silent(260);
    let mut app = console(&all, 200);
    assert!(
        pages(&ctrl_p(&mut app)).is_empty(),
        "far from the end: nothing asked"
    );
    let mut asked = Vec::new();
    for _ in 0..400 {
        for request in pages(&key(&mut app, KeyCode::Down)) {
            asked.push(request.clone());
            let from = all
                .iter()
                .position(|w| Some(w.worker_id) == request.after)
                .map_or(0, |i| i + 1);
            let to = (from + WORKER_PAGE).min(all.len());
            answer(&mut app, request, all[from..to].to_vec(), to < all.len());
        }
    }
    assert_eq!(
        asked.len(),
        1,
        "one page after the snapshot's 200: {asked:?}"
    );
    assert_eq!(asked[0].after, Some(all[199].worker_id));
    assert_eq!(asked[0].query, None);
    let held: Vec<_> = app.picker.workers.iter().map(|w| w.worker_id).collect();
    let want: Vec<_> = all.iter().map(|w| w.worker_id).collect();
    assert_eq!(held, want);
    assert_eq!(app.picker.selected(), Some(&worker_ref(&all[259])));
}

#[test]
fn the_filter_asks_the_server_and_live_frames_follow_it() {
    let all = silent(300);
    let mut app = console(&all, 200);
    ctrl_p(&mut app);
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.focus, Focus::Filter);
    key(&mut app, KeyCode::Char('w'));
    let asked = pages(&key(&mut app, KeyCode::Char('0')));
    // Every keystroke asks again; the answers of the earlier one are dropped.
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].query.as_deref(), Some("w0"));
    assert_eq!(asked[0].after, None);
    let matching: Vec<WorkerSummary> = all
        .iter()
        .filter(|w| w.display_name.starts_with("w0025"))
        .cloned()
        .collect();
    let stale = PageRequest {
        query: Some("w".into()),
        epoch: 0,
        ..asked[0].clone()
    };
    answer(&mut app, stale, all[..5].to_vec(), false);
    assert!(
        app.picker.workers.is_empty(),
        "an answer to an older filter is dropped"
    );
    answer(&mut app, asked[0].clone(), matching.clone(), false);
    assert_eq!(app.picker.workers, matching);

    // A worker renamed into the filter is added; one renamed out of it leaves.
    let mut renamed = all[0].clone();
    renamed.display_name = "w0-renamed".into();
    renamed.last_activity = Some(Timestamp::now());
    update(
        &mut app,
        AppEvent::Workspace(WorkspaceEvent::WorkerUpdated {
            worker: renamed.clone(),
        }),
    );
    assert!(app.picker.workers.contains(&renamed));
    let mut gone = matching[0].clone();
    gone.display_name = "elsewhere".into();
    update(
        &mut app,
        AppEvent::Workspace(WorkspaceEvent::WorkerUpdated {
            worker: gone.clone(),
        }),
    );
    assert!(!app
        .picker
        .workers
        .iter()
        .any(|w| w.worker_id == gone.worker_id));

    // Enter gives the keys back to the list; clearing the filter pages the whole list again.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Picker);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Backspace);
    let again = pages(&key(&mut app, KeyCode::Backspace));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].query, None);
}

#[test]
fn a_frame_of_a_worker_past_the_rows_held_waits_for_its_page() {
    let all = silent(300);
    let mut app = console(&all, 200);
    // Worker 250 (not held) speaks: it now sorts after every silent worker.
    let mut spoke = all[250].clone();
    spoke.last_activity = Some(Timestamp::now());
    update(
        &mut app,
        AppEvent::Workspace(WorkspaceEvent::WorkerUpdated {
            worker: spoke.clone(),
        }),
    );
    assert!(!app
        .picker
        .workers
        .iter()
        .any(|w| w.worker_id == spoke.worker_id));
    // A new worker is among the newest: it shows, in its place.
    let new = worker("backend-internal", "newest");
    update(
        &mut app,
        AppEvent::Workspace(WorkspaceEvent::WorkerCreated {
            worker: new.clone(),
        }),
    );
    assert!(app.picker.workers.contains(&new));
    assert_eq!(app.picker.workers.len(), 201);
    assert!(app
        .picker
        .workers
        .windows(2)
        .all(|p| yoi_protocol::by_activity(&p[0], &p[1]).is_lt()));
}

#[test]
fn the_picker_draws_only_the_rows_in_view() {
    let all = silent(5_000);
    let mut app = console(&all, 200);
    ctrl_p(&mut app);
    for _ in 0..50 {
        key(&mut app, KeyCode::Down);
    }
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| render(f, &app)).unwrap();
    let text: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(ratatui::buffer::Cell::symbol)
        .collect();
    assert_eq!(app.picker.selected(), Some(&worker_ref(&all[50])));
    assert!(
        text.contains(&all[50].display_name),
        "the selected worker is in view"
    );
    assert!(
        !text.contains(&all[0].display_name),
        "the first rows scrolled away"
    );
    assert!(
        !text.contains(&all[120].display_name),
        "rows far below are not drawn"
    );
}
