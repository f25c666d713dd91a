//! Extractors that turn every malformed request into `invalid_input` (or
//! `payload_too_large`), and [`Failure`], the one place a failure becomes the
//! contract's error envelope.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use yoi_protocol::{ApiError, ErrorCode, ErrorEnvelope, WorkerId};

use crate::error::RuntimeError;

/// A failed request, answered as `{"error": {...}}` with the code's status.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        let error = e.to_api_error();
        if error.code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error");
        }
        Self(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorEnvelope { error: self.0 })).into_response()
    }
}

/// A JSON body. An empty body reads as `{}` so that optional bodies may be omitted.
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
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
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

/// `{worker_id}` of a route.
pub struct WorkerPath(pub WorkerId);

impl<S: Send + Sync> FromRequestParts<S> for WorkerPath {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw): Path<String> = Path::from_request_parts(parts, state)
            .await
            .map_err(|_| Failure::invalid("bad path"))?;
        raw.parse()
            .map(WorkerPath)
            .map_err(|e| Failure::invalid(format!("bad worker_id: {e}")))
    }
}
