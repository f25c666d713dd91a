//! Search's figures (the search issue): `GET /api/search` of a real
//! `yoi serve` whose store holds 100,000 messages of 1,000 workers, written
//! into its database as the store writes them (the index kept by the
//! store's own triggers), then asked for a word that 100 messages hold, a
//! Japanese word inside sentences, and (without a target, for scale) a word
//! every message holds. Targets: 20 ms p50, 100 ms p99.
//!
//! Indexing's cost: the same runs (a user message, an answer streamed in
//! four partial flushes then ended, the run's row), one transaction per run
//! as the store's writer commits them, written into two copies of a fresh
//! store, one with the index's triggers dropped. Target: at most 10 % more
//! time per run with the index.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::params;
use yoi_test_support::MockOpenAi;

use crate::client::{quantile_ms, Client};
use crate::procs::Yoi;
use crate::{BenchError, Figure, Size};

const MESSAGES: usize = 100_000;
const WORKERS: usize = 1000;

fn sql(e: rusqlite::Error) -> BenchError {
    BenchError::Io(std::io::Error::other(e.to_string()))
}

fn worker_id(i: usize) -> String {
    format!("01J{i:023}")
}

/// A message's JSON as the store keeps it.
fn message(n: usize, role: &str, text: &str, state: &str) -> String {
    serde_json::json!({
        "id": format!("01M{n:023}"),
        "role": role,
        "text": text,
        "at": "2026-12-01T10:00:00.000Z",
        "run_id": format!("01K{:023}", n / 2),
        "state": state,
    })
    .to_string()
}

/// The text of message `n`: ordinary words, a word 100 messages share
/// (`topic{n % 1000}x`), and a Japanese sentence on one message in ten.
fn text(n: usize) -> String {
    let mut t = format!(
        "message {n} on topic{:03}x: we went over the plan for the next release, the open questions and who takes which part of the work",
        n % 1000
    );
    if n.is_multiple_of(10) {
        t.push_str(" 明日の定例会議で決めましょう");
    }
    t
}

fn workers(conn: &rusqlite::Connection) -> Result<(), BenchError> {
    for i in 0..WORKERS {
        conn.execute(
            "INSERT INTO workers (worker_id, display_name, profile, created_at, seq_reserved, usage)
             VALUES (?1, ?2, 'companion', '\"2026-01-01T00:00:00.000Z\"', 0, '{\"runs\":0,\"prompt_tokens\":0,\"completion_tokens\":0}')",
            params![worker_id(i), format!("w{i}")],
        )
        .map_err(sql)?;
    }
    Ok(())
}

/// Writes the 100,000 messages into the database of a stopped `yoi serve`.
fn fill(db: &Path) -> Result<(), BenchError> {
    let mut conn = rusqlite::Connection::open(db).map_err(sql)?;
    let tx = conn.transaction().map_err(sql)?;
    workers(&tx)?;
    for n in 0..MESSAGES {
        let role = if n.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        };
        tx.prepare_cached("INSERT INTO messages (message_id, worker_id, data) VALUES (?1, ?2, ?3)")
            .map_err(sql)?
            .execute(params![
                format!("01M{n:023}"),
                worker_id((n / 2) % WORKERS),
                message(n, role, &text(n), "complete"),
            ])
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

/// Time to write `runs` runs, one transaction each, as the store does.
fn write_runs(db: &Path, runs: usize) -> Result<Duration, BenchError> {
    let mut conn = rusqlite::Connection::open(db).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    workers(&conn)?;
    let upsert = "INSERT INTO messages (message_id, worker_id, data) VALUES (?1, ?2, ?3)
                  ON CONFLICT(message_id) DO UPDATE SET data = excluded.data";
    let started = Instant::now();
    for run in 0..runs {
        let worker = worker_id(run % WORKERS);
        let (user, answer) = (2 * run, 2 * run + 1);
        let full = text(answer);
        // The input, then the answer's partial flushes, then its end: one
        // commit each, as the writer batches them when a run streams slowly.
        let tx = conn.transaction().map_err(sql)?;
        tx.prepare_cached(upsert)
            .map_err(sql)?
            .execute(params![
                format!("01M{user:023}"),
                worker,
                message(user, "user", &text(user), "complete")
            ])
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        for part in 1..=4 {
            let cut: String = full.chars().take(full.chars().count() * part / 5).collect();
            let tx = conn.transaction().map_err(sql)?;
            tx.prepare_cached(upsert)
                .map_err(sql)?
                .execute(params![
                    format!("01M{answer:023}"),
                    worker,
                    message(answer, "assistant", &cut, "streaming")
                ])
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        let tx = conn.transaction().map_err(sql)?;
        tx.prepare_cached(upsert)
            .map_err(sql)?
            .execute(params![
                format!("01M{answer:023}"),
                worker,
                message(answer, "assistant", &full, "complete")
            ])
            .map_err(sql)?;
        end_run(&tx, run, &worker)?;
        tx.commit().map_err(sql)?;
    }
    Ok(started.elapsed())
}

/// What a run's end writes beside its answer: the run's row, the worker's
/// usage and seq, the usage roll-ups.
fn end_run(tx: &rusqlite::Transaction<'_>, run: usize, worker: &str) -> Result<(), BenchError> {
    tx.prepare_cached(
        "INSERT INTO runs (run_id, worker_id, data) VALUES (?1, ?2, ?3)
         ON CONFLICT(run_id) DO UPDATE SET data = excluded.data",
    )
    .map_err(sql)?
    .execute(params![
        format!("01K{run:023}"),
        worker,
        format!("{{\"run_id\":\"01K{run:023}\",\"state\":\"completed\"}}")
    ])
    .map_err(sql)?;
    // What else a run's end writes: the worker's usage and seq, the roll-ups.
    tx.prepare_cached(
        "UPDATE workers SET usage = ?2, seq_reserved = seq_reserved + 8 WHERE worker_id = ?1",
    )
    .map_err(sql)?
    .execute(params![
        worker,
        "{\"runs\":1,\"prompt_tokens\":200,\"completion_tokens\":50}"
    ])
    .map_err(sql)?;
    for table in ["usage_by_day", "usage_daily"] {
        let (keys, values) = if table == "usage_daily" {
            (
                "day, worker_id, profile, model",
                "'2026-12-01', ?1, 'companion', 'm'",
            )
        } else {
            ("day, profile, model", "'2026-12-01', 'companion', 'm'")
        };
        let text = format!(
            "INSERT INTO {table} ({keys}, runs, completed, failed, cancelled, prompt_tokens,
                 completion_tokens, run_ms, tool_calls)
             VALUES ({values}, 1, 1, 0, 0, 200, 50, 900, 0)
             ON CONFLICT({keys}) DO UPDATE SET runs = runs + 1,
                 prompt_tokens = prompt_tokens + 200"
        );
        let mut stmt = tx.prepare_cached(&text).map_err(sql)?;
        if table == "usage_daily" {
            stmt.execute(params![worker]).map_err(sql)?;
        } else {
            stmt.execute([]).map_err(sql)?;
        }
    }
    Ok(())
}

/// Indexing's added time per run, in percent: the best of three rounds
/// each, with and without the index's triggers, on copies of `fresh`.
fn indexing_cost(fresh: &Path, runs: usize) -> Result<f64, BenchError> {
    let dir = fresh
        .parent()
        .ok_or(BenchError::Shape("a database without a directory"))?;
    let mut with = Duration::MAX;
    let mut without = Duration::MAX;
    for round in 0..3 {
        for indexed in [true, false] {
            let copy = dir.join(format!("cost-{round}-{indexed}.db"));
            std::fs::copy(fresh, &copy)?;
            if !indexed {
                let conn = rusqlite::Connection::open(&copy).map_err(sql)?;
                conn.execute_batch(
                    "DROP TRIGGER messages_fts_insert; DROP TRIGGER messages_fts_update;
                     DROP TRIGGER messages_fts_delete;",
                )
                .map_err(sql)?;
            }
            let took = write_runs(&copy, runs)?;
            if indexed {
                with = with.min(took);
            } else {
                without = without.min(took);
            }
        }
    }
    Ok((with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0)
}

async fn timed(client: &Client, path: &str, n: usize) -> Result<(f64, f64), BenchError> {
    // One answer read before timing: the figure is the query, not a cold cache.
    client.get(path).await?;
    let mut samples: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push(client.time_get(path).await?);
    }
    Ok((
        quantile_ms(&mut samples, 0.5),
        quantile_ms(&mut samples, 0.99),
    ))
}

pub async fn run(size: Size) -> Result<Vec<Figure>, BenchError> {
    let mock = MockOpenAi::start().await;
    // Start once so the store exists with its schema, then stop and fill it.
    let (yoi, _, dir) = crate::store::backend(&mock, "").await?;
    yoi.stop().await;
    let db = dir.0.join(".yoi/yoi.db");
    let fresh = dir.0.join("fresh.db");
    std::fs::copy(&db, &fresh)?;
    fill(&db)?;
    let yoi = Yoi::start(
        &["serve"],
        &dir.0,
        &crate::store::provider(&mock),
        "open http://127.0.0.1:",
    )
    .await?;
    let client = Client::new(format!("http://127.0.0.1:{}", yoi.port), None);
    let rare = "/api/search?q=topic042x";
    let answer = client.get(&format!("{rare}&limit=100")).await?;
    if answer["hits"].as_array().map_or(0, Vec::len) != 100 {
        return Err(BenchError::Shape(
            "the search does not find the word's 100 messages",
        ));
    }
    let n = size.pick(50, 500);
    let (rare50, rare99) = timed(&client, rare, n).await?;
    // 会議 is 2 characters (the bounded LIKE scan); 定例会議 uses the index.
    let japanese = "/api/search?q=%E5%AE%9A%E4%BE%8B%E4%BC%9A%E8%AD%B0%20topic042x";
    let (ja50, ja99) = timed(&client, japanese, n).await?;
    let (common50, _) = timed(&client, "/api/search?q=release", size.pick(5, 20)).await?;
    yoi.stop().await;
    let cost = indexing_cost(&fresh, size.pick(300, 2000))?;
    Ok(vec![
        Figure::new(
            "search: a word of 100 in 100,000 messages, p50",
            rare50,
            "ms",
        )
        .at_most(20.0),
        Figure::new("search: the same, p99", rare99, "ms").at_most(100.0),
        Figure::new("search: a Japanese word and that word, p50", ja50, "ms").at_most(20.0),
        Figure::new("search: the same, p99", ja99, "ms").at_most(100.0),
        // Every message holds it: bm25 ranks all 100,000. No target.
        Figure::new("search: a word every message holds, p50", common50, "ms"),
        Figure::new("search: indexing's added time per run", cost, "%").at_most(10.0),
    ])
}
