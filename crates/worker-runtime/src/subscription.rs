//! A subscriber's view of a Worker's event log.
//!
//! It yields the frames a socket sends, in order, each `seq` exactly once:
//! first the snapshot or replay chosen at subscribe time, then live events.
//! A subscriber that falls more than the live buffer behind goes on from the
//! Worker's event ring, exactly once and in order; only one whose position
//! left the ring gets a fresh snapshot with `reset: true, reason: "lagged"`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use yoi_protocol::{EventKind, Seq};

use crate::api::WorkerStream;
use crate::event_log::EventFrame;
use crate::worker::actor::lock;
use crate::worker::{SubscribeFrom, SubscribeStart, WorkerCore};

pub struct Subscription {
    /// The Worker's data, read again when the subscriber lagged. Weak, so
    /// that a Worker that is gone closes its live channel and ends this.
    core: Weak<Mutex<WorkerCore>>,
    pending: VecDeque<Arc<EventFrame>>,
    live: tokio::sync::broadcast::Receiver<Arc<EventFrame>>,
    last: Seq,
    ended: bool,
}

impl Subscription {
    pub(crate) fn new(core: &Arc<Mutex<WorkerCore>>, start: SubscribeStart) -> Self {
        Self {
            core: Arc::downgrade(core),
            pending: start.first.into(),
            live: start.live,
            last: start.last,
            ended: false,
        }
    }

    /// The frames as a stream, the shape every runtime hands out.
    pub fn into_stream(self) -> WorkerStream {
        futures::stream::unfold(self, |mut sub| async move {
            sub.next().await.map(|frame| (frame, sub))
        })
        .boxed()
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
                    let core = self.core.upgrade()?;
                    // Going on is never refused; should it be, the
                    // subscriber ends and its client reconnects.
                    let start = lock(&core)
                        .subscribe(SubscribeFrom::Lagged(self.last))
                        .ok()?;
                    self.pending = start.first.into();
                    self.live = start.live;
                    self.last = start.last;
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
