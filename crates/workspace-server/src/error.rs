//! Every failure of a request becomes the contract's error envelope here, in
//! one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use runtime_registry::RegistryError;
use yoi_protocol::{ApiError, ErrorCode, ErrorEnvelope};

/// A request that failed, answered as `{"error": {...}}` with the code's status.
#[derive(Debug)]
pub struct ApiFailure(pub ApiError);

impl ApiFailure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
}

impl From<RegistryError> for ApiFailure {
    fn from(e: RegistryError) -> Self {
        let error = e.to_api_error();
        if error.code == ErrorCode::Internal {
            tracing::error!(error = %e, "internal error");
        }
        Self(error)
    }
}

impl From<ApiError> for ApiFailure {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorEnvelope { error: self.0 })).into_response()
    }
}
