//! The live Workers by id, for the runtime's callers to find one without a
//! round trip through the runtime actor (a message, a reply and a timer on
//! every command to a Worker). The runtime actor is still the only writer:
//! it changes the directory in the same step as its own table, so a Worker
//! is listed here from before its creation is answered until it is removed.
//! A Worker found here may stop before it is called; its mailbox then
//! refuses the call, which the caller already answers as not found (as
//! before, when the same could happen between the reply and the call).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use yoi_protocol::WorkerId;

use super::actor::WorkerHandle;

#[derive(Clone, Default)]
pub struct Directory(Arc<RwLock<HashMap<WorkerId, WorkerHandle>>>);

impl Directory {
    pub(super) fn get(&self, worker_id: &WorkerId) -> Option<WorkerHandle> {
        // A panic while the lock was held cannot leave the map half changed
        // (each change is one call on it), so a poisoned lock is still read.
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(worker_id).cloned()
    }

    pub(super) fn insert(&self, worker_id: WorkerId, handle: WorkerHandle) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(worker_id, handle);
    }

    pub(super) fn remove(&self, worker_id: &WorkerId) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(worker_id);
    }

    pub(super) fn clear(&self) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.clear();
    }
}
