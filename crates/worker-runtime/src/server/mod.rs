//! The Runtime's own server (feature `server`): the `/v1` routes and the
//! worker event socket of the contract, for a Runtime that runs as a process
//! of its own (`yoi runtime serve`), on a Unix socket for a local runtime or
//! on TCP for a remote one. Only a backend talks to it.
//!
//! - [`routes`]: one handler per route, each a call on the [`Runtime`] handle.
//! - [`events`]: `/v1/workers/{id}/events` (the same frames and cursor rules
//!   as the backend's socket: the text of each [`crate::EventFrame`]) and
//!   `/v1/events`, this Runtime's workspace events (an addition the backend's
//!   registry uses to follow workers created, stopped and changing status).
//! - [`extract`]: extractors and the error envelope; every failure answers
//!   `{"error": {...}}` with the status of its code.
//! - [`socket`]: the socket pumps (pings, drain at shutdown), shared with the
//!   backend's own sockets.
//!
//! On TCP every request needs `Authorization: Bearer <token>`; on a Unix
//! socket the file's owner-only permissions guard it. A request that carries
//! an `Origin` header came from a browser page and is refused: browsers never
//! talk to a runtime.

pub mod events;
pub mod extract;
pub mod routes;
pub mod socket;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use yoi_protocol::{ErrorCode, RuntimeKind};

use crate::runtime::Runtime;
use extract::Failure;

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// How the server presents itself and who may call it.
#[derive(Clone)]
pub struct ServerOptions {
    /// The kind `GET /v1/runtime` reports (`local` on a Unix socket, `remote` on TCP).
    pub kind: RuntimeKind,
    /// The bearer token every request must carry; `None` on a Unix socket.
    pub token: Option<String>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("kind", &self.kind)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct ServerState {
    pub runtime: Runtime,
    pub kind: RuntimeKind,
    token: Option<Arc<str>>,
    pub shutdown: watch::Receiver<bool>,
}

/// The `/v1` routes over `runtime`.
pub fn router(runtime: Runtime, options: ServerOptions, shutdown: watch::Receiver<bool>) -> Router {
    let state = ServerState {
        runtime,
        kind: options.kind,
        token: options.token.map(Arc::from),
        shutdown,
    };
    let worker = "/v1/workers/{worker_id}";
    Router::new()
        .route("/v1/runtime", get(routes::runtime))
        .route(
            "/v1/workers",
            get(routes::list_workers).post(routes::create_worker),
        )
        .route(
            worker,
            get(routes::get_worker).delete(routes::delete_worker),
        )
        .route(&format!("{worker}/input"), post(routes::post_input))
        .route(&format!("{worker}/cancel"), post(routes::post_cancel))
        .route(&format!("{worker}/transcript"), get(routes::get_transcript))
        .route(&format!("{worker}/events"), get(events::worker_events))
        .route("/v1/events", get(events::runtime_events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn not_found() -> Failure {
    Failure::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> Failure {
    Failure::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

/// Compares secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses browsers, then checks the token when one is required.
async fn guard(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(ORIGIN) {
        return Failure::new(
            ErrorCode::ForbiddenOrigin,
            "a runtime answers only its backend, never a browser page",
        )
        .into_response();
    }
    if let Some(expected) = &state.token {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => {}
            Some(_) => {
                return Failure::new(ErrorCode::Unauthorized, "the token is wrong").into_response()
            }
            None => {
                return Failure::new(
                    ErrorCode::Unauthorized,
                    "this runtime needs a token: send Authorization: Bearer <token>",
                )
                .into_response()
            }
        }
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "runtime request");
    response
}

/// Serves `runtime` on `listener` (a `TcpListener` or a `UnixListener`) until
/// `stop` resolves, then shuts down gracefully: every run in flight ends with
/// a terminal event, event sockets send what is left and close.
pub async fn serve<L>(
    listener: L,
    runtime: Runtime,
    options: ServerOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let app = router(runtime.clone(), options, shutdown_rx);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("runtime shutting down: ending runs in flight");
            runtime.shutdown().await;
            let _ = shutdown_tx.send(true);
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
