//! The event sockets' pumps, shared by a runtime's own server and the
//! backend: frames go out as they come, the client is pinged and dropped when
//! it stops answering, and at shutdown the last events are sent before a
//! clean close.
//!
//! A worker frame is the JSON text its event log made once; the socket only
//! takes a reference to it. A slow socket never slows the Worker: its source
//! falls behind on its own and is reset with `lagged`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use futures::{Sink, SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use yoi_protocol::WorkspaceEvent;

use worker_runtime::{EventFrame, WorkerStream};

use crate::failure::Failure;

const PING_EVERY: Duration = Duration::from_secs(15);
/// Pings a client may leave unanswered before it is dropped.
const MISSED_PONGS: u32 = 2;
/// After shutdown starts, how long a socket keeps sending the last events.
const DRAIN_FOR: Duration = Duration::from_millis(300);

/// A WebSocket upgrade, or why the request was not one.
pub type Upgrade =
    Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// The upgrade, or `invalid_input` for a plain request to a socket route.
pub fn upgrade(ws: Upgrade) -> Result<WebSocketUpgrade, Failure> {
    ws.map_err(|_| Failure::invalid("this route is a WebSocket: connect with an Upgrade request"))
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

/// Resolves once a shutdown starts; never when no one can start one.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a pump does with a frame from the client: `false` ends the socket.
fn client_alive(incoming: Option<Result<Message, axum::Error>>, unanswered: &mut u32) -> bool {
    match incoming {
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => false,
        // Any frame from the client shows it is alive.
        Some(Ok(_)) => {
            *unanswered = 0;
            true
        }
    }
}

/// Pings the client; `false` when it stopped answering or the send failed.
async fn ping<S>(tx: &mut S, unanswered: &mut u32) -> bool
where
    S: Sink<Message> + Unpin,
{
    if *unanswered >= MISSED_PONGS {
        tracing::debug!("dropping a socket that stopped answering pings");
        return false;
    }
    *unanswered += 1;
    tx.send(Message::Ping(Bytes::from_static(b"yoi")))
        .await
        .is_ok()
}

/// Sends every frame of `source` until it ends, the client leaves, or the
/// server shuts down (then the remaining frames are drained first).
pub async fn pump_frames(
    socket: WebSocket,
    mut source: WorkerStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut pings = tokio::time::interval(PING_EVERY);
    pings.tick().await;
    let mut unanswered = 0u32;
    loop {
        tokio::select! {
            frame = source.next() => match frame {
                Some(frame) => {
                    if tx.send(text_frame(&frame)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = tx.send(close("event stream ended")).await;
                    return;
                }
            },
            incoming = rx.next() => {
                if !client_alive(incoming, &mut unanswered) {
                    return;
                }
            },
            _ = pings.tick() => {
                if !ping(&mut tx, &mut unanswered).await {
                    return;
                }
            },
            () = stopped(&mut shutdown) => {
                while let Ok(Some(frame)) = tokio::time::timeout(DRAIN_FOR, source.next()).await {
                    if tx.send(text_frame(&frame)).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(close("shutting down")).await;
                return;
            }
        }
    }
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

/// Sends a `workspace_snapshot` from `snapshot`, then every event of
/// `events`; a listener that lags starts over from a fresh snapshot rather
/// than miss a change. `events` must be subscribed before this is called, so
/// that no change falls between the snapshot and the first event.
pub async fn pump_workspace<S, Fut>(
    socket: WebSocket,
    mut events: broadcast::Receiver<WorkspaceEvent>,
    snapshot: S,
    mut shutdown: watch::Receiver<bool>,
) where
    S: Fn() -> Fut,
    Fut: Future<Output = Option<WorkspaceEvent>>,
{
    let (mut tx, mut rx) = socket.split();
    let mut pings = tokio::time::interval(PING_EVERY);
    pings.tick().await;
    let mut unanswered = 0u32;
    let mut resync = true;
    loop {
        if resync {
            resync = false;
            let Some(first) = snapshot().await else {
                let _ = tx.send(close("shutting down")).await;
                return;
            };
            if !send_json(&mut tx, &first).await {
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
                Err(RecvError::Lagged(_)) => resync = true,
                Err(RecvError::Closed) => return,
            },
            incoming = rx.next() => {
                if !client_alive(incoming, &mut unanswered) {
                    return;
                }
            },
            _ = pings.tick() => {
                if !ping(&mut tx, &mut unanswered).await {
                    return;
                }
            },
            () = stopped(&mut shutdown) => {
                let _ = tx.send(close("shutting down")).await;
                return;
            }
        }
    }
}
