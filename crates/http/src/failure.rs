//! [`Failure`]: the one place a failure becomes the contract's error
//! envelope, `{"error": {...}}` with the status of its code, for every route
//! of the backend and of a runtime's own server.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use yoi_protocol::{ApiError, ErrorCode, ErrorEnvelope, ToApiError};

/// A failed request.
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

/// Any error with a place in the contract; an internal one is logged here
/// with its detail, which the client never sees.
impl<E: ToApiError> From<E> for Failure {
    fn from(e: E) -> Self {
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

/// The fallback of a route that exists without the request's method.
pub async fn method_not_allowed() -> Failure {
    Failure::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}
