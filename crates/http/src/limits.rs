//! How much a client may send, the same for the backend and a runtime. The
//! contract's own limits on content (text length, transcript `limit`) are in
//! `yoi-protocol`.

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Largest WebSocket message a client may send; clients send nothing that
/// matters on the event sockets.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use yoi_protocol::ErrorCode;

use crate::failure::Failure;
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

/// The open connections of one server: a request holds a slot while it is
/// answered, a WebSocket for as long as it is open.
#[derive(Clone, Debug)]
pub struct ConnectionSlots(Arc<Semaphore>);

/// One taken slot; a socket keeps a clone of it until it closes.
#[derive(Clone, Debug)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

impl ConnectionSlots {
    pub fn new(most: usize) -> Self {
        Self(Arc::new(Semaphore::new(most)))
    }
}

/// Middleware: `limit_reached` once every slot is taken; otherwise the
/// request carries its slot (as an extension) to the handler.
pub async fn limit_connections(
    State(slots): State<ConnectionSlots>,
    mut req: Request,
    next: Next,
) -> Response {
    let Ok(permit) = slots.0.clone().try_acquire_owned() else {
        return Failure::new(
            ErrorCode::LimitReached,
            "the server has as many open connections as it takes (limits.connections); try again later",
        )
        .into_response();
    };
    req.extensions_mut()
        .insert(ConnectionSlot(Arc::new(permit)));
    next.run(req).await
}
