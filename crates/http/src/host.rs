//! [`Host`]: what the shared routes need from the server that mounts them.
//! The backend resolves `{runtime_id}` through its registry; a runtime's own
//! server has exactly one runtime.

use std::sync::Arc;

use tokio::sync::watch;
use worker_runtime::RuntimeApi;
use yoi_protocol::RuntimeId;

use crate::failure::Failure;
use crate::socket::{PumpContext, SocketPolicy, StalledDrops};

/// Finds the runtime a request names.
#[async_trait::async_trait]
pub trait Runtimes: Send + Sync + 'static {
    /// `runtime_id` is the route's `{runtime_id}`, `None` on a route without one.
    async fn runtime(&self, runtime_id: Option<RuntimeId>) -> Result<Arc<dyn RuntimeApi>, Failure>;

    /// Every runtime the server answers for (usage adds them up).
    async fn all(&self) -> Result<Vec<Arc<dyn RuntimeApi>>, Failure>;
}

/// A runtime's own server: every route is about this one runtime.
pub struct OneRuntime(pub Arc<dyn RuntimeApi>);

#[async_trait::async_trait]
impl Runtimes for OneRuntime {
    async fn runtime(
        &self,
        _runtime_id: Option<RuntimeId>,
    ) -> Result<Arc<dyn RuntimeApi>, Failure> {
        Ok(self.0.clone())
    }

    async fn all(&self) -> Result<Vec<Arc<dyn RuntimeApi>>, Failure> {
        Ok(vec![self.0.clone()])
    }
}

/// The server's side of the shared routes; a server's state provides it
/// through `FromRef`.
#[derive(Clone)]
pub struct Host {
    runtimes: Arc<dyn Runtimes>,
    shutdown: watch::Receiver<bool>,
    sockets: SocketPolicy,
    stalled: StalledDrops,
}

impl Host {
    /// `shutdown` turns true when the server starts to stop: sockets then
    /// send what is left and close.
    pub fn new(runtimes: Arc<dyn Runtimes>, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            runtimes,
            shutdown,
            sockets: SocketPolicy::default(),
            stalled: StalledDrops::default(),
        }
    }

    /// How this server's sockets treat slow and silent clients.
    #[must_use]
    pub fn with_sockets(mut self, sockets: SocketPolicy) -> Self {
        self.sockets = sockets;
        self
    }

    /// Counts this server's stalled drops in `stalled` (by default in a
    /// counter of its own).
    #[must_use]
    pub fn with_stalled_drops(mut self, stalled: StalledDrops) -> Self {
        self.stalled = stalled;
        self
    }

    pub async fn runtime(
        &self,
        runtime_id: Option<RuntimeId>,
    ) -> Result<Arc<dyn RuntimeApi>, Failure> {
        self.runtimes.runtime(runtime_id).await
    }

    pub async fn all_runtimes(&self) -> Result<Vec<Arc<dyn RuntimeApi>>, Failure> {
        self.runtimes.all().await
    }

    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// What a socket pump of this server needs.
    pub fn pump(&self) -> PumpContext {
        PumpContext {
            shutdown: self.shutdown.clone(),
            policy: self.sockets,
            slot: None,
            stalled: self.stalled.clone(),
        }
    }
}
