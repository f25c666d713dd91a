//! `/api/openapi.json`, generated from the route annotations and the
//! protocol types, never written by hand.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "yoi workspace API", description = "REST commands and WebSocket events of a yoi backend. See shared/design/api.md."),
    paths(
        crate::routes::health,
        crate::routes::list_runtimes,
        crate::routes::get_runtime,
        crate::routes::list_workers,
        crate::routes::create_worker,
        crate::routes::get_worker,
        crate::routes::delete_worker,
        crate::routes::post_input,
        crate::routes::post_cancel,
        crate::routes::get_transcript,
        crate::routes::get_companion,
        crate::ws::worker_events,
        crate::ws::workspace_events,
        openapi_json,
    ),
    tags(
        (name = "backend"), (name = "runtimes"), (name = "workers"), (name = "companion"),
    )
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/openapi.json", tag = "backend",
    responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
