//! Runtime handles: how the registry reaches one runtime.
//!
//! Every kind offers the same operations with the same types, so the server
//! never knows where a Worker lives. The embedded runtime is called directly;
//! runtimes in other processes (local on a Unix socket, remote over HTTP and
//! WebSocket) go through one client, [`RemoteRuntime`], and nothing changes
//! above the registry.

use std::sync::Arc;

use worker_runtime::{EventFrame, Runtime, Subscription};
use yoi_protocol::{
    CancelAccepted, CreateWorker, InputAccepted, InputRequest, RunOutcome, RuntimeId, RuntimeKind,
    RuntimeSummary, Seq, Transcript, WorkerDetail, WorkerId, WorkerSummary,
};

use crate::error::RegistryError;
use crate::remote::{RemoteRuntime, RemoteStream};

/// One registered runtime.
#[derive(Clone)]
pub enum RuntimeHandle {
    /// The backend's own in-process runtime.
    Embedded(Runtime),
    /// A runtime in another process: `local` (a supervised child on a Unix
    /// socket) or `remote` (`yoi runtime serve` elsewhere, over TCP).
    Remote(RemoteRuntime),
}

impl RuntimeHandle {
    pub fn kind(&self) -> RuntimeKind {
        match self {
            RuntimeHandle::Embedded(_) => RuntimeKind::Embedded,
            RuntimeHandle::Remote(rt) => rt.kind(),
        }
    }

    pub fn id(&self) -> &RuntimeId {
        match self {
            RuntimeHandle::Embedded(rt) => rt.id(),
            RuntimeHandle::Remote(rt) => rt.id(),
        }
    }

    pub async fn summary(&self) -> Result<RuntimeSummary, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.summary(RuntimeKind::Embedded).await?),
            RuntimeHandle::Remote(rt) => rt.summary().await,
        }
    }

    pub async fn list_workers(&self) -> Result<Vec<WorkerSummary>, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.list_workers().await?),
            RuntimeHandle::Remote(rt) => rt.list_workers().await,
        }
    }

    pub async fn create_worker(
        &self,
        request: CreateWorker,
    ) -> Result<WorkerDetail, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.create_worker(request).await?),
            RuntimeHandle::Remote(rt) => rt.create_worker(request).await,
        }
    }

    pub async fn worker(&self, worker_id: WorkerId) -> Result<WorkerDetail, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.worker_detail(worker_id).await?),
            RuntimeHandle::Remote(rt) => rt.worker(worker_id).await,
        }
    }

    pub async fn stop_worker(&self, worker_id: WorkerId) -> Result<(), RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.stop_worker(worker_id).await?),
            RuntimeHandle::Remote(rt) => rt.stop_worker(worker_id).await,
        }
    }

    pub async fn input(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<InputAccepted, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.input(worker_id, input).await?),
            RuntimeHandle::Remote(rt) => rt.input(worker_id, input).await,
        }
    }

    pub async fn input_wait(
        &self,
        worker_id: WorkerId,
        input: InputRequest,
    ) -> Result<RunOutcome, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.input_wait(worker_id, input).await?),
            RuntimeHandle::Remote(rt) => rt.input_wait(worker_id, input).await,
        }
    }

    pub async fn cancel(&self, worker_id: WorkerId) -> Result<CancelAccepted, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.cancel(worker_id).await?),
            RuntimeHandle::Remote(rt) => rt.cancel(worker_id).await,
        }
    }

    pub async fn transcript(
        &self,
        worker_id: WorkerId,
        limit: usize,
    ) -> Result<Transcript, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(rt.transcript(worker_id, limit).await?),
            RuntimeHandle::Remote(rt) => rt.transcript(worker_id, limit).await,
        }
    }

    pub async fn subscribe(
        &self,
        worker_id: WorkerId,
        cursor: Option<Seq>,
    ) -> Result<WorkerStream, RegistryError> {
        match self {
            RuntimeHandle::Embedded(rt) => Ok(WorkerStream::Embedded(
                rt.subscribe(worker_id, cursor).await?,
            )),
            RuntimeHandle::Remote(rt) => {
                Ok(WorkerStream::Remote(rt.subscribe(worker_id, cursor).await?))
            }
        }
    }

    /// The workers a workspace snapshot lists: an unreachable runtime's are
    /// left out, and a runtime process's come from what the registry follows,
    /// without a round trip.
    pub async fn snapshot_workers(&self) -> Vec<WorkerSummary> {
        match self {
            RuntimeHandle::Embedded(rt) => rt.list_workers().await.unwrap_or_default(),
            RuntimeHandle::Remote(rt) => rt.known_workers().await.unwrap_or_default(),
        }
    }

    pub async fn shutdown(&self) {
        match self {
            RuntimeHandle::Embedded(rt) => rt.shutdown().await,
            RuntimeHandle::Remote(rt) => rt.shutdown().await,
        }
    }
}

/// A Worker's event frames, wherever the Worker lives.
pub enum WorkerStream {
    Embedded(Subscription),
    /// Frames from a runtime process, resumed across broken connections.
    Remote(RemoteStream),
}

impl WorkerStream {
    /// The next frame (serialised once, shared), or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Arc<EventFrame>> {
        match self {
            WorkerStream::Embedded(sub) => sub.next().await,
            WorkerStream::Remote(stream) => stream.next().await,
        }
    }
}

impl worker_runtime::FrameSource for WorkerStream {
    async fn next_frame(&mut self) -> Option<Arc<EventFrame>> {
        self.next().await
    }
}
