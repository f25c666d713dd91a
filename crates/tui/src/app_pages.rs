//! The app's side of the picker's pages and filter (see [`crate::picker`]):
//! which pages to ask for as the selection moves or frames arrive, the keys
//! of the filter line, and the pages that come back.

use yoi_protocol::{WorkerList, WorkspaceEvent};

use super::{App, Command};
use crate::client::ClientError;
use crate::keys::{Action, Focus};
use crate::notice::describe_client_error;
use crate::picker::PageRequest;

/// A frame of the workspace socket: the picker (and the shown worker's name)
/// follow it, and may want a page.
pub(super) fn workspace_frame(app: &mut App, event: WorkspaceEvent) -> Vec<Command> {
    super::workers::follow_rename(app, &event);
    app.picker.apply(event);
    wanted(app)
}

/// The pages the picker wants now, while it is open.
pub(super) fn wanted(app: &mut App) -> Vec<Command> {
    if !matches!(app.focus, Focus::Picker | Focus::Filter | Focus::Form) {
        return Vec::new();
    }
    app.picker
        .next_pages()
        .into_iter()
        .map(Command::LoadWorkers)
        .collect()
}

/// A key on the filter line: each edit asks the server again; Enter (or
/// Down) gives the keys back to the list.
pub(super) fn filter_action(app: &mut App, action: Action) -> Vec<Command> {
    let mut text = app.picker.filter_text.clone();
    match action {
        Action::Insert(c) => text.push(c),
        Action::Backspace => {
            text.pop();
        }
        Action::KillLineBefore => text.clear(),
        Action::Choose => {
            app.focus = Focus::Picker;
            return wanted(app);
        }
        _ => return Vec::new(),
    }
    app.picker.filter_text = text.clone();
    app.picker.set_query(&text);
    wanted(app)
}

pub(super) fn answered(
    app: &mut App,
    request: &PageRequest,
    result: Result<WorkerList, ClientError>,
) -> Vec<Command> {
    let page = match result {
        Ok(page) => Some(page),
        Err(err) => {
            app.notice = Some(describe_client_error(&err, request.runtime_id.as_str()));
            None
        }
    };
    app.picker.page_answered(request, page);
    wanted(app)
}
