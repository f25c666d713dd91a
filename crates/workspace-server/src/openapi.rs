//! `/api/openapi.json`, generated from the route annotations and the
//! protocol types, never written by hand. The document is made from the
//! same route list as the router ([`crate::api_routes`]), and describes
//! exactly what is served: the patterns of path ids, the bounds of bodies,
//! and every status a route can answer with the error envelope (the ones
//! every route shares are added here, once).

use axum::extract::State;
use axum::Json;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{
    Content, Info, ObjectBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Schema,
};

use crate::AppState;

/// The prefix the shared runtime routes are mounted under.
const RUNTIME_PREFIX: &str = "/api/runtimes/{runtime_id}";

/// What `{runtime_id}` accepts (`RuntimeId::parse`).
const RUNTIME_ID_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,63}$";
/// What `{worker_id}` (and every other ULID id) accepts: a ULID, either case.
const WORKER_ID_PATTERN: &str = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$";

/// Answers every route can give: a malformed `Host` or query, a missing or
/// wrong token (when one is set), a foreign `Origin` or `Host`, the
/// connection limit, a bug.
const EVERY_ROUTE: &[(&str, &str)] = &[
    (
        "400",
        "`invalid_input`: a malformed request (Host, path id, query or body)",
    ),
    (
        "401",
        "`unauthorized`: the token is missing or wrong (when the backend has one)",
    ),
    ("403", "`forbidden_origin`: a foreign Origin or Host"),
    ("429", "`limit_reached`: a configured limit is reached"),
    (
        "500",
        "`internal`: a bug; the message holds no path or secret",
    ),
];
/// More answers of a route under `{runtime_id}`.
const RUNTIME_ROUTE: &[(&str, &str)] = &[
    (
        "404",
        "`runtime_not_found` or `worker_not_found` (or `not_found`: a message the worker does not have)",
    ),
    (
        "503",
        "`runtime_unavailable`: the runtime cannot be reached, or is shutting down; `store_unavailable`: the runtime cannot save (disk full, I/O error), nothing was kept",
    ),
];
/// More answers of a route that takes a body.
const BODY_ROUTE: &[(&str, &str)] = &[("413", "`payload_too_large`: the body is over 256 KiB")];

/// Completes the generated document: its title, and the `{runtime_id}`
/// parameter of the routes mounted under [`RUNTIME_PREFIX`] (their
/// annotations are relative to the runtime they act on).
pub fn finish(mut doc: OpenApi, profiles: &[String]) -> OpenApi {
    name_profiles(&mut doc, profiles);
    let mut info = Info::new("yoi workspace API", env!("CARGO_PKG_VERSION"));
    info.description = Some(
        "REST commands and WebSocket events of a yoi backend. The contract is docs/api.md."
            .to_owned(),
    );
    doc.info = info;
    for (path, item) in doc.paths.paths.iter_mut() {
        let under_runtime = path.starts_with(RUNTIME_PREFIX);
        // Creating a worker takes an empty body as `{}`; its answer leads
        // to the worker's own routes.
        if path == "/api/runtimes/{runtime_id}/workers" {
            if let Some(create) = item.post.as_mut() {
                if let Some(RefOr::T(body)) = create.request_body.as_mut() {
                    body.required = Some(Required::False);
                }
                link_to_worker_routes(create);
            }
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
            if under_runtime {
                let params = operation.parameters.get_or_insert_with(Vec::new);
                let named =
                    |p: &RefOr<Parameter>| matches!(p, RefOr::T(p) if p.name == "runtime_id");
                if !params.iter().any(named) {
                    params.insert(
                        0,
                        RefOr::T(id_parameter(
                            "runtime_id",
                            "The runtime, e.g. `backend-internal`",
                            RUNTIME_ID_PATTERN,
                        )),
                    );
                }
            }
            complete_operation(operation, under_runtime);
        }
        if path.ends_with("/events") {
            if let Some(get) = item.get.as_mut() {
                describe_socket(get);
            }
        }
        link_ids(path, item);
    }
    doc
}

/// The headers that make a request to a socket route an upgrade, with
/// exactly what the server checks: a `Connection` that names `upgrade`, an
/// `Upgrade` of `websocket` (any case), version 13, and a key. A request
/// without them (a plain GET) is answered 400 `invalid_input`.
const SOCKET_HEADERS: &[(&str, &str, &str)] = &[
    (
        "Connection",
        "Names `upgrade` (any case), e.g. `Upgrade`",
        "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]",
    ),
    (
        "Upgrade",
        "`websocket` (any case)",
        "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$",
    ),
    ("Sec-WebSocket-Version", "13", "^13$"),
    (
        "Sec-WebSocket-Key",
        "The client's key (RFC 6455: 16 random bytes in base64)",
        "",
    ),
];

/// A socket route is a GET with the upgrade headers; what else it answers.
fn describe_socket(get: &mut Operation) {
    let params = get.parameters.get_or_insert_with(Vec::new);
    for (name, description, pattern) in SOCKET_HEADERS {
        let mut schema = ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String);
        if !pattern.is_empty() {
            schema = schema.pattern(Some(*pattern));
        }
        params.push(RefOr::T(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(*description))
                .schema(Some(schema))
                .build(),
        ));
    }
    get.description = Some(
        "A WebSocket (RFC 6455): a GET with the upgrade headers below is answered 101 and \
         becomes the socket; its frames are JSON text, one event each (the 101's schema). \
         A request without them, a plain GET included, is answered 400 `invalid_input` \
         (\"connect with an Upgrade request\")."
            .to_owned(),
    );
    // A 101 has no body: what its frames hold stays in the components,
    // named in its description.
    if let Some(RefOr::T(switching)) = get.responses.responses.get_mut("101") {
        let frames = switching
            .content
            .values()
            .find_map(|c| match c {
                RefOr::T(Content {
                    schema: Some(RefOr::Ref(r)),
                    ..
                }) => r.ref_location.rsplit('/').next().map(str::to_owned),
                _ => None,
            })
            .unwrap_or_default();
        switching.content.clear();
        switching.description = format!(
            "{} Each frame is a `{frames}` (#/components/schemas/{frames}) as JSON text.",
            switching.description
        );
    }
    get.responses.responses.insert(
        "400".to_owned(),
        RefOr::T(error_response(
            "`invalid_input`: not an upgrade (a plain GET, or an upgrade header missing or wrong), or a malformed id or query",
        )),
    );
}

/// A link: the operation it leads to and the parameters it fills.
type Link = (&'static str, Vec<(&'static str, &'static str)>);

/// Links from answers that carry an id to the operations that take it, so
/// that clients and fuzzers reach every operation with real ids.
fn link_ids(path: &str, item: &mut utoipa::openapi::PathItem) {
    let worker = "/api/runtimes/{runtime_id}/workers/{worker_id}";
    let same_worker = [
        ("runtime_id", "$request.path.runtime_id"),
        ("worker_id", "$request.path.worker_id"),
    ];
    let (operation, status, links): (_, _, Vec<Link>) = if path == format!("{worker}/input") {
        // A queued input's id leads to its removal.
        (
            item.post.as_mut(),
            "202",
            vec![(
                "delete_queued",
                vec![("message_id", "$response.body#/message_id")],
            )],
        )
    } else if path == worker {
        // A call that waits for a person leads to its decision.
        (
            item.get.as_mut(),
            "200",
            vec![(
                "post_approval",
                vec![("call_id", "$response.body#/pending_approvals/0/call_id")],
            )],
        )
    } else if path == format!("{worker}/transcript") {
        // The watermark is the cursor to subscribe from; the first
        // message the page to read before.
        (
            item.get.as_mut(),
            "200",
            vec![
                ("worker_events", vec![("cursor", "$response.body#/seq")]),
                (
                    "get_transcript",
                    vec![("before", "$response.body#/messages/0/id")],
                ),
            ],
        )
    } else {
        return;
    };
    let Some(RefOr::T(answer)) = operation.and_then(|op| op.responses.responses.get_mut(status))
    else {
        return;
    };
    for (operation_id, params) in links {
        let mut link = LinkBuilder::new().operation_id(operation_id);
        for (name, value) in same_worker.iter().chain(params.iter()) {
            link = link.parameter(*name, *value);
        }
        answer
            .links
            .insert(operation_id.to_owned(), RefOr::T(link.build()));
    }
}

/// The worker routes a created worker's answer leads to (OpenAPI links, which
/// clients and fuzzers follow with the new ids).
const WORKER_OPERATIONS: &[&str] = &[
    "get_worker",
    "rename_worker",
    "delete_worker",
    "post_input",
    "post_cancel",
    "get_transcript",
    "get_transcript_markdown",
    "get_worker_search",
    "worker_events",
];

fn link_to_worker_routes(create: &mut Operation) {
    let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") else {
        return;
    };
    for operation in WORKER_OPERATIONS {
        let link = LinkBuilder::new()
            .operation_id(*operation)
            .parameter("runtime_id", "$response.body#/runtime_id")
            .parameter("worker_id", "$response.body#/worker_id")
            .build();
        created
            .links
            .insert((*operation).to_owned(), RefOr::T(link));
    }
}

/// A new worker's `profile` is one of the backend's own (a remote runtime's
/// summary lists what it offers besides).
fn name_profiles(doc: &mut OpenApi, profiles: &[String]) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(create))) = components.schemas.get_mut("CreateWorker") else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(profile))) = create.properties.get_mut("profile") {
        // `null` reads as absent: the Companion's profile.
        let mut names: Vec<serde_json::Value> =
            profiles.iter().map(|p| p.as_str().into()).collect();
        names.push(serde_json::Value::Null);
        profile.enum_values = Some(names);
        profile.pattern = None;
    }
}

/// Gives ids their patterns and adds the error answers the route shares.
fn complete_operation(operation: &mut Operation, under_runtime: bool) {
    for param in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = param {
            if p.name == "worker_id" {
                *p = id_parameter("worker_id", "The worker, a ULID", WORKER_ID_PATTERN);
            } else if p.name == "message_id" && p.parameter_in == ParameterIn::Path {
                *p = id_parameter(
                    "message_id",
                    "A queued input's message, a ULID",
                    WORKER_ID_PATTERN,
                );
            }
        }
    }
    let has_body = operation.request_body.is_some();
    let shared = EVERY_ROUTE
        .iter()
        .chain(if under_runtime { RUNTIME_ROUTE } else { &[] })
        .chain(if has_body { BODY_ROUTE } else { &[] });
    let responses = &mut operation.responses.responses;
    for (status, description) in shared {
        responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
        )
        .build()
}

fn id_parameter(name: &str, description: &str, pattern: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(pattern)),
        ))
        .build()
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "backend",
    responses((status = 200, description = "This document")))]
pub async fn openapi_json(State(state): State<AppState>) -> Json<OpenApi> {
    Json(state.openapi.as_ref().clone())
}
