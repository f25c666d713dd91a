//! `/api/events`: the workspace's changes (workers, status, runtimes) as a
//! WebSocket. A Worker's own event socket is one of the shared routes of
//! `yoi-http`; both use its pumps.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use yoi_http::limits::ConnectionSlot;
use yoi_http::socket::{pump_workspace, upgrade, Upgrade};
use yoi_http::Failure;
use yoi_protocol::WorkspaceEvent;

use crate::AppState;

#[utoipa::path(get, path = "/api/events", tag = "backend",
    responses((status = 101, description = "WebSocket: a workspace_snapshot, then one frame per change.", body = WorkspaceEvent)))]
pub async fn workspace_events(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    headers: axum::http::HeaderMap,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws, &headers)?;
    Ok(ws.on_upgrade(move |socket| {
        // Listen before the snapshot, so no change falls between the two.
        let events = state.registry().workspace_events();
        let ctx = state.host.pump().holding(slot.map(|Extension(slot)| slot));
        let registry = state.registry().clone();
        pump_workspace(
            socket,
            events,
            move || {
                let registry = registry.clone();
                async move { registry.workspace_snapshot().await.ok() }
            },
            ctx,
        )
    }))
}
