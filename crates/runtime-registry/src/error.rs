//! Errors the registry answers: its own routing failures and whatever the
//! runtime behind it said, carried unchanged.

use worker_runtime::RuntimeError;
use yoi_protocol::{ApiError, ErrorCode, RuntimeId};

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("no runtime `{0}`")]
    RuntimeNotFound(RuntimeId),
    #[error("runtime `{0}` cannot be reached")]
    RuntimeUnavailable(RuntimeId),
    #[error("runtime `{runtime}` cannot {operation}")]
    Unsupported {
        runtime: RuntimeId,
        operation: &'static str,
    },
    #[error("a runtime `{0}` is already registered")]
    DuplicateRuntime(RuntimeId),
    /// The runtime's own answer (worker not found, busy, not running, ...).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// An error already in the contract's shape (from a runtime over the network).
    #[error("{0}")]
    Api(ApiError),
    #[error("the registry is not running")]
    Stopped,
    /// A runtime could not be set up from its configuration.
    #[error("{0}")]
    Config(String),
}

impl RegistryError {
    pub fn to_api_error(&self) -> ApiError {
        match self {
            RegistryError::RuntimeNotFound(_) => {
                ApiError::new(ErrorCode::RuntimeNotFound, self.to_string())
            }
            RegistryError::RuntimeUnavailable(_) => {
                ApiError::new(ErrorCode::RuntimeUnavailable, self.to_string())
            }
            RegistryError::Unsupported { .. } => {
                ApiError::new(ErrorCode::Unsupported, self.to_string())
            }
            RegistryError::DuplicateRuntime(_) => {
                ApiError::new(ErrorCode::InvalidInput, self.to_string())
            }
            RegistryError::Runtime(e) => e.to_api_error(),
            RegistryError::Api(e) => e.clone(),
            RegistryError::Stopped => ApiError::new(
                ErrorCode::RuntimeUnavailable,
                "the backend is shutting down",
            ),
            RegistryError::Config(_) => ApiError::new(ErrorCode::InvalidInput, self.to_string()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.to_api_error().code
    }
}
