//! Search across conversations, written once: the backend mounts `/search`
//! as `/api/search` (every runtime it knows) and the per-worker route under
//! `/api/runtimes/{runtime_id}`; a runtime's own server mounts both under
//! `/v1`.
//!
//! `search` asks every runtime ([`crate::Runtimes::all`]) at once for its
//! best hits down to the end of the page, merges them by rank
//! ([`SearchResults::page`]) and names in `missing` each runtime that could
//! not answer, like usage: a runtime that is down is never silently left
//! out. The page's `after` cursor is the number of hits before it, so the
//! same merge cuts every page.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use yoi_protocol::{ErrorEnvelope, SearchRequest, SearchResults, WorkerId};

use crate::extract::{Query, WorkerTarget};
use crate::failure::Failure;
use crate::host::Host;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find, separated by spaces; a message matches when it holds
    /// every one (any case), each taken literally (quotes, `*`, `:` are
    /// text). At most 128 characters, at least one not white space
    /// (Unicode's `White_Space`, the class in the pattern).
    #[serde(default)]
    #[param(
        required = true,
        max_length = 128,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub q: Option<String>,
    /// Hits per page (default 20, at most 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// The `next_after` of the page before.
    #[serde(default)]
    #[param(pattern = "^o(0|[1-9][0-9]{0,2}|10[0-9]{2}|1100)$")]
    pub after: Option<String>,
}

impl SearchQuery {
    fn request(&self, worker_id: Option<WorkerId>) -> Result<SearchRequest, Failure> {
        Ok(SearchRequest::parse(
            self.q.as_deref(),
            self.limit,
            self.after.as_deref(),
            worker_id,
        )?)
    }
}

#[utoipa::path(get, path = "/search", tag = "search",
    params(SearchQuery),
    responses(
        (status = 200, description = "The best hits first, merged by rank over every runtime; runtimes that could not answer are in `missing`. Snippet offsets are UTF-16 code units", body = SearchResults),
        (status = 400, description = "`query_empty`, `query_too_long` or `invalid_input` (limit, after)", body = ErrorEnvelope)))]
pub async fn get_search(
    State(host): State<Host>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, Failure> {
    let request = query.request(None)?;
    let runtimes = host.all_runtimes().await?;
    let answers = futures::future::join_all(runtimes.iter().map(|runtime| {
        let request = request.clone();
        async move { (runtime, runtime.search(request).await) }
    }))
    .await;
    let mut hits = Vec::new();
    let mut missing = Vec::new();
    for (runtime, answer) in answers {
        match answer {
            Ok(found) => hits.extend(found),
            Err(e) => {
                tracing::warn!(runtime = %runtime.id(), error = %e, "a runtime's search is missing");
                missing.push(runtime.id().clone());
            }
        }
    }
    missing.sort();
    Ok(Json(SearchResults::page(hits, &request, missing)))
}

#[utoipa::path(get, path = "/workers/{worker_id}/search", tag = "search",
    params(("worker_id" = String, Path), SearchQuery),
    responses(
        (status = 200, description = "The best hits in this worker's stored conversation (a stopped worker's too) first", body = SearchResults),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn get_worker_search(
    target: WorkerTarget,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, Failure> {
    let request = query.request(Some(target.worker_id))?;
    let hits = target.runtime.search(request.clone()).await?;
    Ok(Json(SearchResults::page(hits, &request, Vec::new())))
}
