//! The sockets: a Worker's events (`/v1/workers/{id}/events?cursor=N`, the
//! same frames and cursor rules as the backend's socket) and this Runtime's
//! workspace events (`/v1/events`).
//!
//! Each worker frame is the JSON text the Worker's event log made once. A
//! slow socket never slows the Worker: its subscription falls behind on its
//! own and is reset with `lagged`. The server pings every few seconds and
//! drops a client that stops answering.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{Sink, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use yoi_protocol::{Seq, WorkspaceEvent};

use super::extract::{Failure, Query, WorkerPath};
use super::ServerState;
use crate::event_log::EventFrame;
use crate::subscription::Subscription;

const PING_EVERY: Duration = Duration::from_secs(15);
/// Pings a client may leave unanswered before it is dropped.
const MISSED_PONGS: u32 = 2;
/// After shutdown starts, how long a socket keeps sending the last events.
const DRAIN_FOR: Duration = Duration::from_millis(300);

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub cursor: Option<u64>,
}

type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

fn upgrade(ws: Upgrade) -> Result<WebSocketUpgrade, Failure> {
    ws.map_err(|_| Failure::invalid("this route is a WebSocket: connect with an Upgrade request"))
}

pub async fn worker_events(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
    Query(query): Query<EventsQuery>,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws)?;
    // Subscribe before upgrading, so an unknown worker is an HTTP error.
    let subscription = state
        .runtime
        .subscribe(worker_id, query.cursor.map(Seq))
        .await?;
    let shutdown = state.shutdown.clone();
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| pump_worker(socket, subscription, shutdown)))
}

/// Shares the frame's text with the socket without copying it.
struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn text_frame(frame: &EventFrame) -> Message {
    let bytes = Bytes::from_owner(SharedJson(frame.json.clone()));
    match Utf8Bytes::try_from(bytes) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Text(Utf8Bytes::from(frame.json.as_ref())),
    }
}

fn close(reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Resolves once the server starts shutting down.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn pump_worker(
    socket: WebSocket,
    mut subscription: Subscription,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut unanswered = 0u32;
    loop {
        tokio::select! {
            frame = subscription.next() => match frame {
                Some(frame) => {
                    if tx.send(text_frame(&frame)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = tx.send(close("worker stopped")).await;
                    return;
                }
            },
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => unanswered = 0,
            },
            _ = ping.tick() => {
                if unanswered >= MISSED_PONGS {
                    tracing::debug!("dropping an event socket that stopped answering pings");
                    return;
                }
                unanswered += 1;
                if tx.send(Message::Ping(Bytes::from_static(b"yoi"))).await.is_err() {
                    return;
                }
            },
            () = stopped(&mut shutdown) => {
                while let Ok(Some(frame)) = tokio::time::timeout(DRAIN_FOR, subscription.next()).await {
                    if tx.send(text_frame(&frame)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(close("runtime shutting down")).await;
                return;
            }
        }
    }
}

pub async fn runtime_events(
    State(state): State<ServerState>,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws)?;
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| pump_runtime(socket, state)))
}

async fn send_json<S>(tx: &mut S, event: &WorkspaceEvent) -> bool
where
    S: Sink<Message> + Unpin,
{
    match serde_json::to_string(event) {
        Ok(text) => tx.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// The first frame of `/v1/events`: this runtime and its workers.
async fn snapshot(state: &ServerState) -> Option<WorkspaceEvent> {
    let summary = state.runtime.summary(state.kind).await.ok()?;
    let workers = state.runtime.list_workers().await.ok()?;
    Some(WorkspaceEvent::WorkspaceSnapshot {
        runtimes: vec![summary],
        workers,
    })
}

async fn pump_runtime(socket: WebSocket, state: ServerState) {
    let (mut tx, mut rx) = socket.split();
    // Listen before the snapshot, so no change falls between the two.
    let mut events = state.runtime.workspace_events();
    let mut shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut unanswered = 0u32;
    let mut resync = true;
    loop {
        if resync {
            resync = false;
            let Some(snapshot) = snapshot(&state).await else {
                let _ = tx.send(close("runtime shutting down")).await;
                return;
            };
            if !send_json(&mut tx, &snapshot).await {
                return;
            }
        }
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if !send_json(&mut tx, &event).await {
                        return;
                    }
                }
                // Too slow: start over from a fresh snapshot rather than miss a change.
                Err(RecvError::Lagged(_)) => resync = true,
                Err(RecvError::Closed) => return,
            },
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => unanswered = 0,
            },
            _ = ping.tick() => {
                if unanswered >= MISSED_PONGS {
                    return;
                }
                unanswered += 1;
                if tx.send(Message::Ping(Bytes::from_static(b"yoi"))).await.is_err() {
                    return;
                }
            },
            () = stopped(&mut shutdown) => {
                let _ = tx.send(close("runtime shutting down")).await;
                return;
            }
        }
    }
}
