//! Every failure of a request becomes the contract's error envelope here, in
//! one place.

use axum::response::{IntoResponse, Response};
use runtime_registry::RegistryError;
use yoi_protocol::{ApiError, ErrorCode};

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
        // One renderer of the envelope for the backend and the Runtime server.
        worker_runtime::server::extract::Failure(self.0).into_response()
    }
}
