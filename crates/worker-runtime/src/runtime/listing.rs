//! A page of the Runtime's workers, in creation order or in the consoles'
//! order (activity), optionally only those whose name matches.
//!
//! The activity order is computed when asked: each worker's key is read
//! under its own lock (no summary is made), the keys are sorted, and only
//! the page's workers are summarised. `after` names a worker; the page goes
//! on from where that worker stands now, so a client that pages from the
//! last row it holds neither misses nor repeats a worker, even while
//! workers above it become active (they move up, past its rows, and the
//! workspace socket tells the client).

use yoi_protocol::{
    ActivityKey, ApiError, ErrorCode, WorkerId, WorkerList, WorkerOrder, WorkerPage,
};

use super::actor::RuntimeState;
use crate::error::RuntimeError;
use crate::worker::actor::lock;

impl RuntimeState {
    /// The workers of `page`, at most `page.limit`, and where the next
    /// page starts.
    pub(super) fn page(&self, page: WorkerPage) -> Result<WorkerList, RuntimeError> {
        let matches = |id: &WorkerId| match (&page.name, self.workers.get(id)) {
            (None, Some(_)) => true,
            (Some(q), Some(entry)) => q.matches(lock(&entry.core).display_name()),
            (_, None) => false,
        };
        let ids: Vec<WorkerId> = match page.order {
            WorkerOrder::Created => {
                let start = page
                    .after
                    .and_then(|after| self.order.iter().position(|id| *id == after))
                    .map_or(0, |i| i + 1);
                self.order
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .filter(|id| matches(id))
                    .copied()
                    .collect()
            }
            WorkerOrder::Activity => {
                let after = match page.after {
                    None => None,
                    Some(after) => Some(self.key_of(after).ok_or_else(|| {
                        RuntimeError::Api(ApiError::new(
                            ErrorCode::NotFound,
                            format!(
                                "no worker {after} in this runtime to page after (stopped?); start again from the first page"
                            ),
                        ))
                    })?),
                };
                let mut keys: Vec<ActivityKey> = self
                    .order
                    .iter()
                    .filter(|id| matches(id))
                    .filter_map(|id| self.key_of(*id))
                    .filter(|key| after.is_none_or(|after| *key > after))
                    .collect();
                keys.sort_unstable();
                keys.into_iter().map(|key| key.worker_id).collect()
            }
        };
        let end = page.limit.map_or(ids.len(), |n| n.min(ids.len()));
        let shown = ids.get(..end).unwrap_or_default();
        Ok(WorkerList {
            workers: shown.iter().filter_map(|id| self.summary_of(id)).collect(),
            next_after: (end < ids.len()).then(|| shown.last().copied()).flatten(),
        })
    }

    fn key_of(&self, id: WorkerId) -> Option<ActivityKey> {
        self.workers.get(&id).map(|e| lock(&e.core).activity_key())
    }
}
