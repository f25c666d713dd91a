//! What keeps a Worker from claiming what the store did not keep, and from
//! speaking after it was settled:
//!
//! - an input is refused with `store_unavailable` while the Worker cannot
//!   reserve `seq`s (and asks again, so that it takes input once the store
//!   writes again); the run in flight then ends, failed, with its terminal
//!   event;
//! - an input whose write was not committed is undone: its run fails (or it
//!   leaves the queue) and its `client_message_id` is forgotten, so that a
//!   retry is a new input, not the first answer again;
//! - once [`WorkerCore::settle`] wrote the last `seq` at shutdown, the
//!   Worker emits nothing more ([`WorkerCore::emit`] drops it), takes no
//!   input and starts no queued run: no `seq` above the settled one exists;
//! - a quarantined Worker (its stored rows are damaged) is listed, takes no
//!   input, and can be stopped.

use yoi_protocol::{
    ApiError, ClientMessageId, DequeueReason, ErrorCode, EventKind, MessageState, RunId, RunState,
    ToApiError, WorkerStatus,
};

use super::{RunEnd, WorkerCore};
use crate::error::RuntimeError;
use crate::store::SeqLease;

/// What a run or input hears when the store cannot keep it.
pub(crate) fn store_unavailable() -> ApiError {
    RuntimeError::StoreUnavailable.to_api_error()
}

impl WorkerCore {
    /// A Worker whose stored rows cannot be read: listed as `quarantined`,
    /// never run, its events never stored.
    pub fn quarantined(s: super::CoreSettings) -> Self {
        let worker_id = s.worker_id;
        let mut core = Self::new(s);
        core.status = WorkerStatus::Quarantined;
        core.gauges.set_status(WorkerStatus::Quarantined);
        core.lease = SeqLease::unbounded(worker_id);
        core
    }

    /// The Worker is restored with its history but takes no input: its
    /// profile cannot be used (`error` says why and what to do).
    pub fn refuse_input(&mut self, error: ApiError) {
        self.input_error = Some(error);
    }

    /// Whether an input may be taken now; see the module's doc.
    pub(super) fn check_writable(&mut self) -> Result<(), RuntimeError> {
        if let Some(error) = &self.input_error {
            return Err(RuntimeError::Api(error.clone()));
        }
        if self.settled {
            return Err(RuntimeError::Unavailable(self.runtime_id.clone()));
        }
        if self.status == WorkerStatus::Quarantined {
            let mut error = ApiError::new(
                ErrorCode::StoreUnavailable,
                format!(
                    "worker {} is quarantined: its stored data is damaged (see the server log); it takes no input, stop it to drop it",
                    self.display_ref()
                ),
            );
            // Trying again will not help: the operator must act.
            error.retryable = false;
            return Err(RuntimeError::Api(error));
        }
        if self.lease.failed() {
            self.lease.retry(self.log.last_seq());
            return Err(RuntimeError::StoreUnavailable);
        }
        if self.lease.short(self.log.last_seq()) || self.store.is_backlogged() {
            return Err(RuntimeError::StoreUnavailable);
        }
        Ok(())
    }

    /// Whether the Worker should wait for its next reservation's commit
    /// before it takes more of a run (see [`crate::store::SeqLease::behind`]).
    fn lease_behind(&self) -> bool {
        self.lease.behind(self.log.last_seq())
    }

    /// When the lease is behind: what tells that the store's next commit
    /// (the reservation on its way) is done. A stream that outruns the
    /// store's reservations waits for it, holding nothing.
    pub fn lease_catch_up(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        if !self.lease_behind() {
            return None;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store.after_commit(move |_| {
            let _ = tx.send(());
        });
        Some(rx)
    }

    /// Ends the run in flight, failed, when the Worker cannot count on
    /// more `seq`s; `true` when it did (the run's items are then dropped).
    pub(super) fn end_if_lease_lost(&mut self, run_id: RunId) -> bool {
        if !self.lease.short(self.log.last_seq())
            || self.active.as_ref().is_none_or(|a| a.run_id != run_id)
        {
            return false;
        }
        self.finish(RunEnd::Failed(store_unavailable()));
        true
    }

    /// The write of an input was not committed: its run fails with
    /// `store_unavailable` (or, queued, it leaves the queue), and its
    /// `client_message_id` is forgotten.
    pub fn undo_input(&mut self, run_id: RunId, client_message_id: Option<&ClientMessageId>) {
        if let Some(id) = client_message_id {
            self.idempotency.remove(id);
            self.idempotency_order.retain(|known| known != id);
        }
        if self.active.as_ref().is_some_and(|a| a.run_id == run_id) {
            self.finish(RunEnd::Failed(store_unavailable()));
        } else if let Some(index) = self.queue.iter().position(|m| m.run_id == run_id) {
            if let Some(message) = self.queue.remove(index) {
                self.drop_queued(&message, DequeueReason::Removed);
            }
        }
    }

    /// The mark taken before the writes of the last run's end: its staged
    /// events are released once they are committed (or said not to be).
    pub fn end_mark(&self) -> crate::store::Mark {
        self.end_mark
    }

    /// The end of a run was not committed: what it staged says so. A
    /// completed run becomes failed with `store_unavailable` (its message
    /// keeps its text), so that no client hears of a success the store did
    /// not keep; a run that failed or was cancelled keeps its end.
    pub fn fail_staged_end(&mut self) {
        let error = store_unavailable();
        let mut failed_runs = Vec::new();
        for (kind, _) in &mut self.staged {
            match kind {
                EventKind::RunCompleted { run_id, .. } => {
                    failed_runs.push(*run_id);
                    *kind = EventKind::RunFailed {
                        run_id: *run_id,
                        error: error.clone(),
                    };
                }
                EventKind::AssistantMessage { message, .. }
                    if message.state == MessageState::Complete =>
                {
                    message.state = MessageState::Failed;
                    message.error = Some(error.clone());
                    if let Some(m) = self.transcript.get_mut(message.id) {
                        m.state = MessageState::Failed;
                        m.error = Some(error.clone());
                    }
                }
                _ => {}
            }
        }
        for run_id in failed_runs {
            if let Some(run) = self.last_run.as_mut().filter(|r| r.run_id == run_id) {
                run.state = RunState::Failed;
                run.error = Some(error.clone());
            }
            for (id, outcome) in &mut self.outcomes {
                if *id == run_id {
                    *outcome = Err(error.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use tokio::sync::broadcast;
    use yoi_protocol::{MessageId, OnBusy, RuntimeId, Seq, WorkerId};

    use super::super::{Accepted, CoreSettings, RunEnd, WorkerCore};
    use crate::config::RuntimeLimits;
    use crate::error::RuntimeError;
    use crate::profile::Profile;
    use crate::store::Store;

    fn core() -> WorkerCore {
        WorkerCore::new(CoreSettings {
            tools: Default::default(),
            runtime_id: RuntimeId::backend_internal(),
            worker_id: WorkerId::new(),
            display_name: "w".to_owned(),
            profile: Arc::new(Profile {
                name: "companion".to_owned(),
                model: "m".to_owned(),
                system_prompt: "be brief".to_owned(),
            }),
            event_ring: 64,
            transcript_bound: 64,
            workspace: broadcast::channel(16).0,
            store: Store::memory(),
            seq_reserved: Seq(0),
            queue_limit: 4,
            limits: RuntimeLimits::default(),
        })
    }

    /// The run task's way in: its deltas are appended in place, each its own
    /// `seq`; what ends the turn, and all after it, is left for the mailbox;
    /// and a delta that comes after its run ended (a cancel between the
    /// task's read and its lock) is dropped, never sent after the terminal
    /// event.
    #[test]
    fn deltas_go_in_place_and_none_after_the_run_ended() {
        use crate::provider::ProviderEvent;
        use crate::worker::RunItem;
        let text = |t: &str| RunItem::Event(ProviderEvent::Text(t.to_owned()));
        let mut core = core();
        let Accepted::Started { accepted, .. } = core
            .accept_input("go".to_owned(), None, OnBusy::Reject, Ok(()), None)
            .unwrap()
        else {
            panic!("started")
        };
        let run = accepted.run_id;
        let before = core.last_seq();
        let (rest, _) =
            core.apply_streamed(run, vec![text("a"), text("b"), RunItem::End, text("c")]);
        assert_eq!(core.last_seq(), Seq(before.0 + 2), "one seq per delta");
        assert!(matches!(
            rest.as_slice(),
            [RunItem::End, RunItem::Event(ProviderEvent::Text(c))] if c == "c"
        ));
        core.cancel().unwrap();
        core.release_ended();
        let ended = core.last_seq();
        let (rest, flush) = core.apply_streamed(run, vec![text("late")]);
        assert!(rest.is_empty() && !flush);
        assert_eq!(
            core.last_seq(),
            ended,
            "no delta after the run's terminal event"
        );
    }

    /// What raced a shutdown after it settled the worker emits nothing and
    /// starts nothing: no `seq` above the settled one exists.
    #[test]
    fn nothing_is_emitted_after_settle() {
        let mut core = core();
        let started = core
            .accept_input("one".to_owned(), None, OnBusy::Reject, Ok(()), None)
            .unwrap();
        assert!(matches!(started, Accepted::Started { .. }));
        let queued = core
            .accept_input("two".to_owned(), None, OnBusy::Queue, Ok(()), None)
            .unwrap();
        let Accepted::Queued(queued) = queued else {
            panic!("queued")
        };
        // What shutdown does: end the run, release its events, settle.
        core.finish(RunEnd::Cancelled);
        core.release_ended();
        core.settle();
        let settled = core.last_seq();

        let input = core.accept_input("three".to_owned(), None, OnBusy::Queue, Ok(()), None);
        assert!(matches!(input, Err(RuntimeError::Unavailable(_))));
        assert!(core.start_next().is_none(), "the queued input stays queued");
        assert!(core.remove_queued(queued.message_id).is_err());
        assert!(core.remove_queued(MessageId::new()).is_err());
        assert!(core.cancel().is_err());
        core.stop();
        assert_eq!(core.last_seq(), settled, "nothing was emitted after settle");
    }
}
