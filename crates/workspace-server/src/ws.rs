//! The WebSocket routes: a Worker's events (`.../events?cursor=N`) and the
//! workspace events (`/api/events`). The pumps (pings, drain at shutdown,
//! frames shared, never copied per socket) are worker-runtime's, the same
//! the Runtime's own server uses.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use worker_runtime::server::socket::{pump_frames, pump_workspace, upgrade, Upgrade};
use yoi_protocol::{ErrorEnvelope, Seq, WorkerEvent, WorkspaceEvent};

use crate::error::ApiFailure;
use crate::extract::{ApiQuery, WorkerTarget};
use crate::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The highest `seq` the client applied; omit it to start from a snapshot.
    #[serde(default)]
    pub cursor: Option<u64>,
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}/workers/{worker_id}/events", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path), EventsQuery),
    responses((status = 101, description = "WebSocket of WorkerEvent frames, per the cursor rules", body = WorkerEvent),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn worker_events(
    State(state): State<AppState>,
    target: WorkerTarget,
    ApiQuery(query): ApiQuery<EventsQuery>,
    ws: Upgrade,
) -> Result<Response, ApiFailure> {
    let ws = upgrade(ws).map_err(|f| ApiFailure(f.0))?;
    // Subscribe before upgrading, so an unknown worker is an HTTP error.
    let stream = state
        .registry
        .subscribe(&target.runtime_id, target.worker_id, query.cursor.map(Seq))
        .await?;
    let shutdown = state.shutdown.clone();
    Ok(ws.on_upgrade(move |socket| pump_frames(socket, stream, shutdown)))
}

#[utoipa::path(get, path = "/api/events", tag = "backend",
    responses((status = 101, description = "WebSocket: a workspace_snapshot, then one frame per change", body = WorkspaceEvent)))]
pub async fn workspace_events(
    State(state): State<AppState>,
    ws: Upgrade,
) -> Result<Response, ApiFailure> {
    let ws = upgrade(ws).map_err(|f| ApiFailure(f.0))?;
    Ok(ws.on_upgrade(move |socket| {
        // Listen before the snapshot, so no change falls between the two.
        let events = state.registry.workspace_events();
        let shutdown = state.shutdown.clone();
        let registry = state.registry.clone();
        pump_workspace(
            socket,
            events,
            move || {
                let registry = registry.clone();
                async move { registry.workspace_snapshot().await.ok() }
            },
            shutdown,
        )
    }))
}
