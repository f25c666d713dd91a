//! The sockets: a Worker's events (`/v1/workers/{id}/events?cursor=N`, the
//! same frames and cursor rules as the backend's socket) and this Runtime's
//! workspace events (`/v1/events`). The pumps are in [`super::socket`].

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use yoi_protocol::{Seq, WorkspaceEvent};

use super::extract::{Failure, Query, WorkerPath};
use super::socket::{pump_frames, pump_workspace, upgrade, Upgrade};
use super::ServerState;

/// Largest frame a client may send; clients send nothing that matters here.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub cursor: Option<u64>,
}

pub async fn worker_events(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
    Query(query): Query<EventsQuery>,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws)?;
    // Subscribe before upgrading, so an unknown worker is an HTTP error.
    let subscription = state
        .runtime
        .subscribe(worker_id, query.cursor.map(Seq))
        .await?;
    let shutdown = state.shutdown.clone();
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| pump_frames(socket, subscription, shutdown)))
}

pub async fn runtime_events(
    State(state): State<ServerState>,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws)?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            // Listen before the snapshot, so no change falls between the two.
            let events = state.runtime.workspace_events();
            let shutdown = state.shutdown.clone();
            pump_workspace(socket, events, move || snapshot(state.clone()), shutdown)
        }))
}

/// The first frame of `/v1/events`: this runtime and its workers.
async fn snapshot(state: ServerState) -> Option<WorkspaceEvent> {
    let summary = state.runtime.summary(state.kind).await.ok()?;
    let workers = state.runtime.list_workers().await.ok()?;
    Some(WorkspaceEvent::WorkspaceSnapshot {
        runtimes: vec![summary],
        workers,
    })
}
