//! `RuntimeActor`: creates, lists, stops and supervises a Runtime's Workers.
//!
//! It spawns each Worker linked to itself. A Worker that panics is respawned
//! with the same [`WorkerCore`], so its transcript and event log survive and
//! the run it was streaming ends with `run_failed` (`internal`). The actor
//! only keeps the map of Workers: commands reach a Worker's own mailbox
//! after one lookup, so the Runtime's mailbox is never held by a Worker's work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::broadcast;
use yoi_protocol::{CreateWorker, WorkerDetail, WorkerId, WorkerSummary, WorkspaceEvent};

use crate::config::{ProviderConfig, RuntimeConfig};
use crate::error::RuntimeError;
use crate::persist::{SaveState, SavedWorker};
use crate::profile::{load_profile, Profile, ProfileError, COMPANION};
use crate::provider::Provider;
use crate::worker::actor::lock;
use crate::worker::{CoreSettings, WorkerActor, WorkerArgs, WorkerCore, WorkerMsg};

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
        reply: RpcReplyPort<Option<WorkerHandle>>,
    },
    /// Forget a Worker that was stopped.
    Remove { worker_id: WorkerId },
    /// End every run with a terminal event and stop every Worker.
    Shutdown { reply: RpcReplyPort<()> },
}

/// How a command reaches one Worker: its mailbox, and its data for readers
/// that need no mailbox (a subscription that lagged).
#[derive(Clone)]
pub struct WorkerHandle {
    pub actor: ActorRef<WorkerMsg>,
    pub core: Arc<Mutex<WorkerCore>>,
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
    /// The provider of `config.provider`, built by the Runtime's factory.
    pub provider: Arc<dyn Provider>,
    pub workspace: broadcast::Sender<WorkspaceEvent>,
}

pub struct RuntimeActor;

impl RuntimeState {
    fn summary_of(&self, id: &WorkerId) -> Option<WorkerSummary> {
        let entry = self.workers.get(id)?;
        Some(lock(&entry.core).summary())
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
                let _ = reply.send(state.workers.get(&worker_id).map(|e| WorkerHandle {
                    actor: e.actor.clone(),
                    core: e.core.clone(),
                }));
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
                shutdown_workers(&myself, state).await;
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

/// Ends every Worker's run with a terminal event, stops the Workers and
/// waits until their last state is written.
async fn shutdown_workers(myself: &ActorRef<RuntimeMsg>, state: &mut RuntimeState) {
    for entry in state.workers.values() {
        let _ = ractor::call!(entry.actor, |r| WorkerMsg::Shutdown { reply: r });
    }
    let mut savers = Vec::new();
    for (_, mut entry) in state.workers.drain() {
        entry.actor.unlink(myself.get_cell());
        entry.actor.stop(Some("shutdown".to_owned()));
        // Dropping the sender makes the saver write the last state and end.
        drop(lock(&entry.core).take_saver());
        savers.extend(entry.saver.take());
    }
    state.order.clear();
    for saver in savers {
        let _ = saver.await;
    }
}

async fn create_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    request: CreateWorker,
) -> Result<WorkerDetail, RuntimeError> {
    let most = state.config.limits.workers;
    if state.workers.len() >= most {
        return Err(RuntimeError::LimitReached(format!(
            "runtime `{}` holds {most} workers, the most it takes (limits.workers_per_runtime); stop one first",
            state.config.runtime_id
        )));
    }
    let profile_name = request.profile.as_deref().unwrap_or(COMPANION);
    let profile = load_profile(profile_name, &state.config).map_err(|e| match e {
        ProfileError::Unknown(_) => {
            RuntimeError::UnknownProfile(profile_name.chars().take(64).collect())
        }
        other => RuntimeError::Internal(other.to_string()),
    })?;
    let display_name = match request.display_name {
        Some(name) => yoi_protocol::validate_display_name(&name)?,
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

type Saver = Option<tokio::sync::watch::Sender<SaveState>>;

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
    profile: Profile,
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
        limits: state.config.limits,
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
    saved: SavedWorker,
) -> Result<(), RuntimeError> {
    let profile = load_profile(&saved.profile, &state.config)
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
    let display_name = yoi_protocol::validate_display_name(&saved.display_name)?;
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
