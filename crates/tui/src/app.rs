//! The console's state and its pure `update`.
//!
//! Everything that happens, a key press or a frame from the server, arrives
//! as an [`AppEvent`]. [`update`] folds it into the [`App`] and returns the
//! [`Command`]s the event loop must carry out (subscribe, send, cancel,
//! remove a queued input, fetch earlier messages, quit).
//! It does no I/O and reads no clock, so every behaviour of the console, from
//! dedupe and cursors to what Esc does, is tested by calling it.
//!
//! Event streams are tagged with a *generation*: switching to another worker
//! starts a new one, and late frames or answers of the old stream are ignored.

use std::time::Duration;

use crossterm::event::KeyEvent;
use yoi_protocol::{
    ApiError, ApprovalAnswer, ApprovalRequest, CancelAccepted, ClientMessageId, CreateWorker,
    ErrorCode, EventKind, InFlight, InputAccepted, Message, MessageId, MessageState, ProviderInfo,
    RunId, RunState, RunUsage, RuntimeId, Seq, SnapshotReason, Timestamp, WorkerDetail,
    WorkerEvent, WorkerRef, WorkerStatus, WorkerSummary, WorkspaceEvent, MAX_INPUT_TEXT_CHARS,
};

use crate::client::ClientError;
use crate::composer::Composer;
use crate::keys::{action_for, Action, Focus};
use crate::manage::Form;
use crate::notice::{describe_api_error, describe_client_error, Notice};
use crate::picker::{worker_ref, PageRequest, Picker};
use crate::queue::Queue;
use crate::tool_calls::Approvals;
use crate::transcript::{ToolEnd, Transcript};

/// Lines the mouse wheel scrolls per notch.
const WHEEL_LINES: usize = 3;

/// Which worker the console talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Whatever `GET /api/companion` names, re-resolved on every reconnect.
    Companion,
    Worker(WorkerRef),
}

/// The worker socket's state, as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    Connecting {
        attempt: u32,
    },
    Live(LiveKind),
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// No more attempts: the worker is gone or the server refuses us.
    Gone {
        reason: String,
    },
}

/// How the live connection started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// First connection: a snapshot, then live events.
    Fresh,
    /// Reconnected with `cursor=from`: the missed events were replayed.
    Resumed { from: Seq },
    /// The server could not replay from our cursor and sent a fresh snapshot.
    Reset { reason: Option<SnapshotReason> },
}

/// Tokens and time of the last finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    pub usage: RunUsage,
    pub duration_ms: u64,
}

/// Measures the transcript as the screen lays it out at the app's terminal
/// size: `(rows it wraps to, rows it shows at once)`. Scrolling needs it and
/// only the drawing code knows it, so the event loop hands
/// `render::transcript_extent` to [`App::new`]: rendering depends on the
/// model, never the other way.
pub type TranscriptExtent = fn(&App) -> (usize, usize);

/// Where the transcript view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scroll {
    /// Pinned to the newest line: new text scrolls into view.
    #[default]
    Follow,
    /// Held with this line (of the wrapped transcript) at the top.
    At(usize),
}

/// What the worker feed (see [`crate::feed`]) reports.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    Connecting {
        attempt: u32,
    },
    /// The target was looked up: which worker it is (and, for the Companion,
    /// whether a provider is configured).
    Resolved {
        worker: WorkerSummary,
        provider: Option<ProviderInfo>,
    },
    /// The socket is open; `cursor` is what it resumed from.
    Connected {
        cursor: Option<Seq>,
    },
    Frame(Box<WorkerEvent>),
    /// A frame of a kind this console does not know (the contract allows
    /// additions): only its `seq` counts.
    UnknownFrame {
        seq: Option<Seq>,
    },
    Retrying {
        attempt: u32,
        delay: Duration,
        error: ClientError,
    },
    GaveUp {
        error: ClientError,
    },
}

/// Everything `update` reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    Key(KeyEvent),
    Paste(String),
    /// Mouse wheel: negative scrolls back.
    Wheel(i32),
    Resize {
        width: u16,
        height: u16,
    },
    Feed {
        generation: u64,
        event: FeedEvent,
    },
    Workspace(WorkspaceEvent),
    WorkspaceDown,
    InputAnswered {
        generation: u64,
        result: Result<InputAccepted, ClientError>,
    },
    CancelAnswered {
        generation: u64,
        result: Result<CancelAccepted, ClientError>,
    },
    /// The answers of the picker's commands (new worker, rename, stop).
    CreateAnswered(Result<Box<WorkerDetail>, ClientError>),
    RenameAnswered(Result<WorkerSummary, ClientError>),
    StopAnswered {
        display_ref: String,
        result: Result<(), ClientError>,
    },
    RemoveAnswered {
        generation: u64,
        result: Result<(), ClientError>,
    },
    /// The answer to a decision on a tool call.
    DecisionAnswered {
        generation: u64,
        call_id: String,
        result: Result<ApprovalAnswer, ClientError>,
    },
    /// The page of messages just older than `before`.
    OlderAnswered {
        generation: u64,
        before: MessageId,
        result: Result<yoi_protocol::Transcript, ClientError>,
    },
    /// A page of the picker's workers, or why it could not be had.
    WorkersAnswered {
        request: PageRequest,
        result: Result<yoi_protocol::WorkerList, ClientError>,
    },
    /// The hits of a search for `q`.
    SearchAnswered {
        q: String,
        result: Result<yoi_protocol::SearchResults, ClientError>,
    },
    /// The page around a search hit.
    ContextAnswered {
        around: MessageId,
        result: Result<yoi_protocol::TranscriptWindow, ClientError>,
    },
}

impl AppEvent {
    /// The stream generation an answer or frame belongs to; those of a
    /// stream the console has left (another worker) are ignored.
    fn generation(&self) -> Option<u64> {
        match self {
            AppEvent::Feed { generation, .. }
            | AppEvent::InputAnswered { generation, .. }
            | AppEvent::CancelAnswered { generation, .. }
            | AppEvent::RemoveAnswered { generation, .. }
            | AppEvent::DecisionAnswered { generation, .. }
            | AppEvent::OlderAnswered { generation, .. } => Some(*generation),
            _ => None,
        }
    }
}

/// I/O for the event loop to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Drop the current worker feed and subscribe to this target.
    Subscribe {
        generation: u64,
        target: Target,
    },
    SendInput {
        generation: u64,
        target: WorkerRef,
        text: String,
        client_message_id: Option<ClientMessageId>,
    },
    Cancel {
        generation: u64,
        target: WorkerRef,
    },
    CreateWorker {
        runtime_id: RuntimeId,
        request: CreateWorker,
    },
    RenameWorker {
        target: WorkerRef,
        display_name: String,
    },
    StopWorker {
        target: WorkerRef,
        display_ref: String,
    },
    /// Take a queued input back before it runs.
    RemoveQueued {
        generation: u64,
        target: WorkerRef,
        message_id: MessageId,
    },
    /// Send a person's decision on a tool call that waits.
    Decide {
        generation: u64,
        target: WorkerRef,
        call_id: String,
        request: ApprovalRequest,
    },
    /// Fetch the page of messages just older than `before`.
    LoadOlder {
        generation: u64,
        target: WorkerRef,
        before: MessageId,
    },
    /// Fetch a page of a runtime's workers for the picker.
    LoadWorkers(PageRequest),
    /// Search every conversation for the words of `q`.
    Search {
        q: String,
    },
    /// Fetch the page of `target`'s history around a search hit.
    LoadContext {
        target: WorkerRef,
        around: MessageId,
    },
    Quit,
}

/// The whole console model.
#[derive(Debug, Clone)]
pub struct App {
    /// The server's address, for the status bar and messages.
    pub server: String,
    pub target: Target,
    pub generation: u64,
    pub conn: ConnState,
    /// The worker the target resolved to, with live status and model.
    pub worker: Option<WorkerSummary>,
    pub provider: Option<ProviderInfo>,
    pub transcript: Transcript,
    /// Inputs waiting for the answer in flight, the next first.
    pub queue: Queue,
    /// The highest `seq` applied: the cursor of the next reconnect.
    pub last_seq: Option<Seq>,
    pub duplicates_dropped: u64,
    pub active_run: Option<RunId>,
    pub last_run: Option<RunStats>,
    pub composer: Composer,
    /// A send is on its way; the draft is locked until it is answered.
    pub sending: bool,
    /// The id of the draft's send: reused when a send's outcome is unknown.
    pending_id: Option<ClientMessageId>,
    session_tag: String,
    sends: u64,
    pub notice: Option<Notice>,
    pub focus: Focus,
    pub picker: Picker,
    /// The picker's form in use (with `Focus::Form`).
    pub form: Option<Form>,
    /// The search overlay (with `Focus::Search`); kept when it closes.
    pub search: Option<crate::search::Search>,
    /// The send in flight is a retry: its answer leaves the draft alone.
    retrying: bool,
    pub scroll: Scroll,
    /// A page of earlier messages is on its way.
    pub loading_older: bool,
    /// Why the worker takes no input (its profile is gone): the server's
    /// words, shown instead of sending. Its history stays readable.
    pub input_blocked: Option<String>,
    pub show_reasoning: bool,
    /// Tool calls shown with their arguments and results (Ctrl-O), not one line each.
    pub show_tools: bool,
    /// Tool calls waiting for a person; the prompt asks about the first.
    pub approvals: Approvals,
    /// Ctrl-C was pressed once; a second one quits.
    pub quit_armed: bool,
    pub quitting: bool,
    /// Terminal size, for paging.
    pub size: (u16, u16),
    transcript_extent: TranscriptExtent,
}

impl App {
    /// `session_tag` makes this console's `client_message_id`s unique (the
    /// event loop passes a fresh ULID; tests a fixed string).
    /// `transcript_extent` is how the screen measures the transcript.
    pub fn new(
        server: impl Into<String>,
        target: Option<WorkerRef>,
        session_tag: impl Into<String>,
        transcript_extent: TranscriptExtent,
    ) -> Self {
        Self {
            server: server.into(),
            target: target.map_or(Target::Companion, Target::Worker),
            generation: 0,
            conn: ConnState::Connecting { attempt: 1 },
            worker: None,
            provider: None,
            transcript: Transcript::default(),
            queue: Queue::default(),
            last_seq: None,
            duplicates_dropped: 0,
            active_run: None,
            last_run: None,
            composer: Composer::default(),
            sending: false,
            pending_id: None,
            session_tag: session_tag.into(),
            sends: 0,
            notice: None,
            focus: Focus::Composer,
            picker: Picker::default(),
            form: None,
            search: None,
            retrying: false,
            scroll: Scroll::Follow,
            loading_older: false,
            input_blocked: None,
            show_reasoning: false,
            show_tools: false,
            approvals: Approvals::default(),
            quit_armed: false,
            quitting: false,
            size: (80, 24),
            transcript_extent,
        }
    }

    /// The first commands: subscribe to the initial target.
    pub fn start(&mut self) -> Vec<Command> {
        self.generation += 1;
        vec![Command::Subscribe {
            generation: self.generation,
            target: self.target.clone(),
        }]
    }

    /// The cursor for the next (re)connect.
    pub fn cursor(&self) -> Option<Seq> {
        self.last_seq
    }

    /// The worker the console is attached to, once known.
    pub fn resolved(&self) -> Option<WorkerRef> {
        match (&self.target, &self.worker) {
            (Target::Worker(r), _) => Some(r.clone()),
            (Target::Companion, Some(w)) => Some(worker_ref(w)),
            (Target::Companion, None) => None,
        }
    }

    /// The worker's display name, for messages (`companion`).
    pub fn worker_name(&self) -> &str {
        match (&self.worker, &self.target) {
            (Some(w), _) => &w.display_name,
            (None, Target::Companion) => "companion",
            (None, Target::Worker(_)) => "the worker",
        }
    }

    /// The transcript's height in wrapped rows, and the rows it shows at once.
    pub fn transcript_extent(&self) -> (usize, usize) {
        (self.transcript_extent)(self)
    }

    /// Whether an answer is in flight, as far as the console knows.
    pub fn run_in_flight(&self) -> bool {
        self.active_run.is_some()
            || self.worker.as_ref().is_some_and(|w| {
                matches!(
                    w.status,
                    WorkerStatus::Running | WorkerStatus::WaitingApproval
                )
            })
    }

    fn next_client_message_id(&mut self) -> Option<ClientMessageId> {
        self.sends += 1;
        ClientMessageId::parse(&format!("tui-{}-{}", self.session_tag, self.sends)).ok()
    }

    /// Forget everything about the previous worker (a switch, or the
    /// Companion now being another worker).
    fn forget_worker(&mut self) {
        self.worker = None;
        self.provider = None;
        self.transcript.clear();
        self.queue.clear();
        self.approvals.clear();
        self.last_seq = None;
        self.duplicates_dropped = 0;
        self.active_run = None;
        self.last_run = None;
        self.scroll = Scroll::Follow;
        self.loading_older = false;
    }
}

/// Folds one event into the state; returns the I/O to do.
pub fn update(app: &mut App, event: AppEvent) -> Vec<Command> {
    if event.generation().is_some_and(|g| g != app.generation) {
        return Vec::new();
    }
    match event {
        AppEvent::Key(key) if tools::is_approval_key(app, key) => tools::decide_key(app, key),
        AppEvent::Key(key) => match action_for(key, app.focus, app.composer.is_empty()) {
            Some(action) => apply_action(app, action),
            None => Vec::new(),
        },
        AppEvent::Paste(text) => {
            if app.focus == Focus::Composer && !app.sending {
                app.composer.insert_str(&text);
                app.pending_id = None;
            }
            Vec::new()
        }
        AppEvent::Wheel(notches) => {
            let lines = notches.unsigned_abs() as usize * WHEEL_LINES;
            if notches < 0 {
                return scroll_up(app, lines);
            }
            scroll_down(app, lines);
            Vec::new()
        }
        AppEvent::Resize { width, height } => {
            app.size = (width, height);
            Vec::new()
        }
        AppEvent::Feed { event, .. } => {
            apply_feed(app, event);
            Vec::new()
        }
        AppEvent::Workspace(event) => pages::workspace_frame(app, event),
        AppEvent::WorkersAnswered { request, result } => pages::answered(app, &request, result),
        AppEvent::WorkspaceDown => {
            app.picker.disconnected();
            Vec::new()
        }
        AppEvent::InputAnswered { result, .. } => {
            input_answered(app, result);
            Vec::new()
        }
        AppEvent::DecisionAnswered {
            call_id, result, ..
        } => tools::decision_answered(app, &call_id, result),
        AppEvent::CancelAnswered { result, .. } => {
            cancel_answered(app, result);
            Vec::new()
        }
        AppEvent::CreateAnswered(result) => workers::created(app, result),
        AppEvent::RenameAnswered(result) => {
            workers::renamed(app, result);
            Vec::new()
        }
        AppEvent::StopAnswered {
            display_ref,
            result,
        } => {
            workers::stopped(app, &display_ref, result);
            Vec::new()
        }
        AppEvent::RemoveAnswered { result, .. } => {
            remove_answered(app, result);
            Vec::new()
        }
        AppEvent::OlderAnswered { before, result, .. } => {
            history::answered(app, before, result);
            Vec::new()
        }
        event @ (AppEvent::SearchAnswered { .. } | AppEvent::ContextAnswered { .. }) => {
            crate::search::event(app, event)
        }
    }
}

fn apply_action(app: &mut App, action: Action) -> Vec<Command> {
    if action != Action::Interrupt {
        app.quit_armed = false;
    }
    let global = matches!(
        action,
        Action::Interrupt
            | Action::Quit
            | Action::Escape
            | Action::TogglePicker
            | Action::ToggleHelp
    );
    if !global {
        if let Some(commands) = focused_action(app, action) {
            return commands;
        }
    }
    match action {
        Action::Interrupt => {
            if app.quit_armed {
                return quit(app);
            }
            app.quit_armed = true;
            app.notice = Some(Notice::info(
                "Press Ctrl-C again to quit (Ctrl-Q quits at once)",
            ));
        }
        Action::Quit => return quit(app),
        Action::ToggleHelp => {
            app.focus = if app.focus == Focus::Help {
                Focus::Composer
            } else {
                Focus::Help
            };
        }
        Action::TogglePicker => {
            app.form = None;
            if matches!(app.focus, Focus::Picker | Focus::Form | Focus::Filter) {
                app.focus = Focus::Composer;
            } else {
                app.focus = Focus::Picker;
                let current = app.resolved();
                app.picker.select(current.as_ref());
                app.picker.reopened();
                return pages::wanted(app);
            }
        }
        Action::Escape => return escape(app),
        Action::OpenSearch => crate::search::open(app),
        Action::Choose => return choose_worker(app),
        Action::NewWorker | Action::RenameWorker | Action::StopWorker => {
            workers::open_form(app, action);
        }
        Action::Retry => return workers::retry(app),
        Action::ToggleReasoning => app.show_reasoning = !app.show_reasoning,
        Action::ToggleTools => app.show_tools = !app.show_tools,
        Action::PageUp => return scroll_up(app, page(app)),
        Action::PageDown => scroll_down(app, page(app)),
        Action::ScrollTop => {
            let (total, height) = app.transcript_extent();
            if total > height {
                app.scroll = Scroll::At(0);
            }
            return history::at_top(app);
        }
        Action::ScrollBottom => app.scroll = Scroll::Follow,
        Action::Up if app.focus == Focus::Picker => {
            app.picker.move_selection(-1);
            return pages::wanted(app);
        }
        Action::Down if app.focus == Focus::Picker => {
            app.picker.move_selection(1);
            return pages::wanted(app);
        }
        Action::Filter if app.focus == Focus::Picker => app.focus = Focus::Filter,
        Action::Submit => return submit(app),
        Action::RemoveLastQueued => return remove_last_queued(app),
        edit => edit_draft(app, edit),
    }
    Vec::new()
}

/// The action of a focus that takes its own keys (a form, the picker's
/// filter line, the search prompt), if the console has one.
fn focused_action(app: &mut App, action: Action) -> Option<Vec<Command>> {
    match app.focus {
        Focus::Form => Some(workers::form_action(app, action)),
        Focus::Filter => Some(pages::filter_action(app, action)),
        Focus::Search => Some(crate::search::action(app, action)),
        _ => None,
    }
}

fn quit(app: &mut App) -> Vec<Command> {
    app.quitting = true;
    vec![Command::Quit]
}

/// Esc closes a form (back to the picker) or a panel first; otherwise it
/// stops the answer in flight.
fn escape(app: &mut App) -> Vec<Command> {
    if app.focus == Focus::Search {
        crate::search::escape(app);
        return Vec::new();
    }
    if app.focus == Focus::Form {
        app.form = None;
        app.focus = Focus::Picker;
        return Vec::new();
    }
    if app.focus == Focus::Filter {
        // The filter stays; the list has the keys again.
        app.focus = Focus::Picker;
        return Vec::new();
    }
    if app.focus != Focus::Composer {
        app.focus = Focus::Composer;
        return Vec::new();
    }
    match app.resolved() {
        Some(target) if app.run_in_flight() => {
            app.notice = Some(Notice::info("Stopping the answer…"));
            vec![Command::Cancel {
                generation: app.generation,
                target,
            }]
        }
        _ => {
            app.notice = None;
            Vec::new()
        }
    }
}

/// Ctrl-X: takes back the input queued last, before it runs.
fn remove_last_queued(app: &mut App) -> Vec<Command> {
    let (Some(target), Some(last)) = (app.resolved(), app.queue.last()) else {
        app.notice = Some(Notice::info("Nothing is queued"));
        return Vec::new();
    };
    vec![Command::RemoveQueued {
        generation: app.generation,
        target,
        message_id: last.message_id,
    }]
}

fn remove_answered(app: &mut App, result: Result<(), ClientError>) {
    app.notice = Some(match result {
        Ok(()) => Notice::info("Removed from the queue"),
        Err(ClientError::Api(e)) if e.code == ErrorCode::NotFound => {
            Notice::info("Too late to remove it: its answer has started")
        }
        Err(err) => describe_client_error(&err, app.worker_name()),
    });
}

fn choose_worker(app: &mut App) -> Vec<Command> {
    match app.picker.selection_usable() {
        Err(why) => {
            app.notice = Some(Notice::warning(format!("Cannot switch: {why}")));
            Vec::new()
        }
        Ok(chosen) => switch_to(app, chosen),
    }
}

impl App {
    /// Shows `worker` (a search hit's conversation), as the picker does.
    pub(crate) fn open_worker(&mut self, worker: WorkerRef) -> Vec<Command> {
        switch_to(self, worker)
    }
}

/// Shows another worker: a new feed generation, nothing of the old one kept.
fn switch_to(app: &mut App, chosen: WorkerRef) -> Vec<Command> {
    app.focus = Focus::Composer;
    if app.resolved().as_ref() == Some(&chosen) {
        return Vec::new();
    }
    app.target = Target::Worker(chosen);
    app.generation += 1;
    app.conn = ConnState::Connecting { attempt: 1 };
    app.forget_worker();
    app.sending = false;
    app.retrying = false;
    app.pending_id = None;
    app.notice = None;
    vec![Command::Subscribe {
        generation: app.generation,
        target: app.target.clone(),
    }]
}

fn submit(app: &mut App) -> Vec<Command> {
    if app.sending {
        return Vec::new();
    }
    if let Some(why) = &app.input_blocked {
        // The draft is kept: it can go to another worker (Ctrl-P).
        app.notice = Some(blocked_notice(why));
        return Vec::new();
    }
    let text = app.composer.text().to_owned();
    if text.trim().is_empty() {
        return Vec::new();
    }
    let chars = text.chars().count();
    if chars > MAX_INPUT_TEXT_CHARS {
        app.notice = Some(Notice::warning(format!(
            "That message has {chars} characters; the limit is {MAX_INPUT_TEXT_CHARS}"
        )));
        return Vec::new();
    }
    let Some(target) = app.resolved() else {
        app.notice = Some(Notice::warning(
            "Not connected to a worker yet — your message is kept",
        ));
        return Vec::new();
    };
    let client_message_id = match app.pending_id.clone() {
        Some(id) => Some(id),
        None => app.next_client_message_id(),
    };
    app.pending_id = client_message_id.clone();
    app.sending = true;
    app.scroll = Scroll::Follow;
    vec![Command::SendInput {
        generation: app.generation,
        target,
        text,
        client_message_id,
    }]
}

fn edit_draft(app: &mut App, action: Action) {
    if app.focus != Focus::Composer || app.sending {
        return;
    }
    let c = &mut app.composer;
    let before = c.text().to_owned();
    match action {
        Action::Insert(ch) => c.insert_char(ch),
        Action::NewLine => c.insert_char('\n'),
        Action::Backspace => c.backspace(),
        Action::Delete => c.delete(),
        Action::Left => c.left(),
        Action::Right => c.right(),
        Action::LineStart => c.line_start(),
        Action::LineEnd => c.line_end(),
        Action::KillLineBefore => c.kill_line_before(),
        Action::Up => c.up(),
        Action::Down => c.down(),
        _ => {}
    }
    if c.text() != before {
        // Another text is another message: it gets its own id.
        app.pending_id = None;
    }
}

fn input_answered(app: &mut App, result: Result<InputAccepted, ClientError>) {
    app.sending = false;
    if std::mem::take(&mut app.retrying) {
        // A retry: the draft was never part of it.
        app.notice = match result {
            Ok(_) => None,
            Err(err) => Some(describe_client_error(&err, app.worker_name())),
        };
        return;
    }
    match result {
        Ok(accepted) => {
            let sent = app.composer.text().to_owned();
            app.composer.remember(&sent);
            app.composer.clear();
            app.pending_id = None;
            if accepted.queued {
                app.notice = Some(Notice::info(format!(
                    "Queued ({}) — it runs after the answer; Ctrl-X takes back the last queued",
                    accepted.position.unwrap_or(1)
                )));
            } else if !run_ended(app, accepted.run_id) {
                // A run that already ended (before this answer came) keeps its notice.
                app.notice = None;
            }
        }
        Err(err) => {
            if !err.outcome_unknown() {
                // The server refused it, so nothing was accepted under that id.
                app.pending_id = None;
            }
            app.notice = Some(describe_client_error(&err, app.worker_name()));
        }
    }
}

/// Whether the run's answer is already in the transcript and no longer in flight.
fn run_ended(app: &App, run_id: RunId) -> bool {
    app.active_run != Some(run_id) && app.transcript.answer_text(run_id).is_some()
}

fn cancel_answered(app: &mut App, result: Result<CancelAccepted, ClientError>) {
    match result {
        Ok(_) => {}
        Err(ClientError::Api(e)) if e.code == ErrorCode::NotRunning => {
            app.active_run = None;
            app.notice = Some(describe_api_error(&e, app.worker_name()));
        }
        Err(err) => app.notice = Some(describe_client_error(&err, app.worker_name())),
    }
}

fn apply_feed(app: &mut App, event: FeedEvent) {
    match event {
        FeedEvent::Connecting { attempt } => app.conn = ConnState::Connecting { attempt },
        FeedEvent::Resolved { worker, provider } => {
            let changed = app
                .worker
                .as_ref()
                .is_some_and(|w| worker_ref(w) != worker_ref(&worker));
            if changed {
                app.forget_worker();
                app.notice = Some(Notice::info(format!(
                    "The server now has another {} (did it restart?) — a fresh conversation",
                    worker.display_name
                )));
            }
            if provider.as_ref().is_some_and(|p| !p.configured) {
                app.notice = Some(Notice::warning(
                    "The server has no model provider configured yet — sending will say what to set",
                ));
            }
            app.worker = Some(worker);
            app.provider = provider;
        }
        FeedEvent::Connected { cursor } => {
            app.conn = ConnState::Live(match cursor {
                Some(from) => LiveKind::Resumed { from },
                None => LiveKind::Fresh,
            });
        }
        FeedEvent::Frame(event) => apply_worker_event(app, *event),
        FeedEvent::UnknownFrame { seq } => {
            if let Some(seq) = seq {
                if app.last_seq.is_none_or(|last| seq > last) {
                    app.last_seq = Some(seq);
                }
            }
        }
        FeedEvent::Retrying {
            attempt,
            delay,
            error,
        } => {
            app.conn = ConnState::Reconnecting {
                attempt,
                delay,
                reason: short_reason(&error),
            };
        }
        FeedEvent::GaveUp { error } => {
            app.conn = ConnState::Gone {
                reason: short_reason(&error),
            };
            app.notice = Some(describe_client_error(&error, app.worker_name()));
        }
    }
}

/// A few words for the status bar.
fn short_reason(err: &ClientError) -> String {
    match err {
        ClientError::Unreachable(_) => "server unreachable".into(),
        ClientError::Api(e) => e.code.as_str().replace('_', " "),
        ClientError::Http { status } => format!("HTTP {status}"),
        ClientError::Decode(_) => "bad answer".into(),
    }
}

/// Applies one frame of the worker socket: snapshots replace, everything
/// else is applied once, in `seq` order, and duplicates are dropped.
pub fn apply_worker_event(app: &mut App, event: WorkerEvent) {
    if let Some(target) = app.resolved() {
        if event.runtime_id != target.runtime_id || event.worker_id != target.worker_id {
            return;
        }
    }
    let seq = event.seq;
    match event.kind {
        EventKind::Snapshot {
            worker,
            transcript,
            in_flight,
            reset,
            reason,
        } => {
            apply_snapshot(app, seq, *worker, transcript, in_flight);
            if reset {
                app.conn = ConnState::Live(LiveKind::Reset { reason });
                app.scroll = Scroll::Follow;
            }
        }
        kind => {
            if app.last_seq.is_some_and(|last| seq <= last) {
                app.duplicates_dropped += 1;
                return;
            }
            app.last_seq = Some(seq);
            apply_live_event(app, kind, event.at);
        }
    }
}

/// A snapshot replaces what the console knows of the worker and moves the
/// cursor to its `seq`, back as well as forward.
fn apply_snapshot(
    app: &mut App,
    seq: Seq,
    worker: WorkerDetail,
    transcript: Vec<Message>,
    in_flight: Option<InFlight>,
) {
    app.active_run = in_flight.as_ref().map(|f| f.run_id).or_else(|| {
        worker
            .last_run
            .as_ref()
            .filter(|r| r.state == RunState::Running)
            .map(|r| r.run_id)
    });
    app.transcript.replace(transcript, in_flight);
    tools::snapshot(app, &worker.pending_approvals);
    app.queue.replace(worker.queue);
    app.input_blocked = worker.input_error.map(|e| e.message);
    if let Some(why) = &app.input_blocked {
        app.notice = Some(blocked_notice(why));
    }
    app.worker = Some(worker.summary);
    app.last_seq = Some(seq);
}

fn blocked_notice(why: &str) -> Notice {
    Notice::error(format!("This conversation cannot take input: {why}"))
}

/// Applies one live (not snapshot) event, already checked to be new.
fn apply_live_event(app: &mut App, kind: EventKind, at: Timestamp) {
    match kind {
        // Handled by `apply_worker_event` before it gets here.
        EventKind::Snapshot { .. } => {}
        // The queue.
        EventKind::InputQueued {
            message_id, text, ..
        } => app.queue.push(message_id, text, at),
        EventKind::InputDequeued { message_id, .. } => app.queue.remove(message_id),
        // The run's lifecycle.
        EventKind::InputAccepted { run_id, message } => {
            app.queue.remove(message.id);
            app.transcript.upsert(message);
            app.active_run = Some(run_id);
        }
        EventKind::RunStarted { run_id, model } => run_started(app, run_id, model),
        EventKind::RunCompleted {
            run_id,
            usage,
            duration_ms,
        } => run_completed(app, run_id, RunStats { usage, duration_ms }),
        EventKind::RunFailed { run_id, error } => run_failed(app, run_id, error),
        EventKind::RunCancelled { run_id } => run_cancelled(app, run_id),
        // What the run streams into the transcript.
        EventKind::AssistantDelta { run_id, text } => app.transcript.append_delta(run_id, &text),
        EventKind::ReasoningDelta { run_id, text } => {
            app.transcript.append_reasoning(run_id, &text);
        }
        EventKind::AssistantMessage { run_id, message } => {
            app.transcript.finish_answer(run_id, message);
        }
        EventKind::ToolCallStarted {
            run_id,
            call_id,
            name,
            arguments,
        } => app
            .transcript
            .tool_started(run_id, &call_id, &name, &arguments, at),
        EventKind::ToolApprovalRequested {
            run_id,
            call_id,
            name,
            arguments,
        } => tools::requested(app, run_id, call_id, name, arguments, at),
        EventKind::ToolApprovalDecided {
            run_id,
            call_id,
            decision,
            ..
        } => {
            app.approvals.remove(&call_id);
            let allowed = decision == yoi_protocol::ApprovalDecision::Allow;
            app.transcript.tool_decided(run_id, &call_id, allowed, at);
        }
        EventKind::ToolCallFinished {
            run_id,
            call_id,
            summary,
            state,
            output,
            ..
        } => {
            app.approvals.remove(&call_id);
            let end = ToolEnd {
                state,
                summary,
                output,
            };
            app.transcript.tool_finished(run_id, &call_id, end, at);
        }
        // The worker's own status.
        EventKind::Status { status } => status_changed(app, status),
        EventKind::WorkerStopped => worker_stopped(app),
    }
}

fn run_started(app: &mut App, run_id: RunId, model: String) {
    app.active_run = Some(run_id);
    if let Some(w) = app.worker.as_mut() {
        w.profile.model = model;
    }
}

fn run_completed(app: &mut App, run_id: RunId, stats: RunStats) {
    app.transcript.end_run(run_id, MessageState::Complete, None);
    app.last_run = Some(stats);
    end_active(app, run_id);
}

fn run_failed(app: &mut App, run_id: RunId, error: ApiError) {
    // The answer row says why, in the words of `describe_api_error`; it
    // already carries this error when `assistant_message` came first (as
    // the server sends it), and keeps it as its one error. The notice line
    // only points there, so the reason is not on the screen twice.
    app.transcript
        .end_run(run_id, MessageState::Failed, Some(error));
    app.notice = Some(Notice::error(
        "The answer failed — the reason is shown with it in the transcript · Ctrl-T retries",
    ));
    end_active(app, run_id);
}

fn run_cancelled(app: &mut App, run_id: RunId) {
    let had_text = app
        .transcript
        .answer_text(run_id)
        .is_some_and(|t| !t.trim().is_empty());
    app.transcript
        .end_run(run_id, MessageState::Cancelled, None);
    app.notice = Some(Notice::info(if had_text {
        "Answer cancelled — the partial text is kept · Ctrl-T retries"
    } else {
        "Answer cancelled before any text · Ctrl-T retries"
    }));
    end_active(app, run_id);
}

fn status_changed(app: &mut App, status: WorkerStatus) {
    if let Some(w) = app.worker.as_mut() {
        w.status = status;
    }
    // A run waiting for a person's decision is still in flight.
    if !matches!(
        status,
        WorkerStatus::Running | WorkerStatus::WaitingApproval
    ) {
        app.active_run = None;
    }
}

fn worker_stopped(app: &mut App) {
    if let Some(w) = app.worker.as_mut() {
        w.status = WorkerStatus::Stopped;
    }
    app.active_run = None;
    app.queue.clear();
    app.notice = Some(Notice::warning(
        "This worker was stopped — press Ctrl-P to pick another",
    ));
}

fn end_active(app: &mut App, run_id: RunId) {
    app.approvals.end_run(run_id);
    if app.active_run == Some(run_id) {
        app.active_run = None;
    }
}

fn page(app: &App) -> usize {
    let (_, height) = app.transcript_extent();
    height.saturating_sub(1).max(1)
}

fn top_line(app: &App) -> (usize, usize) {
    let (total, height) = app.transcript_extent();
    let max_top = total.saturating_sub(height);
    let top = match app.scroll {
        Scroll::Follow => max_top,
        Scroll::At(t) => t.min(max_top),
    };
    (top, max_top)
}

/// Scrolls back; at the top, asks for earlier messages.
fn scroll_up(app: &mut App, lines: usize) -> Vec<Command> {
    let (top, max_top) = top_line(app);
    if max_top > 0 {
        app.scroll = Scroll::At(top.saturating_sub(lines));
    }
    history::at_top(app)
}

fn scroll_down(app: &mut App, lines: usize) {
    let (top, max_top) = top_line(app);
    let next = top.saturating_add(lines);
    app.scroll = if next >= max_top {
        Scroll::Follow
    } else {
        Scroll::At(next)
    };
}

#[path = "app_workers.rs"]
mod workers;

#[path = "app_history.rs"]
mod history;

#[path = "app_tools.rs"]
mod tools;
pub use history::HISTORY_PAGE;

#[path = "app_pages.rs"]
mod pages;

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "app_input_blocked_tests.rs"]
mod input_blocked_tests;
