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
use yoi_protocol::{
    CreateWorker, WorkerDetail, WorkerId, WorkerList, WorkerPage, WorkerSummary, WorkspaceEvent,
};

use crate::config::{ProviderConfig, RuntimeConfig};
use crate::error::RuntimeError;
use crate::profile::{load_profile, Profile, ProfileError, COMPANION};
use crate::provider::Provider;
use crate::store::{SavedWorker, Store};
use crate::worker::actor::lock;
use crate::worker::{CoreSettings, WorkerActor, WorkerArgs, WorkerCore, WorkerMsg};

use super::directory::Directory;

pub enum RuntimeMsg {
    Create {
        request: CreateWorker,
        reply: RpcReplyPort<Result<WorkerDetail, RuntimeError>>,
    },
    List {
        page: WorkerPage,
        reply: RpcReplyPort<Result<WorkerList, RuntimeError>>,
    },
    Count {
        reply: RpcReplyPort<usize>,
    },
    /// A Worker the directory has no running actor for (see `Runtime::lookup`).
    Lookup {
        worker_id: WorkerId,
        reply: RpcReplyPort<Option<WorkerHandle>>,
    },
    /// Give a Worker another display name.
    Rename {
        worker_id: WorkerId,
        display_name: String,
        reply: RpcReplyPort<Result<WorkerSummary, RuntimeError>>,
    },
    /// Forget a Worker that was stopped.
    Remove {
        worker_id: WorkerId,
    },
    /// End every run with a terminal event and stop every Worker.
    Shutdown {
        reply: RpcReplyPort<()>,
    },
    /// Test hook: stop as a killed process would, ending nothing; only what
    /// the store had been handed is written.
    #[cfg(feature = "test-hooks")]
    Crash {
        reply: RpcReplyPort<()>,
    },
}

/// How a command reaches one Worker: its mailbox, and its data for readers
/// that need no mailbox (a subscription that lagged).
#[derive(Clone)]
pub struct WorkerHandle {
    pub actor: ActorRef<WorkerMsg>,
    pub core: Arc<Mutex<WorkerCore>>,
}

/// The provider of one profile, built once by the Runtime's factory.
#[derive(Clone)]
pub struct ProfileProvider {
    pub provider: Arc<dyn Provider>,
    pub config: Arc<ProviderConfig>,
    /// What the profile's workers may call.
    pub tools: Arc<crate::tools::WorkerTools>,
}

pub(super) struct WorkerEntry {
    pub(super) core: Arc<Mutex<WorkerCore>>,
    actor: ActorRef<WorkerMsg>,
    provider: ProfileProvider,
}

impl WorkerEntry {
    fn handle(&self) -> WorkerHandle {
        WorkerHandle {
            actor: self.actor.clone(),
            core: self.core.clone(),
        }
    }
}

pub struct RuntimeState {
    pub(super) config: RuntimeConfig,
    /// Each profile's provider, by profile name.
    pub(super) providers: HashMap<String, ProfileProvider>,
    pub(super) workers: HashMap<WorkerId, WorkerEntry>,
    /// `workers`' handles, for lookups without a message (changed with it).
    pub(super) directory: Directory,
    /// Creation order, for stable listings.
    pub(super) order: Vec<WorkerId>,
    workspace: broadcast::Sender<WorkspaceEvent>,
    store: Store,
    /// Workers read from the store, restored once the actor runs.
    saved: Vec<SavedWorker>,
    /// The newest profile built under each name, shared by the workers
    /// built with the same one: a prompt is held once, not once per worker.
    profiles: HashMap<String, Arc<Profile>>,
}

pub struct RuntimeArgs {
    pub config: RuntimeConfig,
    /// The provider of each profile, built by the Runtime's factory.
    pub providers: HashMap<String, ProfileProvider>,
    pub workspace: broadcast::Sender<WorkspaceEvent>,
    pub store: Store,
    pub saved: Vec<SavedWorker>,
    pub directory: Directory,
}

pub struct RuntimeActor;

impl RuntimeState {
    pub(super) fn summary_of(&self, id: &WorkerId) -> Option<WorkerSummary> {
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
            config: args.config,
            providers: args.providers,
            workers: HashMap::new(),
            directory: args.directory,
            order: Vec::new(),
            workspace: args.workspace,
            store: args.store,
            saved: args.saved,
            profiles: HashMap::new(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for saved in std::mem::take(&mut state.saved) {
            super::restore::restore_worker(&myself, state, saved).await;
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
            RuntimeMsg::List { page, reply } => {
                let _ = reply.send(state.page(page));
            }
            RuntimeMsg::Count { reply } => {
                let _ = reply.send(state.order.len());
            }
            RuntimeMsg::Lookup { worker_id, reply } => {
                let _ = reply.send(state.workers.get(&worker_id).map(WorkerEntry::handle));
            }
            RuntimeMsg::Rename {
                worker_id,
                display_name,
                reply,
            } => {
                let since = state.store.mark();
                let answer = match state.workers.get(&worker_id) {
                    Some(entry) => lock(&entry.core).rename(display_name),
                    None => Err(RuntimeError::WorkerNotFound(worker_id.to_string())),
                };
                // The new name is answered once it is stored.
                state.store.after_commit_since(since, move |outcome| {
                    let _ = reply.send(outcome.map_err(RuntimeError::from).and(answer));
                });
            }
            RuntimeMsg::Remove { worker_id } => {
                if state.workers.remove(&worker_id).is_some() {
                    state.directory.remove(&worker_id);
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
            #[cfg(feature = "test-hooks")]
            RuntimeMsg::Crash { reply } => {
                state.directory.clear();
                for (_, entry) in state.workers.drain() {
                    entry.actor.unlink(myself.get_cell());
                    entry.actor.stop(Some("crash".to_owned()));
                    lock(&entry.core).abandon();
                }
                state.order.clear();
                state.store.close().await;
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
                .map(|(id, e)| (*id, e.core.clone(), e.provider.clone()));
            if let Some((worker_id, core, provider)) = failed {
                tracing::error!(%worker_id, error = %error, "worker failed; restarting it");
                let args = WorkerArgs {
                    core: core.clone(),
                    provider: provider.provider,
                    provider_config: provider.config,
                    restarted: true,
                };
                match Actor::spawn_linked(None, WorkerActor, args, myself.get_cell()).await {
                    Ok((actor, _)) => {
                        if let Some(entry) = state.workers.get_mut(&worker_id) {
                            entry.actor = actor;
                            state.directory.insert(worker_id, entry.handle());
                        }
                    }
                    Err(e) => {
                        tracing::error!(%worker_id, error = %e, "worker could not be restarted");
                        state.directory.remove(&worker_id);
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
/// waits until the store has written everything and let go of its files.
async fn shutdown_workers(myself: &ActorRef<RuntimeMsg>, state: &mut RuntimeState) {
    for entry in state.workers.values() {
        let _ = ractor::call!(entry.actor, |r| WorkerMsg::Shutdown { reply: r });
    }
    state.directory.clear();
    for (_, entry) in state.workers.drain() {
        entry.actor.unlink(myself.get_cell());
        entry.actor.stop(Some("shutdown".to_owned()));
    }
    state.order.clear();
    state.store.close().await;
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
    if state.store.is_backlogged() {
        return Err(RuntimeError::StoreUnavailable);
    }
    let profile_name = request.profile.as_deref().unwrap_or(COMPANION);
    let profile = load_profile(profile_name, &state.config).map_err(|e| match e {
        ProfileError::Unknown { .. } => RuntimeError::UnknownProfile(e.to_string()),
        other @ ProfileError::PromptMissing { .. } => RuntimeError::Api(other.input_error()),
    })?;
    let display_name = match request.display_name {
        Some(name) => yoi_protocol::validate_display_name(&name)?,
        None => profile.name.clone(),
    };
    let worker_id = WorkerId::new();
    let core = WorkerCore::new(settings(
        state,
        worker_id,
        display_name,
        profile,
        crate::store::lease::BLOCK,
    ));
    state.store.create_worker(core.row_reserving()).await?;
    let detail = add_worker(myself, state, core).await?;
    let _ = state.workspace.send(WorkspaceEvent::WorkerCreated {
        worker: detail.summary.clone(),
    });
    Ok(detail)
}

pub(super) fn settings(
    state: &mut RuntimeState,
    worker_id: WorkerId,
    display_name: String,
    profile: Profile,
    seq_reserved: u64,
) -> CoreSettings {
    CoreSettings {
        runtime_id: state.config.runtime_id.clone(),
        worker_id,
        display_name,
        event_ring: state.config.event_ring,
        transcript_bound: state.config.transcript_bound,
        workspace: state.workspace.clone(),
        store: state.store.clone(),
        seq_reserved: yoi_protocol::Seq(seq_reserved),
        queue_limit: state.config.queue_limit,
        limits: state.config.limits,
        tools: state
            .providers
            .get(&profile.name)
            .map(|p| p.tools.clone())
            .unwrap_or_default(),
        profile: state.share(profile),
    }
}

impl RuntimeState {
    /// `profile`, or the equal one already in use: a profile is re-read
    /// for each new worker (an edited prompt file applies to the next
    /// one), but held once while it is unchanged.
    fn share(&mut self, profile: Profile) -> Arc<Profile> {
        if let Some(held) = self.profiles.get(&profile.name) {
            if **held == profile {
                return held.clone();
            }
        }
        let shared = Arc::new(profile);
        self.profiles
            .insert(shared.name.clone(), Arc::clone(&shared));
        shared
    }
}

/// Spawns the Worker's actor under this Runtime and records it.
pub(super) async fn add_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    core: WorkerCore,
) -> Result<WorkerDetail, RuntimeError> {
    let worker_id = core.worker_id;
    let detail = core.detail();
    // A quarantined Worker, or one whose profile is gone, never runs: any
    // provider fills the slot.
    let quarantined = detail.summary.status == yoi_protocol::WorkerStatus::Quarantined
        || detail.input_error.is_some();
    let provider = state
        .providers
        .get(&detail.summary.profile.name)
        .or_else(|| {
            quarantined
                .then(|| state.providers.values().next())
                .flatten()
        })
        .cloned()
        .ok_or_else(|| RuntimeError::Internal("a profile without a provider".to_owned()))?;
    let core = Arc::new(Mutex::new(core));
    let args = WorkerArgs {
        core: core.clone(),
        provider: provider.provider.clone(),
        provider_config: provider.config.clone(),
        restarted: false,
    };
    let (actor, _) = Actor::spawn_linked(None, WorkerActor, args, myself.get_cell())
        .await
        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
    let entry = WorkerEntry {
        core,
        actor,
        provider,
    };
    state.directory.insert(worker_id, entry.handle());
    state.workers.insert(worker_id, entry);
    state.order.push(worker_id);
    Ok(detail)
}
