//! `WorkerActor`: one per Worker. Owns the Worker's state machine
//! (`idle -> running -> idle`, `stopped`), its event log and its transcript.
//!
//! Input is single-flight: while a run is in flight, a second input is
//! answered `busy` at once. The provider call runs in a spawned task that
//! reports back by message ([`WorkerMsg::Run`]), so `cancel`, snapshots and
//! `busy` answers are served while a run streams. Every accepted run ends in
//! exactly one terminal event, whatever happens.
//!
//! The Worker's data lives in a [`WorkerCore`] shared with its Runtime, so
//! that a Worker actor that panics is restarted with its transcript and event
//! log intact; the restarted actor fails the run that was in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::AbortHandle;
use yoi_protocol::{
    ApiError, CancelAccepted, ClientMessageId, ErrorCode, EventKind, InFlight, InputAccepted,
    LastRun, Message, MessageId, MessageState, Role, RunId, RunOutcome, RunState, RunUsage,
    RuntimeId, Seq, SnapshotReason, Timestamp, Usage, WorkerDetail, WorkerId, WorkerStatus,
    WorkerSummary, WorkspaceEvent,
};

use crate::config::ProviderConfig;
use crate::error::RuntimeError;
use crate::event_log::{CursorFit, EventFrame, EventLog};
use crate::persist::{SaveState, SavedWorker};
use crate::profile::Profile;
use crate::provider::{ChatMessage, ChatRequest, ChatRole, Provider, ProviderEvent};
use crate::transcript::Transcript;

/// Client message ids remembered per Worker for idempotent input.
const IDEMPOTENCY_MEMORY: usize = 256;
/// Outcomes of ended runs remembered for `wait=true` callers that arrive late.
const OUTCOME_MEMORY: usize = 64;

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

/// An item from the run task to its Worker.
#[derive(Debug)]
pub enum RunItem {
    Event(ProviderEvent),
    /// The model finished and the stream ended.
    End,
    Failed(ApiError),
}

pub enum WorkerMsg {
    Input {
        text: String,
        client_message_id: Option<ClientMessageId>,
        reply: RpcReplyPort<Result<InputAccepted, RuntimeError>>,
    },
    /// Answer when the run ends (at once if it already has).
    AwaitRun {
        run_id: RunId,
        reply: oneshot::Sender<Result<RunOutcome, ApiError>>,
    },
    Cancel {
        reply: RpcReplyPort<Result<CancelAccepted, RuntimeError>>,
    },
    Detail {
        reply: RpcReplyPort<WorkerDetail>,
    },
    Transcript {
        limit: usize,
        reply: RpcReplyPort<yoi_protocol::Transcript>,
    },
    Subscribe {
        from: SubscribeFrom,
        reply: RpcReplyPort<SubscribeStart>,
    },
    /// Cancel any run, announce `worker_stopped`, and stop.
    Stop {
        reply: RpcReplyPort<()>,
    },
    /// The process is ending: end any run with a terminal event, keep the worker.
    Shutdown {
        reply: RpcReplyPort<()>,
    },
    Run {
        run_id: RunId,
        item: RunItem,
    },
    /// Test hook: panic inside the actor to exercise supervision.
    InjectPanic,
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
    waiters: HashMap<RunId, Vec<oneshot::Sender<Result<RunOutcome, ApiError>>>>,
    workspace: broadcast::Sender<WorkspaceEvent>,
    saver: Option<watch::Sender<SaveState>>,
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
            core.active = Some(ActiveRun {
                run_id: run.run_id,
                assistant_id: MessageId::new(),
                assistant_started: false,
                started: Instant::now(),
                text: String::new(),
                reasoning: String::new(),
                usage: None,
                task: None,
            });
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
    pub fn subscribe(&self, from: SubscribeFrom) -> SubscribeStart {
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
        SubscribeStart { first, live, last }
    }

    fn transcript_page(&self, limit: usize) -> yoi_protocol::Transcript {
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

    fn request_for(&self, profile: &Profile) -> ChatRequest {
        let mut messages = vec![ChatMessage {
            role: ChatRole::System,
            content: profile.system_prompt.clone(),
        }];
        messages.extend(self.transcript.history().map(|m| ChatMessage {
            role: match m.role {
                Role::User => ChatRole::User,
                Role::Assistant => ChatRole::Assistant,
            },
            content: m.text.clone(),
        }));
        ChatRequest {
            model: profile.model.clone(),
            messages,
        }
    }

    /// Ends the run in flight with its one terminal event and returns to idle.
    fn finish(&mut self, outcome: RunEnd) {
        let Some(mut run) = self.active.take() else {
            return;
        };
        if let Some(task) = run.task.take() {
            task.abort();
        }
        let final_state = match &outcome {
            RunEnd::Completed => MessageState::Complete,
            RunEnd::Failed(_) => MessageState::Failed,
            RunEnd::Cancelled => MessageState::Cancelled,
        };
        let run_id = run.run_id;
        let reasoning = (!run.reasoning.is_empty()).then(|| run.reasoning.clone());
        let duration_ms = u64::try_from(run.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Every run ends with its assistant message, so that the transcript
        // shows how each run ended; a broken run keeps the text it streamed.
        let error = match &outcome {
            RunEnd::Failed(e) => Some(e.clone()),
            _ => None,
        };
        let updated = if run.assistant_started {
            self.transcript.get_mut(run.assistant_id).map(|m| {
                m.state = final_state;
                m.text = run.text.clone();
                m.reasoning = reasoning.clone();
                m.error = error.clone();
                m.clone()
            })
        } else {
            None
        };
        let message = match updated {
            Some(m) => m,
            None => {
                let m = Message {
                    id: run.assistant_id,
                    role: Role::Assistant,
                    text: run.text.clone(),
                    at: Timestamp::now(),
                    run_id,
                    state: final_state,
                    reasoning: reasoning.clone(),
                    error,
                };
                self.transcript.push(m.clone());
                m
            }
        };
        self.emit(EventKind::AssistantMessage {
            run_id,
            message: message.clone(),
        });
        let usage = run.usage.unwrap_or_default();
        self.usage.runs += 1;
        self.usage.prompt_tokens += usage.prompt_tokens;
        self.usage.completion_tokens += usage.completion_tokens;
        let result = match outcome {
            RunEnd::Completed => {
                self.emit(EventKind::RunCompleted {
                    run_id,
                    usage,
                    duration_ms,
                });
                self.last_run = Some(LastRun {
                    run_id,
                    state: RunState::Completed,
                    error: None,
                    usage: Some(usage),
                    duration_ms: Some(duration_ms),
                });
                Ok(RunOutcome {
                    run_id,
                    message,
                    usage: Usage {
                        runs: 1,
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    },
                })
            }
            RunEnd::Failed(error) => {
                self.emit(EventKind::RunFailed {
                    run_id,
                    error: error.clone(),
                });
                self.last_run = Some(LastRun {
                    run_id,
                    state: RunState::Failed,
                    error: Some(error.clone()),
                    usage: Some(usage),
                    duration_ms: Some(duration_ms),
                });
                Err(error)
            }
            RunEnd::Cancelled => {
                self.emit(EventKind::RunCancelled { run_id });
                self.last_run = Some(LastRun {
                    run_id,
                    state: RunState::Cancelled,
                    error: None,
                    usage: Some(usage),
                    duration_ms: Some(duration_ms),
                });
                Err(ApiError::new(
                    ErrorCode::NotRunning,
                    format!("run {run_id} was cancelled"),
                ))
            }
        };
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
}

enum RunEnd {
    Completed,
    Failed(ApiError),
    Cancelled,
}

pub struct WorkerArgs {
    pub core: Arc<Mutex<WorkerCore>>,
    pub provider: Arc<dyn Provider>,
    pub provider_config: Arc<ProviderConfig>,
    /// Set when the Runtime restarts this Worker after a failure.
    pub restarted: bool,
}

pub struct WorkerState {
    core: Arc<Mutex<WorkerCore>>,
    provider: Arc<dyn Provider>,
    provider_config: Arc<ProviderConfig>,
}

impl WorkerState {
    fn core(&self) -> MutexGuard<'_, WorkerCore> {
        // A panic while the lock was held poisons it; the data is still the
        // best we have, and the restart fails the run in flight.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct WorkerActor;

impl Actor for WorkerActor {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: WorkerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let state = WorkerState {
            core: args.core,
            provider: args.provider,
            provider_config: args.provider_config,
        };
        if args.restarted {
            let mut core = state.core();
            if core.active.is_some() {
                core.finish(RunEnd::Failed(ApiError::new(
                    ErrorCode::Internal,
                    "the worker hit an internal error and was restarted; this run was lost",
                )));
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Input {
                text,
                client_message_id,
                reply,
            } => {
                let answer = start_run(&myself, state, text, client_message_id);
                let _ = reply.send(answer);
            }
            WorkerMsg::AwaitRun { run_id, reply } => {
                let mut core = state.core();
                if core.active.as_ref().is_some_and(|a| a.run_id == run_id) {
                    core.waiters.entry(run_id).or_default().push(reply);
                } else if let Some((_, result)) = core.outcomes.iter().find(|(id, _)| *id == run_id)
                {
                    let _ = reply.send(result.clone());
                } else {
                    let _ = reply.send(Err(ApiError::new(
                        ErrorCode::Internal,
                        "the outcome of this run is no longer known",
                    )));
                }
            }
            WorkerMsg::Cancel { reply } => {
                let mut core = state.core();
                let answer = match core.active.as_ref().map(|a| a.run_id) {
                    Some(run_id) => {
                        core.finish(RunEnd::Cancelled);
                        Ok(CancelAccepted { run_id })
                    }
                    None => Err(RuntimeError::NotRunning(core.display_ref())),
                };
                let _ = reply.send(answer);
            }
            WorkerMsg::Detail { reply } => {
                let _ = reply.send(state.core().detail());
            }
            WorkerMsg::Transcript { limit, reply } => {
                let _ = reply.send(state.core().transcript_page(limit));
            }
            WorkerMsg::Subscribe { from, reply } => {
                let _ = reply.send(state.core().subscribe(from));
            }
            WorkerMsg::Stop { reply } => {
                {
                    let mut core = state.core();
                    core.finish(RunEnd::Cancelled);
                    core.status = WorkerStatus::Stopped;
                    core.emit(EventKind::Status {
                        status: WorkerStatus::Stopped,
                    });
                    core.emit(EventKind::WorkerStopped);
                    if let Some(saver) = &core.saver {
                        let _ = saver.send(SaveState::Forget);
                    }
                }
                let _ = reply.send(());
                myself.stop(Some("stopped".to_owned()));
            }
            WorkerMsg::Shutdown { reply } => {
                state.core().finish(RunEnd::Cancelled);
                let _ = reply.send(());
            }
            WorkerMsg::Run { run_id, item } => on_run_item(state, run_id, item),
            WorkerMsg::InjectPanic => {
                panic!("panic injected into a worker (test hook)");
            }
        }
        Ok(())
    }
}

fn start_run(
    myself: &ActorRef<WorkerMsg>,
    state: &WorkerState,
    text: String,
    client_message_id: Option<ClientMessageId>,
) -> Result<InputAccepted, RuntimeError> {
    crate::validate_input_text(&text)?;
    let mut core = state.core();
    if let Some(id) = &client_message_id {
        if let Some(first) = core.idempotency.get(id) {
            return Ok(*first);
        }
    }
    if let Some(active) = &core.active {
        return Err(RuntimeError::Busy {
            display_ref: core.display_ref(),
            active_run: active.run_id,
        });
    }
    state
        .provider
        .check_configured()
        .map_err(RuntimeError::ProviderUnconfigured)?;

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
    let profile = core.profile.clone();
    // The request is the system prompt, the history, then this message.
    core.transcript.push(message.clone());
    let request = core.request_for(&profile);
    let seq = core.emit(EventKind::InputAccepted {
        run_id,
        message: message.clone(),
    });
    let accepted = InputAccepted {
        run_id,
        message_id: message.id,
        seq,
    };
    if let Some(id) = client_message_id {
        core.remember_input(id, accepted);
    }
    core.active = Some(ActiveRun {
        run_id,
        assistant_id: MessageId::new(),
        assistant_started: false,
        started: Instant::now(),
        text: String::new(),
        reasoning: String::new(),
        usage: None,
        task: None,
    });
    core.last_run = Some(LastRun {
        run_id,
        state: RunState::Running,
        error: None,
        usage: None,
        duration_ms: None,
    });
    core.set_status(WorkerStatus::Running);
    core.save();
    core.emit(EventKind::RunStarted {
        run_id,
        model: profile.model.clone(),
    });
    let task = tokio::spawn(drive_run(
        state.provider.clone(),
        state.provider_config.clone(),
        request,
        run_id,
        myself.clone(),
    ));
    if let Some(active) = core.active.as_mut() {
        active.task = Some(task.abort_handle());
    }
    Ok(accepted)
}

fn on_run_item(state: &WorkerState, run_id: RunId, item: RunItem) {
    let mut core = state.core();
    let core = &mut *core;
    let Some(active) = core.active.as_mut().filter(|a| a.run_id == run_id) else {
        // A late item of a run that already ended (cancelled, timed out).
        return;
    };
    match item {
        RunItem::Event(ProviderEvent::Text(text)) => {
            active.text.push_str(&text);
            if active.assistant_started {
                if let Some(m) = core.transcript.get_mut(active.assistant_id) {
                    m.text.push_str(&text);
                }
            } else {
                active.assistant_started = true;
                core.transcript.push(Message {
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
            core.emit(EventKind::AssistantDelta { run_id, text });
        }
        RunItem::Event(ProviderEvent::Reasoning(text)) => {
            active.reasoning.push_str(&text);
            core.emit(EventKind::ReasoningDelta { run_id, text });
        }
        RunItem::Event(ProviderEvent::Usage(usage)) => active.usage = Some(usage),
        RunItem::Event(ProviderEvent::Finished { .. }) => {}
        RunItem::End => core.finish(RunEnd::Completed),
        RunItem::Failed(error) => core.finish(RunEnd::Failed(error)),
    }
}

/// The run task: opens the provider stream, enforces both timeouts, and
/// reports every item to the Worker. Aborting it drops the HTTP request.
async fn drive_run(
    provider: Arc<dyn Provider>,
    config: Arc<ProviderConfig>,
    request: ChatRequest,
    run_id: RunId,
    worker: ActorRef<WorkerMsg>,
) {
    let send = |item: RunItem| {
        // The Worker may be gone (stopped, restarting); nothing to tell then.
        let _ = worker.send_message(WorkerMsg::Run { run_id, item });
    };
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
        ApiError::new(ErrorCode::Timeout, message)
    };

    let mut stream = match tokio::time::timeout_at(first_deadline, provider.stream(request)).await {
        Err(_) => return send(RunItem::Failed(timeout_error(true))),
        Ok(Err(e)) => {
            return send(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                e.to_string(),
            )))
        }
        Ok(Ok(stream)) => stream,
    };
    let mut got_first = false;
    let mut finished = false;
    loop {
        let deadline = if got_first {
            run_deadline
        } else {
            first_deadline
        };
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return send(RunItem::Failed(timeout_error(!got_first))),
            Ok(None) if finished => return send(RunItem::End),
            Ok(None) => {
                return send(RunItem::Failed(ApiError::new(
                    ErrorCode::ProviderError,
                    "the provider's stream ended before the model finished its answer",
                )))
            }
            // A connection cut after the model finished loses only the usage.
            Ok(Some(Err(_))) if finished => return send(RunItem::End),
            Ok(Some(Err(e))) => {
                return send(RunItem::Failed(ApiError::new(
                    ErrorCode::ProviderError,
                    e.to_string(),
                )))
            }
            Ok(Some(Ok(event))) => {
                match &event {
                    ProviderEvent::Text(_) | ProviderEvent::Reasoning(_) => got_first = true,
                    ProviderEvent::Finished { .. } => {
                        got_first = true;
                        finished = true;
                    }
                    ProviderEvent::Usage(_) => {}
                }
                send(RunItem::Event(event));
            }
        }
    }
}
