//! The `/v1` REST routes: extract, call the [`crate::Runtime`], map the result.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use yoi_protocol::{
    CancelAccepted, CreateWorker, InputRequest, RuntimeSummary, Transcript, WorkerDetail,
    WorkerList,
};

use super::extract::{Body, Failure, Query, WorkerPath};
use super::ServerState;

/// Default and largest `limit` of a transcript page.
const TRANSCRIPT_DEFAULT: usize = 100;
const TRANSCRIPT_MAX: u64 = 1000;

pub async fn runtime(State(state): State<ServerState>) -> Result<Json<RuntimeSummary>, Failure> {
    Ok(Json(state.runtime.summary(state.kind).await?))
}

pub async fn list_workers(State(state): State<ServerState>) -> Result<Json<WorkerList>, Failure> {
    Ok(Json(WorkerList {
        workers: state.runtime.list_workers().await?,
    }))
}

pub async fn create_worker(
    State(state): State<ServerState>,
    Body(body): Body<CreateWorker>,
) -> Result<(StatusCode, Json<WorkerDetail>), Failure> {
    let detail = state.runtime.create_worker(body).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

pub async fn get_worker(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
) -> Result<Json<WorkerDetail>, Failure> {
    Ok(Json(state.runtime.worker_detail(worker_id).await?))
}

pub async fn delete_worker(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
) -> Result<StatusCode, Failure> {
    state.runtime.stop_worker(worker_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct InputQuery {
    #[serde(default)]
    pub wait: Option<bool>,
}

pub async fn post_input(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
    Query(query): Query<InputQuery>,
    Body(body): Body<InputRequest>,
) -> Result<Response, Failure> {
    crate::validate_input_text(&body.text)?;
    if query.wait.unwrap_or(false) {
        let outcome = state.runtime.input_wait(worker_id, body).await?;
        Ok((StatusCode::OK, Json(outcome)).into_response())
    } else {
        let accepted = state.runtime.input(worker_id, body).await?;
        Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
    }
}

pub async fn post_cancel(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
) -> Result<(StatusCode, Json<CancelAccepted>), Failure> {
    let cancelled = state.runtime.cancel(worker_id).await?;
    Ok((StatusCode::ACCEPTED, Json(cancelled)))
}

#[derive(Debug, Default, Deserialize)]
pub struct TranscriptQuery {
    #[serde(default)]
    pub limit: Option<u64>,
}

pub async fn get_transcript(
    State(state): State<ServerState>,
    WorkerPath(worker_id): WorkerPath,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<Transcript>, Failure> {
    let limit = match query.limit {
        None => TRANSCRIPT_DEFAULT,
        Some(n @ 1..=TRANSCRIPT_MAX) => n as usize,
        Some(_) => {
            return Err(Failure::invalid(format!(
                "limit must be between 1 and {TRANSCRIPT_MAX}"
            )))
        }
    };
    Ok(Json(state.runtime.transcript(worker_id, limit).await?))
}
