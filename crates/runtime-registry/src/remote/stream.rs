//! A Worker's events from a runtime process, as the backend's own
//! subscribers need them: the runtime's `seq` unchanged, gapless, each once.
//!
//! A task reads the runtime's event socket and hands frames to the
//! [`RemoteStream`] through a bounded channel (a slow subscriber slows the
//! task, the runtime's socket backs up, and the runtime resets that
//! subscription with `lagged`, which is forwarded: nothing is lost silently).
//! When the connection breaks, the task reconnects with backoff and resumes
//! with `cursor=<last seq it forwarded>`, dropping any frame at or below it.
//! Snapshots are always forwarded (a reset one replaces what came before).
//!
//! The policy when the runtime cannot be reached again: the task keeps trying
//! for [`super::Timing::resume_within`]; then, or at once when the runtime
//! answers that it no longer holds the Worker (it restarted without it), the
//! stream ends. The backend then closes its client's socket, and the client's
//! reconnect gets `runtime_unavailable` or `worker_not_found`, or a snapshot
//! once the runtime is back: an end, never silence. A run whose runtime died
//! has no terminal event to forward, and none is invented: its `seq` would
//! not be the runtime's.

use std::sync::Arc;

use futures::StreamExt;
use ractor::ActorRef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use worker_runtime::{EventFrame, WorkerStream};
use yoi_protocol::{EventKind, RuntimeId, Seq, WorkerEvent, WorkerId};

use super::monitor::{report, MonitorMsg};
use super::rewrite;
use super::transport::{CallError, Transport, Unreachable, WsStream};
use super::Timing;

/// Frames buffered between the socket task and the subscriber.
const BUFFER: usize = 64;

/// A Worker's frames from a runtime process.
pub struct RemoteStream {
    frames: mpsc::Receiver<Arc<EventFrame>>,
    task: JoinHandle<()>,
}

impl RemoteStream {
    pub async fn next(&mut self) -> Option<Arc<EventFrame>> {
        self.frames.recv().await
    }

    /// The frames as a stream, the shape every runtime hands out.
    pub fn into_stream(self) -> WorkerStream {
        futures::stream::unfold(self, |mut remote| async move {
            remote.next().await.map(|frame| (frame, remote))
        })
        .boxed()
    }
}

impl Drop for RemoteStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a subscription resumes from.
pub(crate) fn events_path(worker_id: WorkerId, cursor: Option<Seq>) -> String {
    match cursor {
        Some(c) => format!("/v1/workers/{worker_id}/events?cursor={c}"),
        None => format!("/v1/workers/{worker_id}/events"),
    }
}

pub(crate) struct Follow {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    pub transport: Transport,
    pub monitor: ActorRef<MonitorMsg>,
    pub timing: Timing,
}

impl Follow {
    /// Follows a socket already opened with `cursor`.
    pub fn start(self, socket: WsStream, cursor: Option<Seq>) -> RemoteStream {
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = tokio::spawn(self.run(socket, cursor, tx));
        RemoteStream { frames: rx, task }
    }

    async fn run(
        self,
        mut socket: WsStream,
        mut last: Option<Seq>,
        tx: mpsc::Sender<Arc<EventFrame>>,
    ) {
        loop {
            match self.relay(&mut socket, &mut last, &tx).await {
                Relay::Ended => return,
                Relay::Lost => {}
            }
            tracing::debug!(runtime = %self.runtime_id, worker = %self.worker_id, "event socket lost; resuming");
            match self.reconnect(last, &tx).await {
                Some(fresh) => socket = fresh,
                None => {
                    tracing::warn!(
                        runtime = %self.runtime_id,
                        worker = %self.worker_id,
                        "the worker's events could not be resumed; ending the stream"
                    );
                    return;
                }
            }
        }
    }

    /// Forwards frames until the socket ends.
    async fn relay(
        &self,
        socket: &mut WsStream,
        last: &mut Option<Seq>,
        tx: &mpsc::Sender<Arc<EventFrame>>,
    ) -> Relay {
        loop {
            // The runtime pings regularly: this much silence is a dead link.
            let Ok(message) = tokio::time::timeout(self.timing.silence_limit, socket.next()).await
            else {
                return Relay::Lost;
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                // A message or frame past the cap: the runtime is broken, not
                // the link, and resuming would only fetch it again.
                Some(Err(WsError::Capacity(_))) => {
                    tracing::warn!(runtime = %self.runtime_id, "a runtime sent an event past the size cap; ending the stream");
                    report::<()>(
                        &self.monitor,
                        &Err(CallError::Unreachable(Unreachable::Oversized)),
                    );
                    return Relay::Ended;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Relay::Lost,
                Some(Ok(_)) => continue,
            };
            let Ok(mut event) = serde_json::from_str::<WorkerEvent>(&text) else {
                tracing::warn!(runtime = %self.runtime_id, "a runtime sent a frame that is not a worker event");
                continue;
            };
            if !event.is_snapshot() && last.is_some_and(|l| event.seq <= l) {
                continue;
            }
            *last = Some(event.seq);
            rewrite::event(&mut event, &self.runtime_id);
            let stopped = matches!(event.kind, EventKind::WorkerStopped);
            if tx.send(EventFrame::new(event)).await.is_err() {
                // The subscriber went away.
                return Relay::Ended;
            }
            if stopped {
                return Relay::Ended;
            }
        }
    }

    /// Reopens the socket at `last`, with backoff, within the resume window.
    async fn reconnect(
        &self,
        last: Option<Seq>,
        tx: &mpsc::Sender<Arc<EventFrame>>,
    ) -> Option<WsStream> {
        let give_up = Instant::now() + self.timing.resume_within;
        let mut delay = self.timing.retry_min;
        loop {
            let attempt = self
                .transport
                .websocket(&events_path(self.worker_id, last))
                .await;
            report(&self.monitor, &attempt);
            match attempt {
                Ok(socket) => return Some(socket),
                // The runtime answered: it no longer holds the worker, or refuses.
                Err(CallError::Api(_)) => return None,
                Err(CallError::Unreachable(_)) => {}
            }
            if Instant::now() + delay > give_up {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = tx.closed() => return None,
            }
            delay = (delay * 2).min(self.timing.retry_max);
        }
    }
}

enum Relay {
    /// The worker stopped or the subscriber left.
    Ended,
    /// The connection broke.
    Lost,
}
