//! yoi-runtime-server: a runtime's own server, for a runtime that runs as a
//! process of its own (`yoi runtime serve`), on a Unix socket for a local
//! runtime or on TCP for a remote one. Only a backend talks to it.
//!
//! It mounts the shared routes of `yoi-http` over its one embedded
//! [`Runtime`]: `/v1/runtime`, `/v1/workers`, `/v1/workers/{worker_id}` and
//! its `input`, `cancel`, `transcript` and `events` (the same frames and
//! cursor rules as the backend's socket), `/v1/usage` (this runtime's usage)
//! and `/v1/metrics` (this process's metrics), plus [`events`]: `/v1/events`,
//! this runtime's workspace events.
//!
//! On TCP every request needs `Authorization: Bearer <token>`, and [`tls`]
//! serves it over TLS (`--tls-cert`, `--tls-key`); on a Unix socket the
//! file's owner-only permissions guard it. A request that carries
//! an `Origin` header came from a browser page and is refused: browsers never
//! talk to a runtime.
//!
//! ```text
//! backend's RemoteRuntime --HTTP/WS--> guard --> yoi_http::routes --> Runtime (actors)
//! ```

pub mod events;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use worker_runtime::{Runtime, RuntimeApi};
use yoi_http::failure::method_not_allowed;
use yoi_http::limits::{ServerLimits, BODY_LIMIT};
use yoi_http::token::{bearer, constant_time_eq};
use yoi_http::{Failure, Host, OneRuntime};
use yoi_protocol::ErrorCode;

/// Who may call the server.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// The bearer token every request must carry; `None` on a Unix socket.
    pub token: Option<String>,
    /// What clients may hold at a time (sockets, connections).
    pub limits: ServerLimits,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("limits", &self.limits)
            .finish()
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct ServerState {
    pub runtime: Runtime,
    pub host: Host,
    token: Option<Arc<str>>,
}

impl FromRef<ServerState> for Host {
    fn from_ref(state: &ServerState) -> Host {
        state.host.clone()
    }
}

/// The `/v1` routes over `runtime`.
pub fn router(runtime: Runtime, options: ServerOptions, shutdown: watch::Receiver<bool>) -> Router {
    let state = ServerState {
        host: Host::new(Arc::new(OneRuntime(Arc::new(runtime.clone()))), shutdown)
            .with_sockets(options.limits.sockets),
        runtime,
        token: options.token.map(Arc::from),
    };
    let (routes, _) = OpenApiRouter::new()
        .nest("/v1/runtime", yoi_http::routes::runtime_routes())
        .nest("/v1", yoi_http::routes::worker_routes())
        .nest("/v1", yoi_http::routes::usage_routes())
        .nest("/v1", yoi_http::routes::search_routes())
        .split_for_parts();
    routes
        .route("/v1/events", get(events::runtime_events))
        .route("/v1/metrics", get(yoi_http::usage::get_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn not_found() -> Failure {
    Failure::new(ErrorCode::NotFound, "no such route")
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
            .and_then(bearer);
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

/// [`serve`] on TCP, where frames go out as they come (no Nagle delay: a
/// token must not wait for an ACK) and little unsent data waits in the
/// kernel (see [`yoi_http::tcp`]).
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    runtime: Runtime,
    options: ServerOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| yoi_http::tcp::tune(tcp));
    serve(listener, runtime, options, stop).await
}

/// Serves `runtime` on `listener` (a `TcpListener` or a `UnixListener`) until
/// `stop` resolves, then shuts down gracefully: every run in flight ends with
/// a terminal event, event sockets send what is left and close. Connections
/// are counted and timed out as [`yoi_http::connection`] says.
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
    let limits = options.limits;
    let app = router(runtime.clone(), options, shutdown_rx);
    yoi_http::connection::serve(listener, app, limits, async move {
        stop.await;
        tracing::info!("runtime shutting down: ending runs in flight");
        runtime.shutdown().await;
        let _ = shutdown_tx.send(true);
    })
    .await;
    Ok(())
}
