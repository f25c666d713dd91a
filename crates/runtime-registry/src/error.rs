//! Errors of the registry itself: routing and registering. What a runtime
//! answers is a [`worker_runtime::RuntimeError`], carried unchanged.

use yoi_protocol::{ApiError, ErrorCode, RuntimeId, ToApiError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("no runtime `{0}`")]
    RuntimeNotFound(RuntimeId),
    #[error("a runtime `{0}` is already registered")]
    DuplicateRuntime(RuntimeId),
    #[error("the registry is not running")]
    Stopped,
    /// A runtime could not be set up from its configuration.
    #[error("{0}")]
    Config(String),
}

impl ToApiError for RegistryError {
    fn to_api_error(&self) -> ApiError {
        match self {
            RegistryError::RuntimeNotFound(_) => {
                ApiError::new(ErrorCode::RuntimeNotFound, self.to_string())
            }
            RegistryError::DuplicateRuntime(_) | RegistryError::Config(_) => {
                ApiError::new(ErrorCode::InvalidInput, self.to_string())
            }
            RegistryError::Stopped => ApiError::new(
                ErrorCode::RuntimeUnavailable,
                "the backend is shutting down",
            ),
        }
    }
}

impl RegistryError {
    pub fn code(&self) -> ErrorCode {
        self.to_api_error().code
    }
}
