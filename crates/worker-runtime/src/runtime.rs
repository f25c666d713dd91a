//! `RuntimeActor` and its handle [`Runtime`]: creates, lists, stops and
//! supervises Workers.
//!
//! The Runtime spawns each Worker linked to itself. A Worker that panics is
//! respawned with the same [`WorkerCore`], so its transcript and event log
//! survive and the run it was streaming ends with `run_failed` (`internal`).
//! Commands go from the handle to the Worker actor directly after one lookup;
//! the Runtime's mailbox is never held by a Worker's work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{broadcast, oneshot};
use yoi_protocol::{
    CancelAccepted, Capabilities, CreateWorker, InputAccepted, InputRequest, RunOutcome, RuntimeId,
    RuntimeKind, RuntimeStatus, RuntimeSummary, WorkerDetail, WorkerId, WorkerSummary,
    WorkspaceEvent,
};

use crate::config::{ProviderConfig, RuntimeConfig};
use crate::error::RuntimeError;
use crate::profile::{load_profile, COMPANION};
use crate::provider::Provider;
use crate::subscription::Subscription;
use crate::worker::{
    CoreSettings, SubscribeFrom, SubscribeStart, WorkerActor, WorkerArgs, WorkerCore, WorkerMsg,
};

/// Workspace events a slow listener may fall behind before it misses some.
const WORKSPACE_BUFFER: usize = 256;

pub enum RuntimeMsg {
    Create {
        request: CreateWorker,
        reply: RpcReplyPort<Result<WorkerDetail, RuntimeError>>,
    },
    List {
        reply: RpcReplyPort<Vec<WorkerSummary>>,
    },
    Lookup {
        worker_id: WorkerId,
        reply: RpcReplyPort<Option<ActorRef<WorkerMsg>>>,
    },
    /// Forget a Worker that was stopped.
    Remove { worker_id: WorkerId },
    /// End every run with a terminal event and stop every Worker.
    Shutdown { reply: RpcReplyPort<()> },
}

struct WorkerEntry {
    core: Arc<Mutex<WorkerCore>>,
    actor: ActorRef<WorkerMsg>,
    /// Writes the Worker's state when the Runtime has a state directory.
    saver: Option<tokio::task::JoinHandle<()>>,
}

pub struct RuntimeState {
    config: RuntimeConfig,
    provider: Arc<dyn Provider>,
    provider_config: Arc<ProviderConfig>,
    workers: HashMap<WorkerId, WorkerEntry>,
    /// Creation order, for stable listings.
    order: Vec<WorkerId>,
    workspace: broadcast::Sender<WorkspaceEvent>,
}

pub struct RuntimeArgs {
    pub config: RuntimeConfig,
    pub provider: Arc<dyn Provider>,
    pub workspace: broadcast::Sender<WorkspaceEvent>,
}

pub struct RuntimeActor;

impl RuntimeState {
    fn summary_of(&self, id: &WorkerId) -> Option<WorkerSummary> {
        let entry = self.workers.get(id)?;
        let core = entry.core.lock().unwrap_or_else(|p| p.into_inner());
        Some(core.summary())
    }
}

impl Actor for RuntimeActor {
    type Msg = RuntimeMsg;
    type State = RuntimeState;
    type Arguments = RuntimeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RuntimeArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RuntimeState {
            provider_config: Arc::new(args.config.provider.clone()),
            config: args.config,
            provider: args.provider,
            workers: HashMap::new(),
            order: Vec::new(),
            workspace: args.workspace,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(dir) = state.config.state_dir.clone() else {
            return Ok(());
        };
        if let Err(e) = crate::persist::prepare_dir(&dir) {
            tracing::warn!(error = %e, "the state directory cannot be used; workers will not be saved");
            state.config.state_dir = None;
            return Ok(());
        }
        for saved in crate::persist::load_all(&dir) {
            let worker_id = saved.worker_id;
            if let Err(e) = restore_worker(&myself, state, saved).await {
                tracing::warn!(%worker_id, error = %e, "a saved worker was not restored");
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RuntimeMsg::Create { request, reply } => {
                let answer = create_worker(&myself, state, request).await;
                let _ = reply.send(answer);
            }
            RuntimeMsg::List { reply } => {
                let list = state
                    .order
                    .iter()
                    .filter_map(|id| state.summary_of(id))
                    .collect();
                let _ = reply.send(list);
            }
            RuntimeMsg::Lookup { worker_id, reply } => {
                let _ = reply.send(state.workers.get(&worker_id).map(|e| e.actor.clone()));
            }
            RuntimeMsg::Remove { worker_id } => {
                if state.workers.remove(&worker_id).is_some() {
                    state.order.retain(|id| *id != worker_id);
                    let _ = state.workspace.send(WorkspaceEvent::WorkerStopped {
                        runtime_id: state.config.runtime_id.clone(),
                        worker_id,
                    });
                }
            }
            RuntimeMsg::Shutdown { reply } => {
                for entry in state.workers.values() {
                    let _ = ractor::call!(entry.actor, |r| WorkerMsg::Shutdown { reply: r });
                }
                let mut savers = Vec::new();
                for (_, mut entry) in state.workers.drain() {
                    entry.actor.unlink(myself.get_cell());
                    entry.actor.stop(Some("shutdown".to_owned()));
                    // Dropping the sender makes the saver write the last state and end.
                    drop(
                        entry
                            .core
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .take_saver(),
                    );
                    savers.extend(entry.saver.take());
                }
                state.order.clear();
                for saver in savers {
                    let _ = saver.await;
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let failed = state
                .workers
                .iter()
                .find(|(_, e)| e.actor.get_id() == cell.get_id())
                .map(|(id, e)| (*id, e.core.clone()));
            if let Some((worker_id, core)) = failed {
                tracing::error!(%worker_id, error = %error, "worker failed; restarting it");
                let args = WorkerArgs {
                    core: core.clone(),
                    provider: state.provider.clone(),
                    provider_config: state.provider_config.clone(),
                    restarted: true,
                };
                match Actor::spawn_linked(None, WorkerActor, args, myself.get_cell()).await {
                    Ok((actor, _)) => {
                        if let Some(entry) = state.workers.get_mut(&worker_id) {
                            entry.actor = actor;
                        }
                    }
                    Err(e) => {
                        tracing::error!(%worker_id, error = %e, "worker could not be restarted");
                        state.workers.remove(&worker_id);
                        state.order.retain(|id| *id != worker_id);
                    }
                }
            }
        }
        Ok(())
    }
}

async fn create_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    request: CreateWorker,
) -> Result<WorkerDetail, RuntimeError> {
    let profile_name = request.profile.as_deref().unwrap_or(COMPANION);
    let profile = load_profile(profile_name, &state.config).map_err(|e| match e {
        crate::profile::ProfileError::Unknown(_) => {
            RuntimeError::UnknownProfile(profile_name.chars().take(64).collect())
        }
        other => RuntimeError::Internal(other.to_string()),
    })?;
    let display_name = match request.display_name {
        Some(name) => crate::validate_display_name(&name)?,
        None => profile.name.clone(),
    };
    let worker_id = WorkerId::new();
    let (saver, saver_task) = saver_for(state, worker_id);
    let core = WorkerCore::new(settings(state, worker_id, display_name, profile, saver));
    core.save();
    let detail = add_worker(myself, state, core, saver_task).await?;
    let _ = state.workspace.send(WorkspaceEvent::WorkerCreated {
        worker: detail.summary.clone(),
    });
    Ok(detail)
}

type Saver = Option<tokio::sync::watch::Sender<crate::persist::SaveState>>;

fn saver_for(
    state: &RuntimeState,
    worker_id: WorkerId,
) -> (Saver, Option<tokio::task::JoinHandle<()>>) {
    match &state.config.state_dir {
        Some(dir) => {
            let (tx, task) = crate::persist::start_saver(dir.clone(), worker_id);
            (Some(tx), Some(task))
        }
        None => (None, None),
    }
}

fn settings(
    state: &RuntimeState,
    worker_id: WorkerId,
    display_name: String,
    profile: crate::profile::Profile,
    saver: Saver,
) -> CoreSettings {
    CoreSettings {
        runtime_id: state.config.runtime_id.clone(),
        worker_id,
        display_name,
        profile: Arc::new(profile),
        event_ring: state.config.event_ring,
        transcript_bound: state.config.transcript_bound,
        workspace: state.workspace.clone(),
        saver,
    }
}

/// Spawns the Worker's actor under this Runtime and records it.
async fn add_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    core: WorkerCore,
    saver: Option<tokio::task::JoinHandle<()>>,
) -> Result<WorkerDetail, RuntimeError> {
    let worker_id = core.worker_id;
    let detail = core.detail();
    let core = Arc::new(Mutex::new(core));
    let args = WorkerArgs {
        core: core.clone(),
        provider: state.provider.clone(),
        provider_config: state.provider_config.clone(),
        restarted: false,
    };
    let (actor, _) = Actor::spawn_linked(None, WorkerActor, args, myself.get_cell())
        .await
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
    state
        .workers
        .insert(worker_id, WorkerEntry { core, actor, saver });
    state.order.push(worker_id);
    Ok(detail)
}

async fn restore_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    saved: crate::persist::SavedWorker,
) -> Result<(), RuntimeError> {
    let profile = load_profile(&saved.profile, &state.config)
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
    let display_name = crate::validate_display_name(&saved.display_name)?;
    let worker_id = saved.worker_id;
    if state.workers.contains_key(&worker_id) {
        return Err(RuntimeError::Internal(
            "a worker with this id already runs".to_owned(),
        ));
    }
    let (saver, saver_task) = saver_for(state, worker_id);
    let core = WorkerCore::restore(
        settings(state, worker_id, display_name, profile, saver),
        saved,
    );
    add_worker(myself, state, core, saver_task).await?;
    Ok(())
}

/// A handle to a running Runtime: cheap to clone, every method a message.
#[derive(Clone)]
pub struct Runtime {
    actor: ActorRef<RuntimeMsg>,
    id: RuntimeId,
    display_name: String,
    workspace: broadcast::Sender<WorkspaceEvent>,
}

/// How long a command may wait for an actor before it is reported as a bug.
const CALL_TIMEOUT_MS: u64 = 30_000;

fn actor_gone<E: std::fmt::Display>(e: E) -> RuntimeError {
    RuntimeError::Internal(format!("actor call failed: {e}"))
}

impl Runtime {
    /// Starts a Runtime with the given provider.
    pub async fn start(
        config: RuntimeConfig,
        provider: Arc<dyn Provider>,
    ) -> Result<Runtime, RuntimeError> {
        let (workspace, _) = broadcast::channel(WORKSPACE_BUFFER);
        let id = config.runtime_id.clone();
        let display_name = config.display_name.clone();
        let args = RuntimeArgs {
            config,
            provider,
            workspace: workspace.clone(),
        };
        let (actor, _) = Actor::spawn(None, RuntimeActor, args)
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))?;
        Ok(Runtime {
            actor,
            id,
            display_name,
            workspace,
        })
    }

    /// Starts a Runtime that talks to the OpenAI-compatible endpoint of its configuration.
    pub async fn start_openai(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let provider = Arc::new(crate::provider::OpenAiProvider::new(
            config.provider.clone(),
        ));
        Self::start(config, provider).await
    }

    pub fn id(&self) -> &RuntimeId {
        &self.id
    }

    pub async fn summary(&self, kind: RuntimeKind) -> Result<RuntimeSummary, RuntimeError> {
        let workers = self.list_workers().await?;
        Ok(RuntimeSummary {
            runtime_id: self.id.clone(),
            display_name: self.display_name.clone(),
            kind,
            status: RuntimeStatus::Available,
            capabilities: Capabilities::ALL,
            worker_count: workers.len() as u64,
            diagnostics: None,
        })
    }

    /// Worker created, stopped and status changes of this Runtime.
    pub fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.workspace.subscribe()
    }

    pub async fn create_worker(&self, request: CreateWorker) -> Result<WorkerDetail, RuntimeError> {
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Create { request, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
    }

    pub async fn list_workers(&self) -> Result<Vec<WorkerSummary>, RuntimeError> {
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::List { reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)
    }

    async fn worker(&self, worker_id: WorkerId) -> Result<ActorRef<WorkerMsg>, RuntimeError> {
        ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Lookup { worker_id, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(actor_gone)?
        .ok_or_else(|| RuntimeError::WorkerNotFound(worker_id.to_string()))
    }

    /// Calls a Worker; a Worker that vanished between lookup and call is not found.
    async fn call_worker<T: Send + 'static>(
        &self,
        worker_id: WorkerId,
        build: impl FnOnce(RpcReplyPort<T>) -> WorkerMsg,
    ) -> Result<T, RuntimeError> {
        let worker = self.worker(worker_id).await?;
        match ractor::call_t!(worker, build, CALL_TIMEOUT_MS) {
            Ok(v) => Ok(v),
            Err(ractor::RactorErr::Messaging(_)) => {
                Err(RuntimeError::WorkerNotFound(worker_id.to_string()))
            }
            Err(e) => Err(actor_gone(e)),
        }
    }

    pub async fn worker_detail(&self, worker_id: WorkerId) -> Result<WorkerDetail, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Detail { reply })
            .await
    }

    /// Sends input; answers as soon as the input joined the transcript.
    pub async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Input {
            text: input.text,
            client_message_id: input.client_message_id,
            reply,
        })
        .await?
    }

    /// Sends input and waits for the run to end.
    pub async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RuntimeError> {
        let accepted = self.input(worker_id, input).await?;
        self.await_run(worker_id, accepted.run_id).await
    }

    /// Waits for a run to end: its outcome, or its typed error.
    pub async fn await_run(
        &self,
        worker_id: WorkerId,
        run_id: yoi_protocol::RunId,
    ) -> Result<RunOutcome, RuntimeError> {
        let worker = self.worker(worker_id).await?;
        let (tx, rx) = oneshot::channel();
        worker
            .send_message(WorkerMsg::AwaitRun { run_id, reply: tx })
            .map_err(|_| RuntimeError::WorkerNotFound(worker_id.to_string()))?;
        match rx.await {
            Ok(result) => result.map_err(RuntimeError::Run),
            // The Worker was restarted or stopped while the run was in flight.
            Err(_) => Err(RuntimeError::Internal(
                "the worker went away during the run".to_owned(),
            )),
        }
    }

    pub async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Cancel { reply })
            .await?
    }

    pub async fn transcript(
        &self,
        worker_id: WorkerId,
        limit: usize,
    ) -> Result<yoi_protocol::Transcript, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Transcript { limit, reply })
            .await
    }

    pub(crate) async fn subscribe_start(
        &self,
        worker_id: WorkerId,
        from: SubscribeFrom,
    ) -> Result<SubscribeStart, RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Subscribe { from, reply })
            .await
    }

    /// Subscribes to a Worker's events: `None` starts with a snapshot, a
    /// cursor replays what follows it (or resets), per the contract.
    pub async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<yoi_protocol::Seq>,
    ) -> Result<Subscription, RuntimeError> {
        let from = cursor.map_or(SubscribeFrom::Snapshot, SubscribeFrom::Cursor);
        let start = self.subscribe_start(worker_id, from).await?;
        Ok(Subscription::new(self.clone(), worker_id, start))
    }

    /// Cancels any run, stops the Worker and forgets it.
    pub async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        self.call_worker(worker_id, |reply| WorkerMsg::Stop { reply })
            .await?;
        self.actor
            .send_message(RuntimeMsg::Remove { worker_id })
            .map_err(actor_gone)?;
        Ok(())
    }

    /// Ends every run with a terminal event, then stops the Runtime.
    pub async fn shutdown(&self) {
        let _ = ractor::call_t!(
            self.actor,
            |reply| RuntimeMsg::Shutdown { reply },
            CALL_TIMEOUT_MS
        );
        self.actor.stop(Some("shutdown".to_owned()));
    }

    /// Test hook: makes the Worker's actor panic, to exercise supervision.
    #[doc(hidden)]
    pub async fn inject_worker_panic(&self, worker_id: WorkerId) -> Result<(), RuntimeError> {
        let worker = self.worker(worker_id).await?;
        worker
            .send_message(WorkerMsg::InjectPanic)
            .map_err(|_| RuntimeError::WorkerNotFound(worker_id.to_string()))
    }
}
