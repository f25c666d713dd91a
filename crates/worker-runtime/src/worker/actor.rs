//! `WorkerActor`: the mailbox in front of a [`WorkerCore`]. Each message is
//! one step of the core; the only thing the actor adds is the run task,
//! spawned when an input is accepted and aborted when its run ends.
//!
//! The queue of inputs is the core's; the actor starts the next queued input
//! in the same message that settled the end of the run before it, so that no
//! input arrives in between, none is lost and none runs twice.

use std::sync::{Arc, Mutex, MutexGuard};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use yoi_protocol::{
    ApiError, ApprovalAnswer, ApprovalRequest, CancelAccepted, ClientMessageId, ErrorCode,
    InputAccepted, MessageId, OnBusy, RunId, Transcript, WorkerDetail,
};

use super::core::tool_loop::{AskOrigin, CallOutcome, ToolStep};
use super::core::{Accepted, RunEnd, RunWaiter, SubscribeFrom, SubscribeStart, WorkerCore};
use super::run::{drive_run, Report, RunItem};
use crate::config::ProviderConfig;
use crate::error::RuntimeError;
use crate::provider::{ChatRequest, Provider};
use crate::store::{Op, FLUSH_EVERY};

pub enum WorkerMsg {
    Input {
        text: String,
        client_message_id: Option<ClientMessageId>,
        on_busy: OnBusy,
        /// Set when another worker asks (`yoi.ask_worker`).
        origin: Option<AskOrigin>,
        reply: RpcReplyPort<Result<InputAccepted, RuntimeError>>,
    },
    /// A person's decision on a tool call that waits.
    Approve {
        call_id: String,
        request: ApprovalRequest,
        reply: RpcReplyPort<Result<ApprovalAnswer, RuntimeError>>,
    },
    /// A tool call's task ended.
    ToolDone {
        run_id: RunId,
        call_id: String,
        outcome: CallOutcome,
    },
    /// The tool sources the run's first turn waited for are ready (or failed).
    ToolsReady {
        run_id: RunId,
    },
    /// A call's time to be approved ran out.
    ApprovalExpired {
        run_id: RunId,
        call_id: String,
    },
    /// Take a queued input out of the queue before its run starts.
    RemoveQueued {
        message_id: MessageId,
        reply: RpcReplyPort<Result<(), RuntimeError>>,
    },
    /// Answer when the run ends (at once if it already has).
    AwaitRun {
        run_id: RunId,
        reply: RunWaiter,
    },
    Cancel {
        reply: RpcReplyPort<Result<CancelAccepted, RuntimeError>>,
    },
    Detail {
        reply: RpcReplyPort<WorkerDetail>,
    },
    Transcript {
        limit: usize,
        before: Option<MessageId>,
        reply: RpcReplyPort<Result<Transcript, RuntimeError>>,
    },
    Subscribe {
        from: SubscribeFrom,
        reply: RpcReplyPort<Result<SubscribeStart, RuntimeError>>,
    },
    /// Cancel any run, announce `worker_stopped`, and stop.
    Stop {
        reply: RpcReplyPort<()>,
    },
    /// The process is ending: end any run with a terminal event, keep the worker.
    Shutdown {
        reply: RpcReplyPort<()>,
    },
    /// Items from the run task that end a turn or need the mailbox (the
    /// deltas before them went into the core directly).
    Run {
        run_id: RunId,
        items: Vec<RunItem>,
    },
    /// Time to write the partial answer of the run in flight.
    Flush {
        run_id: RunId,
    },
    /// The write of an accepted input was not committed: undo it.
    InputLost {
        run_id: RunId,
        client_message_id: Option<ClientMessageId>,
    },
    /// Test hook: panic inside the actor to exercise supervision.
    #[cfg(feature = "test-hooks")]
    InjectPanic,
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

/// Locks a Worker's core. A panic while the lock was held poisons it; the
/// data is still the best we have, and the restart fails the run in flight.
pub(crate) fn lock(core: &Mutex<WorkerCore>) -> MutexGuard<'_, WorkerCore> {
    core.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WorkerState {
    fn core(&self) -> MutexGuard<'_, WorkerCore> {
        lock(&self.core)
    }

    /// Accepts the input and, for a new run, starts its task; the answer
    /// goes once the user message is committed.
    fn input(
        &self,
        myself: &ActorRef<WorkerMsg>,
        text: String,
        client_message_id: Option<ClientMessageId>,
        on_busy: OnBusy,
        origin: Option<AskOrigin>,
        reply: RpcReplyPort<Result<InputAccepted, RuntimeError>>,
    ) {
        let mut core = self.core();
        let since = core.store().mark();
        let ready = self.provider.check_configured();
        let answer = core
            .accept_input(text, client_message_id.clone(), on_busy, ready, origin)
            .map(|accepted| match accepted {
                Accepted::Repeat(first) => (first, false),
                Accepted::Queued(first) => (first, true),
                Accepted::Started { accepted, request } => {
                    self.start_run(&mut core, myself, accepted.run_id, request);
                    (accepted, true)
                }
            });
        let (accepted, new) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let worker = myself.clone();
        core.store()
            .after_commit_since(since, move |outcome| match outcome {
                Ok(()) => {
                    let _ = reply.send(Ok(accepted));
                }
                Err(e) => {
                    // Never a `202` for an input the store did not keep.
                    let _ = reply.send(Err(e.into()));
                    if new {
                        let _ = worker.send_message(WorkerMsg::InputLost {
                            run_id: accepted.run_id,
                            client_message_id,
                        });
                    }
                }
            });
    }

    /// Takes an input out of the queue; answered once that is committed.
    fn remove_queued(&self, message_id: MessageId, reply: RpcReplyPort<Result<(), RuntimeError>>) {
        let mut core = self.core();
        let since = core.store().mark();
        let answer = core.remove_queued(message_id);
        core.store().after_commit_since(since, move |outcome| {
            let _ = reply.send(outcome.map_err(RuntimeError::from).and(answer));
        });
    }

    /// Starts the first turn of a run the core began; when a tool source
    /// the worker may use starts on demand (an MCP server), the turn waits
    /// for it in a task first, so that its tools are offered.
    fn start_run(
        &self,
        core: &mut WorkerCore,
        myself: &ActorRef<WorkerMsg>,
        run_id: RunId,
        request: ChatRequest,
    ) {
        let Some(ready) = core.prepare_tools() else {
            return self.spawn_run(core, myself, run_id, request);
        };
        let worker = myself.clone();
        let task = tokio::spawn(async move {
            ready.await;
            let _ = worker.send_message(WorkerMsg::ToolsReady { run_id });
        });
        core.attach_task(run_id, task.abort_handle());
    }

    /// The sources a first turn waited for are ready: the turn starts.
    fn tools_ready(&self, myself: &ActorRef<WorkerMsg>, run_id: RunId) {
        let mut core = self.core();
        if let Some(request) = core.tools_ready(run_id) {
            self.spawn_run(&mut core, myself, run_id, request);
        }
    }

    /// Starts a model turn of a run the core began (its first, or the
    /// next after a round of tool calls).
    fn spawn_run(
        &self,
        core: &mut WorkerCore,
        myself: &ActorRef<WorkerMsg>,
        run_id: RunId,
        request: ChatRequest,
    ) {
        let report = Report::new(self.core.clone(), myself.clone(), run_id);
        let task = tokio::spawn(drive_run(
            self.provider.clone(),
            self.provider_config.clone(),
            request,
            report,
        ));
        core.attach_task(run_id, task.abort_handle());
    }

    /// Takes the steps the tool loop asked for: calls run as tasks that
    /// report back, approvals get their deadline, the next turn its task.
    fn run_steps(&self, myself: &ActorRef<WorkerMsg>) {
        let mut core = self.core();
        for step in core.take_steps() {
            match step {
                ToolStep::Call {
                    run_id,
                    call_id,
                    tool,
                    arguments,
                    context,
                    timeout,
                } => {
                    let worker = myself.clone();
                    let id = call_id.clone();
                    let logged = call_id.clone();
                    let task = tokio::spawn(async move {
                        let call_id = logged;
                        let name = format!("{}.{}", tool.source.name(), tool.def.name);
                        let worker_id = context.worker_id;
                        // The tool's name only: arguments and results are the
                        // conversation's, never the log's.
                        tracing::info!(tool = %name, %worker_id, %call_id, "tool call");
                        let call = tool.source.call(&tool.def.name, arguments, context);
                        let outcome = match tokio::time::timeout(timeout, call).await {
                            Ok(result) => CallOutcome::Done(result),
                            Err(_) => CallOutcome::TimedOut(timeout),
                        };
                        let ok = matches!(outcome, CallOutcome::Done(Ok(_)));
                        tracing::info!(tool = %name, %worker_id, %call_id, ok, "tool call ended");
                        let _ = worker.send_message(WorkerMsg::ToolDone {
                            run_id,
                            call_id: id,
                            outcome,
                        });
                    });
                    core.attach_tool_task(run_id, &call_id, task.abort_handle());
                }
                ToolStep::ApprovalDeadline {
                    run_id,
                    call_id,
                    after,
                } => {
                    myself.send_after(after, move || WorkerMsg::ApprovalExpired {
                        run_id,
                        call_id,
                    });
                }
                ToolStep::NextTurn { run_id, request } => {
                    self.spawn_run(&mut core, myself, run_id, request);
                }
            }
        }
    }

    /// Items from the run task: applied in one step; what they lead to
    /// (a flush, tool steps, the run's end, the next queued input) follows.
    async fn run_items(&self, myself: &ActorRef<WorkerMsg>, run_id: RunId, items: Vec<RunItem>) {
        self.catch_up_lease().await;
        let flush = {
            let mut core = self.core();
            let mut flush = false;
            for item in items {
                flush |= core.apply_run_item(run_id, item);
            }
            flush
        };
        if flush {
            myself.send_after(FLUSH_EVERY, move || WorkerMsg::Flush { run_id });
        }
        self.run_steps(myself);
        self.settle_ended().await;
        self.start_next(myself);
    }

    /// A decision, a call's end, or an approval's deadline.
    async fn on_tool(&self, myself: &ActorRef<WorkerMsg>, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Approve {
                call_id,
                request,
                reply,
            } => {
                let since = self.core().store().mark();
                let answer = self.core().decide(&call_id, request);
                // A decision for the worker's life is answered once stored
                // (or with `store_unavailable` when it was not).
                let store = self.core().store().clone();
                let run_id = self.core().active_run_id();
                match run_id {
                    Some(run_id) => self.after_tool_change(myself, run_id).await,
                    None => {
                        self.settle_ended().await;
                        self.start_next(myself);
                    }
                }
                store.after_commit_since(since, move |outcome| {
                    let _ = reply.send(outcome.map_err(RuntimeError::from).and(answer));
                });
            }
            WorkerMsg::ToolDone {
                run_id,
                call_id,
                outcome,
            } => {
                self.core().tool_done(run_id, &call_id, outcome);
                self.after_tool_change(myself, run_id).await;
            }
            WorkerMsg::ApprovalExpired { run_id, call_id } => {
                self.core().approval_expired(run_id, &call_id);
                self.after_tool_change(myself, run_id).await;
            }
            _ => {}
        }
    }

    /// After a call ended or was decided: its steps, a flush of the message
    /// that shows it, and what follows the run's end if it ended.
    async fn after_tool_change(&self, myself: &ActorRef<WorkerMsg>, run_id: RunId) {
        self.run_steps(myself);
        if self.core().wants_flush_now() {
            myself.send_after(FLUSH_EVERY, move || WorkerMsg::Flush { run_id });
        }
        self.settle_ended().await;
        self.start_next(myself);
    }

    /// With no run in flight, starts the next queued input's run.
    fn start_next(&self, myself: &ActorRef<WorkerMsg>) {
        let mut core = self.core();
        if let Some((accepted, request)) = core.start_next() {
            self.start_run(&mut core, myself, accepted.run_id, request);
        }
    }

    /// A stream that outruns the store's reservations waits here (off any
    /// thread, holding only this mailbox) for the reservation on its way.
    async fn catch_up_lease(&self) {
        let committed = self.core().lease_catch_up();
        if let Some(committed) = committed {
            let _ = committed.await;
        }
    }

    /// When a run ended: waits (off any thread, holding only this mailbox)
    /// until the store committed its end, then lets its events out.
    async fn settle_ended(&self) {
        let committed = {
            let core = self.core();
            if !core.has_staged() {
                return;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            core.store()
                .after_commit_since(core.end_mark(), move |outcome| {
                    let _ = tx.send(outcome.is_ok());
                });
            rx
        };
        // Released even when the commit failed: the run ended all the same
        // and its one terminal event must be heard, saying it was not kept.
        let kept = committed.await.unwrap_or(false);
        let mut core = self.core();
        if !kept {
            core.fail_staged_end();
        }
        core.release_ended();
    }

    /// A page of history: from memory, or from the store when older.
    fn transcript(
        &self,
        limit: usize,
        before: Option<MessageId>,
        reply: RpcReplyPort<Result<Transcript, RuntimeError>>,
    ) {
        let core = self.core();
        if let Some(page) = core.transcript_page(limit, before) {
            let _ = reply.send(Ok(page));
            return;
        }
        if !core.store().is_durable() {
            // Kept in memory only: what was dropped is gone.
            let answer = match before {
                Some(id) => Err(crate::store::StoreError::UnknownMessage(id).into()),
                None => Ok(core.transcript_tail(limit)),
            };
            let _ = reply.send(answer);
            return;
        }
        let seq = core.last_seq();
        // The store may hold an older partial text of the answer in flight.
        let streaming = core.streaming_messages();
        core.store().send(Op::Page {
            worker_id: core.worker_id,
            before,
            limit,
            reply: Box::new(move |page| {
                let page = page.map(|(mut messages, truncated)| {
                    for m in &mut messages {
                        if let Some(live) = streaming.iter().find(|s| s.id == m.id) {
                            m.clone_from(live);
                        }
                    }
                    Transcript {
                        messages,
                        seq,
                        truncated,
                    }
                });
                let _ = reply.send(page.map_err(RuntimeError::from));
            }),
        });
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
            if core.is_running() {
                core.finish(RunEnd::Failed(ApiError::new(
                    ErrorCode::Internal,
                    "the worker hit an internal error and was restarted; this run was lost",
                )));
                core.release_ended();
            }
        }
        Ok(state)
    }

    /// A Worker restored or restarted with a queue and no run goes on with it.
    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.start_next(&myself);
        Ok(())
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
                on_busy,
                origin,
                reply,
            } => {
                state.input(&myself, text, client_message_id, on_busy, origin, reply);
            }
            msg @ (WorkerMsg::Approve { .. }
            | WorkerMsg::ToolDone { .. }
            | WorkerMsg::ApprovalExpired { .. }) => state.on_tool(&myself, msg).await,
            WorkerMsg::RemoveQueued { message_id, reply } => {
                state.remove_queued(message_id, reply);
            }
            WorkerMsg::AwaitRun { run_id, reply } => state.core().await_run(run_id, reply),
            WorkerMsg::Cancel { reply } => {
                let answer = state.core().cancel();
                state.settle_ended().await;
                state.start_next(&myself);
                let _ = reply.send(answer);
            }
            WorkerMsg::Detail { reply } => {
                let _ = reply.send(state.core().detail());
            }
            WorkerMsg::Transcript {
                limit,
                before,
                reply,
            } => state.transcript(limit, before, reply),
            WorkerMsg::Subscribe { from, reply } => {
                let _ = reply.send(state.core().subscribe(from));
            }
            WorkerMsg::Stop { reply } => {
                state.core().stop();
                state.settle_ended().await;
                let _ = reply.send(());
                myself.stop(Some("stopped".to_owned()));
            }
            WorkerMsg::Shutdown { reply } => {
                state.core().finish(RunEnd::Cancelled);
                state.settle_ended().await;
                // Only now is the last `seq` known: the next start goes on from it.
                let mut core = state.core();
                core.settle();
                core.store().after_commit(move |_| {
                    let _ = reply.send(());
                });
            }
            WorkerMsg::Run { run_id, items } => state.run_items(&myself, run_id, items).await,
            WorkerMsg::ToolsReady { run_id } => state.tools_ready(&myself, run_id),
            WorkerMsg::Flush { run_id } => state.core().flush_partial(run_id),
            WorkerMsg::InputLost {
                run_id,
                client_message_id,
            } => {
                state.core().undo_input(run_id, client_message_id.as_ref());
                state.settle_ended().await;
                state.start_next(&myself);
            }
            #[cfg(feature = "test-hooks")]
            WorkerMsg::InjectPanic => {
                panic!("panic injected into a worker (test hook)");
            }
        }
        Ok(())
    }
}
