//! The errors a runtime answers, one enum for every caller.

use yoi_protocol::{ApiError, ErrorCode, RunId};

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("no worker {0} in this runtime")]
    WorkerNotFound(String),
    #[error("worker {display_ref} is already running a turn")]
    Busy {
        display_ref: String,
        active_run: RunId,
    },
    #[error("worker {0} has no run in flight")]
    NotRunning(String),
    #[error("{0}")]
    ProviderUnconfigured(String),
    #[error("unknown profile `{0}`")]
    UnknownProfile(String),
    /// A run ended badly; carried as-is for `wait=true`.
    #[error("{0}")]
    Run(ApiError),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl RuntimeError {
    /// The contract's error for this failure.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            RuntimeError::InvalidInput(m) => ApiError::new(ErrorCode::InvalidInput, m.clone()),
            RuntimeError::UnknownProfile(_) => {
                ApiError::new(ErrorCode::InvalidInput, self.to_string())
            }
            RuntimeError::WorkerNotFound(_) => {
                ApiError::new(ErrorCode::WorkerNotFound, self.to_string())
            }
            RuntimeError::Busy { active_run, .. } => {
                let mut e = ApiError::new(ErrorCode::Busy, self.to_string());
                e.active_run_id = Some(*active_run);
                e
            }
            RuntimeError::NotRunning(_) => ApiError::new(ErrorCode::NotRunning, self.to_string()),
            RuntimeError::ProviderUnconfigured(m) => {
                ApiError::new(ErrorCode::ProviderUnconfigured, m.clone())
            }
            RuntimeError::Run(e) => e.clone(),
            RuntimeError::ShuttingDown => {
                ApiError::new(ErrorCode::RuntimeUnavailable, self.to_string())
            }
            RuntimeError::Internal(_) => ApiError::new(
                ErrorCode::Internal,
                "internal error in the runtime; see the server log",
            ),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.to_api_error().code
    }
}

impl From<ApiError> for RuntimeError {
    fn from(e: ApiError) -> Self {
        RuntimeError::Run(e)
    }
}
