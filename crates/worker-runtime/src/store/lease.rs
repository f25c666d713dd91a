//! [`SeqLease`]: a Worker hands out a `seq` only once the store has
//! committed a reservation that covers it. Reservations come in blocks and
//! are asked for well ahead, off the Worker's mailbox; so after a crash a
//! restarted Worker goes on above every `seq` it may have handed out, and
//! clients holding an older cursor get a reset snapshot, never a reused `seq`.
//!
//! A reservation counts only once its commit succeeded, and the lease never
//! waits for one. When one fails, or the store falls so far behind that
//! fewer than [`MARGIN`] `seq`s are left, the lease is
//! [`SeqLease::short`]: its Worker takes no input and ends the run in
//! flight within what is left; after a failure the next input asks again
//! ([`SeqLease::retry`]), so a store that writes again is used again. An
//! event no reservation covers is dropped, never given a `seq`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use yoi_protocol::{Seq, WorkerId};

use super::{Op, Store, StoreError};

/// How many `seq`s one reservation covers.
pub const BLOCK: u64 = 4096;
/// A new reservation is asked for when fewer than this many are left.
pub const LOW_WATER: u64 = BLOCK / 2;
/// `seq`s kept for ending a run (its message, terminal event, status and
/// the dequeue of inputs that wait) when no new reservation comes.
pub const MARGIN: u64 = 256;
/// A Worker waits for its next reservation's commit when fewer than this
/// many `seq`s are left (well above [`MARGIN`], so waiting comes first).
pub const CATCH_UP: u64 = 4 * MARGIN;

pub struct SeqLease {
    worker_id: WorkerId,
    store: Store,
    /// The highest reservation asked for.
    requested: u64,
    /// The highest reservation committed.
    confirmed: Arc<AtomicU64>,
    /// Set when a reservation's commit failed.
    failed: Arc<AtomicBool>,
}

impl SeqLease {
    /// A lease whose committed reservation is `reserved`.
    pub fn new(worker_id: WorkerId, store: Store, reserved: Seq) -> Self {
        let reserved = if store.is_durable() {
            reserved.0
        } else {
            u64::MAX
        };
        Self::with(worker_id, store, reserved)
    }

    /// A lease that writes nothing and limits nothing: for a quarantined
    /// Worker, whose events are never stored.
    pub fn unbounded(worker_id: WorkerId) -> Self {
        Self::with(worker_id, Store::memory(), u64::MAX)
    }

    fn with(worker_id: WorkerId, store: Store, reserved: u64) -> Self {
        Self {
            worker_id,
            store,
            requested: reserved,
            confirmed: Arc::new(AtomicU64::new(reserved)),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The committed reservation.
    pub fn reserved(&self) -> Seq {
        Seq(self.confirmed.load(Ordering::Acquire))
    }

    /// Whether the last reservation asked for could not be committed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// After a failure, asks again for a block above `last`; the next
    /// [`SeqLease::failed`] says whether it was committed.
    pub fn retry(&mut self, last: Seq) {
        if self.failed.swap(false, Ordering::AcqRel) {
            self.request(last.0.saturating_add(BLOCK));
        }
    }

    /// Queues a reservation up to `upto`; it counts once committed.
    fn request(&mut self, upto: u64) {
        self.requested = upto;
        let since = self.store.mark();
        self.store.send(Op::Reserve {
            worker_id: self.worker_id,
            upto,
        });
        let confirmed = self.confirmed.clone();
        let failed = self.failed.clone();
        self.store
            .after_commit_since(since, move |outcome| match outcome {
                Ok(()) => {
                    confirmed.fetch_max(upto, Ordering::AcqRel);
                }
                Err(_) => failed.store(true, Ordering::Release),
            });
    }

    /// Asks ahead for the next block when `seq` nears the end of what was
    /// asked for; `Err` when no committed reservation covers `seq` (it
    /// must not be handed out). Never waits for the store.
    pub fn cover(&mut self, seq: Seq) -> Result<(), StoreError> {
        if self.confirmed.load(Ordering::Acquire) == u64::MAX {
            return Ok(());
        }
        if seq.0.saturating_add(LOW_WATER) > self.requested && !self.failed() {
            self.request(seq.0.saturating_add(BLOCK));
        }
        if seq.0 <= self.confirmed.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "seq {} is above the committed reservation",
                seq.0
            )))
        }
    }

    /// Whether the Worker should wait for the reservation it asked for
    /// before it hands out more: one is on its way (neither committed nor
    /// failed) and fewer than [`CATCH_UP`] `seq`s are left after `seq`. A
    /// fast stream then waits for the store's commit (off any thread)
    /// instead of running out of `seq`s.
    pub fn behind(&self, seq: Seq) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        confirmed != u64::MAX
            && !self.failed()
            && self.requested > confirmed
            && seq.0.saturating_add(CATCH_UP) > confirmed
    }

    /// Whether a run must end now to end within what is committed: the
    /// last reservation failed, or fewer than [`MARGIN`] `seq`s are left
    /// after `seq` (the store fell a whole half block behind).
    pub fn short(&self, seq: Seq) -> bool {
        let confirmed = self.confirmed.load(Ordering::Acquire);
        confirmed != u64::MAX && (self.failed() || seq.0.saturating_add(MARGIN) > confirmed)
    }
}
