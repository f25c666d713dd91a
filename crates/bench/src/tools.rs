//! The tool loop's figure (the tool-loop issue): what a round trip through a
//! built-in tool adds to a run beyond the provider's own time. A run that
//! calls `yoi.list_workers` once makes two model turns; the same worker's
//! plain run makes one. The figure is the tool run's p50, less the plain
//! run's p50, less one direct turn of the same mock read by this process:
//! what is left is yoi's tool round trip (look up, check, grant, call,
//! bound, record, the second request).

use std::time::{Duration, Instant};

use serde_json::json;
use yoi_test_support::MockOpenAi;

use crate::client::{quantile_ms, Client};
use crate::{BenchError, Figure, Size};

const GRANTS: &str = "[profiles.helper.tools]\n\"yoi.list_workers\" = \"allow\"\n";

/// The time of one run of `text` through `input?wait=true`, on a new
/// worker of the `helper` profile (so that every sample sends the same short
/// history).
async fn one_run(client: &Client, text: &str) -> Result<Duration, BenchError> {
    let w = client
        .post(
            "/api/runtimes/backend-internal/workers",
            json!({"profile": "helper"}),
        )
        .await?;
    let id = w["worker_id"]
        .as_str()
        .ok_or(BenchError::Shape("worker_id"))?;
    let path = format!("/api/runtimes/backend-internal/workers/{id}/input?wait=true");
    let start = Instant::now();
    let outcome = client.post(&path, json!({"text": text})).await?;
    let took = start.elapsed();
    if outcome["message"]["state"] != "complete" {
        return Err(BenchError::Shape("a benchmark run did not complete"));
    }
    Ok(took)
}

/// One streamed turn of the mock, read whole by this process.
async fn direct_turns(mock: &MockOpenAi, n: usize) -> Result<Vec<Duration>, BenchError> {
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", mock.base_url());
    let body = json!({"model": "bench-model", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        http.post(&url).json(&body).send().await?.bytes().await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

pub async fn run(size: Size) -> Result<Vec<Figure>, BenchError> {
    let n = size.pick(40, 300);
    let mock = MockOpenAi::start().await;
    let (yoi, client, _dir) = crate::store::backend(&mock, GRANTS).await?;
    let tool_text = "[[tool:yoi.list_workers {\"limit\": 3}]]";
    // Warm both paths once, then alternate them so that both see the same machine.
    one_run(&client, "hi").await?;
    one_run(&client, tool_text).await?;
    let mut plain = Vec::with_capacity(n);
    let mut tool = Vec::with_capacity(n);
    for _ in 0..n {
        plain.push(one_run(&client, "hi").await?);
        tool.push(one_run(&client, tool_text).await?);
    }
    let mut direct = direct_turns(&mock, n).await?;
    yoi.stop().await;
    let added =
        quantile_ms(&mut tool, 0.5) - quantile_ms(&mut plain, 0.5) - quantile_ms(&mut direct, 0.5);
    Ok(vec![
        Figure::new(
            "tool round trip (yoi.list_workers) added to a run, p50",
            added,
            "ms",
        )
        .at_most(2.0),
        Figure::new(
            "run with one tool call, p50",
            quantile_ms(&mut tool, 0.5),
            "ms",
        ),
        Figure::new("plain run, p50", quantile_ms(&mut plain, 0.5), "ms"),
        Figure::new(
            "one turn of the mock read directly, p50",
            quantile_ms(&mut direct, 0.5),
            "ms",
        ),
    ])
}
