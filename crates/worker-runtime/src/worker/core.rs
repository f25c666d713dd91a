//! [`WorkerCore`]: a Worker's model. Its state machine, event log,
//! transcript, usage and the run in flight, with every rule of the contract
//! that does not need a mailbox: single-flight input, idempotent
//! `client_message_id`, exactly one terminal event per run, and the queue of
//! inputs that wait for the run in flight (`on_busy: queue`).
//!
//! The actor ([`super::actor`]) owns the core behind a mutex it shares with
//! its Runtime, so that a restarted actor finds the same data.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::{broadcast, oneshot};
use tokio::task::AbortHandle;
use yoi_protocol::{
    ApiError, CancelAccepted, ClientMessageId, DequeueReason, ErrorCode, EventKind, InFlight,
    InputAccepted, LastRun, Message, MessageId, MessageState, OnBusy, QueuedInput, Role, RunId,
    RunOutcome, RunState, RuntimeId, Seq, SnapshotReason, Timestamp, Usage, WorkerDetail, WorkerId,
    WorkerStatus, WorkerSummary, WorkspaceEvent,
};

pub mod tool_loop;

use super::run::RunItem;
use super::snapshot_cache::{SnapshotCache, SnapshotKey};
use crate::config::RuntimeLimits;
use crate::error::RuntimeError;
use crate::event_log::{CursorFit, EventFrame, EventLog};
use crate::profile::Profile;
use crate::provider::{ChatRequest, ProviderEvent};
use crate::store::{ClientInput, SavedWorker, SeqLease, Store, WorkerRow};
use crate::tools::WorkerTools;
use crate::transcript::Transcript;
use tool_loop::{AskOrigin, RunTools, ToolStep};

mod active_run;
mod call_text;
mod ending;
mod guard;
use active_run::ActiveRun;
pub(crate) use guard::store_unavailable;

/// Client message ids remembered per Worker for idempotent input (the same
/// window the store keeps, so a restart forgets none of them).
const IDEMPOTENCY_MEMORY: usize = crate::store::CLIENT_IDS_KEPT;
/// Outcomes of ended runs remembered for `wait=true` callers that arrive late.
const OUTCOME_MEMORY: usize = 64;

/// How a caller waiting for a run hears its end.
pub type RunWaiter = oneshot::Sender<Result<RunOutcome, ApiError>>;

/// What a subscriber starts from: frames to send first, then `live`.
pub struct SubscribeStart {
    pub first: Vec<Arc<EventFrame>>,
    pub live: broadcast::Receiver<Arc<EventFrame>>,
    /// The `seq` the subscriber is at after `first`.
    pub last: Seq,
}

/// How a subscription begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// A snapshot (`reset: false`), then live events.
    Snapshot,
    /// Replay after this cursor, or a reset snapshot if it is not held.
    Cursor(Seq),
    /// A subscriber that fell behind the live channel at this `seq`: the
    /// rest from the ring if it still holds it, else a reset snapshot with
    /// reason `lagged`.
    Lagged(Seq),
}

/// What accepting an input led to.
pub enum Accepted {
    /// The same `client_message_id` was accepted before: its first answer.
    Repeat(InputAccepted),
    /// The input waits in the queue for the runs before it.
    Queued(InputAccepted),
    /// A new run: the actor starts its task with `request`.
    Started {
        accepted: InputAccepted,
        request: ChatRequest,
    },
}

/// How a run ended.
pub enum RunEnd {
    Completed,
    Failed(ApiError),
    Cancelled,
}

/// A Worker's data, kept across actor restarts.
pub struct WorkerCore {
    pub(crate) runtime_id: RuntimeId,
    pub(crate) worker_id: WorkerId,
    display_name: String,
    profile: Arc<Profile>,
    created_at: Timestamp,
    status: WorkerStatus,
    log: EventLog,
    transcript: Transcript,
    usage: Usage,
    last_run: Option<LastRun>,
    /// Boxed: an idle Worker (most of them) holds a pointer, not a run.
    active: Option<Box<ActiveRun>>,
    idempotency: HashMap<ClientMessageId, InputAccepted>,
    idempotency_order: VecDeque<ClientMessageId>,
    outcomes: VecDeque<(RunId, Result<RunOutcome, ApiError>)>,
    waiters: HashMap<RunId, Vec<RunWaiter>>,
    workspace: broadcast::Sender<WorkspaceEvent>,
    store: Store,
    lease: SeqLease,
    /// While a run's end is being committed, its events wait here (see
    /// [`WorkerCore::release_ended`]): no client hears that a run ended
    /// before the store has it.
    staging: bool,
    /// Each event, and whether it is a status the workspace hears of too.
    staged: Vec<(EventKind, bool)>,
    /// Inputs waiting for the run in flight, the next first: the user
    /// messages they become (their `run_id` is given when they are queued).
    queue: VecDeque<Message>,
    /// How many inputs may wait.
    queue_limit: usize,
    limits: RuntimeLimits,
    /// What its runs may call.
    tools: Arc<WorkerTools>,
    /// Decisions a person made for the rest of the worker's life, by tool.
    remembered: HashMap<String, yoi_protocol::ApprovalDecision>,
    /// What the actor has yet to do for the tool loop.
    steps: Vec<ToolStep>,
    /// Who asked for queued inputs that another worker sent, by run.
    origins: HashMap<RunId, AskOrigin>,
    snapshots: SnapshotCache,
    /// Set once the last `seq` was written at shutdown: nothing more is emitted.
    settled: bool,
    /// Taken before the writes of the last run's end (see [`Self::end_mark`]).
    end_mark: crate::store::Mark,
    /// Its place in the `workers` and `queued_inputs` metrics.
    gauges: crate::metrics::WorkerGauges,
    /// Why input is refused while the history stays readable (its profile
    /// is gone); see [`WorkerCore::refuse_input`].
    input_error: Option<ApiError>,
}

pub struct CoreSettings {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    pub display_name: String,
    pub profile: Arc<Profile>,
    pub event_ring: usize,
    pub transcript_bound: usize,
    pub workspace: broadcast::Sender<WorkspaceEvent>,
    /// Where the Worker is kept (in memory only when not durable).
    pub store: Store,
    /// The highest `seq` the store has reserved for this Worker.
    pub seq_reserved: Seq,
    /// How many inputs may wait in its queue.
    pub queue_limit: usize,
    pub limits: RuntimeLimits,
    pub tools: Arc<WorkerTools>,
}

impl WorkerCore {
    pub fn new(s: CoreSettings) -> Self {
        Self {
            lease: SeqLease::new(s.worker_id, s.store.clone(), s.seq_reserved),
            log: EventLog::new(s.runtime_id.clone(), s.worker_id, s.event_ring),
            runtime_id: s.runtime_id,
            worker_id: s.worker_id,
            display_name: s.display_name,
            profile: s.profile,
            created_at: Timestamp::now(),
            status: WorkerStatus::Idle,
            transcript: Transcript::new(s.transcript_bound),
            usage: Usage::default(),
            last_run: None,
            active: None,
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
            outcomes: VecDeque::new(),
            waiters: HashMap::new(),
            workspace: s.workspace,
            store: s.store,
            staging: false,
            staged: Vec::new(),
            queue: VecDeque::new(),
            queue_limit: s.queue_limit,
            limits: s.limits,
            tools: s.tools,
            remembered: HashMap::new(),
            steps: Vec::new(),
            origins: HashMap::new(),
            snapshots: SnapshotCache::default(),
            settled: false,
            end_mark: 0,
            gauges: crate::metrics::WorkerGauges::new(WorkerStatus::Idle),
            input_error: None,
        }
    }

    /// What the store keeps of a new Worker, with the `seq`s its lease
    /// starts with.
    pub fn row_reserving(&self) -> WorkerRow {
        WorkerRow {
            worker_id: self.worker_id,
            display_name: self.display_name.clone(),
            profile: self.profile.name.clone(),
            created_at: self.created_at,
            usage: self.usage,
            seq_reserved: self.lease.reserved(),
        }
    }

    /// A Worker as the store kept it: its newest messages, usage, and the
    /// `seq` to go on from (above every one it may have handed out).
    pub fn restore(s: CoreSettings, saved: SavedWorker) -> Self {
        let mut core = Self::new(s);
        core.created_at = saved.row.created_at;
        core.usage = saved.row.usage;
        core.transcript.set_older(saved.older);
        for m in saved.recent {
            core.transcript.push(m);
        }
        core.log.resume_after(saved.row.seq_reserved);
        core.last_run = saved.last_run;
        core.queue = saved.queue.into();
        core.gauges.set_queued(core.queue.len());
        core.remembered = saved.tool_decisions.into_iter().collect();
        for client in saved.client_inputs {
            core.remember_input(client.id, client.answer);
        }
        if let Some(run) = core
            .last_run
            .clone()
            .filter(|r| r.state == RunState::Running)
        {
            core.fail_interrupted(run.run_id);
            core.release_ended();
        }
        core
    }

    /// The process ended while this run streamed: end it now, with the text
    /// the store kept, so that it too has its terminal event and message.
    fn fail_interrupted(&mut self, run_id: RunId) {
        let mut run = ActiveRun::new(run_id);
        if let Some(partial) = self
            .transcript
            .last_of_run(run_id)
            .filter(|m| m.role == Role::Assistant)
        {
            run.assistant_id = partial.id;
            run.assistant_started = true;
            run.text = partial.text.clone();
            run.reasoning = partial.reasoning.clone().unwrap_or_default();
            run.tools.calls = partial.tool_calls.clone();
            call_text::interrupt_calls(&mut run.tools.calls);
        }
        self.active = Some(Box::new(run));
        self.status = WorkerStatus::Running;
        self.finish(RunEnd::Failed(ApiError::new(
            ErrorCode::Internal,
            "a restart of yoi interrupted this run; the text it had streamed is kept",
        )));
    }

    /// The process ends cleanly: the next `seq` after a restart is the next
    /// one, with no gap; this Worker emits nothing more.
    pub fn settle(&mut self) {
        self.settled = true;
        self.store.send(crate::store::Op::Settle {
            worker_id: self.worker_id,
            last: self.log.last_seq(),
        });
    }

    /// Test hook: drops the run in flight without a word, as a killed
    /// process would.
    #[cfg(feature = "test-hooks")]
    pub fn abandon(&mut self) {
        if let Some(task) = self.active.take().and_then(|run| run.task) {
            task.abort();
        }
    }

    /// Where the Worker is kept.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn display_ref(&self) -> String {
        format!("{}@{}", self.display_name, self.runtime_id)
    }

    pub fn summary(&self) -> WorkerSummary {
        let last = self.transcript.last_with_text();
        WorkerSummary {
            runtime_id: self.runtime_id.clone(),
            worker_id: self.worker_id,
            display_name: self.display_name.clone(),
            display_ref: self.display_ref(),
            status: self.status,
            profile: self.profile.info(),
            last_activity: last.map(|m| m.at),
            last_message: last.map(|m| yoi_protocol::message_preview(&m.text)),
        }
    }

    /// Where this worker stands in the consoles' order, without making its
    /// whole summary (a listing sorts every worker of the runtime).
    pub fn activity_key(&self) -> yoi_protocol::ActivityKey {
        yoi_protocol::ActivityKey {
            last_activity: self.transcript.last_with_text().map(|m| m.at),
            worker_id: self.worker_id,
        }
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Takes a new display name (already validated): stored, and announced
    /// to the workspace as `worker_updated`.
    pub fn rename(&mut self, display_name: String) -> Result<WorkerSummary, RuntimeError> {
        if self.status == WorkerStatus::Stopped {
            return Err(RuntimeError::WorkerNotFound(self.worker_id.to_string()));
        }
        self.display_name.clone_from(&display_name);
        self.store.send(crate::store::Op::Rename {
            worker_id: self.worker_id,
            display_name,
        });
        let summary = self.summary();
        let _ = self.workspace.send(WorkspaceEvent::WorkerUpdated {
            worker: summary.clone(),
        });
        Ok(summary)
    }

    pub fn detail(&self) -> WorkerDetail {
        WorkerDetail {
            summary: self.summary(),
            created_at: self.created_at,
            tools: self.tools.granted(),
            usage: self.usage,
            last_run: self.last_run.clone(),
            queue: self
                .queue
                .iter()
                .map(|m| QueuedInput {
                    message_id: m.id,
                    text: m.text.clone(),
                    at: m.at,
                })
                .collect(),
            pending_approvals: self.pending_approvals(),
            input_error: self.input_error.clone(),
        }
    }

    /// Appends an event (or stages it while a run's end is committed; the
    /// `seq` is then given at release and this returns the current one).
    fn emit(&mut self, kind: EventKind) -> Seq {
        self.emit_announced(kind, false)
    }

    fn emit_announced(&mut self, kind: EventKind, announce: bool) -> Seq {
        self.count(&kind);
        if self.settled {
            tracing::debug!(worker_id = %self.worker_id, "an event after settling is dropped");
            return self.log.last_seq();
        }
        if self.staging {
            self.staged.push((kind, announce));
            return self.log.last_seq();
        }
        if let Err(e) = self.lease.cover(self.log.last_seq().next()) {
            // Runs end while MARGIN seqs are left, so only a flood of
            // dequeues gets here: a seq no reservation covers could be
            // handed out again after a crash, so the event is dropped.
            tracing::error!(worker_id = %self.worker_id, error = %e, "an event was dropped: the store keeps no reservation for it");
            return self.log.last_seq();
        }
        let announced = match (&kind, announce) {
            (EventKind::Status { status }, true) => Some(*status),
            _ => None,
        };
        let seq = self.log.append(kind).seq();
        if let Some(status) = announced {
            let _ = self.workspace.send(WorkspaceEvent::Status {
                runtime_id: self.runtime_id.clone(),
                worker_id: self.worker_id,
                status,
            });
            // A run starts or ends: the last message and its time changed.
            let _ = self.workspace.send(WorkspaceEvent::WorkerUpdated {
                worker: self.summary(),
            });
        }
        seq
    }

    /// A new status, in the Worker's events and the workspace's.
    /// Keeps the metrics up to date with what an event says happened: two
    /// comparisons for a delta, so streaming pays nothing for them.
    fn count(&mut self, kind: &EventKind) {
        self.gauges.set_status(self.status);
        self.gauges.set_queued(self.queue.len());
        match kind {
            EventKind::ToolCallFinished { state, .. } => crate::metrics::tool_call_ended(*state),
            EventKind::ToolApprovalDecided { decision, .. } => crate::metrics::approval(*decision),
            EventKind::RunStarted { .. } => crate::metrics::run_started(&self.profile.name),
            _ => {}
        }
    }

    fn set_status(&mut self, status: WorkerStatus) {
        self.status = status;
        self.emit_announced(EventKind::Status { status }, true);
    }

    /// Whether a run ended and its events wait for the store's commit.
    pub fn has_staged(&self) -> bool {
        self.staging
    }

    /// Appends the events of an ended run, once the store committed its end.
    pub fn release_ended(&mut self) {
        self.staging = false;
        for (kind, announce) in std::mem::take(&mut self.staged) {
            self.emit_announced(kind, announce);
        }
    }

    /// Shared by the subscribers that ask while nothing changed.
    fn snapshot(&mut self, reason: Option<SnapshotReason>) -> Arc<EventFrame> {
        let key = SnapshotKey {
            seq: self.log.last_seq(),
            transcript_version: self.transcript.version(),
            reason,
            detail: self.detail(),
            in_flight: self.active.as_ref().map(|a| InFlight {
                run_id: a.run_id,
                text: a.text.clone(),
                reasoning: (!a.reasoning.is_empty()).then(|| a.reasoning.clone()),
            }),
        };
        let (log, transcript) = (&self.log, &self.transcript);
        self.snapshots.get_or_make(key, |key| {
            log.snapshot_frame(EventKind::Snapshot {
                worker: Box::new(key.detail.clone()),
                transcript: transcript.all(),
                in_flight: key.in_flight.clone(),
                reset: reason.is_some(),
                reason,
            })
        })
    }

    /// Snapshot or replay, and the live receiver, taken in one step so that
    /// nothing is lost or repeated across the boundary.
    /// `limit_reached` when the Worker already has as many subscribers as
    /// it takes (a lagged subscriber starting over is not a new one).
    pub fn subscribe(&mut self, from: SubscribeFrom) -> Result<SubscribeStart, RuntimeError> {
        let most = self.limits.subscribers_per_worker;
        if !matches!(from, SubscribeFrom::Lagged(_)) && self.log.subscribers() >= most {
            return Err(RuntimeError::LimitReached(format!(
                "worker {} has {most} event sockets open, the most it takes (limits.subscribers_per_worker); close one or try again later",
                self.display_ref()
            )));
        }
        let live = self.log.live();
        let last = self.log.last_seq();
        let first = match from {
            SubscribeFrom::Snapshot => vec![self.snapshot(None)],
            SubscribeFrom::Lagged(at) => match self.log.fit(at) {
                CursorFit::Held => self.log.after(at),
                CursorFit::Expired | CursorFit::Ahead => {
                    vec![self.snapshot(Some(SnapshotReason::Lagged))]
                }
            },
            SubscribeFrom::Cursor(cursor) => match self.log.fit(cursor) {
                CursorFit::Held => self.log.after(cursor),
                CursorFit::Expired => vec![self.snapshot(Some(SnapshotReason::CursorExpired))],
                CursorFit::Ahead => vec![self.snapshot(Some(SnapshotReason::CursorAhead))],
            },
        };
        Ok(SubscribeStart { first, live, last })
    }

    /// A page of history: the newest `limit` messages, or those before
    /// `before`. `None` when the page is older than what is kept in memory:
    /// the store has it.
    pub fn transcript_page(
        &self,
        limit: usize,
        before: Option<MessageId>,
    ) -> Option<yoi_protocol::Transcript> {
        let (messages, truncated) = self.transcript.page(limit, before)?;
        Some(yoi_protocol::Transcript {
            messages,
            seq: self.log.last_seq(),
            truncated,
        })
    }

    /// The messages still streaming, as they stand now.
    pub fn streaming_messages(&self) -> Vec<Message> {
        self.transcript.streaming().cloned().collect()
    }

    /// The newest `limit` messages held in memory.
    pub fn transcript_tail(&self, limit: usize) -> yoi_protocol::Transcript {
        let (messages, truncated) = self.transcript.tail(limit);
        yoi_protocol::Transcript {
            messages,
            seq: self.log.last_seq(),
            truncated,
        }
    }

    /// The `seq` a transcript page is current at.
    pub fn last_seq(&self) -> Seq {
        self.log.last_seq()
    }

    fn remember_input(&mut self, id: ClientMessageId, accepted: InputAccepted) {
        if self.idempotency_order.len() == IDEMPOTENCY_MEMORY {
            if let Some(old) = self.idempotency_order.pop_front() {
                self.idempotency.remove(&old);
            }
        }
        self.idempotency_order.push_back(id.clone());
        self.idempotency.insert(id, accepted);
    }

    /// Takes a user message: the first answer again for a known
    /// `client_message_id`; while a run is in flight `busy`, or with
    /// `on_busy: queue` a place in the queue (`queue_full` past its bound);
    /// else a new run whose `input_accepted`, `status` and `run_started` are
    /// in the log.
    pub fn accept_input(
        &mut self,
        text: String,
        client_message_id: Option<ClientMessageId>,
        on_busy: OnBusy,
        provider_ready: Result<(), String>,
        origin: Option<AskOrigin>,
    ) -> Result<Accepted, RuntimeError> {
        yoi_protocol::validate_input_text(&text)?;
        self.check_writable()?;
        if let Some(first) = client_message_id
            .as_ref()
            .and_then(|id| self.idempotency.get(id))
        {
            return Ok(Accepted::Repeat(*first));
        }
        if let Some(active) = &self.active {
            if on_busy == OnBusy::Reject {
                return Err(RuntimeError::Busy {
                    display_ref: self.display_ref(),
                    active_run: active.run_id,
                });
            }
        }
        provider_ready.map_err(RuntimeError::ProviderUnconfigured)?;
        let mut message = user_message(text);
        if let Some(origin) = origin {
            message.sender = Some(origin.sender.clone());
            self.origins.insert(message.run_id, origin);
        }
        if self.active.is_some() {
            let accepted = self.enqueue(message, client_message_id.clone())?;
            if let Some(id) = client_message_id {
                self.remember_input(id, accepted);
            }
            return Ok(Accepted::Queued(accepted));
        }
        // The answer is written with the message, before the run's first
        // event: its `input_accepted` takes the next `seq`.
        let answer = InputAccepted::started(message.run_id, message.id, self.log.last_seq().next());
        let client = client_message_id
            .clone()
            .map(|id| ClientInput { id, answer });
        self.store
            .put_input(self.worker_id, message.clone(), client);
        let (accepted, request) = self.begin_run(message);
        if accepted != answer {
            // Its event was held back (a run's end is being committed):
            // the answer given is what a retry must get.
            if let Some(id) = client_message_id.clone() {
                self.store.put_client_input(
                    self.worker_id,
                    ClientInput {
                        id,
                        answer: accepted,
                    },
                );
            }
        }
        if let Some(id) = client_message_id {
            self.remember_input(id, accepted);
        }
        Ok(Accepted::Started { accepted, request })
    }

    /// Puts an input at the end of the queue, with its `input_queued`.
    fn enqueue(
        &mut self,
        message: Message,
        client_message_id: Option<ClientMessageId>,
    ) -> Result<InputAccepted, RuntimeError> {
        if self.queue.len() >= self.queue_limit {
            return Err(RuntimeError::QueueFull {
                display_ref: self.display_ref(),
                limit: self.queue_limit,
            });
        }
        self.queue.push_back(message.clone());
        let position = u32::try_from(self.queue.len()).unwrap_or(u32::MAX);
        let seq = self.emit(EventKind::InputQueued {
            message_id: message.id,
            text: message.text.clone(),
            position,
        });
        let accepted = InputAccepted {
            run_id: message.run_id,
            message_id: message.id,
            seq,
            queued: true,
            position: Some(position),
        };
        let client = client_message_id.map(|id| ClientInput {
            id,
            answer: accepted,
        });
        self.store
            .put_queued(self.worker_id, message.clone(), client);
        Ok(accepted)
    }

    /// Starts the run of the next queued input, when no run is in flight:
    /// its `input_dequeued` (`started`), then the events of a new run.
    pub fn start_next(&mut self) -> Option<(InputAccepted, ChatRequest)> {
        if self.active.is_some()
            || self.staging
            || self.settled
            || self.input_error.is_some()
            || self.status != WorkerStatus::Idle
        {
            return None;
        }
        let mut message = self.queue.pop_front()?;
        self.emit(EventKind::InputDequeued {
            message_id: message.id,
            reason: DequeueReason::Started,
        });
        message.at = Timestamp::now();
        // Leaving the queue and joining the history are one write.
        self.store
            .put_unqueued(message.id, Some((self.worker_id, message.clone())));
        Some(self.begin_run(message))
    }

    /// Removes a queued input before its run starts; `not_found` when it is
    /// not (or no longer) queued.
    pub fn remove_queued(&mut self, message_id: MessageId) -> Result<(), RuntimeError> {
        if self.settled {
            return Err(RuntimeError::Unavailable(self.runtime_id.clone()));
        }
        let index = self
            .queue
            .iter()
            .position(|m| m.id == message_id)
            .ok_or(RuntimeError::NotQueued(message_id))?;
        if let Some(message) = self.queue.remove(index) {
            self.drop_queued(&message, DequeueReason::Removed);
        }
        Ok(())
    }

    /// An input leaves the queue without running: its event, its row, and
    /// the `wait=true` callers of its run.
    fn drop_queued(&mut self, message: &Message, reason: DequeueReason) {
        self.emit(EventKind::InputDequeued {
            message_id: message.id,
            reason,
        });
        self.store.put_unqueued(message.id, None);
        let waiters = self.waiters.remove(&message.run_id).unwrap_or_default();
        let error = ApiError::new(
            ErrorCode::NotRunning,
            format!("input {} left the queue before it ran", message.id),
        );
        self.remember_outcome(message.run_id, Err(error.clone()));
        self.store.after_commit(move |_| {
            for waiter in waiters {
                let _ = waiter.send(Err(error.clone()));
            }
        });
    }

    /// Keeps how a run ended for `wait=true` callers that arrive late.
    fn remember_outcome(&mut self, run_id: RunId, result: Result<RunOutcome, ApiError>) {
        if self.outcomes.len() == OUTCOME_MEMORY {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back((run_id, result));
    }

    /// A new run of a user message: it joins the transcript (the caller has
    /// stored it), the events of the run's start go out.
    fn begin_run(&mut self, message: Message) -> (InputAccepted, ChatRequest) {
        let run_id = message.run_id;
        self.transcript.push(message.clone());
        let (request, offered) = self.first_request();
        let chain = self
            .origins
            .remove(&run_id)
            .map(|o| o.chain)
            .unwrap_or_default();
        let seq = self.emit(EventKind::InputAccepted {
            run_id,
            message: message.clone(),
        });
        let accepted = InputAccepted::started(run_id, message.id, seq);
        let mut run = ActiveRun::new(run_id);
        run.tools = RunTools::new(offered, request.clone(), chain);
        self.active = Some(Box::new(run));
        self.last_run = Some(LastRun {
            run_id,
            state: RunState::Running,
            error: None,
            usage: None,
            duration_ms: None,
        });
        self.set_status(WorkerStatus::Running);
        if let Some(run) = &self.last_run {
            self.store.put_run(self.worker_id, run.clone());
        }
        self.emit(EventKind::RunStarted {
            run_id,
            model: self.profile.model.clone(),
        });
        (accepted, request)
    }

    /// Keeps the run task's handle, so that ending the run aborts it.
    pub fn attach_task(&mut self, run_id: RunId, task: AbortHandle) {
        match self.active.as_mut().filter(|a| a.run_id == run_id) {
            Some(active) => active.task = Some(task),
            // The run already ended (a cancel raced the start).
            None => task.abort(),
        }
    }

    /// The run task's items, applied in place while they only stream (text,
    /// reasoning, usage, parts of tool calls): returns the rest, from the
    /// first item that ends the turn or needs the mailbox (the stream's end,
    /// a failure, an answer past its limit, a lease running short), and
    /// whether a flush of the partial answer is due.
    pub fn apply_streamed(&mut self, run_id: RunId, items: Vec<RunItem>) -> (Vec<RunItem>, bool) {
        let mut flush = false;
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            if !self.streams_in_place(run_id, &item) {
                let mut rest = vec![item];
                rest.extend(items);
                return (rest, flush);
            }
            flush |= self.apply_run_item(run_id, item);
        }
        (Vec::new(), flush)
    }

    /// Whether applying `item` only appends to the run (or drops it, its run
    /// being over): nothing that ends a run happens outside the mailbox.
    fn streams_in_place(&self, run_id: RunId, item: &RunItem) -> bool {
        let RunItem::Event(event) = item else {
            return false;
        };
        if self.active.as_ref().is_none_or(|a| a.run_id != run_id) {
            return true;
        }
        if self.lease.short(self.log.last_seq()) {
            return false;
        }
        match event {
            ProviderEvent::Text(text) | ProviderEvent::Reasoning(text) => {
                !self.answer_too_long(text.len())
            }
            _ => true,
        }
    }

    /// Applies what the run task reported; items of a run that already
    /// ended (cancelled, timed out) are dropped. `true` when the actor
    /// should schedule [`WorkerCore::flush_partial`].
    pub fn apply_run_item(&mut self, run_id: RunId, item: RunItem) -> bool {
        if self.active.as_ref().is_none_or(|a| a.run_id != run_id) || self.end_if_lease_lost(run_id)
        {
            return false;
        }
        if let RunItem::Event(ProviderEvent::Text(text) | ProviderEvent::Reasoning(text)) = &item {
            if self.answer_too_long(text.len()) {
                let most = self.limits.answer_bytes;
                let message = format!(
                    "the answer passed {most} bytes, the most one run may stream (limits.answer_bytes); it was stopped and its text so far is kept"
                );
                self.finish(RunEnd::Failed(ApiError::new(
                    ErrorCode::LimitReached,
                    message,
                )));
                return false;
            }
        }
        if let Some(active) = self.active.as_mut().filter(|a| !a.first_seen) {
            if matches!(item, RunItem::Event(ref e) if !matches!(e, ProviderEvent::Usage(_))) {
                active.first_seen = true;
                crate::metrics::metrics()
                    .first_token
                    .observe(active.started.elapsed().as_secs_f64());
            }
        }
        match item {
            RunItem::Event(ProviderEvent::Text(text)) => self.append_text(run_id, text),
            RunItem::Event(ProviderEvent::Reasoning(text)) => {
                if let Some(active) = self.active.as_mut() {
                    active.streamed = active.streamed.saturating_add(text.len());
                    active.reasoning.push_str(&text);
                    active.unsaved = true;
                }
                self.emit(EventKind::ReasoningDelta { run_id, text });
            }
            RunItem::Event(ProviderEvent::Usage(usage)) => {
                if let Some(active) = self.active.as_mut() {
                    active.usage = Some(usage);
                }
            }
            RunItem::Event(ProviderEvent::ToolCall(call)) => {
                if let Some(active) = self.active.as_mut() {
                    active.tools.add_streamed(call);
                }
            }
            RunItem::Event(ProviderEvent::Finished { .. }) => {}
            RunItem::End => {
                let calls = self
                    .active
                    .as_ref()
                    .is_some_and(|a| a.tools.has_streamed_calls());
                if calls {
                    self.begin_tool_round(run_id);
                } else {
                    self.finish(RunEnd::Completed);
                }
            }
            RunItem::Failed(error) => self.finish(RunEnd::Failed(error)),
        }
        self.wants_flush()
    }

    /// [`Self::wants_flush`] for the actor, after a tool call changed.
    pub fn wants_flush_now(&mut self) -> bool {
        self.wants_flush()
    }

    /// Whether the run has unsaved text and no write of it is scheduled yet
    /// (marks it scheduled).
    fn wants_flush(&mut self) -> bool {
        if !self.store.is_durable() {
            return false;
        }
        match self.active.as_mut() {
            Some(run) if run.unsaved && !run.flush_scheduled => {
                run.flush_scheduled = true;
                true
            }
            _ => false,
        }
    }

    /// Writes the partial answer of the run in flight, so that a crash loses
    /// at most [`crate::store::FLUSH_EVERY`] of it.
    pub fn flush_partial(&mut self, run_id: RunId) {
        let Some(run) = self.active.as_mut().filter(|a| a.run_id == run_id) else {
            return;
        };
        run.flush_scheduled = false;
        run.unsaved = false;
        let message = run.partial_message();
        // A flush the store has not written yet is replaced, not queued again.
        self.store
            .put_partial(self.worker_id, &run.partial, message);
    }

    /// Whether `more` bytes would take the run in flight past its limit.
    fn answer_too_long(&self, more: usize) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.streamed.saturating_add(more) > self.limits.answer_bytes)
    }

    /// A text delta: the assistant message joins the transcript at the first.
    fn append_text(&mut self, run_id: RunId, text: String) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        active.streamed = active.streamed.saturating_add(text.len());
        active.text.push_str(&text);
        active.unsaved = true;
        if active.assistant_started {
            if let Some(m) = self.transcript.get_mut(active.assistant_id) {
                m.text.push_str(&text);
            }
        } else {
            active.assistant_started = true;
            self.transcript.push(Message {
                id: active.assistant_id,
                role: Role::Assistant,
                text: active.text.clone(),
                at: Timestamp::now(),
                run_id,
                state: MessageState::Streaming,
                reasoning: None,
                error: None,
                tool_calls: Vec::new(),
                sender: None,
            });
        }
        self.emit(EventKind::AssistantDelta { run_id, text });
    }

    /// Answers `waiter` when the run ends, or at once if it already has.
    pub fn await_run(&mut self, run_id: RunId, waiter: RunWaiter) {
        let pending = self.active.as_ref().is_some_and(|a| a.run_id == run_id)
            || self.queue.iter().any(|m| m.run_id == run_id);
        if pending {
            self.waiters.entry(run_id).or_default().push(waiter);
        } else if let Some((_, result)) = self.outcomes.iter().find(|(id, _)| *id == run_id) {
            let result = result.clone();
            self.store.after_commit(move |outcome| {
                let _ = waiter.send(outcome.map_err(|_| store_unavailable()).and(result));
            });
        } else {
            let _ = waiter.send(self.outcome_from_history(run_id));
        }
    }

    /// The outcome of a run that ended long ago (or before a restart: a
    /// `client_message_id` outlives the outcomes kept in memory), read from
    /// its answer in the transcript; token counts only when it was the last
    /// run. A run whose answer is no longer held answers `not_running`.
    fn outcome_from_history(&self, run_id: RunId) -> Result<RunOutcome, ApiError> {
        let answer = self
            .transcript
            .last_of_run(run_id)
            .filter(|m| m.role == Role::Assistant);
        let Some(message) = answer else {
            return Err(ApiError::new(
                ErrorCode::NotRunning,
                format!("run {run_id} ended; its answer is in the worker's transcript"),
            ));
        };
        match message.state {
            MessageState::Complete => {
                let usage = self
                    .last_run
                    .as_ref()
                    .filter(|r| r.run_id == run_id)
                    .and_then(|r| r.usage)
                    .unwrap_or_default();
                Ok(RunOutcome {
                    run_id,
                    message: message.clone(),
                    usage: Usage {
                        runs: 1,
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    },
                })
            }
            MessageState::Failed => Err(message.error.clone().unwrap_or_else(|| {
                ApiError::new(ErrorCode::Internal, format!("run {run_id} failed"))
            })),
            MessageState::Cancelled | MessageState::Streaming => Err(ApiError::new(
                ErrorCode::NotRunning,
                format!("run {run_id} was cancelled"),
            )),
        }
    }

    /// Cancels the run in flight, or says there is none.
    pub fn cancel(&mut self) -> Result<CancelAccepted, RuntimeError> {
        match self.active.as_ref().map(|a| a.run_id) {
            Some(run_id) => {
                self.finish(RunEnd::Cancelled);
                Ok(CancelAccepted { run_id })
            }
            None => Err(RuntimeError::NotRunning(self.display_ref())),
        }
    }

    /// The run in flight, if any.
    pub fn active_run_id(&self) -> Option<RunId> {
        self.active.as_ref().map(|a| a.run_id)
    }

    /// Whether a run is in flight.
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// Cancels any run, drops the queue, announces `worker_stopped` and
    /// forgets the saved state.
    pub fn stop(&mut self) {
        self.finish(RunEnd::Cancelled);
        while let Some(message) = self.queue.pop_front() {
            self.drop_queued(&message, DequeueReason::WorkerStopped);
        }
        self.status = WorkerStatus::Stopped;
        self.emit(EventKind::Status {
            status: WorkerStatus::Stopped,
        });
        self.emit(EventKind::WorkerStopped);
        self.store.put_stopped(self.worker_id);
    }
}

/// A user message as it joins the transcript (or the queue, to join later).
fn user_message(text: String) -> Message {
    Message {
        id: MessageId::new(),
        role: Role::User,
        text,
        at: Timestamp::now(),
        run_id: RunId::new(),
        state: MessageState::Complete,
        reasoning: None,
        error: None,
        tool_calls: Vec::new(),
        sender: None,
    }
}
