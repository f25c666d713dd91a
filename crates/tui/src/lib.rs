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
//! - [`app`]: the console model ([`App`]) and the pure [`update`] that folds
//!   key presses and protocol events into it: transcript, dedupe by `seq`,
//!   cursor, reset snapshots, typed errors as status lines.
//! - [`render`]: `render(frame, &app)`: transcript, notice line, composer,
//!   status bar, help and worker picker overlays.
//! - `client`: REST calls and socket addresses; `feed`: the worker socket
//!   (reconnect with backoff, resume from the last applied `seq`) and the
//!   workspace socket for the live picker; `event_loop`: the one place with
//!   terminal and network I/O; `terminal`: raw mode in, and always back out,
//!   panics included.
//! - [`keys`]: the key bindings ([`keys::KEY_HELP`] is the list shown by F1).
//!
//! Entry point: [`run`] with [`TuiOptions`].

pub mod app;
mod backoff;
pub mod client;
pub mod composer;
mod event_loop;
pub mod feed;
pub mod keys;
pub mod markdown;
pub mod notice;
pub mod picker;
pub mod render;
mod terminal;
pub mod transcript;

#[cfg(test)]
mod testing;

pub use app::{update, App, AppEvent, Command};
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

/// What ends the console with an error. A server that is down, refuses a
/// request or drops the socket is not one of them: those are states shown
/// in the console.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("`{url}` is not a server address: {reason}")]
    InvalidServerUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("a background task of the console panicked: {0}")]
    TaskPanicked(String),
}

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
