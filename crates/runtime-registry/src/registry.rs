//! `RegistryActor` and its handle [`Registry`].
//!
//! The actor owns the map `runtime_id -> RuntimeHandle`. A command asks it for
//! the handle and then runs on the caller's task, so a slow runtime never
//! holds the registry's mailbox. Workspace events of every runtime are merged
//! into one broadcast for the server's `/api/events` sockets.

use std::collections::BTreeMap;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::broadcast;
use yoi_protocol::{
    CancelAccepted, CreateWorker, InputAccepted, InputRequest, RunOutcome, RuntimeId,
    RuntimeSummary, Seq, Transcript, WorkerDetail, WorkerId, WorkerSummary, WorkspaceEvent,
};

use crate::error::RegistryError;
use crate::handle::{RuntimeHandle, WorkerStream};

/// Workspace events a slow listener may fall behind before it must resync.
const WORKSPACE_BUFFER: usize = 512;
const CALL_TIMEOUT_MS: u64 = 30_000;

pub enum RegistryMsg {
    Register {
        handle: RuntimeHandle,
        reply: RpcReplyPort<Result<(), RegistryError>>,
    },
    Lookup {
        runtime_id: RuntimeId,
        reply: RpcReplyPort<Option<RuntimeHandle>>,
    },
    List {
        reply: RpcReplyPort<Vec<RuntimeHandle>>,
    },
}

pub struct RegistryState {
    runtimes: BTreeMap<RuntimeId, RuntimeHandle>,
    events: broadcast::Sender<WorkspaceEvent>,
}

pub struct RegistryActor;

impl Actor for RegistryActor {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = broadcast::Sender<WorkspaceEvent>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        events: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState {
            runtimes: BTreeMap::new(),
            events,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Register { handle, reply } => {
                let id = handle.id().clone();
                let answer = if state.runtimes.contains_key(&id) {
                    Err(RegistryError::DuplicateRuntime(id))
                } else {
                    forward_workspace_events(&handle, state.events.clone());
                    state.runtimes.insert(id, handle);
                    Ok(())
                };
                let _ = reply.send(answer);
            }
            RegistryMsg::Lookup { runtime_id, reply } => {
                let _ = reply.send(state.runtimes.get(&runtime_id).cloned());
            }
            RegistryMsg::List { reply } => {
                let _ = reply.send(state.runtimes.values().cloned().collect());
            }
        }
        Ok(())
    }
}

/// Copies a runtime's workspace events into the registry's broadcast.
fn forward_workspace_events(handle: &RuntimeHandle, into: broadcast::Sender<WorkspaceEvent>) {
    let mut rx = match handle {
        RuntimeHandle::Embedded(rt) => rt.workspace_events(),
        RuntimeHandle::Remote(rt) => rt.workspace_events(),
    };
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let _ = into.send(event);
                }
                // Listeners resync from a snapshot when they lag
                // themselves; a lag here is logged, not hidden.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "workspace events lagged");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// The handle to the registry: cheap to clone, routes every command.
#[derive(Clone)]
pub struct Registry {
    actor: ActorRef<RegistryMsg>,
    events: broadcast::Sender<WorkspaceEvent>,
}

impl Registry {
    pub async fn start() -> Result<Registry, RegistryError> {
        let (events, _) = broadcast::channel(WORKSPACE_BUFFER);
        let (actor, _) = Actor::spawn(None, RegistryActor, events.clone())
            .await
            .map_err(|_| RegistryError::Stopped)?;
        Ok(Registry { actor, events })
    }

    pub async fn register(&self, handle: RuntimeHandle) -> Result<(), RegistryError> {
        ractor::call_t!(
            self.actor,
            |reply| RegistryMsg::Register { handle, reply },
            CALL_TIMEOUT_MS
        )
        .map_err(|_| RegistryError::Stopped)?
    }

    async fn route(&self, runtime_id: &RuntimeId) -> Result<RuntimeHandle, RegistryError> {
        let runtime_id = runtime_id.clone();
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
        .ok_or(RegistryError::RuntimeNotFound(runtime_id))
    }

    async fn handles(&self) -> Result<Vec<RuntimeHandle>, RegistryError> {
        ractor::call_t!(
            self.actor,
            |reply| RegistryMsg::List { reply },
            CALL_TIMEOUT_MS
        )
        .map_err(|_| RegistryError::Stopped)
    }

    pub async fn runtimes(&self) -> Result<Vec<RuntimeSummary>, RegistryError> {
        let mut out = Vec::new();
        for handle in self.handles().await? {
            out.push(handle.summary().await?);
        }
        Ok(out)
    }

    pub async fn runtime(&self, runtime_id: &RuntimeId) -> Result<RuntimeSummary, RegistryError> {
        self.route(runtime_id).await?.summary().await
    }

    pub async fn workers(
        &self,
        runtime_id: &RuntimeId,
    ) -> Result<Vec<WorkerSummary>, RegistryError> {
        self.route(runtime_id).await?.list_workers().await
    }

    pub async fn create_worker(
        &self,
        runtime_id: &RuntimeId,
        request: CreateWorker,
    ) -> Result<WorkerDetail, RegistryError> {
        self.route(runtime_id).await?.create_worker(request).await
    }

    pub async fn worker(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
    ) -> Result<WorkerDetail, RegistryError> {
        self.route(runtime_id).await?.worker(worker_id).await
    }

    pub async fn stop_worker(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
    ) -> Result<(), RegistryError> {
        self.route(runtime_id).await?.stop_worker(worker_id).await
    }

    pub async fn input(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RegistryError> {
        self.route(runtime_id).await?.input(worker_id, input).await
    }

    pub async fn input_wait(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RegistryError> {
        self.route(runtime_id)
            .await?
            .input_wait(worker_id, input)
            .await
    }

    pub async fn cancel(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
    ) -> Result<CancelAccepted, RegistryError> {
        self.route(runtime_id).await?.cancel(worker_id).await
    }

    pub async fn transcript(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
        limit: usize,
    ) -> Result<Transcript, RegistryError> {
        self.route(runtime_id)
            .await?
            .transcript(worker_id, limit)
            .await
    }

    pub async fn subscribe(
        &self,
        runtime_id: &RuntimeId,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RegistryError> {
        self.route(runtime_id)
            .await?
            .subscribe(worker_id, cursor)
            .await
    }

    /// Changes of every runtime: workers created and stopped, status, runtime status.
    pub fn workspace_events(&self) -> broadcast::Receiver<WorkspaceEvent> {
        self.events.subscribe()
    }

    /// The first frame of a workspace socket: every runtime and every worker.
    pub async fn workspace_snapshot(&self) -> Result<WorkspaceEvent, RegistryError> {
        let mut runtimes = Vec::new();
        let mut workers = Vec::new();
        for handle in self.handles().await? {
            runtimes.push(handle.summary().await?);
            // An unreachable runtime shows in `runtimes` with its status; its
            // workers are simply not listed until it is back.
            workers.extend(handle.snapshot_workers().await);
        }
        Ok(WorkspaceEvent::WorkspaceSnapshot { runtimes, workers })
    }

    /// Ends every run in every runtime with a terminal event and stops the registry.
    pub async fn shutdown(&self) {
        if let Ok(handles) = self.handles().await {
            for handle in handles {
                handle.shutdown().await;
            }
        }
        self.actor.stop(Some("shutdown".to_owned()));
    }
}
