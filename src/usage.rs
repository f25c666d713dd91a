//! `yoi usage`: what the workspace spent, as a plain table in the terminal,
//! from a running backend's `GET /api/usage` (the same numbers the console
//! shows).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use yoi_protocol::{ErrorEnvelope, UsageGroup, UsageReport};

#[derive(Args)]
pub struct UsageArgs {
    /// The backend's URL.
    #[arg(long, default_value = "http://127.0.0.1:7760")]
    server: String,
    /// How far back: a number of days (`7d`: today and the six before) or a
    /// first day (`2026-12-01`), in UTC.
    #[arg(long, default_value = "7d")]
    since: String,
    /// Groups, separated by commas: day, runtime, profile, model, worker.
    #[arg(long, default_value = "model")]
    by: String,
}

/// Why `yoi usage` could not show the table.
#[derive(Debug, thiserror::Error)]
enum UsageError {
    #[error("--since takes a number of days (7d) or a date (2026-12-01): {0}")]
    Since(String),
    #[error("cannot reach the backend at {server}: {why}")]
    Unreachable { server: String, why: String },
    #[error("the backend answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the backend's answer is not a usage report: {0}")]
    Unreadable(String),
}

pub async fn run(args: UsageArgs) -> ExitCode {
    match fetch(&args).await {
        Ok(report) => {
            print!("{}", render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("yoi: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first day `since` names: `Nd` counts today as the first of N days.
fn from_day(since: &str) -> Result<String, UsageError> {
    if let Some(days) = since.strip_suffix('d') {
        let days: u32 = days
            .parse()
            .ok()
            .filter(|d| (1..=36_600).contains(d))
            .ok_or_else(|| UsageError::Since(since.to_owned()))?;
        let mut day = yoi_protocol::Timestamp::now().0.date_naive();
        for _ in 1..days {
            day = day
                .pred_opt()
                .ok_or_else(|| UsageError::Since(since.to_owned()))?;
        }
        return Ok(day.format("%Y-%m-%d").to_string());
    }
    // A date: the backend checks it (and answers invalid_input otherwise).
    Ok(since.to_owned())
}

async fn fetch(args: &UsageArgs) -> Result<UsageReport, UsageError> {
    let from = from_day(&args.since)?;
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/usage", args.server.trim_end_matches('/')),
        [("from", from.as_str()), ("by", args.by.as_str())],
    )
    .map_err(|e| UsageError::Unreachable {
        server: args.server.clone(),
        why: e.to_string(),
    })?;
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = std::env::var("YOI_TOKEN").ok().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let unreachable = |e: reqwest::Error| UsageError::Unreachable {
        server: args.server.clone(),
        // Without the URL reqwest repeats: the server is named once above.
        why: e.without_url().to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(unreachable)?;
    if status != 200 {
        let message = serde_json::from_slice::<ErrorEnvelope>(&body)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| "no error envelope".to_owned());
        return Err(UsageError::Refused { status, message });
    }
    serde_json::from_slice(&body).map_err(|e| UsageError::Unreadable(e.to_string()))
}

fn keys(group: &UsageGroup, report: &UsageReport) -> Vec<String> {
    report
        .by
        .iter()
        .map(|by| {
            let value = match by {
                yoi_protocol::UsageBy::Day => group.day.clone(),
                yoi_protocol::UsageBy::Runtime => {
                    group.runtime_id.as_ref().map(ToString::to_string)
                }
                yoi_protocol::UsageBy::Profile => group.profile.clone(),
                yoi_protocol::UsageBy::Model => group.model.clone(),
                yoi_protocol::UsageBy::Worker => group.worker_id.map(|w| w.to_string()),
            };
            value.unwrap_or_else(|| "-".to_owned())
        })
        .collect()
}

fn figures(u: &yoi_protocol::UsageFigures) -> Vec<String> {
    vec![
        u.runs.to_string(),
        u.completed.to_string(),
        u.failed.to_string(),
        u.cancelled.to_string(),
        u.prompt_tokens.to_string(),
        u.completion_tokens.to_string(),
        format!("{:.1}", u.run_ms as f64 / 1000.0),
        u.tool_calls.to_string(),
    ]
}

/// The report as a table: a row per group, then the total, then the
/// runtimes that could not answer.
pub fn render(report: &UsageReport) -> String {
    let mut header: Vec<String> = report.by.iter().map(|b| b.as_str().to_owned()).collect();
    header.extend(
        [
            "runs",
            "completed",
            "failed",
            "cancelled",
            "prompt",
            "completion",
            "run s",
            "tool calls",
        ]
        .map(str::to_owned),
    );
    let mut rows = vec![header];
    for group in &report.groups {
        let mut row = keys(group, report);
        row.extend(figures(&group.usage));
        rows.push(row);
    }
    let mut total: Vec<String> = report.by.iter().map(|_| String::new()).collect();
    if let Some(first) = total.first_mut() {
        "total".clone_into(first);
    }
    total.extend(figures(&report.total));
    rows.push(total);
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let keyed = report.by.len();
    let mut out = format!("usage from {} to {} (UTC days)\n", report.from, report.to);
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                // Keys to the left, numbers to the right.
                if c < keyed {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    if !report.missing.is_empty() {
        let names: Vec<String> = report.missing.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "not counted (runtime unavailable): {}",
            names.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_table_has_a_row_per_group_a_total_and_the_missing_runtimes() {
        let report: UsageReport = serde_json::from_value(serde_json::json!({
            "from": "2026-11-27", "to": "2026-12-03", "by": ["model"],
            "groups": [
                {"model": "big-model", "usage": {"runs": 3, "completed": 2, "failed": 1, "cancelled": 0,
                    "prompt_tokens": 9000, "completion_tokens": 900, "run_ms": 1500, "tool_calls": 0}},
                {"model": "m", "usage": {"runs": 1, "completed": 1, "failed": 0, "cancelled": 0,
                    "prompt_tokens": 10, "completion_tokens": 1, "run_ms": 20, "tool_calls": 2}}
            ],
            "total": {"runs": 4, "completed": 3, "failed": 1, "cancelled": 0,
                "prompt_tokens": 9010, "completion_tokens": 901, "run_ms": 1520, "tool_calls": 2},
            "missing": ["gpu"]
        }))
        .unwrap();
        let table = render(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "usage from 2026-11-27 to 2026-12-03 (UTC days)");
        assert!(lines[1].starts_with("model"), "{table}");
        assert!(
            lines[2].starts_with("big-model") && lines[2].contains("9000"),
            "{table}"
        );
        assert!(
            lines[4].starts_with("total") && lines[4].contains("9010"),
            "{table}"
        );
        assert!(lines[4].contains("1.5"), "run time in seconds: {table}");
        assert_eq!(lines[5], "not counted (runtime unavailable): gpu");
    }

    #[test]
    fn since_counts_today_as_the_first_day() {
        let today = yoi_protocol::Timestamp::now().0.date_naive();
        assert_eq!(
            from_day("1d").unwrap(),
            today.format("%Y-%m-%d").to_string()
        );
        assert_eq!(from_day("2026-12-01").unwrap(), "2026-12-01");
        assert!(from_day("0d").is_err());
        assert!(from_day("xd").is_err());
    }
}
