//! A subscriber's view of a Worker's event log.
//!
//! It yields the frames a socket sends, in order, each `seq` exactly once:
//! first the snapshot or replay chosen at subscribe time, then live events.
//! A subscriber that falls more than the live buffer behind is not dropped
//! silently: it gets a fresh snapshot with `reset: true, reason: "lagged"`.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use yoi_protocol::{EventKind, Seq, WorkerId};

use crate::event_log::EventFrame;
use crate::runtime::Runtime;
use crate::worker::{SubscribeFrom, SubscribeStart};

/// Anything that yields a Worker's frames in order: a [`Subscription`] here, a
/// registry's stream in the backend. Event sockets pump from one.
pub trait FrameSource: Send {
    /// The next frame, or `None` when the stream ended.
    fn next_frame(&mut self) -> impl std::future::Future<Output = Option<Arc<EventFrame>>> + Send;
}

impl FrameSource for Subscription {
    async fn next_frame(&mut self) -> Option<Arc<EventFrame>> {
        self.next().await
    }
}

pub struct Subscription {
    runtime: Runtime,
    worker_id: WorkerId,
    pending: VecDeque<Arc<EventFrame>>,
    live: tokio::sync::broadcast::Receiver<Arc<EventFrame>>,
    last: Seq,
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(runtime: Runtime, worker_id: WorkerId, start: SubscribeStart) -> Self {
        Self {
            runtime,
            worker_id,
            pending: start.first.into(),
            live: start.live,
            last: start.last,
            ended: false,
        }
    }

    /// The next frame, or `None` once the Worker stopped or went away.
    pub async fn next(&mut self) -> Option<Arc<EventFrame>> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                self.note(&frame);
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match self.live.recv().await {
                Ok(frame) if frame.seq() <= self.last => continue,
                Ok(frame) => {
                    self.note(&frame);
                    return Some(frame);
                }
                Err(RecvError::Lagged(_)) => {
                    match self
                        .runtime
                        .subscribe_start(self.worker_id, SubscribeFrom::Lagged)
                        .await
                    {
                        Ok(start) => {
                            self.pending = start.first.into();
                            self.live = start.live;
                            self.last = start.last;
                        }
                        Err(_) => return None,
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn note(&mut self, frame: &EventFrame) {
        self.last = self.last.max(frame.seq());
        if matches!(frame.event.kind, EventKind::WorkerStopped) {
            self.ended = true;
        }
    }
}
