//! How workers are listed when there are many: the order the consoles show
//! them in, the name filter, and how many a workspace snapshot carries.
//!
//! A workspace may hold tens of thousands of workers, so neither a
//! `workspace_snapshot` nor a console holds all of them: the snapshot carries
//! the [`SNAPSHOT_WORKERS`] most recently active ones, and the rest come a
//! page at a time from `GET .../workers?order=activity&limit=N&after=<id>`,
//! in the same order. Every server and client sorts with [`by_activity`], so
//! a page continues exactly where the rows a client holds end.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, ErrorCode, Timestamp, WorkerId, WorkerSummary};

/// Most workers a `workspace_snapshot` lists (the most recently active).
pub const SNAPSHOT_WORKERS: usize = 200;
/// Most characters of a worker name filter (`q`), as long as a name.
pub const MAX_NAME_QUERY_CHARS: usize = crate::MAX_DISPLAY_NAME_CHARS;

/// The order of `GET .../workers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerOrder {
    /// Oldest first, as created (the first contract's order).
    #[default]
    Created,
    /// As the consoles show them: workers that said nothing yet first (the
    /// newest of them first), then by `last_activity`, the newest first.
    Activity,
}

/// Where a worker stands in [`WorkerOrder::Activity`]: a smaller key comes
/// first. `last_activity` only ever grows, so a worker can only move up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityKey {
    pub last_activity: Option<Timestamp>,
    pub worker_id: WorkerId,
}

impl Ord for ActivityKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.last_activity, &other.last_activity) {
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => b.cmp(a),
            (None, None) => Ordering::Equal,
        }
        // ULIDs grow with creation time: the newest first.
        .then_with(|| other.worker_id.cmp(&self.worker_id))
    }
}

impl PartialOrd for ActivityKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ActivityKey {
    pub fn of(worker: &WorkerSummary) -> Self {
        Self {
            last_activity: worker.last_activity,
            worker_id: worker.worker_id,
        }
    }
}

/// [`WorkerOrder::Activity`] as a comparison, for `sort_by`.
pub fn by_activity(a: &WorkerSummary, b: &WorkerSummary) -> Ordering {
    ActivityKey::of(a).cmp(&ActivityKey::of(b))
}

/// A filter on display names: a worker matches when its name contains the
/// text, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameQuery(String);

impl NameQuery {
    /// `q` of a request: trimmed; blank means no filter; at most
    /// [`MAX_NAME_QUERY_CHARS`] characters, else `invalid_input`.
    pub fn parse(raw: Option<&str>) -> Result<Option<NameQuery>, ApiError> {
        let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > MAX_NAME_QUERY_CHARS {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("q must be at most {MAX_NAME_QUERY_CHARS} characters"),
            ));
        }
        Ok(Some(NameQuery(text.to_lowercase())))
    }

    pub fn matches(&self, display_name: &str) -> bool {
        display_name.to_lowercase().contains(&self.0)
    }

    /// The filter as it is sent on (already trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: WorkerId, at: Option<&str>) -> WorkerSummary {
        WorkerSummary {
            runtime_id: crate::RuntimeId::parse("r").unwrap(),
            worker_id: id,
            display_name: "w".into(),
            display_ref: "w@r".into(),
            status: crate::WorkerStatus::Idle,
            profile: crate::ProfileInfo {
                name: "companion".into(),
                model: "m".into(),
            },
            last_activity: at.map(|t| serde_json::from_value(serde_json::json!(t)).unwrap()),
            last_message: None,
        }
    }

    #[test]
    fn silent_workers_come_first_then_the_most_recently_active() {
        let ids: Vec<WorkerId> = (0..4).map(|_| WorkerId::new()).collect();
        let (older, newer) = (ids[0].min(ids[1]), ids[0].max(ids[1]));
        let mut list = [
            summary(ids[2], Some("2026-11-23T10:00:00.000Z")),
            summary(older, None),
            summary(ids[3], Some("2026-11-23T11:00:00.000Z")),
            summary(newer, None),
        ];
        list.sort_by(by_activity);
        let order: Vec<WorkerId> = list.iter().map(|w| w.worker_id).collect();
        assert_eq!(order, vec![newer, older, ids[3], ids[2]]);
    }

    #[test]
    fn name_queries_ignore_case_and_blanks_and_are_bounded() {
        let q = NameQuery::parse(Some("  Ada ")).unwrap().unwrap();
        assert!(q.matches("worker ADA 7"));
        assert!(!q.matches("bob"));
        assert_eq!(NameQuery::parse(Some("   ")).unwrap(), None);
        assert_eq!(NameQuery::parse(None).unwrap(), None);
        assert!(NameQuery::parse(Some(&"x".repeat(80))).is_ok());
        let long = NameQuery::parse(Some(&"x".repeat(81))).unwrap_err();
        assert_eq!(long.code, ErrorCode::InvalidInput);
    }
}
