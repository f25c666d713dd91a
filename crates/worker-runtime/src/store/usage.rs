//! Usage over time from the store: each run's end adds itself to two daily
//! roll-ups in the same transaction as the run's end, so the sums never
//! disagree with the runs: `usage_daily` (one row per UTC day, worker,
//! profile and model) and `usage_by_day` (per day, profile and model, which
//! answers every query not grouped by worker, whatever the number of
//! workers). A usage query reads only the rows of its days (both primary
//! keys start with the day), on a read connection of its own in a blocking
//! task: never on the writer thread, never on a Worker.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, Transaction};
use yoi_protocol::{RunState, RunUsage, UsageBy, UsageFigures, UsageGroup, UsageRequest, WorkerId};

use super::StoreError;

/// What one ended run adds to the roll-up.
#[derive(Debug, Clone)]
pub struct Tally {
    pub worker_id: WorkerId,
    /// The UTC day it ended (`YYYY-MM-DD`).
    pub day: String,
    pub profile: String,
    pub model: String,
    pub state: RunState,
    pub usage: RunUsage,
    pub duration_ms: u64,
    pub tool_calls: u64,
}

fn sql(e: impl std::fmt::Display) -> StoreError {
    StoreError::Sql(e.to_string())
}

/// SQLite holds signed 64-bit integers: counts past that saturate.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What one more run adds to a row of either roll-up (both have the same
/// counters).
macro_rules! add_run {
    () => {
        "runs = runs + 1,
         completed = completed + excluded.completed,
         failed = failed + excluded.failed,
         cancelled = cancelled + excluded.cancelled,
         prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens,
         run_ms = run_ms + excluded.run_ms,
         tool_calls = tool_calls + excluded.tool_calls"
    };
}

pub(super) fn put_tally(tx: &Transaction<'_>, t: &Tally) -> Result<(), StoreError> {
    let outcome = |s: RunState| i64::from(t.state == s);
    tx.prepare_cached(concat!(
        "INSERT INTO usage_by_day (day, profile, model, runs, completed, failed,
             cancelled, prompt_tokens, completion_tokens, run_ms, tool_calls)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(day, profile, model) DO UPDATE SET ",
        add_run!()
    ))
    .map_err(sql)?
    .execute(params![
        t.day,
        t.profile,
        t.model,
        outcome(RunState::Completed),
        outcome(RunState::Failed),
        outcome(RunState::Cancelled),
        int(t.usage.prompt_tokens),
        int(t.usage.completion_tokens),
        int(t.duration_ms),
        int(t.tool_calls),
    ])
    .map_err(sql)?;
    tx.prepare_cached(concat!(
        "INSERT INTO usage_daily (day, worker_id, profile, model, runs, completed, failed,
             cancelled, prompt_tokens, completion_tokens, run_ms, tool_calls)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(day, worker_id, profile, model) DO UPDATE SET ",
        add_run!()
    ))
    .map_err(sql)?
    .execute(params![
        t.day,
        t.worker_id.to_string(),
        t.profile,
        t.model,
        outcome(RunState::Completed),
        outcome(RunState::Failed),
        outcome(RunState::Cancelled),
        int(t.usage.prompt_tokens),
        int(t.usage.completion_tokens),
        int(t.duration_ms),
        int(t.tool_calls),
    ])
    .map_err(sql)?;
    Ok(())
}

/// The roll-up's column a group reads, if it is one of the store's (the
/// runtime is the caller's to fill in).
fn column(group: UsageBy) -> Option<&'static str> {
    match group {
        UsageBy::Day => Some("day"),
        UsageBy::Profile => Some("profile"),
        UsageBy::Model => Some("model"),
        UsageBy::Worker => Some("worker_id"),
        UsageBy::Runtime => None,
    }
}

/// The sums of `request`'s days, grouped as it asks, from the database at
/// `path` (opened read-only: WAL lets it read while the writer writes).
pub fn query(path: &Path, request: &UsageRequest) -> Result<Vec<UsageGroup>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    query_on(&conn, request)
}

pub(super) fn query_on(
    conn: &Connection,
    request: &UsageRequest,
) -> Result<Vec<UsageGroup>, StoreError> {
    let groups: Vec<UsageBy> = request
        .by
        .iter()
        .copied()
        .filter(|g| column(*g).is_some())
        .collect();
    let keys: Vec<&str> = groups.iter().filter_map(|g| column(*g)).collect();
    // The columns come from the fixed list above, never from the client.
    let select = keys.iter().map(|k| format!("{k}, ")).collect::<String>();
    let grouping = if keys.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {0} ORDER BY {0}", keys.join(", "))
    };
    // The roll-up per worker only when the query groups by worker.
    let table = if request.has(UsageBy::Worker) {
        "usage_daily"
    } else {
        "usage_by_day"
    };
    let text = format!(
        "SELECT {select}sum(runs), sum(completed), sum(failed), sum(cancelled),
             sum(prompt_tokens), sum(completion_tokens), sum(run_ms), sum(tool_calls)
         FROM {table} WHERE day >= ?1 AND day <= ?2{grouping}"
    );
    let mut stmt = conn.prepare(&text).map_err(sql)?;
    let from = request.from.format("%Y-%m-%d").to_string();
    let to = request.to.format("%Y-%m-%d").to_string();
    let n = keys.len();
    let rows = stmt
        .query_map(params![from, to], |row| {
            let mut group = UsageGroup {
                day: None,
                runtime_id: None,
                profile: None,
                model: None,
                worker_id: None,
                usage: UsageFigures::default(),
            };
            for (i, g) in groups.iter().enumerate() {
                let value: String = row.get(i)?;
                match g {
                    UsageBy::Day => group.day = Some(value),
                    UsageBy::Profile => group.profile = Some(value),
                    // Runs from before usage kept the model have none.
                    UsageBy::Model => group.model = (!value.is_empty()).then_some(value),
                    UsageBy::Worker => group.worker_id = value.parse().ok(),
                    UsageBy::Runtime => {}
                }
            }
            let figure = |i: usize| -> rusqlite::Result<u64> {
                let v: Option<i64> = row.get(n + i)?;
                Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
            };
            group.usage = UsageFigures {
                runs: figure(0)?,
                completed: figure(1)?,
                failed: figure(2)?,
                cancelled: figure(3)?,
                prompt_tokens: figure(4)?,
                completion_tokens: figure(5)?,
                run_ms: figure(6)?,
                tool_calls: figure(7)?,
            };
            Ok(group)
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let group = row.map_err(sql)?;
        // With no grouping an empty range still sums one row of NULLs.
        if group.usage.runs > 0 {
            out.push(group);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use yoi_protocol::{Timestamp, UsageRequest};

    use super::*;

    fn request(from: &str, to: &str, by: &str) -> UsageRequest {
        let today = Timestamp::now().0.date_naive();
        UsageRequest::parse(Some(from), Some(to), Some(by), today).unwrap()
    }

    fn tally(worker_id: WorkerId, day: &str, model: &str, state: RunState, tokens: u64) -> Tally {
        Tally {
            worker_id,
            day: day.to_owned(),
            profile: "p".to_owned(),
            model: model.to_owned(),
            state,
            usage: RunUsage {
                prompt_tokens: tokens,
                completion_tokens: 1,
            },
            duration_ms: 10,
            tool_calls: 2,
        }
    }

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        for sql in super::super::schema::MIGRATIONS {
            tx.execute_batch(sql).unwrap();
        }
        tx.commit().unwrap();
        conn
    }

    #[test]
    fn tallies_add_up_by_day_and_model_within_the_range() {
        let mut conn = database();
        let (a, b) = (WorkerId::new(), WorkerId::new());
        let tx = conn.transaction().unwrap();
        for t in [
            tally(a, "2026-11-30", "m1", RunState::Completed, 100),
            tally(a, "2026-12-01", "m1", RunState::Completed, 200),
            tally(a, "2026-12-01", "m1", RunState::Failed, 300),
            tally(b, "2026-12-01", "m2", RunState::Cancelled, 400),
            tally(b, "2026-12-03", "m2", RunState::Completed, 500),
        ] {
            put_tally(&tx, &t).unwrap();
        }
        tx.commit().unwrap();

        let groups = query_on(&conn, &request("2026-12-01", "2026-12-02", "model,day")).unwrap();
        assert_eq!(groups.len(), 2, "{groups:?}");
        let m1 = &groups[0];
        assert_eq!(
            (m1.day.as_deref(), m1.model.as_deref()),
            (Some("2026-12-01"), Some("m1"))
        );
        assert_eq!(m1.usage.runs, 2);
        assert_eq!((m1.usage.completed, m1.usage.failed), (1, 1));
        assert_eq!(m1.usage.prompt_tokens, 500);
        assert_eq!(m1.usage.tool_calls, 4);
        assert_eq!(groups[1].usage.cancelled, 1);

        let all = query_on(&conn, &request("2026-01-01", "2026-12-31", "")).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].usage.runs, 5);
        assert_eq!(all[0].usage.prompt_tokens, 1500);
        assert_eq!(all[0].usage.run_ms, 50);

        let none = query_on(&conn, &request("2027-01-01", "2027-01-31", "")).unwrap();
        assert!(none.is_empty(), "an empty range has no group: {none:?}");
        let by_worker = query_on(&conn, &request("2026-01-01", "2026-12-31", "worker")).unwrap();
        assert_eq!(by_worker.len(), 2);
        assert!(by_worker
            .iter()
            .any(|g| g.worker_id == Some(b) && g.usage.runs == 2));
    }
}
