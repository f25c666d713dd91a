//! The REST routes of the contract. Each handler extracts, calls the
//! registry, and maps the result; failures become the envelope in `error.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use yoi_protocol::{
    CancelAccepted, CompanionInfo, CreateWorker, ErrorEnvelope, Health, InputAccepted,
    InputRequest, ProviderInfo, RunOutcome, RuntimeList, RuntimeSummary, Transcript, WorkerDetail,
    WorkerList,
};

use crate::error::ApiFailure;
use crate::extract::{ApiJson, ApiQuery, RuntimeTarget, WorkerTarget};
use crate::AppState;

/// Default and largest `limit` of a transcript page.
const TRANSCRIPT_DEFAULT: usize = 100;
const TRANSCRIPT_MAX: usize = 1000;

#[utoipa::path(get, path = "/api/health", tag = "backend",
    responses((status = 200, description = "The backend is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

#[utoipa::path(get, path = "/api/runtimes", tag = "runtimes",
    responses((status = 200, body = RuntimeList)))]
pub async fn list_runtimes(State(state): State<AppState>) -> Result<Json<RuntimeList>, ApiFailure> {
    Ok(Json(RuntimeList {
        runtimes: state.registry.runtimes().await?,
    }))
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}", tag = "runtimes",
    params(("runtime_id" = String, Path)),
    responses((status = 200, body = RuntimeSummary), (status = 404, body = ErrorEnvelope)))]
pub async fn get_runtime(
    State(state): State<AppState>,
    RuntimeTarget(runtime_id): RuntimeTarget,
) -> Result<Json<RuntimeSummary>, ApiFailure> {
    Ok(Json(state.registry.runtime(&runtime_id).await?))
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}/workers", tag = "workers",
    params(("runtime_id" = String, Path)),
    responses((status = 200, body = WorkerList), (status = 404, body = ErrorEnvelope)))]
pub async fn list_workers(
    State(state): State<AppState>,
    RuntimeTarget(runtime_id): RuntimeTarget,
) -> Result<Json<WorkerList>, ApiFailure> {
    Ok(Json(WorkerList {
        workers: state.registry.workers(&runtime_id).await?,
    }))
}

#[utoipa::path(post, path = "/api/runtimes/{runtime_id}/workers", tag = "workers",
    params(("runtime_id" = String, Path)),
    request_body(content = CreateWorker, description = "Both fields optional; the profile defaults to `companion`"),
    responses((status = 201, body = WorkerDetail), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 501, body = ErrorEnvelope)))]
pub async fn create_worker(
    State(state): State<AppState>,
    RuntimeTarget(runtime_id): RuntimeTarget,
    ApiJson(body): ApiJson<CreateWorker>,
) -> Result<(StatusCode, Json<WorkerDetail>), ApiFailure> {
    let detail = state.registry.create_worker(&runtime_id, body).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}/workers/{worker_id}", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path)),
    responses((status = 200, body = WorkerDetail), (status = 404, body = ErrorEnvelope)))]
pub async fn get_worker(
    State(state): State<AppState>,
    target: WorkerTarget,
) -> Result<Json<WorkerDetail>, ApiFailure> {
    Ok(Json(
        state
            .registry
            .worker(&target.runtime_id, target.worker_id)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/runtimes/{runtime_id}/workers/{worker_id}", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path)),
    responses((status = 204, description = "Any run was cancelled and the worker stopped"),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete_worker(
    State(state): State<AppState>,
    target: WorkerTarget,
) -> Result<StatusCode, ApiFailure> {
    state
        .registry
        .stop_worker(&target.runtime_id, target.worker_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InputQuery {
    /// Answer when the run ends (200 with the message, or the run's typed error).
    #[serde(default)]
    pub wait: Option<bool>,
}

#[utoipa::path(post, path = "/api/runtimes/{runtime_id}/workers/{worker_id}/input", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path), InputQuery),
    request_body = InputRequest,
    responses(
        (status = 202, description = "Accepted; the run streams on the events socket", body = InputAccepted),
        (status = 200, description = "With `wait=true`: the run completed", body = RunOutcome),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "busy", body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 502, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope),
        (status = 504, body = ErrorEnvelope)))]
pub async fn post_input(
    State(state): State<AppState>,
    target: WorkerTarget,
    ApiQuery(query): ApiQuery<InputQuery>,
    ApiJson(body): ApiJson<InputRequest>,
) -> Result<Response, ApiFailure> {
    if body.text.trim().is_empty() {
        return Err(ApiFailure::invalid("text must not be empty"));
    }
    if body.text.len() > yoi_protocol::MAX_INPUT_TEXT_BYTES {
        return Err(ApiFailure::invalid(format!(
            "text is {} bytes; the limit is {} bytes",
            body.text.len(),
            yoi_protocol::MAX_INPUT_TEXT_BYTES
        )));
    }
    if query.wait.unwrap_or(false) {
        let outcome = state
            .registry
            .input_wait(&target.runtime_id, target.worker_id, body)
            .await?;
        Ok((StatusCode::OK, Json(outcome)).into_response())
    } else {
        let accepted = state
            .registry
            .input(&target.runtime_id, target.worker_id, body)
            .await?;
        Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
    }
}

#[utoipa::path(post, path = "/api/runtimes/{runtime_id}/workers/{worker_id}/cancel", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path)),
    responses((status = 202, body = CancelAccepted),
        (status = 409, description = "not_running", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn post_cancel(
    State(state): State<AppState>,
    target: WorkerTarget,
) -> Result<(StatusCode, Json<CancelAccepted>), ApiFailure> {
    let cancelled = state
        .registry
        .cancel(&target.runtime_id, target.worker_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(cancelled)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// How many of the newest messages (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/runtimes/{runtime_id}/workers/{worker_id}/transcript", tag = "workers",
    params(("runtime_id" = String, Path), ("worker_id" = String, Path), TranscriptQuery),
    responses((status = 200, description = "`seq` is a watermark: subscribe with cursor=seq to miss nothing", body = Transcript),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn get_transcript(
    State(state): State<AppState>,
    target: WorkerTarget,
    ApiQuery(query): ApiQuery<TranscriptQuery>,
) -> Result<Json<Transcript>, ApiFailure> {
    let limit = match query.limit {
        None => TRANSCRIPT_DEFAULT,
        Some(n @ 1..=1000) => n as usize,
        Some(_) => {
            return Err(ApiFailure::invalid(format!(
                "limit must be between 1 and {TRANSCRIPT_MAX}"
            )))
        }
    };
    Ok(Json(
        state
            .registry
            .transcript(&target.runtime_id, target.worker_id, limit)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/companion", tag = "companion",
    responses((status = 200, body = CompanionInfo)))]
pub async fn get_companion(
    State(state): State<AppState>,
) -> Result<Json<CompanionInfo>, ApiFailure> {
    let target = state.companion().await?;
    let detail = state
        .registry
        .worker(&target.runtime_id, target.worker_id)
        .await?;
    Ok(Json(CompanionInfo {
        provider: ProviderInfo {
            configured: state.provider.configured,
            hint: state.provider.hint.clone(),
            model: detail.summary.profile.model.clone(),
        },
        summary: detail.summary,
    }))
}
