//! Usage over time (`GET /api/usage`, `/v1/usage` on a runtime): runs by
//! outcome, tokens, run time and tool calls, summed from each runtime's
//! store by day, profile, model, worker or runtime.
//!
//! A run counts on the UTC day it ended. `from` and `to` are UTC dates
//! (`YYYY-MM-DD`), both included; a `from` after `to` is an empty range.
//! [`UsageRequest::parse`] checks what a
//! client sends; [`UsageReport::merge`] adds up the answers of several
//! runtimes, so the backend and a runtime sum the same way.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{ApiError, ErrorCode, RuntimeId, WorkerId};

/// Days a usage range covers when the client names no `from`.
pub const USAGE_DEFAULT_DAYS: u64 = 7;

/// What usage can be grouped by (`by=day,model`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UsageBy {
    Day,
    Runtime,
    Profile,
    Model,
    Worker,
}

impl UsageBy {
    pub const ALL: [UsageBy; 5] = [
        UsageBy::Day,
        UsageBy::Runtime,
        UsageBy::Profile,
        UsageBy::Model,
        UsageBy::Worker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UsageBy::Day => "day",
            UsageBy::Runtime => "runtime",
            UsageBy::Profile => "profile",
            UsageBy::Model => "model",
            UsageBy::Worker => "worker",
        }
    }
}

/// A checked usage query: a range of UTC days (both included; empty when
/// `from` is after `to`) and the groups, each once, in the order of
/// [`UsageBy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRequest {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Vec<UsageBy>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

fn parse_day(name: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    // Exactly YYYY-MM-DD: chrono alone would take `2026-1-5` or `+2026-...`.
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(invalid(format!("{name} must be a date YYYY-MM-DD (UTC)")));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| invalid(format!("{name} is not a calendar date: {raw}")))
}

impl UsageRequest {
    /// Checks a client's `from`, `to` and `by`; `today` is the UTC date
    /// `to` defaults to. `from` defaults to [`USAGE_DEFAULT_DAYS`] days up
    /// to `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        by: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, ApiError> {
        let to = match to {
            Some(raw) => parse_day("to", raw)?,
            None => today,
        };
        let from = match from {
            Some(raw) => parse_day("from", raw)?,
            None => to
                .checked_sub_days(chrono::Days::new(USAGE_DEFAULT_DAYS - 1))
                .unwrap_or(to),
        };
        let mut groups = Vec::new();
        let by = by.unwrap_or("");
        // A name given twice counts once; an empty name between commas is
        // malformed.
        for name in by.split(',').filter(|_| !by.is_empty()) {
            let Some(group) = UsageBy::ALL.into_iter().find(|g| g.as_str() == name) else {
                return Err(invalid(
                    "by takes day, runtime, profile, model and worker, separated by commas",
                ));
            };
            groups.push(group);
        }
        groups.sort();
        groups.dedup();
        Ok(Self {
            from,
            to,
            by: groups,
        })
    }

    /// The query string that asks a runtime the same (`from=..&to=..&by=..`).
    pub fn to_query(&self) -> String {
        let by: Vec<&str> = self.by.iter().map(|b| b.as_str()).collect();
        format!(
            "from={}&to={}&by={}",
            self.from.format("%Y-%m-%d"),
            self.to.format("%Y-%m-%d"),
            by.join(",")
        )
    }

    pub fn has(&self, group: UsageBy) -> bool {
        self.by.contains(&group)
    }
}

/// Sums of runs that ended in a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct UsageFigures {
    /// Runs that ended, whatever their outcome.
    #[ts(type = "number")]
    pub runs: u64,
    #[ts(type = "number")]
    pub completed: u64,
    #[ts(type = "number")]
    pub failed: u64,
    #[ts(type = "number")]
    pub cancelled: u64,
    #[ts(type = "number")]
    pub prompt_tokens: u64,
    #[ts(type = "number")]
    pub completion_tokens: u64,
    /// Milliseconds the runs took, added up.
    #[ts(type = "number")]
    pub run_ms: u64,
    /// Tool calls the runs made (every outcome).
    #[ts(type = "number")]
    pub tool_calls: u64,
}

impl UsageFigures {
    /// Adds `other`; counts saturate, never overflow.
    pub fn add(&mut self, other: &UsageFigures) {
        self.runs = self.runs.saturating_add(other.runs);
        self.completed = self.completed.saturating_add(other.completed);
        self.failed = self.failed.saturating_add(other.failed);
        self.cancelled = self.cancelled.saturating_add(other.cancelled);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
        self.run_ms = self.run_ms.saturating_add(other.run_ms);
        self.tool_calls = self.tool_calls.saturating_add(other.tool_calls);
    }
}

/// One group of a usage answer: the keys it was grouped by (the others
/// absent), and its sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct UsageGroup {
    /// The UTC day (`YYYY-MM-DD`), with `by=day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub runtime_id: Option<RuntimeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub profile: Option<String>,
    /// The model the runs used, with `by=model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub worker_id: Option<WorkerId>,
    pub usage: UsageFigures,
}

impl UsageGroup {
    /// Orders groups by their keys: day, runtime, profile, model, worker (an
    /// absent key first), without copying them.
    fn cmp_keys(&self, other: &UsageGroup) -> std::cmp::Ordering {
        self.day
            .cmp(&other.day)
            .then_with(|| self.runtime_id.cmp(&other.runtime_id))
            .then_with(|| self.profile.cmp(&other.profile))
            .then_with(|| self.model.cmp(&other.model))
            // A ULID orders as its text does.
            .then_with(|| self.worker_id.cmp(&other.worker_id))
    }
}

/// The answer of `GET /api/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
pub struct UsageReport {
    /// The first UTC day counted (`YYYY-MM-DD`).
    pub from: String,
    /// The last UTC day counted, included.
    pub to: String,
    pub by: Vec<UsageBy>,
    /// One per combination of keys that had runs, in key order.
    pub groups: Vec<UsageGroup>,
    /// Every group added up.
    pub total: UsageFigures,
    /// Runtimes that could not be asked (unavailable): their runs are not
    /// in the sums.
    pub missing: Vec<RuntimeId>,
}

impl UsageReport {
    /// An answer with nothing counted yet.
    pub fn empty(request: &UsageRequest) -> Self {
        Self {
            from: request.from.format("%Y-%m-%d").to_string(),
            to: request.to.format("%Y-%m-%d").to_string(),
            by: request.by.clone(),
            groups: Vec::new(),
            total: UsageFigures::default(),
            missing: Vec::new(),
        }
    }

    /// Adds `groups` into this answer: a group whose keys are already there
    /// is summed into it. Groups stay in key order.
    pub fn merge(&mut self, groups: Vec<UsageGroup>) {
        for group in &groups {
            self.total.add(&group.usage);
        }
        let mut all = std::mem::take(&mut self.groups);
        all.extend(groups);
        // Stable, and nearly sorted already: each runtime answers in order.
        all.sort_by(UsageGroup::cmp_keys);
        let mut merged: Vec<UsageGroup> = Vec::with_capacity(all.len());
        for group in all {
            match merged.last_mut() {
                Some(last) if last.cmp_keys(&group).is_eq() => last.usage.add(&group.usage),
                _ => merged.push(group),
            }
        }
        self.groups = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn defaults_are_the_last_seven_days_without_groups() {
        let r = UsageRequest::parse(None, None, None, day("2026-12-03")).unwrap();
        assert_eq!((r.from, r.to), (day("2026-11-27"), day("2026-12-03")));
        assert!(r.by.is_empty());
    }

    #[test]
    fn groups_are_kept_in_one_order_and_each_once() {
        let r = UsageRequest::parse(None, None, Some("model,day"), day("2026-12-03")).unwrap();
        assert_eq!(r.by, vec![UsageBy::Day, UsageBy::Model]);
        assert_eq!(r.to_query(), "from=2026-11-27&to=2026-12-03&by=day,model");
        let twice = UsageRequest::parse(None, None, Some("model,model"), day("2026-12-03"));
        assert_eq!(twice.unwrap().by, vec![UsageBy::Model]);
        for bad in ["hour", "day,,model", "day,", ",day", "Day"] {
            let e = UsageRequest::parse(None, None, Some(bad), day("2026-12-03")).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn bad_ranges_are_invalid_input() {
        let today = day("2026-12-03");
        for (from, to) in [
            (Some("2026-2-30"), None),
            (Some("2026-02-30"), None),
            (Some("+2026-02-01"), None),
            (None, Some("yesterday")),
        ] {
            let e = UsageRequest::parse(from, to, None, today).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{from:?} {to:?}");
        }
        let one = UsageRequest::parse(Some("2026-12-03"), None, None, today).unwrap();
        assert_eq!(one.from, one.to);
        let backwards = UsageRequest::parse(Some("2026-12-04"), None, None, today).unwrap();
        assert!(
            backwards.from > backwards.to,
            "an empty range, not an error"
        );
    }

    #[test]
    fn merging_sums_groups_with_the_same_keys() {
        let request = UsageRequest::parse(None, None, Some("model"), day("2026-12-03")).unwrap();
        let mut report = UsageReport::empty(&request);
        let group = |model: &str, runs: u64| UsageGroup {
            day: None,
            runtime_id: None,
            profile: None,
            model: Some(model.to_owned()),
            worker_id: None,
            usage: UsageFigures {
                runs,
                completed: runs,
                prompt_tokens: 10 * runs,
                ..UsageFigures::default()
            },
        };
        report.merge(vec![group("b", 1), group("a", 2)]);
        report.merge(vec![group("a", 3)]);
        assert_eq!(report.groups.len(), 2);
        assert_eq!(report.groups[0].model.as_deref(), Some("a"));
        assert_eq!(report.groups[0].usage.runs, 5);
        assert_eq!(report.total.runs, 6);
        assert_eq!(report.total.prompt_tokens, 60);
    }
}
