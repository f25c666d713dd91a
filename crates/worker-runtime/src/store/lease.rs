//! [`SeqLease`]: a Worker hands out a `seq` only once the store has
//! committed a reservation that covers it. Reservations come in blocks and
//! are asked for well ahead, off the Worker's mailbox; so after a crash a
//! restarted Worker goes on above every `seq` it may have handed out, and
//! clients holding an older cursor get a reset snapshot, never a reused `seq`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use yoi_protocol::{Seq, WorkerId};

use super::{Op, Store};

/// How many `seq`s one reservation covers.
pub const BLOCK: u64 = 4096;
/// A new reservation is asked for when fewer than this many are left.
const LOW_WATER: u64 = BLOCK / 2;

pub struct SeqLease {
    worker_id: WorkerId,
    store: Store,
    /// The highest reservation asked for.
    requested: u64,
    /// The highest reservation committed.
    confirmed: Arc<AtomicU64>,
}

impl SeqLease {
    /// A lease whose committed reservation is `reserved`.
    pub fn new(worker_id: WorkerId, store: Store, reserved: Seq) -> Self {
        let reserved = if store.is_durable() {
            reserved.0
        } else {
            u64::MAX
        };
        Self {
            worker_id,
            store,
            requested: reserved,
            confirmed: Arc::new(AtomicU64::new(reserved)),
        }
    }

    /// The committed reservation.
    pub fn reserved(&self) -> Seq {
        Seq(self.confirmed.load(Ordering::Acquire))
    }

    /// Makes sure `seq` may be handed out.
    pub fn cover(&mut self, seq: Seq) {
        if self.confirmed.load(Ordering::Acquire) == u64::MAX {
            return;
        }
        if seq.0.saturating_add(LOW_WATER) > self.requested {
            self.requested = seq.0.saturating_add(BLOCK);
            self.store.send(Op::Reserve {
                worker_id: self.worker_id,
                upto: self.requested,
                confirmed: self.confirmed.clone(),
                done: None,
            });
        }
        if seq.0 > self.confirmed.load(Ordering::Acquire) {
            // The Worker outran its reservation within one commit (or was
            // just restored): wait for the store, which is another thread.
            let (done, wait) = std::sync::mpsc::channel();
            self.store.send(Op::Reserve {
                worker_id: self.worker_id,
                upto: self.requested,
                confirmed: self.confirmed.clone(),
                done: Some(done),
            });
            let _ = wait.recv();
        }
    }
}
