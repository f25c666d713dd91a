//! The run task: opens the provider stream, enforces the first-token and
//! whole-run timeouts, and hands every item on through a [`Report`]. Aborting
//! the task drops the HTTP request.
//!
//! A token crosses one task on its way from the provider's connection to a
//! client's socket: this one. The deltas of the run in flight go straight
//! into the Worker's core, under its lock, where the event log numbers them
//! and wakes the subscribers; only what ends a turn (the stream's end, a
//! failure, an answer past its limit, a store that cannot keep up) goes to
//! the Worker's mailbox, which stays the owner of the run's lifecycle, of
//! input, cancel and the store. A delta of a run that is no longer the one
//! in flight (cancelled, failed, replaced) is dropped under the same lock
//! that ended it, so no delta ever follows a run's terminal event.

use std::sync::{Arc, Mutex};

use futures::{FutureExt, StreamExt};
use ractor::ActorRef;
use yoi_protocol::{ApiError, ErrorCode, RunId};

use super::actor::{lock, WorkerMsg};
use super::core::WorkerCore;
use crate::config::ProviderConfig;
use crate::provider::{ChatRequest, Provider, ProviderError, ProviderEvent};
use crate::store::FLUSH_EVERY;

/// An item from the run task to its Worker.
#[derive(Debug)]
pub enum RunItem {
    Event(ProviderEvent),
    /// The model finished and the stream ended.
    End,
    Failed(ApiError),
}

/// Most items handed on together.
const MAX_BATCH: usize = 64;

/// Where a run task's items go (see the module's comment).
pub(super) struct Report {
    core: Arc<Mutex<WorkerCore>>,
    worker: ActorRef<WorkerMsg>,
    run_id: RunId,
    /// Set once an item went to the mailbox: every later one follows it
    /// there, so that the Worker sees them in the order they came.
    handed_off: bool,
}

impl Report {
    pub(super) fn new(
        core: Arc<Mutex<WorkerCore>>,
        worker: ActorRef<WorkerMsg>,
        run_id: RunId,
    ) -> Self {
        Self {
            core,
            worker,
            run_id,
            handed_off: false,
        }
    }

    async fn deliver(&mut self, mut items: Vec<RunItem>) {
        let run_id = self.run_id;
        if !self.handed_off {
            self.catch_up_lease().await;
            let (rest, flush) = lock(&self.core).apply_streamed(run_id, items);
            if flush {
                self.worker
                    .send_after(FLUSH_EVERY, move || WorkerMsg::Flush { run_id });
            }
            items = rest;
        }
        if !items.is_empty() {
            self.handed_off = true;
            // The Worker may be gone (stopped, restarting); nothing to tell then.
            let _ = self.worker.send_message(WorkerMsg::Run { run_id, items });
        }
    }

    /// A stream that outruns the store's reservations of `seq`s waits here,
    /// holding nothing, for the reservation on its way.
    async fn catch_up_lease(&self) {
        let committed = lock(&self.core).lease_catch_up();
        if let Some(committed) = committed {
            let _ = committed.await;
        }
    }
}

/// Where the stream stands, for deadlines and for how it may end.
#[derive(Default)]
struct Progress {
    got_first: bool,
    finished: bool,
}

impl Progress {
    /// Takes one outcome of the stream: an event joins `batch`; an end is
    /// returned as the run's last item.
    fn take(
        &mut self,
        next: Option<Result<ProviderEvent, ProviderError>>,
        batch: &mut Vec<RunItem>,
    ) -> Option<RunItem> {
        match next {
            None if self.finished => Some(RunItem::End),
            None => Some(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                "the provider's stream ended before the model finished its answer",
            ))),
            // A connection cut after the model finished loses only the usage.
            Some(Err(_)) if self.finished => Some(RunItem::End),
            Some(Err(e)) => Some(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                e.to_string(),
            ))),
            Some(Ok(event)) => {
                match &event {
                    ProviderEvent::Text(_)
                    | ProviderEvent::Reasoning(_)
                    | ProviderEvent::ToolCall(_) => self.got_first = true,
                    ProviderEvent::Finished { .. } => {
                        self.got_first = true;
                        self.finished = true;
                    }
                    ProviderEvent::Usage(_) => {}
                }
                batch.push(RunItem::Event(event));
                None
            }
        }
    }
}

/// The run task: opens the provider stream, enforces both timeouts, and
/// hands every item on; items that are ready together go together.
/// Aborting the task drops the HTTP request.
pub(super) async fn drive_run(
    provider: Arc<dyn Provider>,
    config: Arc<ProviderConfig>,
    request: ChatRequest,
    mut report: Report,
) {
    let start = tokio::time::Instant::now();
    let run_deadline = start + config.run_timeout;
    let first_deadline = (start + config.first_token_timeout).min(run_deadline);
    let timeout_error = |first: bool| {
        let message = if first && config.first_token_timeout <= config.run_timeout {
            format!(
                "the provider sent no answer within {} ms",
                config.first_token_timeout.as_millis()
            )
        } else {
            format!(
                "the answer took longer than {} ms",
                config.run_timeout.as_millis()
            )
        };
        vec![RunItem::Failed(ApiError::new(ErrorCode::Timeout, message))]
    };

    let mut stream = match tokio::time::timeout_at(first_deadline, provider.stream(request)).await {
        Err(_) => return report.deliver(timeout_error(true)).await,
        Ok(Err(e)) => {
            return report
                .deliver(vec![RunItem::Failed(ApiError::new(
                    ErrorCode::ProviderError,
                    e.to_string(),
                ))])
                .await
        }
        Ok(Ok(stream)) => stream,
    };
    let mut progress = Progress::default();
    // One timer for the whole stream, moved once from the first-token
    // deadline to the run's: a timer made anew for each token would be a
    // registration (and often a wake-up of the timer's thread) per token.
    let deadline = tokio::time::sleep_until(first_deadline);
    tokio::pin!(deadline);
    let mut on_run_deadline = false;
    loop {
        if progress.got_first && !on_run_deadline {
            deadline.as_mut().reset(run_deadline);
            on_run_deadline = true;
        }
        let next = tokio::select! {
            biased;
            next = stream.next() => next,
            () = &mut deadline => {
                return report.deliver(timeout_error(!progress.got_first)).await;
            }
        };
        let mut batch = Vec::new();
        let mut end = progress.take(next, &mut batch);
        while end.is_none() && batch.len() < MAX_BATCH {
            match stream.next().now_or_never() {
                Some(next) => end = progress.take(next, &mut batch),
                None => break,
            }
        }
        let ended = end.is_some();
        batch.extend(end);
        report.deliver(batch).await;
        if ended {
            return;
        }
    }
}
