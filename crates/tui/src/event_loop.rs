//! The only place with I/O: terminal events and network results in, frames
//! drawn out, commands carried out.
//!
//! One `select!` waits on the keyboard/mouse stream and on the bounded channel
//! the network tasks write into. Each event goes through [`update`]; the
//! commands it returns are carried out by spawning tasks (feeds, sends,
//! cancels) into one `JoinSet`, whose panics end the console with an error
//! rather than leave it half-alive. After each batch of events the cursor is
//! published to the worker feed and the screen is drawn once.

use crossterm::event::{Event, EventStream, MouseEventKind};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{sleep, Duration};
use yoi_protocol::{ClientMessageId, InputAccepted, Seq, WorkerRef};

use crate::app::{update, App, AppEvent, Command};
use crate::client::{ApiClient, ClientError};
use crate::feed::{worker_feed, workspace_feed};
use crate::render::render;
use crate::terminal::ConsoleTerminal;
use crate::TuiError;

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
    let mut tasks: JoinSet<()> = JoinSet::new();
    let size = terminal.size()?;
    let mut app = App::new(
        client.base().as_str().trim_end_matches('/'),
        target,
        ulid::Ulid::generate().to_string(),
    );
    app.size = (size.width, size.height);

    tasks.spawn(workspace_feed(client.clone(), tx.clone()));
    let mut feed: Option<CurrentFeed> = None;
    let mut terminal_events = EventStream::new();
    let mut commands = app.start();

    loop {
        for command in commands.drain(..) {
            match command {
                Command::Quit => return Ok(()),
                Command::Subscribe { generation, target } => {
                    if let Some(old) = feed.take() {
                        old.task.abort();
                    }
                    let (cursor, cursor_rx) = watch::channel(app.cursor());
                    let task = tasks.spawn(worker_feed(
                        client.clone(),
                        target,
                        generation,
                        cursor_rx,
                        tx.clone(),
                    ));
                    feed = Some(CurrentFeed { task, cursor });
                }
                Command::SendInput {
                    generation,
                    target,
                    text,
                    client_message_id,
                } => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tasks.spawn(async move {
                        let result =
                            send_with_retries(&client, &target, &text, client_message_id).await;
                        let _ = tx
                            .send(AppEvent::InputAnswered { generation, result })
                            .await;
                    });
                }
                Command::Cancel { generation, target } => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tasks.spawn(async move {
                        let result = client.cancel(&target).await;
                        let _ = tx
                            .send(AppEvent::CancelAnswered { generation, result })
                            .await;
                    });
                }
            }
        }
        if let Some(feed) = &feed {
            feed.cursor.send_if_modified(|published| {
                let changed = *published != app.cursor();
                *published = app.cursor();
                changed
            });
        }
        terminal.draw(|frame| render(frame, &app))?;

        tokio::select! {
            input = terminal_events.next() => match input {
                Some(Ok(event)) => {
                    if let Some(event) = from_terminal(event) {
                        commands = update(&mut app, event);
                    }
                }
                Some(Err(e)) => return Err(TuiError::Terminal(e)),
                None => return Ok(()),
            },
            Some(event) = rx.recv() => commands = update(&mut app, event),
            Some(joined) = tasks.join_next() => {
                if let Err(e) = joined {
                    if e.is_panic() {
                        return Err(TuiError::TaskPanicked(e.to_string()));
                    }
                }
            }
        }
        for _ in 0..MAX_BATCH {
            if !commands.is_empty() {
                break;
            }
            match rx.try_recv() {
                Ok(event) => commands = update(&mut app, event),
                Err(_) => break,
            }
        }
    }
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
