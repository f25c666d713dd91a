//! yoi-workspace-server: the thin axum facade of a yoi backend.
//!
//! The routes of a runtime and its Workers are `yoi-http`'s, mounted under
//! `/api/runtimes/{runtime_id}`: the registry resolves `runtime_id` to a
//! runtime ([`worker_runtime::RuntimeApi`]) and the handler calls it. This
//! crate adds what only the backend has: [`Backend::start`] registers the
//! embedded `backend-internal` runtime and creates the Companion; [`routes`]
//! (health, runtimes, profiles, Companion, `/metrics`), `yoi-http`'s
//! `/api/usage` (summed over every registered runtime), [`ws`] (`/api/events`), [`security`]
//! (`Host`, `Origin`, token), [`console`] (the embedded web console at `/`)
//! and [`openapi`] (the document, generated from the same route list that
//! builds the router). [`serve`] serves connections through
//! `yoi_http::connection` (a slot of `limits.connections` per connection,
//! header-read and idle timeouts).
//!
//! The path of one input:
//!
//! ```text
//! POST /api/runtimes/{runtime_id}/workers/{worker_id}/input
//!   --> security::guard --> yoi_http::extract::WorkerTarget (Registry::route)
//!   --> yoi_http::routes::post_input --> RuntimeApi::input --> Worker actor --> provider
//! GET .../events?cursor=N (WebSocket)
//!   <-- yoi_http::socket::pump_frames <-- RuntimeApi::subscribe <-- Worker's event log
//! ```

pub mod console;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod shutdown;
pub mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::Router;
use runtime_registry::{Registry, RegistryError, SharedRuntime};
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use worker_runtime::{Runtime, RuntimeConfig, RuntimeError};
use yoi_http::failure::method_not_allowed;
use yoi_http::limits::{ServerLimits, BODY_LIMIT};
use yoi_http::socket::StalledDrops;
use yoi_http::{Failure, Host, Runtimes};
use yoi_protocol::{CreateWorker, ErrorCode, RuntimeId, WorkerDetail, WorkerRef};

pub use crate::security::Access;

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
    /// The names of the backend's own profiles, for the API's document.
    pub profiles: Vec<String>,
    companion: Arc<Mutex<WorkerRef>>,
    pub provider: ProviderStatus,
    /// What clients may hold at a time (sockets, connections).
    pub limits: ServerLimits,
    /// The sockets this backend dropped because their client stopped reading.
    pub stalled_drops: StalledDrops,
    /// The embedded runtime, for `/api/health`'s `store`.
    internal: Runtime,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the embedded runtime did not start: {0}")]
    Runtime(#[from] RuntimeError),
    #[error("the registry did not start: {0}")]
    Registry(#[from] RegistryError),
}

impl Backend {
    /// Starts the registry, registers the embedded runtime (`backend-internal`)
    /// with the provider its configuration names, and finds or creates the
    /// Companion in it.
    pub async fn start(config: RuntimeConfig) -> Result<Backend, StartError> {
        Self::start_with_tools(config, Vec::new()).await
    }

    /// [`Backend::start`] with tool sources besides `yoi` (MCP servers) for
    /// the embedded runtime.
    pub async fn start_with_tools(
        config: RuntimeConfig,
        sources: Vec<Arc<dyn worker_runtime::tools::ToolSource>>,
    ) -> Result<Backend, StartError> {
        // The Companion's provider: `[provider]`, or `[profiles.companion]`'s.
        let companion = worker_runtime::profile::specs(&config);
        let hint = companion
            .first()
            .map_or(Ok(()), |spec| spec.provider.check_configured())
            .err();
        let runtime =
            Runtime::start_with_tools(config, yoi_providers::Providers::shared(), sources).await?;
        let profiles = runtime.profiles().iter().map(|p| p.name.clone()).collect();
        let registry = Registry::start().await?;
        let internal = runtime.clone();
        registry.register(Arc::new(runtime)).await?;
        let companion = find_or_create_companion(&registry).await?;
        Ok(Backend {
            registry,
            profiles,
            companion: Arc::new(Mutex::new(companion)),
            provider: ProviderStatus {
                configured: hint.is_none(),
                hint,
            },
            limits: ServerLimits::default(),
            stalled_drops: StalledDrops::default(),
            internal,
        })
    }

    /// Whether the embedded runtime's store writes.
    pub fn store_available(&self) -> bool {
        self.internal.store_available()
    }

    /// The embedded runtime's tool sources and how each stands.
    pub fn tool_sources(&self) -> Vec<yoi_protocol::ToolSourceInfo> {
        self.internal.tool_sources()
    }

    /// The Companion; made anew if it was deleted.
    pub async fn companion(&self) -> Result<WorkerDetail, Failure> {
        let mut current = self.companion.lock().await;
        let runtime = self.registry.route(&current.runtime_id).await?;
        match runtime.worker(current.worker_id).await {
            Ok(detail) => Ok(detail),
            Err(e) if e.code() == ErrorCode::WorkerNotFound => {
                let detail = create_companion(&runtime).await?;
                *current = WorkerRef {
                    runtime_id: detail.summary.runtime_id.clone(),
                    worker_id: detail.summary.worker_id,
                };
                Ok(detail)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The Companion kept from an earlier run of the backend, or a new one: the
/// worker of the `companion` profile named `companion`, else (it was
/// renamed) the oldest of that profile.
async fn find_or_create_companion(registry: &Registry) -> Result<WorkerRef, StartError> {
    let runtime = registry.route(&RuntimeId::backend_internal()).await?;
    let mut candidates: Vec<_> = runtime
        .list_workers(yoi_protocol::WorkerPage::all())
        .await?
        .workers
        .into_iter()
        .filter(|w| {
            w.profile.name == worker_runtime::profile::COMPANION
                && w.status != yoi_protocol::WorkerStatus::Quarantined
        })
        .collect();
    // ULIDs sort by creation time.
    candidates.sort_by_key(|w| (w.display_name != COMPANION_NAME, w.worker_id.to_string()));
    let existing = candidates.into_iter().next();
    let summary = match existing {
        Some(w) => w,
        None => create_companion(&runtime).await?.summary,
    };
    Ok(WorkerRef {
        runtime_id: summary.runtime_id,
        worker_id: summary.worker_id,
    })
}

async fn create_companion(runtime: &SharedRuntime) -> Result<WorkerDetail, RuntimeError> {
    runtime
        .create_worker(CreateWorker {
            display_name: Some(COMPANION_NAME.to_owned()),
            profile: Some(worker_runtime::profile::COMPANION.to_owned()),
        })
        .await
}

/// The registry as the shared routes see it: `{runtime_id}` names a runtime.
struct RegistryRuntimes(Registry);

#[async_trait::async_trait]
impl Runtimes for RegistryRuntimes {
    async fn runtime(&self, runtime_id: Option<RuntimeId>) -> Result<SharedRuntime, Failure> {
        let runtime_id = runtime_id.ok_or_else(|| {
            Failure::new(ErrorCode::Internal, "a backend route without {runtime_id}")
        })?;
        Ok(self.0.route(&runtime_id).await?)
    }

    async fn all(&self) -> Result<Vec<SharedRuntime>, Failure> {
        Ok(self.0.runtimes().await?)
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub backend: Backend,
    pub host: Host,
    pub access: Arc<Access>,
    openapi: Arc<utoipa::openapi::OpenApi>,
}

impl AppState {
    pub fn registry(&self) -> &Registry {
        &self.backend.registry
    }
}

impl FromRef<AppState> for Host {
    fn from_ref(state: &AppState) -> Host {
        state.host.clone()
    }
}

/// The whole application: API, sockets, OpenAPI and the console. One route
/// list builds both the router and the OpenAPI document.
pub fn router(backend: Backend, access: Access, shutdown: watch::Receiver<bool>) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let document = openapi::finish(doc, &backend.profiles);
    let state = AppState {
        host: Host::new(
            Arc::new(RegistryRuntimes(backend.registry.clone())),
            shutdown,
        )
        .with_sockets(backend.limits.sockets)
        .with_stalled_drops(backend.stalled_drops.clone()),
        backend,
        access: Arc::new(access),
        openapi: Arc::new(document),
    };
    api.route("/api", get(api_not_found))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(console::serve)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .layer(axum::middleware::from_fn(security::log_request))
        .with_state(state)
}

/// Every documented route of the API.
pub fn api_routes() -> OpenApiRouter<AppState> {
    let runtime = yoi_http::routes::runtime_routes().merge(yoi_http::routes::worker_routes());
    OpenApiRouter::new()
        .routes(routes!(routes::health))
        .routes(routes!(routes::list_runtimes))
        .routes(routes!(routes::list_profiles))
        .routes(routes!(routes::list_tools))
        .routes(routes!(routes::get_companion))
        .routes(routes!(ws::workspace_events))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(routes::metrics))
        .nest("/api", yoi_http::routes::usage_routes())
        .nest("/api", yoi_http::routes::search_routes())
        .nest("/api/runtimes/{runtime_id}", runtime)
}

async fn api_not_found() -> Failure {
    Failure::new(ErrorCode::NotFound, "no such route; see /api/openapi.json")
}

/// Serves until `stop` resolves, then shuts down gracefully: every run in
/// flight ends with a terminal event, sockets drain and close. Connections
/// are counted and timed out as [`yoi_http::connection`] says.
pub async fn serve(
    listener: TcpListener,
    backend: Backend,
    access: Access,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let registry = backend.registry.clone();
    let limits = backend.limits;
    let app = router(backend, access, shutdown_rx);
    // Frames go out as they come, and a Close reply is not queued behind
    // megabytes of them (see yoi_http::tcp).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| yoi_http::tcp::tune(tcp));
    yoi_http::connection::serve(listener, app, limits, async move {
        stop.await;
        tracing::info!("shutting down: ending runs in flight");
        registry.shutdown().await;
        let _ = shutdown_tx.send(true);
    })
    .await;
    Ok(())
}
