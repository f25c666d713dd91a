//! How much a client may send, the same for the backend and a runtime. The
//! contract's own limits on content (text length, transcript `limit`) are in
//! `yoi-protocol`.

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Largest WebSocket message a client may send; clients send nothing that
/// matters on the event sockets.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

use crate::socket::SocketPolicy;

/// Default for [`ServerLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// What one server allows its clients at a time, set from `yoi.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How sockets treat slow and silent clients.
    pub sockets: SocketPolicy,
    /// Requests in flight plus open WebSockets; past it, `limit_reached`.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            sockets: SocketPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}
