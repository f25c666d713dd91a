//! The only place with I/O: terminal events and network results in, frames
//! drawn out, commands carried out.
//!
//! One `select!` waits on the keyboard/mouse stream and on the bounded channel
//! the network tasks write into. Each event goes through [`update`]; the
//! commands it returns are carried out by spawning tasks (feeds, sends,
//! cancels) into one `JoinSet`, whose panics end the console with an error
//! rather than leave it half-alive. After each batch of events the cursor is
//! published to the worker feed and the screen is drawn once.

use std::ops::ControlFlow;

use crossterm::event::{Event, EventStream, MouseEventKind};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{sleep, Duration};
use yoi_protocol::{ClientMessageId, InputAccepted, Seq, WorkerRef};

use crate::app::{update, App, AppEvent, Command, Target, HISTORY_PAGE};
use crate::client::{ApiClient, ClientError};
use crate::error::TuiError;
use crate::feed::{worker_feed, workspace_feed};
use crate::picker::{PageRequest, WORKER_PAGE};
use crate::render::{render, transcript_extent};
use crate::terminal::ConsoleTerminal;

/// Room for a burst of streamed deltas. Senders wait when it is full (see
/// [`crate::feed`]), so it bounds memory, not correctness.
const EVENT_QUEUE: usize = 512;

/// Most queued events folded into one frame before drawing, so a fast stream
/// cannot starve the keyboard.
const MAX_BATCH: usize = 256;

/// Tries of one send when the server cannot be reached; the same
/// `client_message_id` makes the retries safe.
const SEND_TRIES: u32 = 3;

struct CurrentFeed {
    task: AbortHandle,
    cursor: watch::Sender<Option<Seq>>,
}

pub async fn run_console(
    terminal: &mut ConsoleTerminal,
    client: ApiClient,
    target: Option<WorkerRef>,
) -> Result<(), TuiError> {
    let (tx, mut rx) = mpsc::channel::<AppEvent>(EVENT_QUEUE);
    let size = terminal.size()?;
    let mut app = App::new(
        client.base().as_str().trim_end_matches('/'),
        target,
        ulid::Ulid::generate().to_string(),
        transcript_extent,
    );
    app.size = (size.width, size.height);

    let mut io = Io {
        client,
        tx,
        tasks: JoinSet::new(),
        feed: None,
    };
    io.tasks
        .spawn(workspace_feed(io.client.clone(), io.tx.clone()));
    let mut terminal_events = EventStream::new();
    let mut commands = app.start();

    loop {
        for command in commands.drain(..) {
            if io.carry_out(command, app.cursor()).is_break() {
                return Ok(());
            }
        }
        io.publish_cursor(app.cursor());
        terminal.draw(|frame| render(frame, &app))?;

        match next_event(&mut terminal_events, &mut rx, &mut io.tasks).await? {
            ControlFlow::Continue(Some(event)) => commands = update(&mut app, event),
            ControlFlow::Continue(None) => {}
            ControlFlow::Break(()) => return Ok(()),
        }
        if commands.is_empty() {
            commands = fold_queued(&mut app, &mut rx);
        }
    }
}

/// Carries out the [`Command`]s of `update`: the tasks it spawned, and the
/// worker feed it is subscribed to.
struct Io {
    client: ApiClient,
    tx: mpsc::Sender<AppEvent>,
    tasks: JoinSet<()>,
    feed: Option<CurrentFeed>,
}

impl Io {
    /// Carries out one command; breaks on `Quit`. `cursor` is where a new
    /// worker feed resumes.
    fn carry_out(&mut self, command: Command, cursor: Option<Seq>) -> ControlFlow<()> {
        match command {
            Command::Quit => return ControlFlow::Break(()),
            Command::Subscribe { generation, target } => {
                self.subscribe(generation, target, cursor);
            }
            Command::SendInput {
                generation,
                target,
                text,
                client_message_id,
            } => {
                let (client, tx) = (self.client.clone(), self.tx.clone());
                self.tasks.spawn(async move {
                    let result =
                        send_with_retries(&client, &target, &text, client_message_id).await;
                    let _ = tx
                        .send(AppEvent::InputAnswered { generation, result })
                        .await;
                });
            }
            Command::RemoveQueued {
                generation,
                target,
                message_id,
            } => {
                let (client, tx) = (self.client.clone(), self.tx.clone());
                self.tasks.spawn(async move {
                    let result = client.remove_queued(&target, message_id).await;
                    let _ = tx
                        .send(AppEvent::RemoveAnswered { generation, result })
                        .await;
                });
            }
            Command::Cancel { generation, target } => {
                let (client, tx) = (self.client.clone(), self.tx.clone());
                self.tasks.spawn(async move {
                    let result = client.cancel(&target).await;
                    let _ = tx
                        .send(AppEvent::CancelAnswered { generation, result })
                        .await;
                });
            }
            Command::Decide {
                generation,
                target,
                call_id,
                request,
            } => {
                let (client, tx) = (self.client.clone(), self.tx.clone());
                self.tasks.spawn(async move {
                    let result = client.decide(&target, &call_id, &request).await;
                    let _ = tx
                        .send(AppEvent::DecisionAnswered {
                            generation,
                            call_id,
                            result,
                        })
                        .await;
                });
            }
            command @ (Command::Search { .. } | Command::LoadContext { .. }) => {
                self.search(command);
            }
            other => self.manage(other),
        }
        ControlFlow::Continue(())
    }

    /// A search and the page around a hit (the search overlay's requests).
    fn search(&mut self, command: Command) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        match command {
            Command::Search { q } => {
                self.tasks.spawn(async move {
                    let result = client.search(&q).await;
                    let _ = tx.send(AppEvent::SearchAnswered { q, result }).await;
                });
            }
            Command::LoadContext { target, around } => {
                self.tasks.spawn(async move {
                    let result = client
                        .transcript_around(&target, around, crate::search::CONTEXT_PAGE)
                        .await;
                    let _ = tx.send(AppEvent::ContextAnswered { around, result }).await;
                });
            }
            _ => {}
        }
    }

    /// The commands that manage workers and inputs: a new worker, a rename,
    /// a stop, a queued input taken back.
    fn manage(&mut self, command: Command) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        match command {
            Command::CreateWorker {
                runtime_id,
                request,
            } => {
                self.tasks.spawn(async move {
                    let result = client.create_worker(&runtime_id, &request).await;
                    let _ = tx
                        .send(AppEvent::CreateAnswered(result.map(Box::new)))
                        .await;
                });
            }
            Command::RenameWorker {
                target,
                display_name,
            } => {
                self.tasks.spawn(async move {
                    let result = client.rename_worker(&target, &display_name).await;
                    let _ = tx.send(AppEvent::RenameAnswered(result)).await;
                });
            }
            Command::StopWorker {
                target,
                display_ref,
            } => {
                self.tasks.spawn(async move {
                    let result = client.stop_worker(&target).await;
                    let _ = tx
                        .send(AppEvent::StopAnswered {
                            display_ref,
                            result,
                        })
                        .await;
                });
            }
            Command::RemoveQueued {
                generation,
                target,
                message_id,
            } => {
                self.tasks.spawn(async move {
                    let result = client.remove_queued(&target, message_id).await;
                    let _ = tx
                        .send(AppEvent::RemoveAnswered { generation, result })
                        .await;
                });
            }
            Command::LoadWorkers(request) => self.load_workers(request),
            Command::LoadOlder {
                generation,
                target,
                before,
            } => {
                self.tasks.spawn(async move {
                    let result = client
                        .transcript_before(&target, before, HISTORY_PAGE)
                        .await;
                    let _ = tx
                        .send(AppEvent::OlderAnswered {
                            generation,
                            before,
                            result,
                        })
                        .await;
                });
            }
            // Carried out by `carry_out`.
            Command::Search { .. }
            | Command::LoadContext { .. }
            | Command::Subscribe { .. }
            | Command::SendInput { .. }
            | Command::Cancel { .. }
            | Command::Decide { .. }
            | Command::Quit => {}
        }
    }

    /// A page of the picker's workers.
    fn load_workers(&mut self, request: PageRequest) {
        let (client, tx) = (self.client.clone(), self.tx.clone());
        self.tasks.spawn(async move {
            let result = client
                .worker_page(
                    &request.runtime_id,
                    WORKER_PAGE,
                    request.after,
                    request.query.as_deref(),
                )
                .await;
            let _ = tx.send(AppEvent::WorkersAnswered { request, result }).await;
        });
    }

    /// Drops the current worker feed and starts one for `target`.
    fn subscribe(&mut self, generation: u64, target: Target, cursor: Option<Seq>) {
        if let Some(old) = self.feed.take() {
            old.task.abort();
        }
        let (cursor, cursor_rx) = watch::channel(cursor);
        let task = self.tasks.spawn(worker_feed(
            self.client.clone(),
            target,
            generation,
            cursor_rx,
            self.tx.clone(),
        ));
        self.feed = Some(CurrentFeed { task, cursor });
    }

    /// Tells the worker feed the cursor to resume from, when it moved.
    fn publish_cursor(&self, cursor: Option<Seq>) {
        if let Some(feed) = &self.feed {
            feed.cursor.send_if_modified(|published| {
                let changed = *published != cursor;
                *published = cursor;
                changed
            });
        }
    }
}

/// Waits for what wakes the loop: `Continue(Some(event))` to fold in,
/// `Continue(None)` for a terminal event the console ignores or a task that
/// ended, `Break` when the terminal's event stream closed. A task's panic
/// ends the console.
async fn next_event(
    terminal_events: &mut EventStream,
    rx: &mut mpsc::Receiver<AppEvent>,
    tasks: &mut JoinSet<()>,
) -> Result<ControlFlow<(), Option<AppEvent>>, TuiError> {
    tokio::select! {
        input = terminal_events.next() => match input {
            Some(Ok(event)) => Ok(ControlFlow::Continue(from_terminal(event))),
            Some(Err(e)) => Err(TuiError::Terminal(e)),
            None => Ok(ControlFlow::Break(())),
        },
        Some(event) = rx.recv() => Ok(ControlFlow::Continue(Some(event))),
        Some(joined) = tasks.join_next() => match joined {
            Err(e) if e.is_panic() => Err(TuiError::TaskPanicked(e.to_string())),
            _ => Ok(ControlFlow::Continue(None)),
        },
    }
}

/// Folds the events already queued, up to [`MAX_BATCH`], until one asks for
/// I/O: the screen is then drawn once for the whole burst.
fn fold_queued(app: &mut App, rx: &mut mpsc::Receiver<AppEvent>) -> Vec<Command> {
    for _ in 0..MAX_BATCH {
        let Ok(event) = rx.try_recv() else {
            break;
        };
        let commands = update(app, event);
        if !commands.is_empty() {
            return commands;
        }
    }
    Vec::new()
}

fn from_terminal(event: Event) -> Option<AppEvent> {
    match event {
        Event::Key(key) => Some(AppEvent::Key(key)),
        Event::Paste(text) => Some(AppEvent::Paste(text)),
        Event::Resize(width, height) => Some(AppEvent::Resize { width, height }),
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollUp => Some(AppEvent::Wheel(-1)),
            MouseEventKind::ScrollDown => Some(AppEvent::Wheel(1)),
            _ => None,
        },
        Event::FocusGained | Event::FocusLost => None,
    }
}

/// Sends, retrying only when the server could not be reached and the input
/// carries an id (so a retry cannot start a second run).
async fn send_with_retries(
    client: &ApiClient,
    target: &WorkerRef,
    text: &str,
    client_message_id: Option<ClientMessageId>,
) -> Result<InputAccepted, ClientError> {
    let mut delay = Duration::from_millis(300);
    let mut tries = 1;
    loop {
        let result = client
            .send_input(target, text, client_message_id.clone())
            .await;
        match result {
            Err(e) if e.outcome_unknown() && client_message_id.is_some() && tries < SEND_TRIES => {
                sleep(delay).await;
                delay *= 3;
                tries += 1;
            }
            other => return other,
        }
    }
}
