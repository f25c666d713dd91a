//! The routes of one runtime and its Workers, written once: the backend
//! mounts them under `/api/runtimes/{runtime_id}`, a runtime's own server
//! under `/v1` (its summary at `/v1/runtime`). Each handler extracts, calls
//! the [`worker_runtime::RuntimeApi`] of the runtime the path names, and maps
//! the result; failures become the envelope in [`crate::failure`].
//!
//! The paths in the annotations are relative to where the routes are
//! mounted; the backend's OpenAPI document shows them in full.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use yoi_protocol::{
    ApprovalAnswer, ApprovalRequest, CancelAccepted, CreateWorker, ErrorEnvelope, InputAccepted,
    InputRequest, RenameWorker, RunOutcome, RuntimeSummary, Seq, TranscriptAnchor, TranscriptPage,
    TranscriptWindow, WorkerDetail, WorkerEvent, WorkerList, WorkerPage, WorkerSummary,
};

use crate::extract::{Body, PathCall, PathMessage, Query, RuntimeTarget, WorkerTarget};
use crate::failure::Failure;
use crate::host::Host;
use crate::limits::ConnectionSlot;
use crate::socket::{pump_frames, upgrade, Upgrade};

/// The runtime's own summary, at the runtime's root.
pub fn runtime_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Host: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(get_runtime))
}

/// Usage over time (`/usage`), over every runtime the server answers for.
pub fn usage_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Host: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(crate::usage::get_usage))
}

/// Search across conversations (`/search`), over every runtime the server
/// answers for.
pub fn search_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Host: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(crate::search::get_search))
}

/// The Workers of the runtime: list, create, and every worker command.
pub fn worker_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Host: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_workers, create_worker))
        .routes(routes!(get_worker, rename_worker, delete_worker))
        .routes(routes!(post_input))
        .routes(routes!(post_cancel))
        .routes(routes!(delete_queued))
        .routes(routes!(post_approval))
        .routes(routes!(get_transcript))
        .routes(routes!(get_transcript_markdown))
        .routes(routes!(crate::search::get_worker_search))
        .routes(routes!(worker_events))
}

#[utoipa::path(get, path = "/", tag = "runtimes",
    responses((status = 200, body = RuntimeSummary), (status = 404, body = ErrorEnvelope)))]
pub async fn get_runtime(
    RuntimeTarget(runtime): RuntimeTarget,
) -> Result<Json<RuntimeSummary>, Failure> {
    Ok(Json(runtime.summary().await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkersQuery {
    /// At most this many workers (1 to 1000); all when absent.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only workers after this one in `order`, where it stands now (the
    /// `next_after` of the page before, or the last worker a client holds).
    /// With `order=activity`, a worker this runtime does not hold is 404
    /// `not_found`.
    #[serde(default)]
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub after: Option<String>,
    /// `created` (the default: oldest first) or `activity` (as the consoles
    /// show them: workers that said nothing yet first, newest first, then by
    /// `last_activity`, newest first).
    #[serde(default)]
    #[param(inline, value_type = Option<yoi_protocol::WorkerOrder>)]
    pub order: Option<yoi_protocol::WorkerOrder>,
    /// Only workers whose `display_name` contains this text, ignoring case
    /// (trimmed; blank: no filter).
    #[serde(default)]
    #[param(max_length = 80)]
    pub q: Option<String>,
}

#[utoipa::path(get, path = "/workers", tag = "workers",
    params(WorkersQuery),
    responses((status = 200, body = WorkerList), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn list_workers(
    RuntimeTarget(runtime): RuntimeTarget,
    Query(query): Query<WorkersQuery>,
) -> Result<Json<WorkerList>, Failure> {
    let limit = yoi_protocol::workers_limit(query.limit)?;
    let after = match query.after.as_deref() {
        None => None,
        Some(raw) => Some(
            raw.parse()
                .map_err(|e| Failure::invalid(format!("bad after: {e}")))?,
        ),
    };
    let page = WorkerPage {
        limit,
        after,
        order: query.order.unwrap_or_default(),
        name: yoi_protocol::NameQuery::parse(query.q.as_deref())?,
    };
    Ok(Json(runtime.list_workers(page).await?))
}

#[utoipa::path(post, path = "/workers", tag = "workers",
    request_body(content = CreateWorker, description = "Both fields optional; the profile defaults to `companion`"),
    responses((status = 201, body = WorkerDetail), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 501, body = ErrorEnvelope)))]
pub async fn create_worker(
    RuntimeTarget(runtime): RuntimeTarget,
    Body(body): Body<CreateWorker>,
) -> Result<(StatusCode, Json<WorkerDetail>), Failure> {
    let detail = runtime.create_worker(body).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

#[utoipa::path(get, path = "/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path)),
    responses((status = 200, body = WorkerDetail), (status = 404, body = ErrorEnvelope)))]
pub async fn get_worker(target: WorkerTarget) -> Result<Json<WorkerDetail>, Failure> {
    Ok(Json(target.runtime.worker(target.worker_id).await?))
}

#[utoipa::path(patch, path = "/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path)),
    request_body(content = RenameWorker, description = "1 to 80 characters once trimmed, no control characters or '@'"),
    responses((status = 200, description = "The renamed worker; the workspace socket sends `worker_updated`", body = WorkerSummary),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn rename_worker(
    target: WorkerTarget,
    Body(body): Body<RenameWorker>,
) -> Result<Json<WorkerSummary>, Failure> {
    let name = yoi_protocol::validate_display_name(&body.display_name)?;
    let WorkerTarget { runtime, worker_id } = target;
    Ok(Json(runtime.rename_worker(worker_id, name).await?))
}

#[utoipa::path(delete, path = "/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path)),
    responses((status = 204, description = "Any run was cancelled and the worker stopped"),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete_worker(target: WorkerTarget) -> Result<StatusCode, Failure> {
    target.runtime.stop_worker(target.worker_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InputQuery {
    /// Answer when the run ends (200 with the message, or the run's typed error).
    #[serde(default)]
    pub wait: Option<bool>,
}

#[utoipa::path(post, path = "/workers/{worker_id}/input", tag = "workers",
    params(("worker_id" = String, Path), InputQuery),
    request_body = InputRequest,
    responses(
        (status = 202, description = "Accepted; the run streams on the events socket (with `queued`, once the runs before it ended)", body = InputAccepted),
        (status = 200, description = "With `wait=true`: the run completed", body = RunOutcome),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "busy, or queue_full with `on_busy: queue`", body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 502, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope),
        (status = 504, body = ErrorEnvelope)))]
pub async fn post_input(
    target: WorkerTarget,
    Query(query): Query<InputQuery>,
    Body(body): Body<InputRequest>,
) -> Result<Response, Failure> {
    yoi_protocol::validate_input_text(&body.text)?;
    let WorkerTarget { runtime, worker_id } = target;
    if query.wait.unwrap_or(false) {
        let outcome = runtime.input_wait(worker_id, body).await?;
        Ok((StatusCode::OK, Json(outcome)).into_response())
    } else {
        let accepted = runtime.input(worker_id, body).await?;
        Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
    }
}

#[utoipa::path(post, path = "/workers/{worker_id}/cancel", tag = "workers",
    params(("worker_id" = String, Path)),
    responses((status = 202, body = CancelAccepted),
        (status = 409, description = "not_running", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn post_cancel(
    target: WorkerTarget,
) -> Result<(StatusCode, Json<CancelAccepted>), Failure> {
    let cancelled = target.runtime.cancel(target.worker_id).await?;
    Ok((StatusCode::ACCEPTED, Json(cancelled)))
}

#[utoipa::path(delete, path = "/workers/{worker_id}/queue/{message_id}", tag = "workers",
    params(("worker_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 204, description = "The input left the queue (`input_dequeued`, reason `removed`)"),
        (status = 400, body = ErrorEnvelope),
        (status = 404, description = "worker_not_found, or not_found when the input is not queued", body = ErrorEnvelope)))]
pub async fn delete_queued(
    target: WorkerTarget,
    PathMessage(message_id): PathMessage,
) -> Result<StatusCode, Failure> {
    target
        .runtime
        .remove_queued(target.worker_id, message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/workers/{worker_id}/approvals/{call_id}", tag = "workers",
    params(("worker_id" = String, Path),
        ("call_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = ApprovalRequest,
    responses((status = 200, description = "The decision was taken (`tool_approval_decided`)", body = ApprovalAnswer),
        (status = 400, body = ErrorEnvelope),
        (status = 404, description = "worker_not_found, or not_found for a call the worker never made", body = ErrorEnvelope),
        (status = 409, description = "not_pending: the call was already decided, cancelled or timed out", body = ErrorEnvelope)))]
pub async fn post_approval(
    target: WorkerTarget,
    PathCall(call_id): PathCall,
    Body(body): Body<ApprovalRequest>,
) -> Result<Json<ApprovalAnswer>, Failure> {
    let answer = target
        .runtime
        .approve(target.worker_id, call_id, body)
        .await?;
    Ok(Json(answer))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// How many messages (default 100, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only messages older than this one (a `message_id`); the newest when absent.
    #[serde(default)]
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub before: Option<String>,
    /// The page around this message (a search hit opened in context): up
    /// to `(limit - 1) / 2` messages before it, it, and the rest after it.
    /// Read from the store, so a stopped worker's history too. Wins over
    /// `after` and `before`.
    #[serde(default)]
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub around: Option<String>,
    /// Only messages newer than this one, oldest first (paging on from an
    /// `around` page). Wins over `before`.
    #[serde(default)]
    #[param(pattern = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    pub after: Option<String>,
}

fn message_id(name: &str, raw: &str) -> Result<yoi_protocol::MessageId, Failure> {
    raw.parse()
        .map_err(|e| Failure::invalid(format!("bad {name}: {e}")))
}

#[utoipa::path(get, path = "/workers/{worker_id}/transcript", tag = "workers",
    params(("worker_id" = String, Path), TranscriptQuery),
    responses((status = 200, description = "`seq` is a watermark: subscribe with cursor=seq to miss nothing. `newer` only with `around` or `after`", body = TranscriptWindow),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn get_transcript(
    target: WorkerTarget,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<TranscriptWindow>, Failure> {
    let limit = yoi_protocol::transcript_limit(query.limit)?;
    let anchor = match (query.around.as_deref(), query.after.as_deref()) {
        (Some(raw), _) => Some(TranscriptAnchor::Around(message_id("around", raw)?)),
        (None, Some(raw)) => Some(TranscriptAnchor::After(message_id("after", raw)?)),
        (None, None) => None,
    };
    if let Some(anchor) = anchor {
        return Ok(Json(
            target
                .runtime
                .transcript_window(target.worker_id, anchor, limit)
                .await?,
        ));
    }
    let before = match query.before.as_deref() {
        None => None,
        Some(raw) => Some(message_id("before", raw)?),
    };
    let page = TranscriptPage { limit, before };
    Ok(Json(
        target
            .runtime
            .transcript(target.worker_id, page)
            .await?
            .into(),
    ))
}

/// The highest cursor: a `seq` is kept as a signed 64-bit integer.
const MAX_CURSOR: u64 = 9_223_372_036_854_775_807;

#[utoipa::path(get, path = "/workers/{worker_id}/transcript.md", tag = "workers",
    params(("worker_id" = String, Path)),
    responses((status = 200, description = "The whole conversation as Markdown, oldest first: every message, each tool call with its arguments and result (each cut at 4096 bytes, saying so)", content_type = "text/markdown", body = String),
        (status = 404, body = ErrorEnvelope)))]
pub async fn get_transcript_markdown(target: WorkerTarget) -> Result<Response, Failure> {
    let WorkerTarget { runtime, worker_id } = target;
    let worker = runtime.worker(worker_id).await?;
    let messages = crate::transcript_md::whole_history(runtime.as_ref(), worker_id).await?;
    let text = crate::transcript_md::render(&worker, &messages);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/markdown; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The highest `seq` the client applied; omit it to start from a snapshot.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub cursor: Option<u64>,
}

#[utoipa::path(get, path = "/workers/{worker_id}/events", tag = "workers",
    params(("worker_id" = String, Path), EventsQuery),
    responses((status = 101, description = "WebSocket of WorkerEvent frames, per the cursor rules.", body = WorkerEvent),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn worker_events(
    State(host): State<Host>,
    target: WorkerTarget,
    Query(query): Query<EventsQuery>,
    slot: Option<Extension<ConnectionSlot>>,
    headers: axum::http::HeaderMap,
    ws: Upgrade,
) -> Result<Response, Failure> {
    let ws = upgrade(ws, &headers)?;
    if query.cursor.is_some_and(|c| c > MAX_CURSOR) {
        return Err(Failure::invalid(format!(
            "bad cursor: at most {MAX_CURSOR}"
        )));
    }
    // Subscribe before upgrading, so an unknown worker is an HTTP error.
    let stream = target
        .runtime
        .subscribe(target.worker_id, query.cursor.map(Seq))
        .await?;
    let ctx = host.pump().holding(slot.map(|Extension(slot)| slot));
    Ok(ws.on_upgrade(move |socket| pump_frames(socket, stream, ctx)))
}
