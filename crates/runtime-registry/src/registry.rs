//! `RegistryActor` and its handle [`Registry`].
//!
//! The actor is the only writer of the map `runtime_id -> Arc<dyn
//! RuntimeApi>`, which handles read too: a command finds its runtime there
//! ([`Registry::route`], with no message to the actor) and then calls the
//! runtime on the caller's task, so a slow runtime never holds the
//! registry's mailbox.
//! Workspace events of every runtime are merged into one broadcast for the
//! server's `/api/events` sockets. When the forwarder of one runtime falls
//! behind that runtime's own broadcast, what it missed is replaced by a fresh
//! `workspace_snapshot` on the merged broadcast: listeners start over from it
//! rather than stay stale.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::broadcast;
use worker_runtime::{RuntimeApi, RuntimeError};
use yoi_protocol::{by_activity, RuntimeId, RuntimeSummary, WorkspaceEvent, SNAPSHOT_WORKERS};

use crate::error::RegistryError;

/// Workspace events a slow listener may fall behind before it must resync.
const WORKSPACE_BUFFER: usize = 512;
const CALL_TIMEOUT_MS: u64 = 30_000;

/// A registered runtime, of any kind.
pub type SharedRuntime = Arc<dyn RuntimeApi>;

pub enum RegistryMsg {
    Register {
        runtime: SharedRuntime,
        reply: RpcReplyPort<Result<(), RegistryError>>,
    },
    Lookup {
        runtime_id: RuntimeId,
        reply: RpcReplyPort<Option<SharedRuntime>>,
    },
    List {
        reply: RpcReplyPort<Vec<SharedRuntime>>,
    },
}

pub struct RegistryState {
    events: broadcast::Sender<WorkspaceEvent>,
    routes: Routes,
}

/// The registered runtimes: changed only by the actor, before it answers
/// the registration, and read by every handle (runtimes are never removed).
#[derive(Clone, Default)]
pub struct Routes(Arc<RwLock<BTreeMap<RuntimeId, SharedRuntime>>>);

impl Routes {
    fn get(&self, runtime_id: &RuntimeId) -> Option<SharedRuntime> {
        // Each change is one insert, so a lock poisoned by a panic elsewhere
        // still holds a whole map.
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(runtime_id).cloned()
    }

    /// Adds `runtime` unless its id is taken; answers whether it was added.
    fn insert(&self, runtime_id: RuntimeId, runtime: SharedRuntime) -> bool {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&runtime_id) {
            return false;
        }
        map.insert(runtime_id, runtime);
        true
    }

    /// Every runtime, in `runtime_id` order.
    fn all(&self) -> Vec<SharedRuntime> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }
}

pub struct RegistryActor;

impl Actor for RegistryActor {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = (broadcast::Sender<WorkspaceEvent>, Routes);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (events, routes): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState { events, routes })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Register { runtime, reply } => {
                let id = runtime.id().clone();
                let answer = if state.routes.insert(id.clone(), runtime.clone()) {
                    let registry = Registry {
                        actor: myself,
                        events: state.events.clone(),
                        routes: state.routes.clone(),
                    };
                    forward_workspace_events(runtime.as_ref(), registry);
                    Ok(())
                } else {
                    Err(RegistryError::DuplicateRuntime(id))
                };
                let _ = reply.send(answer);
            }
            RegistryMsg::Lookup { runtime_id, reply } => {
                let _ = reply.send(state.routes.get(&runtime_id));
            }
            RegistryMsg::List { reply } => {
                let _ = reply.send(state.routes.all());
            }
        }
        Ok(())
    }
}

/// Copies a runtime's workspace events into the registry's broadcast; when
/// it falls behind, sends a fresh `workspace_snapshot` in place of what it
/// missed (the snapshot is made from the registry, so it is at least as new
/// as anything skipped).
fn forward_workspace_events(runtime: &dyn RuntimeApi, registry: Registry) {
    let mut rx = runtime.workspace_events();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let _ = registry.events.send(event);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Skip what is still queued too: all of it is older than
                    // the snapshot about to be made.
                    rx = rx.resubscribe();
                    match registry.workspace_snapshot().await {
                        Ok(snapshot) => {
                            tracing::warn!(
                                missed,
                                "workspace events lagged; listeners get a fresh snapshot"
                            );
                            let _ = registry.events.send(snapshot);
                        }
                        Err(e) => tracing::warn!(
                            missed,
                            error = %e,
                            "workspace events lagged and no snapshot could be made"
                        ),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// The handle to the registry: cheap to clone.
#[derive(Clone)]
pub struct Registry {
    actor: ActorRef<RegistryMsg>,
    events: broadcast::Sender<WorkspaceEvent>,
    routes: Routes,
}

impl Registry {
    pub async fn start() -> Result<Registry, RegistryError> {
        let (events, _) = broadcast::channel(WORKSPACE_BUFFER);
        let routes = Routes::default();
        let (actor, _) = Actor::spawn(None, RegistryActor, (events.clone(), routes.clone()))
            .await
            .map_err(|_| RegistryError::Stopped)?;
        Ok(Registry {
            actor,
            events,
            routes,
        })
    }

    pub async fn register(&self, runtime: SharedRuntime) -> Result<(), RegistryError> {
        if runtime.kind() == yoi_protocol::RuntimeKind::Embedded {
            // In this process: available for as long as the process is.
            worker_runtime::metrics::runtime_available(runtime.id(), true);
        }
        ractor::call_t!(
            self.actor,
            |reply| RegistryMsg::Register { runtime, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(|_| RegistryError::Stopped)?
    }

    /// The runtime clients name `runtime_id`; every command goes to it.
    pub async fn route(&self, runtime_id: &RuntimeId) -> Result<SharedRuntime, RegistryError> {
        if let Some(runtime) = self.routes.get(runtime_id) {
            return Ok(runtime);
        }
        // Unknown here: the actor answers after any registration it holds.
        let lookup = runtime_id.clone();
        ractor::call_t!(
            self.actor,
            |reply| RegistryMsg::Lookup {
                runtime_id: lookup,
                reply
            },
            CALL_TIMEOUT_MS
        )
        .map_err(|_| RegistryError::Stopped)?
        .ok_or_else(|| RegistryError::RuntimeNotFound(runtime_id.clone()))
    }

    /// Every registered runtime, in `runtime_id` order.
    pub async fn runtimes(&self) -> Result<Vec<SharedRuntime>, RegistryError> {
        ractor::call_t!(
            self.actor,
            |reply| RegistryMsg::List { reply },
            CALL_TIMEOUT_MS
        )
        .map_err(|_| RegistryError::Stopped)
    }

    /// Every runtime's summary (an unreachable one with its status).
    pub async fn summaries(&self) -> Result<Vec<RuntimeSummary>, RuntimeError> {
        let mut out = Vec::new();
        for runtime in self.runtimes().await.unwrap_or_default() {
            out.push(runtime.summary().await?);
        }
        Ok(out)
    }

    /// Changes of every runtime: workers created and stopped, status, runtime status.
    pub fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.events.subscribe()
    }

    /// The first frame of a workspace socket: every runtime (with its
    /// `worker_count`) and the [`SNAPSHOT_WORKERS`] most recently active
    /// workers of them all, in the consoles' order; the rest are paged with
    /// `GET .../workers?order=activity`. Each runtime's share is the head of
    /// its own order, so a client pages each runtime on from its last row.
    pub async fn workspace_snapshot(&self) -> Result<WorkspaceEvent, RuntimeError> {
        let mut runtimes = Vec::new();
        let mut workers = Vec::new();
        for runtime in self.runtimes().await.unwrap_or_default() {
            runtimes.push(runtime.summary().await?);
            // An unreachable runtime shows in `runtimes` with its status; its
            // workers are simply not listed until it is back.
            workers.extend(runtime.recent_workers(SNAPSHOT_WORKERS).await);
        }
        workers.sort_by(by_activity);
        workers.truncate(SNAPSHOT_WORKERS);
        Ok(WorkspaceEvent::WorkspaceSnapshot { runtimes, workers })
    }

    /// Ends every run in every runtime with a terminal event and stops the registry.
    pub async fn shutdown(&self) {
        for runtime in self.runtimes().await.unwrap_or_default() {
            runtime.shutdown().await;
        }
        self.actor.stop(Some("shutdown".to_owned()));
    }
}
