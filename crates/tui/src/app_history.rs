//! The app's side of earlier history (see [`crate::transcript::History`]):
//! scrolled to the top, it asks for the page before the oldest message
//! shown; the answer goes in front and the view keeps the lines the person
//! was reading where they were.

use yoi_protocol::{MessageId, Transcript as Page};

use super::{top_line, App, Command, Scroll};
use crate::client::ClientError;
use crate::notice::describe_client_error;

/// How many messages one page of earlier history asks for.
pub const HISTORY_PAGE: usize = 100;

/// At the top of the transcript (or with nothing to scroll), with older
/// messages possibly there and none on their way: the command to fetch them.
pub(super) fn at_top(app: &mut App) -> Vec<Command> {
    if app.loading_older || top_line(app).0 != 0 {
        return Vec::new();
    }
    let (Some(target), Some(before)) = (app.resolved(), app.transcript.older_anchor()) else {
        return Vec::new();
    };
    app.loading_older = true;
    vec![Command::LoadOlder {
        generation: app.generation,
        target,
        before,
    }]
}

/// The page before `before` came (or failed). A page for a view that moved
/// on (a snapshot replaced its oldest message) is dropped.
pub(super) fn answered(app: &mut App, before: MessageId, result: Result<Page, ClientError>) {
    // Measured as the screen shows it now, with the "loading" line.
    let (total_before, _) = app.transcript_extent();
    app.loading_older = false;
    let page = match result {
        Ok(page) => page,
        Err(e) => {
            app.notice = Some(describe_client_error(&e, app.worker_name()));
            return;
        }
    };
    if !app
        .transcript
        .prepend(before, page.messages, page.truncated)
    {
        return;
    }
    let (total_after, height) = app.transcript_extent();
    let grown = total_after.saturating_sub(total_before);
    // Held at a line: the same text stays at the top. Following (the view did
    // not fill the screen) stays following unless the page makes it scroll.
    app.scroll = match app.scroll {
        Scroll::At(top) => Scroll::At(top.saturating_add(grown)),
        Scroll::Follow if total_after > height => Scroll::At(grown.min(total_after - height)),
        Scroll::Follow => Scroll::Follow,
    };
}
