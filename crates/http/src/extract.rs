//! Extractors that turn every malformed request into `invalid_input` (or
//! `payload_too_large`) in the contract's envelope, never a plain-text 4xx,
//! and the targets of the shared routes: the runtime a request names,
//! resolved through the server's [`Host`], and the Worker in it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use worker_runtime::RuntimeApi;
use yoi_protocol::{ErrorCode, MessageId, RuntimeId, WorkerId};

use crate::failure::Failure;
use crate::host::Host;

/// A JSON object body. An empty body reads as `{}` so that optional bodies
/// may be omitted.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Failure::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is over the limit",
                )
            } else {
                Failure::invalid("the request body could not be read")
            }
        })?;
        // No body at all stands for `{}` (optional bodies may be left out);
        // a body of only whitespace is not JSON.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        // Every body of the contract is an object (serde would also take a
        // struct written as an array).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Failure::invalid("the request body must be a JSON object"));
        }
        serde_json::from_slice(bytes)
            .map(Body)
            .map_err(|e| Failure::invalid(format!("malformed JSON body: {e}")))
    }
}

/// Query parameters, with unknown ones ignored.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| Failure::invalid(format!("bad query parameter: {e}")))
    }
}

/// The `{runtime_id}` and `{worker_id}` of a route, parsed; absent ones are `None`.
struct PathIds {
    runtime_id: Option<RuntimeId>,
    worker_id: Option<WorkerId>,
}

async fn path_ids<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<PathIds, Failure> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| Failure::invalid("bad path"))?;
    let mut ids = PathIds {
        runtime_id: None,
        worker_id: None,
    };
    for (name, value) in &params {
        match name {
            "runtime_id" => {
                let id = RuntimeId::parse(value)
                    .map_err(|e| Failure::invalid(format!("bad runtime_id: {e}")))?;
                ids.runtime_id = Some(id);
            }
            "worker_id" => {
                let id = value
                    .parse()
                    .map_err(|e| Failure::invalid(format!("bad worker_id: {e}")))?;
                ids.worker_id = Some(id);
            }
            _ => {}
        }
    }
    Ok(ids)
}

/// The runtime a route names: `{runtime_id}` on the backend, the one runtime
/// on a runtime's own server.
pub struct RuntimeTarget(pub Arc<dyn RuntimeApi>);

impl<S: Send + Sync> FromRequestParts<S> for RuntimeTarget
where
    Host: FromRef<S>,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ids = path_ids(parts, state).await?;
        let runtime = Host::from_ref(state).runtime(ids.runtime_id).await?;
        Ok(RuntimeTarget(runtime))
    }
}

/// The Worker a route names, and the runtime that holds it.
pub struct WorkerTarget {
    pub runtime: Arc<dyn RuntimeApi>,
    pub worker_id: WorkerId,
}

impl<S: Send + Sync> FromRequestParts<S> for WorkerTarget
where
    Host: FromRef<S>,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ids = path_ids(parts, state).await?;
        let worker_id = ids
            .worker_id
            .ok_or_else(|| Failure::invalid("bad path: no worker_id"))?;
        let runtime = Host::from_ref(state).runtime(ids.runtime_id).await?;
        Ok(WorkerTarget { runtime, worker_id })
    }
}

/// The `{call_id}` of a route: `call_` and letters, digits, `_` or `-`.
pub struct PathCall(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathCall {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "call_id").await?;
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(Failure::invalid(
                "bad call_id: 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        Ok(PathCall(raw))
    }
}

/// The raw (percent-decoded) value of the path parameter `name`.
async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, Failure> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| Failure::invalid("bad path"))?;
    params
        .iter()
        .find(|(param, _)| *param == name)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| Failure::invalid(format!("bad path: no {name}")))
}

/// The `{message_id}` of a route.
pub struct PathMessage(pub MessageId);

impl<S: Send + Sync> FromRequestParts<S> for PathMessage {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "message_id").await?;
        let id = raw
            .parse()
            .map_err(|e| Failure::invalid(format!("bad message_id: {e}")))?;
        Ok(PathMessage(id))
    }
}
