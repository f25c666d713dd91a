//! Extractors that turn every malformed request into `invalid_input` (or
//! `payload_too_large`) in the contract's envelope, never a plain-text 4xx.
//! JSON bodies and queries use the Runtime server's own extractors; the
//! backend adds its `{runtime_id}` and `{worker_id}` path targets.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use yoi_protocol::{RuntimeId, WorkerId};

pub use worker_runtime::server::extract::{Body as ApiJson, Query as ApiQuery};

use crate::error::ApiFailure;

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
