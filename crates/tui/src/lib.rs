//! `yoi tui`: a terminal console of the yoi backend, speaking to it exactly as
//! the web console does.
//!
//! The console names its target only as `runtime_id + worker_id` (or asks
//! `GET /api/companion` for the Companion), sends commands over REST and
//! observes over the worker's WebSocket. It depends on `yoi-protocol` for
//! every wire type and on nothing of the runtime or the server.
//!
//! # How it fits together
//!
//! ```text
//!  crossterm events ──┐                    ┌─> render(frame, &App)    (render)
//!                     ├─> AppEvent ─> update(&mut App, event) ─> [Command]
//!  network tasks ─────┘   (bounded mpsc)   (app: pure, no I/O)      │
//!    ▲  feed: worker socket (reconnect, cursor) + workspace socket   │
//!    └──────────── event_loop: subscribe / send / cancel / quit <────┘
//! ```
//!
//! Modules depend one way only, without cycles: `event_loop` uses `feed` and
//! `render`, both use `app`, `app` uses the models (`composer`, `keys`,
//! `manage`, `picker`, `transcript`) and `notice`, and `notice` and `feed`
//! use `client`.
//! `app` does not know `render`: to scroll by pages it measures the transcript
//! through the function the event loop hands to [`App::new`]
//! (`render::transcript_extent`).
//!
//! # One message, end to end
//!
//! 1. A key press reaches `event_loop` as an [`AppEvent::Key`]; [`update`]
//!    maps it through [`keys`] and edits the `composer`.
//! 2. Enter turns the draft into [`Command::SendInput`]; `event_loop` spawns
//!    the send: `client` POSTs it to
//!    `/api/runtimes/{runtime_id}/workers/{worker_id}/input` with a
//!    `client_message_id`. Its answer comes back as `AppEvent::InputAnswered`
//!    and clears the composer.
//! 3. The backend runs the worker, which streams the run as frames on
//!    `.../events` (`input_accepted`, `run_started`, deltas, `run_completed`).
//! 4. `feed` reads them off the WebSocket and sends each as `AppEvent::Feed`
//!    into the bounded channel.
//! 5. [`update`] applies each frame once, in `seq` order
//!    ([`app::apply_worker_event`]), to the transcript; `event_loop` publishes
//!    the new cursor to the feed and draws [`render()`] once per batch.
//!
//! A snapshot holds only the newest messages. Scrolled to the top (Home,
//! PageUp, the wheel), [`update`] returns [`Command::LoadOlder`]; `client`
//! GETs `.../transcript?before=<oldest id>` and the page comes back as
//! `AppEvent::OlderAnswered`, put in front of the transcript with the view
//! held where it was.
//!
//! # Modules
//!
//! - [`app`]: the console model ([`App`]) and the pure [`update`] that folds
//!   key presses and protocol events into it: transcript, dedupe by `seq`,
//!   cursor, reset snapshots, typed errors as status lines.
//! - [`render`](mod@render): `render(frame, &app)`: transcript, notice line, composer,
//!   status bar, help and worker picker overlays.
//! - `client`: REST calls and socket addresses; `feed`: the worker socket
//!   (reconnect with backoff, resume from the last applied `seq`) and the
//!   workspace socket for the live picker; `event_loop`: the one place with
//!   terminal and network I/O; `terminal`: raw mode in, and always back out,
//!   panics included.
//! - [`queue`]: the inputs waiting for the answer in flight (Enter while an
//!   answer streams queues the message; Ctrl-X takes back the last one).
//! - [`keys`]: the key bindings ([`keys::KEY_HELP`] is the list shown by F1).
//! - [`manage`]: the picker's forms: a new worker (runtime, profile, name),
//!   rename, stop after a confirmation; [`markdown`]: assistant Markdown
//!   (pulldown-cmark) as logical lines for the renderer to wrap.
//! - [`tool_calls`]: a run's tool calls as lines of its answer
//!   (`⚙ yoi.list_workers {…} → ok 12 ms`, unfolded with Ctrl-O) and the
//!   calls waiting for a person; the prompt at the bottom answers the
//!   oldest with `y` (once), `a` (always for this worker) or `n`, sent as
//!   [`Command::Decide`] to `POST .../approvals/{call_id}`.
//! - [`search`]: `/` in the picker searches every conversation
//!   (`GET /api/search`); a hit opens in its conversation
//!   (`transcript?around=`), then Enter opens that conversation.
//! - `error`: [`TuiError`], the few things that end the console.
//!
//! Entry point: [`run`] with [`TuiOptions`].

pub mod app;
mod backoff;
pub mod client;
pub mod composer;
mod error;
mod event_loop;
pub mod feed;
pub mod keys;
pub mod manage;
pub mod markdown;
pub mod notice;
pub mod picker;
pub mod queue;
pub mod render;
pub mod search;
mod terminal;
pub mod tool_calls;
pub mod transcript;

#[cfg(test)]
mod testing;

pub use app::{update, App, AppEvent, Command};
pub use error::TuiError;
pub use feed::parse_worker_frame;
pub use render::render;

use yoi_protocol::WorkerRef;

/// Where the console connects and what it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiOptions {
    /// The backend's base URL.
    pub server: String,
    /// The worker to open; `None` opens the Companion.
    pub target: Option<WorkerRef>,
    /// Bearer token (the caller reads it from `YOI_TOKEN`).
    pub token: Option<String>,
}

impl Default for TuiOptions {
    fn default() -> Self {
        Self {
            server: DEFAULT_SERVER.to_owned(),
            target: None,
            token: None,
        }
    }
}

/// The backend's default address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7760";

/// Runs the console until the person quits. The terminal is restored on every
/// way out: quitting, an error, or a panic (through a panic hook).
pub async fn run(opts: TuiOptions) -> Result<(), TuiError> {
    let client = client::ApiClient::new(&opts.server, opts.token)?;
    let mut guard = terminal::TerminalGuard::enter()?;
    let result = event_loop::run_console(guard.terminal(), client, opts.target).await;
    let restored = guard.restore();
    result?;
    restored?;
    Ok(())
}
