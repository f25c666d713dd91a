//! The backend's own routes: health, the runtimes, the Companion. The routes
//! of one runtime and its Workers are `yoi-http`'s, mounted under
//! `/api/runtimes/{runtime_id}` (see [`crate::router`]).

use axum::extract::State;
use axum::Json;
use yoi_http::Failure;
use yoi_protocol::{
    CompanionInfo, Health, ProfileList, ProviderInfo, RuntimeId, RuntimeList, StoreHealth, ToolList,
};

use crate::AppState;

#[utoipa::path(get, path = "/api/health", tag = "backend",
    responses((status = 200, description = "The backend is up; `degraded` while its store cannot write", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let (status, store) = if state.backend.store_available() {
        ("ok", StoreHealth::Ok)
    } else {
        ("degraded", StoreHealth::Unavailable)
    };
    Json(Health {
        status: status.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        store,
    })
}

#[utoipa::path(get, path = "/api/runtimes", tag = "runtimes",
    responses((status = 200, body = RuntimeList)))]
pub async fn list_runtimes(State(state): State<AppState>) -> Result<Json<RuntimeList>, Failure> {
    Ok(Json(RuntimeList {
        runtimes: state.registry().summaries().await?,
    }))
}

#[utoipa::path(get, path = "/api/profiles", tag = "backend",
    responses((status = 200, description = "The profiles of the backend's own runtime (`backend-internal`); each runtime's are in its summary", body = ProfileList)))]
pub async fn list_profiles(State(state): State<AppState>) -> Result<Json<ProfileList>, Failure> {
    let runtime = state
        .registry()
        .route(&RuntimeId::backend_internal())
        .await?;
    let summary = runtime.summary().await?;
    Ok(Json(ProfileList {
        profiles: summary.profiles.unwrap_or_default(),
    }))
}

#[utoipa::path(get, path = "/api/tools", tag = "backend",
    responses((status = 200, description = "Every tool the backend's own runtime (`backend-internal`) can offer: name, description, source, input schema; each runtime's are in its summary. `sources`: each source (yoi, MCP servers) with its status and why it is down", body = ToolList)))]
pub async fn list_tools(State(state): State<AppState>) -> Result<Json<ToolList>, Failure> {
    let runtime = state
        .registry()
        .route(&RuntimeId::backend_internal())
        .await?;
    let summary = runtime.summary().await?;
    Ok(Json(ToolList {
        tools: summary.tools.unwrap_or_default(),
        sources: state.backend.tool_sources(),
    }))
}

#[utoipa::path(get, path = "/api/companion", tag = "companion",
    responses((status = 200, body = CompanionInfo)))]
pub async fn get_companion(State(state): State<AppState>) -> Result<Json<CompanionInfo>, Failure> {
    let detail = state.backend.companion().await?;
    Ok(Json(CompanionInfo {
        provider: ProviderInfo {
            configured: state.backend.provider.configured,
            hint: state.backend.provider.hint.clone(),
            model: detail.summary.profile.model.clone(),
        },
        summary: detail.summary,
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "backend",
    responses((status = 200, description = "The backend process's metrics in the Prometheus text format (OpenMetrics 1.0); see the README for each one", content_type = "application/openmetrics-text", body = String),
        (status = 401, body = yoi_protocol::ErrorEnvelope)))]
pub async fn metrics() -> impl axum::response::IntoResponse {
    yoi_http::usage::get_metrics().await
}
