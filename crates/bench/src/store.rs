//! The store's figures (the workspace store issue): how fast workers are
//! created in the embedded runtime and through a local runtime, how fast
//! input is answered, how fast a page of a long history and of a long worker
//! list comes back, and what the store costs a streamed answer in CPU
//! (a runtime with a state directory against one without, same run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use yoi_test_support::{MockOpenAi, Reply};

use crate::client::{quantile_ms, until_run_end, Client};
use crate::procs::{TempDir, Yoi};
use crate::{BenchError, Figure, Size};

const RUNTIMES: &str = "/api/runtimes";
const TOKEN: &str = "bench-token-0123456789abcdef";

pub(crate) fn provider(mock: &MockOpenAi) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", mock.base_url()),
        ("OPENAI_API_KEY", "sk-bench".to_owned()),
        ("YOI_MODEL", "bench-model".to_owned()),
    ]
}

pub(crate) async fn backend(
    mock: &MockOpenAi,
    toml: &str,
) -> Result<(Yoi, Client, TempDir), BenchError> {
    let dir = TempDir::new("serve")?;
    std::fs::write(
        dir.0.join("yoi.toml"),
        format!("bind = \"127.0.0.1:0\"\n{toml}\n{}", crate::LIMITS),
    )?;
    let yoi = Yoi::start(
        &["serve"],
        &dir.0,
        &provider(mock),
        "open http://127.0.0.1:",
    )
    .await?;
    let client = Client::new(format!("http://127.0.0.1:{}", yoi.port), None);
    Ok((yoi, client, dir))
}

/// Workers created per second by `clients` clients at once.
async fn creates(
    client: &Client,
    runtime: &str,
    n: usize,
    clients: usize,
) -> Result<f64, BenchError> {
    let path = Arc::new(format!("{RUNTIMES}/{runtime}"));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let path = path.clone();
        let share = n / clients + usize::from(c < n % clients);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                client.create_worker(&path).await?;
            }
            Ok::<(), BenchError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|_| BenchError::Shape("a client task failed"))??;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn wait_available(client: &Client, runtime: &str) -> Result<(), BenchError> {
    for _ in 0..300 {
        let rt = client.get(&format!("{RUNTIMES}/{runtime}")).await?;
        if rt["status"] == "available" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::Shape(
        "the local runtime never became available",
    ))
}

/// p50 of `samples` GETs of `path`.
async fn get_p50(client: &Client, path: &str, samples: usize) -> Result<f64, BenchError> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        times.push(client.time_get(path).await?);
    }
    Ok(quantile_ms(&mut times, 0.5))
}

/// `runs` inputs, one after the other; the time to the `202`, p50.
async fn inputs(client: &Client, worker: &str, runs: usize) -> Result<f64, BenchError> {
    let mut socket = client.events(worker).await?;
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        client
            .post(
                &format!("{worker}/input"),
                json!({"text": format!("question {i}")}),
            )
            .await?;
        times.push(start.elapsed());
        until_run_end(&mut socket).await?;
    }
    Ok(quantile_ms(&mut times, 0.5))
}

/// The embedded runtime: creates, list pages, input latency, history pages.
async fn embedded(size: Size, out: &mut Vec<Figure>) -> Result<(), BenchError> {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::text("a short answer"));
    let (yoi, client, _dir) = backend(&mock, "").await?;
    let n = size.pick(500, 2500);
    let rate = creates(&client, "backend-internal", n, 32).await?;
    out.push(Figure::new("creates/s, embedded runtime, 32 clients", rate, "/s").at_least(2000.0));
    let list = format!("{RUNTIMES}/backend-internal/workers");
    let page = get_p50(&client, &format!("{list}?limit=100"), 100).await?;
    out.push(
        Figure::new(
            &format!("worker list page of 100 (of {n}), p50"),
            page,
            "ms",
        )
        .at_most(5.0),
    );
    let whole = get_p50(&client, &list, 10).await?;
    out.push(Figure::new(
        &format!("whole worker list ({n}), p50"),
        whole,
        "ms",
    ));

    let worker = client
        .create_worker(&format!("{RUNTIMES}/backend-internal"))
        .await?;
    let p50 = inputs(&client, &worker, size.pick(200, 1000)).await?;
    out.push(Figure::new("POST input answered (202), p50", p50, "ms").at_most(3.0));
    // The worker now holds 2 messages per run: fill it up to the history size.
    let runs = size.pick(1000, 5000);
    inputs(&client, &worker, runs.saturating_sub(size.pick(200, 1000))).await?;
    let messages = 2 * runs;
    let newest = get_p50(&client, &format!("{worker}/transcript?limit=100"), 100).await?;
    out.push(
        Figure::new(
            &format!("transcript page, newest 100 of {messages}, p50"),
            newest,
            "ms",
        )
        .at_most(5.0),
    );
    let t = client
        .get(&format!("{worker}/transcript?limit=1000"))
        .await?;
    let deep = t["messages"][0]["id"]
        .as_str()
        .ok_or(BenchError::Shape("message id"))?;
    let older = get_p50(
        &client,
        &format!("{worker}/transcript?limit=100&before={deep}"),
        100,
    )
    .await?;
    out.push(
        Figure::new(
            &format!("transcript page, 100 older than the newest 1000 of {messages}, p50"),
            older,
            "ms",
        )
        .at_most(5.0),
    );
    yoi.stop().await;
    Ok(())
}

/// Creates through a local runtime (a child process on a Unix socket).
async fn local(size: Size, out: &mut Vec<Figure>) -> Result<(), BenchError> {
    let mock = MockOpenAi::start().await;
    let (yoi, client, _dir) =
        backend(&mock, "[[runtimes]]\nid = \"side\"\nkind = \"local\"\n").await?;
    wait_available(&client, "side").await?;
    let rate = creates(&client, "side", size.pick(500, 2500), 32).await?;
    out.push(Figure::new("creates/s, local runtime, 32 clients", rate, "/s").at_least(1000.0));
    yoi.stop().await;
    Ok(())
}

/// CPU of a runtime process per 1k streamed tokens, with and without a store.
async fn relay_cpu(mock: &MockOpenAi, store: bool, runs: usize) -> Result<f64, BenchError> {
    let dir = TempDir::new("runtime")?;
    let state = dir.0.join("state").to_string_lossy().into_owned();
    let mut args = vec![
        "runtime",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--runtime-id",
        "bench",
    ];
    if store {
        args.extend(["--state-dir", state.as_str()]);
    }
    let mut env = provider(mock);
    env.push(("YOI_RUNTIME_TOKEN", TOKEN.to_owned()));
    let yoi = Yoi::start(&args, &dir.0, &env, "is serving on TCP port ").await?;
    let client = Client::new(
        format!("http://127.0.0.1:{}", yoi.port),
        Some(TOKEN.to_owned()),
    );
    let worker = client.create_worker("/v1").await?;
    let mut socket = client.events(&worker).await?;
    let before = yoi.cpu_ms();
    let mut tokens = 0;
    for i in 0..runs {
        client
            .post(
                &format!("{worker}/input"),
                json!({"text": format!("go {i}")}),
            )
            .await?;
        tokens += until_run_end(&mut socket).await?;
    }
    let used = yoi.cpu_ms() - before;
    yoi.stop().await;
    #[allow(clippy::cast_precision_loss)]
    Ok(used * 1000.0 / tokens.max(1) as f64)
}

async fn store_cost(size: Size, out: &mut Vec<Figure>) -> Result<(), BenchError> {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::tokens((0..200).map(|i| format!(" t{i}"))));
    let runs = size.pick(100, 500);
    // Alternate, so that both see the same machine.
    let off = relay_cpu(&mock, false, runs).await?;
    let on = relay_cpu(&mock, true, runs).await?;
    let off2 = relay_cpu(&mock, false, runs).await?;
    let on2 = relay_cpu(&mock, true, runs).await?;
    let (off, on) = ((off + off2) / 2.0, (on + on2) / 2.0);
    out.push(Figure::new(
        "runtime CPU per 1k tokens, no store",
        off,
        "ms",
    ));
    out.push(Figure::new(
        "runtime CPU per 1k tokens, with store",
        on,
        "ms",
    ));
    out.push(
        Figure::new(
            "store's extra CPU per token (on/off - 1)",
            (on / off - 1.0) * 100.0,
            "%",
        )
        .at_most(10.0),
    );
    Ok(())
}

/// Every figure of the store.
pub async fn run(size: Size) -> Result<Vec<Figure>, BenchError> {
    let mut out = Vec::new();
    embedded(size, &mut out).await?;
    local(size, &mut out).await?;
    store_cost(size, &mut out).await?;
    Ok(out)
}
