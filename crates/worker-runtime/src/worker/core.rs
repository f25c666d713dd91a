//! [`WorkerCore`]: a Worker's model. Its state machine, event log,
//! transcript, usage and the run in flight, with every rule of the contract
//! that does not need a mailbox: single-flight input, idempotent
//! `client_message_id`, exactly one terminal event per run.
//!
//! The actor ([`super::actor`]) owns the core behind a mutex it shares with
//! its Runtime, so that a restarted actor finds the same data.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::AbortHandle;
use yoi_protocol::{
    ApiError, CancelAccepted, ClientMessageId, ErrorCode, EventKind, InFlight, InputAccepted,
    LastRun, Message, MessageId, MessageState, Role, RunId, RunOutcome, RunState, RunUsage,
    RuntimeId, Seq, SnapshotReason, Timestamp, Usage, WorkerDetail, WorkerId, WorkerStatus,
    WorkerSummary, WorkspaceEvent,
};

use super::run::RunItem;
use crate::config::RuntimeLimits;
use crate::error::RuntimeError;
use crate::event_log::{CursorFit, EventFrame, EventLog};
use crate::persist::{SaveState, SavedWorker};
use crate::profile::Profile;
use crate::provider::{ChatMessage, ChatRequest, ChatRole, ProviderEvent};
use crate::transcript::Transcript;

/// Client message ids remembered per Worker for idempotent input.
const IDEMPOTENCY_MEMORY: usize = 256;
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
    /// A reset snapshot with reason `lagged`.
    Lagged,
}

/// What accepting an input led to.
pub enum Accepted {
    /// The same `client_message_id` was accepted before: its first answer.
    Repeat(InputAccepted),
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

/// The run in flight.
struct ActiveRun {
    run_id: RunId,
    assistant_id: MessageId,
    /// Whether the assistant message joined the transcript (at the first delta).
    assistant_started: bool,
    started: Instant,
    text: String,
    reasoning: String,
    usage: Option<RunUsage>,
    task: Option<AbortHandle>,
}

impl ActiveRun {
    fn new(run_id: RunId) -> Self {
        Self {
            run_id,
            assistant_id: MessageId::new(),
            assistant_started: false,
            started: Instant::now(),
            text: String::new(),
            reasoning: String::new(),
            usage: None,
            task: None,
        }
    }
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
    active: Option<ActiveRun>,
    idempotency: HashMap<ClientMessageId, InputAccepted>,
    idempotency_order: VecDeque<ClientMessageId>,
    outcomes: VecDeque<(RunId, Result<RunOutcome, ApiError>)>,
    waiters: HashMap<RunId, Vec<RunWaiter>>,
    workspace: broadcast::Sender<WorkspaceEvent>,
    saver: Option<watch::Sender<SaveState>>,
    limits: RuntimeLimits,
}

pub struct CoreSettings {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
    pub display_name: String,
    pub profile: Arc<Profile>,
    pub event_ring: usize,
    pub transcript_bound: usize,
    pub workspace: broadcast::Sender<WorkspaceEvent>,
    /// Where to save the Worker's state, when it is kept across restarts.
    pub saver: Option<watch::Sender<SaveState>>,
    pub limits: RuntimeLimits,
}

impl WorkerCore {
    pub fn new(s: CoreSettings) -> Self {
        Self {
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
            saver: s.saver,
            limits: s.limits,
        }
    }

    /// A Worker as it was saved: its transcript, usage, and `seq` to go on from.
    pub fn restore(s: CoreSettings, saved: SavedWorker) -> Self {
        let mut core = Self::new(s);
        core.created_at = saved.created_at;
        core.usage = saved.usage;
        for m in saved.transcript {
            core.transcript.push(m);
        }
        core.log.resume_after(saved.last_seq);
        core.last_run = saved.last_run;
        // The process ended while this run streamed: end it now, so that it
        // too has its terminal event and its assistant message.
        if let Some(run) = core
            .last_run
            .clone()
            .filter(|r| r.state == RunState::Running)
        {
            core.active = Some(ActiveRun::new(run.run_id));
            core.status = WorkerStatus::Running;
            core.finish(RunEnd::Failed(ApiError::new(
                ErrorCode::Internal,
                "the backend stopped while this run was in flight",
            )));
        }
        core
    }

    /// Takes the saver out; dropping it makes it write the last state and end.
    pub(crate) fn take_saver(&mut self) -> Option<watch::Sender<SaveState>> {
        self.saver.take()
    }

    /// Hands the current state to the saver (if any); it is written off the mailbox.
    pub(crate) fn save(&self) {
        let Some(saver) = &self.saver else {
            return;
        };
        let saved = SavedWorker {
            version: SavedWorker::new_version(),
            worker_id: self.worker_id,
            display_name: self.display_name.clone(),
            profile: self.profile.name.clone(),
            created_at: self.created_at,
            usage: self.usage,
            last_seq: self.log.last_seq(),
            last_run: self.last_run.clone(),
            transcript: self.transcript.all(),
        };
        let _ = saver.send(SaveState::Keep(Arc::new(saved)));
    }

    pub fn display_ref(&self) -> String {
        format!("{}@{}", self.display_name, self.runtime_id)
    }

    pub fn summary(&self) -> WorkerSummary {
        WorkerSummary {
            runtime_id: self.runtime_id.clone(),
            worker_id: self.worker_id,
            display_name: self.display_name.clone(),
            display_ref: self.display_ref(),
            status: self.status,
            profile: self.profile.info(),
        }
    }

    pub fn detail(&self) -> WorkerDetail {
        WorkerDetail {
            summary: self.summary(),
            created_at: self.created_at,
            tools: Vec::new(),
            usage: self.usage,
            last_run: self.last_run.clone(),
        }
    }

    fn emit(&mut self, kind: EventKind) -> Seq {
        self.log.append(kind).seq()
    }

    fn set_status(&mut self, status: WorkerStatus) {
        self.status = status;
        self.emit(EventKind::Status { status });
        let _ = self.workspace.send(WorkspaceEvent::Status {
            runtime_id: self.runtime_id.clone(),
            worker_id: self.worker_id,
            status,
        });
    }

    fn snapshot(&self, reason: Option<SnapshotReason>) -> Arc<EventFrame> {
        let in_flight = self.active.as_ref().map(|a| InFlight {
            run_id: a.run_id,
            text: a.text.clone(),
            reasoning: (!a.reasoning.is_empty()).then(|| a.reasoning.clone()),
        });
        self.log.snapshot_frame(EventKind::Snapshot {
            worker: Box::new(self.detail()),
            transcript: self.transcript.all(),
            in_flight,
            reset: reason.is_some(),
            reason,
        })
    }

    /// Snapshot or replay, and the live receiver, taken in one step so that
    /// nothing is lost or repeated across the boundary.
    /// `limit_reached` when the Worker already has as many subscribers as
    /// it takes (a lagged subscriber starting over is not a new one).
    pub fn subscribe(&self, from: SubscribeFrom) -> Result<SubscribeStart, RuntimeError> {
        let most = self.limits.subscribers_per_worker;
        if !matches!(from, SubscribeFrom::Lagged) && self.log.subscribers() >= most {
            return Err(RuntimeError::LimitReached(format!(
                "worker {} has {most} event sockets open, the most it takes (limits.subscribers_per_worker); close one or try again later",
                self.display_ref()
            )));
        }
        let live = self.log.live();
        let last = self.log.last_seq();
        let first = match from {
            SubscribeFrom::Snapshot => vec![self.snapshot(None)],
            SubscribeFrom::Lagged => vec![self.snapshot(Some(SnapshotReason::Lagged))],
            SubscribeFrom::Cursor(cursor) => match self.log.fit(cursor) {
                CursorFit::Held => self.log.after(cursor),
                CursorFit::Expired => vec![self.snapshot(Some(SnapshotReason::CursorExpired))],
                CursorFit::Ahead => vec![self.snapshot(Some(SnapshotReason::CursorAhead))],
            },
        };
        Ok(SubscribeStart { first, live, last })
    }

    pub fn transcript_page(&self, limit: usize) -> yoi_protocol::Transcript {
        let (messages, truncated) = self.transcript.tail(limit);
        yoi_protocol::Transcript {
            messages,
            seq: self.log.last_seq(),
            truncated,
        }
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

    /// The request for the next run: the system prompt, then the history.
    fn request(&self) -> ChatRequest {
        let mut messages = vec![ChatMessage {
            role: ChatRole::System,
            content: self.profile.system_prompt.clone(),
        }];
        messages.extend(self.transcript.history().map(|m| ChatMessage {
            role: match m.role {
                Role::User => ChatRole::User,
                Role::Assistant => ChatRole::Assistant,
            },
            content: m.text.clone(),
        }));
        ChatRequest {
            model: self.profile.model.clone(),
            messages,
        }
    }

    /// Takes a user message: the first answer again for a known
    /// `client_message_id`, `busy` while a run is in flight, else a new run
    /// whose `input_accepted`, `status` and `run_started` are in the log.
    pub fn accept_input(
        &mut self,
        text: String,
        client_message_id: Option<ClientMessageId>,
        provider_ready: Result<(), String>,
    ) -> Result<Accepted, RuntimeError> {
        yoi_protocol::validate_input_text(&text)?;
        if let Some(first) = client_message_id
            .as_ref()
            .and_then(|id| self.idempotency.get(id))
        {
            return Ok(Accepted::Repeat(*first));
        }
        if let Some(active) = &self.active {
            return Err(RuntimeError::Busy {
                display_ref: self.display_ref(),
                active_run: active.run_id,
            });
        }
        provider_ready.map_err(RuntimeError::ProviderUnconfigured)?;

        let run_id = RunId::new();
        let message = Message {
            id: MessageId::new(),
            role: Role::User,
            text,
            at: Timestamp::now(),
            run_id,
            state: MessageState::Complete,
            reasoning: None,
            error: None,
        };
        self.transcript.push(message.clone());
        let request = self.request();
        let seq = self.emit(EventKind::InputAccepted {
            run_id,
            message: message.clone(),
        });
        let accepted = InputAccepted {
            run_id,
            message_id: message.id,
            seq,
        };
        if let Some(id) = client_message_id {
            self.remember_input(id, accepted);
        }
        self.active = Some(ActiveRun::new(run_id));
        self.last_run = Some(LastRun {
            run_id,
            state: RunState::Running,
            error: None,
            usage: None,
            duration_ms: None,
        });
        self.set_status(WorkerStatus::Running);
        self.save();
        self.emit(EventKind::RunStarted {
            run_id,
            model: self.profile.model.clone(),
        });
        Ok(Accepted::Started { accepted, request })
    }

    /// Keeps the run task's handle, so that ending the run aborts it.
    pub fn attach_task(&mut self, run_id: RunId, task: AbortHandle) {
        match self.active.as_mut().filter(|a| a.run_id == run_id) {
            Some(active) => active.task = Some(task),
            // The run already ended (a cancel raced the start).
            None => task.abort(),
        }
    }

    /// Applies what the run task reported; items of a run that already
    /// ended (cancelled, timed out) are dropped.
    pub fn apply_run_item(&mut self, run_id: RunId, item: RunItem) {
        if self.active.as_ref().is_none_or(|a| a.run_id != run_id) {
            return;
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
                return;
            }
        }
        match item {
            RunItem::Event(ProviderEvent::Text(text)) => self.append_text(run_id, text),
            RunItem::Event(ProviderEvent::Reasoning(text)) => {
                if let Some(active) = self.active.as_mut() {
                    active.reasoning.push_str(&text);
                }
                self.emit(EventKind::ReasoningDelta { run_id, text });
            }
            RunItem::Event(ProviderEvent::Usage(usage)) => {
                if let Some(active) = self.active.as_mut() {
                    active.usage = Some(usage);
                }
            }
            RunItem::Event(ProviderEvent::Finished { .. }) => {}
            RunItem::End => self.finish(RunEnd::Completed),
            RunItem::Failed(error) => self.finish(RunEnd::Failed(error)),
        }
    }

    /// Whether `more` bytes would take the run in flight past its limit.
    fn answer_too_long(&self, more: usize) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.text.len() + a.reasoning.len() + more > self.limits.answer_bytes)
    }

    /// A text delta: the assistant message joins the transcript at the first.
    fn append_text(&mut self, run_id: RunId, text: String) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        active.text.push_str(&text);
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
            });
        }
        self.emit(EventKind::AssistantDelta { run_id, text });
    }

    /// Answers `waiter` when the run ends, or at once if it already has.
    pub fn await_run(&mut self, run_id: RunId, waiter: RunWaiter) {
        if self.active.as_ref().is_some_and(|a| a.run_id == run_id) {
            self.waiters.entry(run_id).or_default().push(waiter);
        } else if let Some((_, result)) = self.outcomes.iter().find(|(id, _)| *id == run_id) {
            let _ = waiter.send(result.clone());
        } else {
            let _ = waiter.send(Err(ApiError::new(
                ErrorCode::Internal,
                "the outcome of this run is no longer known",
            )));
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

    /// Whether a run is in flight.
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// Cancels any run, announces `worker_stopped` and forgets the saved state.
    pub fn stop(&mut self) {
        self.finish(RunEnd::Cancelled);
        self.status = WorkerStatus::Stopped;
        self.emit(EventKind::Status {
            status: WorkerStatus::Stopped,
        });
        self.emit(EventKind::WorkerStopped);
        if let Some(saver) = &self.saver {
            let _ = saver.send(SaveState::Forget);
        }
    }

    /// Ends the run in flight with its one terminal event and returns to idle.
    pub fn finish(&mut self, end: RunEnd) {
        let Some(mut run) = self.active.take() else {
            return;
        };
        if let Some(task) = run.task.take() {
            task.abort();
        }
        let run_id = run.run_id;
        let message = self.close_assistant_message(&mut run, &end);
        self.emit(EventKind::AssistantMessage {
            run_id,
            message: message.clone(),
        });
        let usage = run.usage.unwrap_or_default();
        self.usage.runs += 1;
        self.usage.prompt_tokens += usage.prompt_tokens;
        self.usage.completion_tokens += usage.completion_tokens;
        let duration_ms = u64::try_from(run.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let result = self.record_end(run_id, end, usage, duration_ms, message);
        self.set_status(WorkerStatus::Idle);
        for waiter in self.waiters.remove(&run_id).unwrap_or_default() {
            let _ = waiter.send(result.clone());
        }
        if self.outcomes.len() == OUTCOME_MEMORY {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back((run_id, result));
        self.save();
    }

    /// Every run ends with its assistant message, so that the transcript
    /// shows how each run ended; a broken run keeps the text it streamed.
    fn close_assistant_message(&mut self, run: &mut ActiveRun, end: &RunEnd) -> Message {
        let state = match end {
            RunEnd::Completed => MessageState::Complete,
            RunEnd::Failed(_) => MessageState::Failed,
            RunEnd::Cancelled => MessageState::Cancelled,
        };
        let error = match end {
            RunEnd::Failed(e) => Some(e.clone()),
            _ => None,
        };
        let text = std::mem::take(&mut run.text);
        let reasoning = (!run.reasoning.is_empty()).then(|| std::mem::take(&mut run.reasoning));
        if run.assistant_started {
            if let Some(m) = self.transcript.get_mut(run.assistant_id) {
                m.state = state;
                m.text = text;
                m.reasoning = reasoning;
                m.error = error;
                return m.clone();
            }
        }
        let message = Message {
            id: run.assistant_id,
            role: Role::Assistant,
            text,
            at: Timestamp::now(),
            run_id: run.run_id,
            state,
            reasoning,
            error,
        };
        self.transcript.push(message.clone());
        message
    }

    /// The run's terminal event and `last_run`; the outcome `wait=true` answers.
    fn record_end(
        &mut self,
        run_id: RunId,
        end: RunEnd,
        usage: RunUsage,
        duration_ms: u64,
        message: Message,
    ) -> Result<RunOutcome, ApiError> {
        let (state, error, result) = match end {
            RunEnd::Completed => {
                self.emit(EventKind::RunCompleted {
                    run_id,
                    usage,
                    duration_ms,
                });
                let outcome = RunOutcome {
                    run_id,
                    message,
                    usage: Usage {
                        runs: 1,
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    },
                };
                (RunState::Completed, None, Ok(outcome))
            }
            RunEnd::Failed(error) => {
                self.emit(EventKind::RunFailed {
                    run_id,
                    error: error.clone(),
                });
                (RunState::Failed, Some(error.clone()), Err(error))
            }
            RunEnd::Cancelled => {
                self.emit(EventKind::RunCancelled { run_id });
                let error =
                    ApiError::new(ErrorCode::NotRunning, format!("run {run_id} was cancelled"));
                (RunState::Cancelled, None, Err(error))
            }
        };
        self.last_run = Some(LastRun {
            run_id,
            state,
            error,
            usage: Some(usage),
            duration_ms: Some(duration_ms),
        });
        result
    }
}
