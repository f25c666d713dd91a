//! `WorkerActor`: the mailbox in front of a [`WorkerCore`]. Each message is
//! one step of the core; the only thing the actor adds is the run task,
//! spawned when an input is accepted and aborted when its run ends.

use std::sync::{Arc, Mutex, MutexGuard};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use yoi_protocol::{
    ApiError, CancelAccepted, ClientMessageId, ErrorCode, InputAccepted, RunId, WorkerDetail,
};

use super::core::{Accepted, RunEnd, RunWaiter, SubscribeFrom, SubscribeStart, WorkerCore};
use super::run::{drive_run, RunItem};
use crate::config::ProviderConfig;
use crate::error::RuntimeError;
use crate::provider::Provider;

pub enum WorkerMsg {
    Input {
        text: String,
        client_message_id: Option<ClientMessageId>,
        reply: RpcReplyPort<Result<InputAccepted, RuntimeError>>,
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
        reply: RpcReplyPort<yoi_protocol::Transcript>,
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
    /// An item from the run task.
    Run {
        run_id: RunId,
        item: RunItem,
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

    /// Accepts the input and, for a new run, starts its task.
    fn input(
        &self,
        myself: &ActorRef<WorkerMsg>,
        text: String,
        client_message_id: Option<ClientMessageId>,
    ) -> Result<InputAccepted, RuntimeError> {
        let mut core = self.core();
        let ready = self.provider.check_configured();
        match core.accept_input(text, client_message_id, ready)? {
            Accepted::Repeat(first) => Ok(first),
            Accepted::Started { accepted, request } => {
                let run_id = accepted.run_id;
                let worker = myself.clone();
                let report = move |item| {
                    // The Worker may be gone (stopped, restarting); nothing to tell then.
                    let _ = worker.send_message(WorkerMsg::Run { run_id, item });
                };
                let task = tokio::spawn(drive_run(
                    self.provider.clone(),
                    self.provider_config.clone(),
                    request,
                    report,
                ));
                core.attach_task(accepted.run_id, task.abort_handle());
                Ok(accepted)
            }
        }
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
                let _ = reply.send(state.input(&myself, text, client_message_id));
            }
            WorkerMsg::AwaitRun { run_id, reply } => state.core().await_run(run_id, reply),
            WorkerMsg::Cancel { reply } => {
                let _ = reply.send(state.core().cancel());
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
                state.core().stop();
                let _ = reply.send(());
                myself.stop(Some("stopped".to_owned()));
            }
            WorkerMsg::Shutdown { reply } => {
                state.core().finish(RunEnd::Cancelled);
                let _ = reply.send(());
            }
            WorkerMsg::Run { run_id, item } => state.core().apply_run_item(run_id, item),
            #[cfg(feature = "test-hooks")]
            WorkerMsg::InjectPanic => {
                panic!("panic injected into a worker (test hook)");
            }
        }
        Ok(())
    }
}
