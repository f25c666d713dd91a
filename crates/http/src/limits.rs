//! How much a client may send, the same for the backend and a runtime. The
//! contract's own limits on content (text length, transcript `limit`) are in
//! `yoi-protocol`.

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Largest WebSocket message a client may send; clients send nothing that
/// matters on the event sockets.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::socket::SocketPolicy;

/// Default for [`ServerLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default for [`ServerLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ServerLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one server allows its clients at a time, set from `yoi.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How sockets treat slow and silent clients.
    pub sockets: SocketPolicy,
    /// Open connections (idle ones included) plus open WebSockets; past it,
    /// `limit_reached`.
    pub max_connections: usize,
    /// How long a connection has to send a request's head once its first
    /// byte arrived.
    pub header_timeout: Duration,
    /// How long a connection may sit with no request in flight and nothing
    /// read or written before it is closed.
    pub idle_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            sockets: SocketPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The connection slots of one server: a connection holds one from accept
/// to close, and a WebSocket upgraded from it keeps it while it is open.
#[derive(Clone, Debug)]
pub struct ConnectionSlots(Arc<Semaphore>);

/// One taken slot; a socket keeps a clone of it until it closes.
#[derive(Clone, Debug)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

impl ConnectionSlots {
    pub fn new(most: usize) -> Self {
        Self(Arc::new(Semaphore::new(most)))
    }

    /// A free slot, or `None` when every one is taken.
    pub fn try_take(&self) -> Option<ConnectionSlot> {
        let permit = self.0.clone().try_acquire_owned().ok()?;
        Some(ConnectionSlot(Arc::new(permit)))
    }
}
