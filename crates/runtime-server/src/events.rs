//! `/v1/events`: this runtime's workspace events (an addition the backend's
//! registry uses to follow workers created, stopped and changing status).
//! The worker event socket is one of the shared routes of `yoi-http`.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use worker_runtime::RuntimeApi;
use yoi_http::limits::ConnectionSlot;
use yoi_http::socket::{pump_workspace, upgrade, Upgrade};
use yoi_http::Failure;
use yoi_protocol::WorkspaceEvent;

use crate::ServerState;

pub async fn runtime_events(
    State(state): State<ServerState>,
    slot: Option<Extension<ConnectionSlot>>,
    headers: axum::http::HeaderMap,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws, &headers)?;
    Ok(ws.on_upgrade(move |socket| {
        // Listen before the snapshot, so no change falls between the two.
        let events = state.runtime.workspace_events();
        let ctx = state.host.pump().holding(slot.map(|Extension(slot)| slot));
        pump_workspace(socket, events, move || snapshot(state.clone()), ctx)
    }))
}

/// The first frame of `/v1/events`: this runtime and its workers.
async fn snapshot(state: ServerState) -> Option<WorkspaceEvent> {
    let summary = state.runtime.summary().await.ok()?;
    let workers = state.runtime.known_workers().await;
    Some(WorkspaceEvent::WorkspaceSnapshot {
        runtimes: vec![summary],
        workers,
    })
}
