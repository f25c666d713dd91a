//! The usage query's figure (the usage issue): `GET /api/usage` of a real
//! `yoi serve` whose store holds a year of 1,000 runs a day (365,000 runs of
//! 50 workers on two profiles with two models), written into its database
//! as the store writes them (each run's row and its day's roll-up), then
//! asked for the whole year by day and model (the console's chart) and by
//! model (`yoi usage`). Target: under 50 ms at the median. By worker too,
//! without a target (that roll-up holds a row per worker and day).

use std::time::Duration;

use chrono::{Days, Utc};
use rusqlite::params;
use yoi_test_support::MockOpenAi;

use crate::client::{quantile_ms, Client};
use crate::procs::Yoi;
use crate::{BenchError, Figure, Size};

const RUNS_PER_DAY: usize = 1000;
const DAYS: u64 = 365;
const WORKERS: usize = 50;

fn sql(e: rusqlite::Error) -> BenchError {
    BenchError::Io(std::io::Error::other(e.to_string()))
}

/// Writes a year of runs into the database of a stopped `yoi serve`.
fn fill(db: &std::path::Path) -> Result<(), BenchError> {
    let mut conn = rusqlite::Connection::open(db).map_err(sql)?;
    let tx = conn.transaction().map_err(sql)?;
    let today = Utc::now().date_naive();
    let workers: Vec<String> = (0..WORKERS).map(|i| format!("01J{i:023}")).collect();
    for (i, w) in workers.iter().enumerate() {
        tx.execute(
            "INSERT INTO workers (worker_id, display_name, profile, created_at, seq_reserved, usage)
             VALUES (?1, ?2, ?3, '\"2025-01-01T00:00:00.000Z\"', 0, '{\"runs\":0,\"prompt_tokens\":0,\"completion_tokens\":0}')",
            params![w, format!("w{i}"), if i % 2 == 0 { "companion" } else { "big" }],
        )
        .map_err(sql)?;
    }
    let mut run = 0u64;
    for back in 0..DAYS {
        let day = today
            .checked_sub_days(Days::new(back))
            .ok_or(BenchError::Shape("a day before the calendar"))?
            .format("%Y-%m-%d")
            .to_string();
        for n in 0..RUNS_PER_DAY {
            run += 1;
            let worker = &workers[n % WORKERS];
            let (profile, model) = if (n % WORKERS).is_multiple_of(2) {
                ("companion", "small-model")
            } else {
                ("big", "big-model")
            };
            tx.prepare_cached("INSERT INTO runs (run_id, worker_id, data) VALUES (?1, ?2, ?3)")
                .map_err(sql)?
                .execute(params![
                    format!("01K{run:023}"),
                    worker,
                    format!(
                        "{{\"run_id\":\"01K{run:023}\",\"state\":\"completed\",\"usage\":{{\"prompt_tokens\":200,\"completion_tokens\":50}},\"duration_ms\":900}}"
                    ),
                ])
                .map_err(sql)?;
            tx.prepare_cached(
                "INSERT INTO usage_daily VALUES (?1, ?2, ?3, ?4, 1, 1, 0, 0, 200, 50, 900, 0)
                 ON CONFLICT(day, worker_id, profile, model) DO UPDATE SET
                     runs = runs + 1, completed = completed + 1,
                     prompt_tokens = prompt_tokens + 200, completion_tokens = completion_tokens + 50,
                     run_ms = run_ms + 900",
            )
            .map_err(sql)?
            .execute(params![day, worker, profile, model])
            .map_err(sql)?;
            tx.prepare_cached(
                "INSERT INTO usage_by_day VALUES (?1, ?2, ?3, 1, 1, 0, 0, 200, 50, 900, 0)
                 ON CONFLICT(day, profile, model) DO UPDATE SET
                     runs = runs + 1, completed = completed + 1,
                     prompt_tokens = prompt_tokens + 200, completion_tokens = completion_tokens + 50,
                     run_ms = run_ms + 900",
            )
            .map_err(sql)?
            .execute(params![day, profile, model])
            .map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)
}

async fn p50(client: &Client, path: &str, n: usize) -> Result<f64, BenchError> {
    // One answer read before timing: the figure is the query, not a cold cache.
    client.get(path).await?;
    let mut samples: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push(client.time_get(path).await?);
    }
    Ok(quantile_ms(&mut samples, 0.5))
}

pub async fn run(size: Size) -> Result<Vec<Figure>, BenchError> {
    let mock = MockOpenAi::start().await;
    let toml = "[profiles.big]\nmodel = \"big-model\"\n";
    // Start once so the store exists with its schema, then stop and fill it.
    let (yoi, _, dir) = crate::store::backend(&mock, toml).await?;
    yoi.stop().await;
    fill(&dir.0.join(".yoi/yoi.db"))?;
    let yoi = Yoi::start(
        &["serve"],
        &dir.0,
        &crate::store::provider(&mock),
        "open http://127.0.0.1:",
    )
    .await?;
    let client = Client::new(format!("http://127.0.0.1:{}", yoi.port), None);
    let today = Utc::now().date_naive();
    let from = today
        .checked_sub_days(Days::new(DAYS - 1))
        .ok_or(BenchError::Shape("a day before the calendar"))?
        .format("%Y-%m-%d");
    let year = format!("/api/usage?from={from}&by=day,model");
    let answer = client.get(&year).await?;
    let runs = answer["total"]["runs"].as_u64().unwrap_or(0);
    if runs < DAYS * RUNS_PER_DAY as u64 {
        return Err(BenchError::Shape(
            "the usage answer does not count the year",
        ));
    }
    let n = size.pick(20, 100);
    let by_day = p50(&client, &year, n).await?;
    let by_model = p50(&client, &format!("/api/usage?from={from}&by=model"), n).await?;
    let by_worker = p50(&client, &format!("/api/usage?from={from}&by=worker"), n).await?;
    yoi.stop().await;
    Ok(vec![
        Figure::new(
            "usage: a year of 1,000 runs/day by day and model, p50",
            by_day,
            "ms",
        )
        .at_most(50.0),
        Figure::new("usage: the same year by model, p50", by_model, "ms").at_most(50.0),
        // Reads a row per worker and day: no target, shown for scale.
        Figure::new(
            "usage: the same year by worker (50 workers), p50",
            by_worker,
            "ms",
        ),
    ])
}
