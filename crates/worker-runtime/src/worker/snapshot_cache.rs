//! One snapshot frame shared by the subscribers that ask for it while
//! nothing changed, instead of a copy of the whole transcript per socket
//! (up to 500 messages of up to 1 MiB each).
//!
//! The cache keeps only a weak reference: the frame lives as long as some
//! socket still holds it to send, and no longer, so an idle Worker keeps no
//! second copy of its transcript. It is reused only when everything the
//! frame is made of is unchanged: the event `seq`, the transcript's version,
//! the Worker's detail, the run in flight and the snapshot's reason (a
//! rename, for one, changes the detail without an event).

use std::sync::{Arc, Weak};

use yoi_protocol::{InFlight, Seq, SnapshotReason, WorkerDetail};

use crate::event_log::EventFrame;

/// What a snapshot frame is made of, compared before one is reused.
#[derive(PartialEq)]
pub(crate) struct SnapshotKey {
    pub seq: Seq,
    pub transcript_version: u64,
    pub reason: Option<SnapshotReason>,
    pub detail: WorkerDetail,
    pub in_flight: Option<InFlight>,
}

/// Boxed: an idle Worker holds a pointer, not the key's few hundred bytes.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    last: Option<Box<(SnapshotKey, Weak<EventFrame>)>>,
}

impl SnapshotCache {
    /// The frame made for `key` if a subscriber still holds it, else a new
    /// one from `make`.
    pub fn get_or_make(
        &mut self,
        key: SnapshotKey,
        make: impl FnOnce(&SnapshotKey) -> Arc<EventFrame>,
    ) -> Arc<EventFrame> {
        if let Some((cached, frame)) = self.last.as_deref() {
            if *cached == key {
                if let Some(frame) = frame.upgrade() {
                    return frame;
                }
            }
        }
        let frame = make(&key);
        self.last = Some(Box::new((key, Arc::downgrade(&frame))));
        frame
    }
}
