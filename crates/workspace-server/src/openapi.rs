//! `/api/openapi.json`, generated from the route annotations and the
//! protocol types, never written by hand. The document is made from the
//! same route list as the router ([`crate::api_routes`]).

use axum::extract::State;
use axum::Json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Info, OpenApi, RefOr, Required};

use crate::AppState;

/// The prefix the shared runtime routes are mounted under.
const RUNTIME_PREFIX: &str = "/api/runtimes/{runtime_id}";

/// Completes the generated document: its title, and the `{runtime_id}`
/// parameter of the routes mounted under [`RUNTIME_PREFIX`] (their
/// annotations are relative to the runtime they act on).
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let mut info = Info::new("yoi workspace API", env!("CARGO_PKG_VERSION"));
    info.description = Some(
        "REST commands and WebSocket events of a yoi backend. The contract is docs/api.md."
            .to_owned(),
    );
    doc.info = info;
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with(RUNTIME_PREFIX) {
            continue;
        }
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let params = operation.parameters.get_or_insert_with(Vec::new);
            let named = |p: &RefOr<Parameter>| matches!(p, RefOr::T(p) if p.name == "runtime_id");
            if !params.iter().any(named) {
                params.insert(0, RefOr::T(runtime_id_parameter()));
            }
        }
    }
    doc
}

fn runtime_id_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("runtime_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The runtime, e.g. `backend-internal`"))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String),
        ))
        .build()
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "backend",
    responses((status = 200, description = "This document")))]
pub async fn openapi_json(State(state): State<AppState>) -> Json<OpenApi> {
    Json(state.openapi.as_ref().clone())
}
