//! yoi-workspace-server: the thin axum facade of a yoi backend.
//!
//! HTTP requests become registry commands ([`routes`]); registry events
//! become WebSocket frames ([`ws`]). At start, [`Backend::start`] registers
//! the embedded `backend-internal` runtime with the registry and creates the
//! Companion. [`security`] checks `Host`, `Origin` and the token; [`console`]
//! serves the embedded web console at `/`; [`openapi`] describes every route.
//!
//! ```text
//! client --REST--> routes --> Registry --> Runtime --> Worker actor
//! client <--WS---- ws <------ Subscription <-- Worker's event log
//! ```

pub mod console;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod shutdown;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use runtime_registry::{Registry, RegistryError, RuntimeHandle};
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_protocol::{CreateWorker, ErrorCode, RuntimeId, WorkerRef};

use crate::error::ApiFailure;
pub use crate::security::Access;

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Display name of the Companion worker.
pub const COMPANION_NAME: &str = "companion";

/// What the server knows about the provider, for `/api/companion`.
#[derive(Clone, Debug)]
pub struct ProviderStatus {
    pub configured: bool,
    /// When not configured: what to set.
    pub hint: Option<String>,
}

/// The backend behind the routes: the registry and where the Companion lives.
#[derive(Clone)]
pub struct Backend {
    pub registry: Registry,
    companion: Arc<Mutex<WorkerRef>>,
    pub provider: ProviderStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the embedded runtime did not start: {0}")]
    Runtime(#[from] worker_runtime::RuntimeError),
    #[error("the registry did not start: {0}")]
    Registry(#[from] RegistryError),
}

impl Backend {
    /// Starts the registry, registers the embedded runtime (`backend-internal`)
    /// and creates the Companion in it.
    pub async fn start(config: RuntimeConfig) -> Result<Backend, StartError> {
        let hint = config.provider.check_configured().err();
        let runtime = Runtime::start_openai(config).await?;
        let registry = Registry::start().await?;
        registry.register(RuntimeHandle::Embedded(runtime)).await?;
        let companion = find_or_create_companion(&registry).await?;
        Ok(Backend {
            registry,
            companion: Arc::new(Mutex::new(companion)),
            provider: ProviderStatus {
                configured: hint.is_none(),
                hint,
            },
        })
    }

    /// The Companion; made anew if it was deleted.
    pub async fn companion(&self) -> Result<WorkerRef, ApiFailure> {
        let mut current = self.companion.lock().await;
        match self
            .registry
            .worker(&current.runtime_id, current.worker_id)
            .await
        {
            Ok(_) => Ok(current.clone()),
            Err(e) if e.code() == ErrorCode::WorkerNotFound => {
                *current = create_companion(&self.registry).await?;
                Ok(current.clone())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The Companion kept from an earlier run of the backend, or a new one.
async fn find_or_create_companion(registry: &Registry) -> Result<WorkerRef, RegistryError> {
    let runtime_id = RuntimeId::backend_internal();
    let existing = registry.workers(&runtime_id).await?.into_iter().find(|w| {
        w.display_name == COMPANION_NAME && w.profile.name == worker_runtime::profile::COMPANION
    });
    match existing {
        Some(w) => Ok(WorkerRef {
            runtime_id,
            worker_id: w.worker_id,
        }),
        None => create_companion(registry).await,
    }
}

async fn create_companion(registry: &Registry) -> Result<WorkerRef, RegistryError> {
    let runtime_id = RuntimeId::backend_internal();
    let detail = registry
        .create_worker(
            &runtime_id,
            CreateWorker {
                display_name: Some(COMPANION_NAME.to_owned()),
                profile: Some(worker_runtime::profile::COMPANION.to_owned()),
            },
        )
        .await?;
    Ok(WorkerRef {
        runtime_id,
        worker_id: detail.summary.worker_id,
    })
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    backend: Backend,
    pub provider: ProviderStatus,
    pub access: Arc<Access>,
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub async fn companion(&self) -> Result<WorkerRef, ApiFailure> {
        self.backend.companion().await
    }
}

/// The whole application: API, sockets, OpenAPI and the console.
pub fn router(backend: Backend, access: Access, shutdown: watch::Receiver<bool>) -> Router {
    let state = AppState {
        registry: backend.registry.clone(),
        provider: backend.provider.clone(),
        backend,
        access: Arc::new(access),
        shutdown,
    };
    let worker = "/api/runtimes/{runtime_id}/workers/{worker_id}";
    let api = Router::new()
        .route("/api/health", get(routes::health))
        .route("/api/runtimes", get(routes::list_runtimes))
        .route("/api/runtimes/{runtime_id}", get(routes::get_runtime))
        .route(
            "/api/runtimes/{runtime_id}/workers",
            get(routes::list_workers).post(routes::create_worker),
        )
        .route(
            worker,
            get(routes::get_worker).delete(routes::delete_worker),
        )
        .route(&format!("{worker}/input"), post(routes::post_input))
        .route(&format!("{worker}/cancel"), post(routes::post_cancel))
        .route(&format!("{worker}/transcript"), get(routes::get_transcript))
        .route(&format!("{worker}/events"), get(ws::worker_events))
        .route("/api/events", get(ws::workspace_events))
        .route("/api/companion", get(routes::get_companion))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api", get(api_not_found))
        .route(
            "/api/{*rest}",
            get(api_not_found)
                .post(api_not_found)
                .delete(api_not_found)
                .put(api_not_found)
                .patch(api_not_found),
        )
        .method_not_allowed_fallback(method_not_allowed);
    api.fallback(console::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(axum::middleware::from_fn(security::log_request))
        .with_state(state)
}

async fn api_not_found() -> ApiFailure {
    ApiFailure::new(ErrorCode::NotFound, "no such route; see /api/openapi.json")
}

async fn method_not_allowed() -> impl IntoResponse {
    let mut response = ApiFailure::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Serves until `stop` resolves, then shuts down gracefully: every run in
/// flight ends with a terminal event, sockets drain and close.
pub async fn serve(
    listener: TcpListener,
    backend: Backend,
    access: Access,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let registry = backend.registry.clone();
    let app = router(backend, access, shutdown_rx);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("shutting down: ending runs in flight");
        registry.shutdown().await;
        let _ = shutdown_tx.send(true);
    })
    .await
}
