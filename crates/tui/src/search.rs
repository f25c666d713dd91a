//! Search across conversations in the terminal: `/` in the worker picker
//! opens a prompt; Enter asks `GET /api/search` and lists the hits (their
//! snippets with the matches marked); Enter on a hit shows the message in its
//! conversation (`GET .../transcript?around=`), highlighted; Enter there
//! opens that conversation. Esc goes back one step.
//!
//! Pure state and its update, like the rest of `app`; the event loop does
//! the requests ([`crate::app::Command::Search`], [`crate::app::Command::LoadContext`]).

use yoi_protocol::{Message, MessageId, SearchHit, SearchResults, TranscriptWindow, WorkerRef};

use crate::app::{App, AppEvent, Command};
use crate::client::ClientError;
use crate::keys::{Action, Focus};

/// Messages of the page around a hit.
pub const CONTEXT_PAGE: usize = 11;

/// The search overlay's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    pub query: String,
    /// The query the hits answer (Enter on an unchanged query opens a hit).
    pub searched: Option<String>,
    pub hits: Vec<SearchHit>,
    pub selected: usize,
    /// Runtimes that did not answer.
    pub missing: Vec<String>,
    pub busy: bool,
    pub error: Option<String>,
    /// The chosen hit in its conversation.
    pub context: Option<Context>,
}

/// A hit shown in its conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub hit: SearchHit,
    /// `None` while the page is on its way.
    pub messages: Option<Vec<Message>>,
}

impl Context {
    pub fn worker(&self) -> WorkerRef {
        WorkerRef {
            runtime_id: self.hit.runtime_id.clone(),
            worker_id: self.hit.worker_id,
        }
    }

    pub fn is_hit(&self, id: &MessageId) -> bool {
        &self.hit.message_id == id
    }
}

/// `/` in the picker: an empty prompt (or the last search, kept).
pub fn open(app: &mut App) {
    app.focus = Focus::Search;
    let search = app.search.get_or_insert_with(Search::default);
    search.context = None;
}

/// Esc: from a hit in context back to the hits, from the hits to the picker.
pub fn escape(app: &mut App) {
    match app.search.as_mut() {
        Some(search) if search.context.is_some() => search.context = None,
        _ => app.focus = Focus::Picker,
    }
}

/// A key while the search overlay has the focus.
pub fn action(app: &mut App, action: Action) -> Vec<Command> {
    let Some(search) = app.search.as_mut() else {
        return Vec::new();
    };
    match action {
        Action::Insert(c) if search.context.is_none() => search.query.push(c),
        Action::Backspace if search.context.is_none() => {
            search.query.pop();
        }
        Action::KillLineBefore if search.context.is_none() => search.query.clear(),
        Action::Up => search.selected = search.selected.saturating_sub(1),
        Action::Down => {
            search.selected = (search.selected + 1).min(search.hits.len().saturating_sub(1));
        }
        Action::Choose => return choose(app),
        _ => {}
    }
    Vec::new()
}

fn choose(app: &mut App) -> Vec<Command> {
    let Some(search) = app.search.as_mut() else {
        return Vec::new();
    };
    if let Some(context) = &search.context {
        let worker = context.worker();
        return app.open_worker(worker);
    }
    let query = search.query.trim().to_owned();
    if search.searched.as_deref() != Some(query.as_str()) || search.hits.is_empty() {
        if query.is_empty() {
            return Vec::new();
        }
        search.busy = true;
        search.error = None;
        return vec![Command::Search { q: query }];
    }
    let Some(hit) = search.hits.get(search.selected).cloned() else {
        return Vec::new();
    };
    let context = Context {
        hit,
        messages: None,
    };
    let command = Command::LoadContext {
        target: context.worker(),
        around: context.hit.message_id,
    };
    search.context = Some(context);
    vec![command]
}

/// The hits of `q` came (or did not).
pub fn answered(app: &mut App, q: String, result: Result<SearchResults, ClientError>) {
    let Some(search) = app.search.as_mut() else {
        return;
    };
    search.busy = false;
    match result {
        Ok(results) => {
            search.searched = Some(q);
            search.hits = results.hits;
            search.missing = results.missing.iter().map(ToString::to_string).collect();
            search.selected = 0;
            search.error = None;
        }
        Err(e) => search.error = Some(e.to_string()),
    }
}

/// The page around the chosen hit came (or did not).
pub fn context_answered(
    app: &mut App,
    around: MessageId,
    result: Result<TranscriptWindow, ClientError>,
) {
    let Some(search) = app.search.as_mut() else {
        return;
    };
    let Some(context) = search
        .context
        .as_mut()
        .filter(|c| c.hit.message_id == around)
    else {
        return;
    };
    match result {
        Ok(page) => context.messages = Some(page.messages),
        Err(e) => {
            search.error = Some(e.to_string());
            search.context = None;
        }
    }
}

/// The events of this module, for [`crate::app::update`].
pub fn event(app: &mut App, event: AppEvent) -> Vec<Command> {
    match event {
        AppEvent::SearchAnswered { q, result } => answered(app, q, result),
        AppEvent::ContextAnswered { around, result } => context_answered(app, around, result),
        _ => {}
    }
    Vec::new()
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
