//! Extractors that turn every malformed request into `invalid_input` (or
//! `payload_too_large`) in the contract's envelope, never a plain-text 4xx.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use yoi_protocol::{ErrorCode, RuntimeId, WorkerId};

use crate::error::ApiFailure;

/// A JSON body. An empty body reads as `{}` so that optional bodies may be omitted.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiFailure::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is over the limit",
                )
            } else {
                ApiFailure::invalid("the request body could not be read")
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(ApiJson)
            .map_err(|e| ApiFailure::invalid(format!("malformed JSON body: {e}")))
    }
}

/// Query parameters, with unknown ones ignored.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiFailure::invalid(format!("bad query parameter: {e}")))
    }
}

/// `{runtime_id}` of a route.
pub struct RuntimeTarget(pub RuntimeId);

impl<S: Send + Sync> FromRequestParts<S> for RuntimeTarget {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw): Path<String> = Path::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiFailure::invalid("bad path"))?;
        parse_runtime(&raw).map(RuntimeTarget)
    }
}

/// `{runtime_id}/workers/{worker_id}` of a route.
pub struct WorkerTarget {
    pub runtime_id: RuntimeId,
    pub worker_id: WorkerId,
}

impl<S: Send + Sync> FromRequestParts<S> for WorkerTarget {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((runtime, worker)): Path<(String, String)> =
            Path::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiFailure::invalid("bad path"))?;
        let runtime_id = parse_runtime(&runtime)?;
        let worker_id = worker
            .parse()
            .map_err(|e| ApiFailure::invalid(format!("bad worker_id: {e}")))?;
        Ok(WorkerTarget {
            runtime_id,
            worker_id,
        })
    }
}

fn parse_runtime(raw: &str) -> Result<RuntimeId, ApiFailure> {
    RuntimeId::parse(raw).map_err(|e| ApiFailure::invalid(format!("bad runtime_id: {e}")))
}
