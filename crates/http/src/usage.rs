//! Usage over time and the process's metrics, written once: the backend
//! mounts them as `/api/usage` and `/metrics`, a runtime's own server as
//! `/v1/usage` and `/v1/metrics`.
//!
//! `usage` asks every runtime the server knows ([`crate::Runtimes::all`]:
//! the registry's on the backend, the one runtime on `yoi runtime serve`)
//! at once, adds their groups up ([`UsageReport::merge`]) and names in
//! `missing` each runtime that could not answer, so that a runtime that is
//! down is never silently left out of the sums.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use yoi_protocol::{ErrorEnvelope, UsageBy, UsageReport, UsageRequest};

use crate::extract::Query;
use crate::failure::Failure;
use crate::host::Host;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The first UTC day counted (`YYYY-MM-DD`); by default six days before `to`.
    #[serde(default)]
    #[param(format = Date)]
    pub from: Option<String>,
    /// The last UTC day counted, included (`YYYY-MM-DD`); by default today.
    /// A `from` after `to` is an empty range.
    #[serde(default)]
    #[param(format = Date)]
    pub to: Option<String>,
    /// Groups, separated by commas: `day`, `runtime`, `profile`, `model`,
    /// `worker` (e.g. `day,model`); none sums everything in one group.
    #[serde(default)]
    #[param(
        pattern = "^((day|runtime|profile|model|worker)(,(day|runtime|profile|model|worker))*)?$"
    )]
    pub by: Option<String>,
}

#[utoipa::path(get, path = "/usage", tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "Runs by outcome, tokens, run time and tool calls of the runs that ended in the range, summed from each runtime's store; runtimes that could not answer are in `missing`", body = UsageReport),
        (status = 400, body = ErrorEnvelope)))]
pub async fn get_usage(
    State(host): State<Host>,
    Query(query): Query<UsageQuery>,
) -> Result<Json<UsageReport>, Failure> {
    let today = yoi_protocol::Timestamp::now().0.date_naive();
    let request = UsageRequest::parse(
        query.from.as_deref(),
        query.to.as_deref(),
        query.by.as_deref(),
        today,
    )?;
    let mut report = UsageReport::empty(&request);
    if request.from > request.to {
        return Ok(Json(report));
    }
    let runtimes = host.all_runtimes().await?;
    let answers = futures::future::join_all(runtimes.iter().map(|runtime| {
        let request = request.clone();
        async move { (runtime, runtime.usage(request).await) }
    }))
    .await;
    for (runtime, answer) in answers {
        match answer {
            Ok(mut groups) => {
                let named = request.has(UsageBy::Runtime).then(|| runtime.id().clone());
                for group in &mut groups {
                    group.runtime_id.clone_from(&named);
                }
                report.merge(groups);
            }
            Err(e) => {
                tracing::warn!(runtime = %runtime.id(), error = %e, "a runtime's usage is missing");
                report.missing.push(runtime.id().clone());
            }
        }
    }
    report.missing.sort();
    Ok(Json(report))
}

/// The process's metrics in the Prometheus text format.
pub async fn get_metrics() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, worker_runtime::metrics::CONTENT_TYPE)],
        worker_runtime::metrics::encode(),
    )
}
