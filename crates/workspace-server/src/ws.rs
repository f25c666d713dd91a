//! The WebSocket routes: a Worker's events (`.../events?cursor=N`) and the
//! workspace events (`/api/events`).
//!
//! Each frame is the JSON text made once by the Worker's event log; a socket
//! only copies a reference to it. A slow socket never slows the Worker: its
//! subscription falls behind on its own and is reset with `lagged`. The server
//! pings every few seconds and drops a client that stops answering.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use runtime_registry::WorkerStream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use utoipa::IntoParams;
use worker_runtime::EventFrame;
use yoi_protocol::{ErrorEnvelope, Seq, WorkerEvent, WorkspaceEvent};

use crate::error::ApiFailure;
use crate::extract::{ApiQuery, WorkerTarget};
use crate::AppState;

const PING_EVERY: Duration = Duration::from_secs(15);
/// Pings a client may leave unanswered before it is dropped.
const MISSED_PONGS: u32 = 2;
/// After shutdown starts, how long a socket keeps sending the last events.
const DRAIN_FOR: Duration = Duration::from_millis(300);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The highest `seq` the client applied; omit it to start from a snapshot.
    #[serde(default)]
    pub cursor: Option<u64>,
}

type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

fn upgrade(ws: Upgrade) -> Result<WebSocketUpgrade, ApiFailure> {
    ws.map_err(|_| {
        ApiFailure::invalid("this route is a WebSocket: connect with an Upgrade request")
    })
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}/workers/{worker_id}/events", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path), EventsQuery),
    responses((status = 101, description = "WebSocket of WorkerEvent frames, per the cursor rules", body = WorkerEvent),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn worker_events(
    State(state): State<AppState>,
    target: WorkerTarget,
    ApiQuery(query): ApiQuery<EventsQuery>,
    ws: Upgrade,
) -> Result<Response, ApiFailure> {
    let ws = upgrade(ws)?;
    // Subscribe before upgrading, so an unknown worker is an HTTP error.
    let stream = state
        .registry
        .subscribe(&target.runtime_id, target.worker_id, query.cursor.map(Seq))
        .await?;
    let shutdown = state.shutdown.clone();
    Ok(ws.on_upgrade(move |socket| pump_worker(socket, stream, shutdown)))
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

async fn pump_worker(
    socket: WebSocket,
    mut stream: WorkerStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut unanswered = 0u32;
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
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
                // Any frame from the client shows it is alive.
                Some(Ok(_)) => unanswered = 0,
            },
            _ = ping.tick() => {
                if unanswered >= MISSED_PONGS {
                    tracing::debug!("dropping a socket that stopped answering pings");
                    return;
                }
                unanswered += 1;
                if tx.send(Message::Ping(Bytes::from_static(b"yoi"))).await.is_err() {
                    return;
                }
            },
            () = stopped(&mut shutdown) => {
                // The runtimes already ended their runs: send what is left.
                while let Ok(Some(frame)) = tokio::time::timeout(DRAIN_FOR, stream.next()).await {
                    if tx.send(text_frame(&frame)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(close("server shutting down")).await;
                return;
            }
        }
    }
}

#[utoipa::path(get, path = "/api/events", tag = "backend",
    responses((status = 101, description = "WebSocket: a workspace_snapshot, then one frame per change", body = WorkspaceEvent)))]
pub async fn workspace_events(
    State(state): State<AppState>,
    ws: Upgrade,
) -> Result<Response, ApiFailure> {
    let ws = upgrade(ws)?;
    Ok(ws.on_upgrade(move |socket| pump_workspace(socket, state)))
}

async fn send_json<S>(tx: &mut S, event: &WorkspaceEvent) -> bool
where
    S: futures::Sink<Message> + Unpin,
{
    match serde_json::to_string(event) {
        Ok(text) => tx.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// Resolves once the server starts shutting down.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        // No one can start a shutdown any more: never resolve.
        std::future::pending::<()>().await;
    }
}

async fn pump_workspace(socket: WebSocket, state: AppState) {
    let (mut tx, mut rx) = socket.split();
    // Listen before the snapshot, so no change falls between the two.
    let mut events = state.registry.workspace_events();
    let mut shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut unanswered = 0u32;
    let mut resync = true;
    loop {
        if resync {
            resync = false;
            let Ok(snapshot) = state.registry.workspace_snapshot().await else {
                let _ = tx.send(close("server shutting down")).await;
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
                let _ = tx.send(close("server shutting down")).await;
                return;
            }
        }
    }
}
