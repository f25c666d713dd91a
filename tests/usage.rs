//! Usage over time and the metrics, across real processes: `yoi serve` with
//! two profiles of different models and a `local` runtime, a remote runtime
//! that goes down, runs made in the test with the token counts the mock is
//! told to report (`[[usage:P:C]]`), and then `GET /api/usage` and
//! `GET /metrics` checked against exactly those runs. The metrics are parsed
//! by the Prometheus org's own Python parser (`scripts/check-metrics.py`,
//! with the python named in `YOI_PROMETHEUS_PYTHON`, which `.ci/run` sets).

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::{Backend, RemoteRuntime, TempDir, TOKEN};
use yoi_test_support::MockOpenAi;

const PROFILES: &str = r#"
[profiles.big]
model = "big-model"

[profiles.tooled]
model = "tool-model"

[profiles.tooled.tools]
"yoi.list_workers" = "allow"

[profiles.asking]
model = "tool-model"

[profiles.asking.tools]
"yoi.list_workers" = "ask"
"#;

/// A run through `wait=true`: its answer's status and body.
async fn run(b: &Backend, worker: &str, text: &str) -> (u16, Value) {
    b.post(
        &format!("{worker}/input?wait=true"),
        json!({ "text": text }),
    )
    .await
}

async fn worker(b: &Backend, runtime: &str, profile: &str) -> String {
    let (status, w) = b
        .post(
            &format!("/api/runtimes/{runtime}/workers"),
            json!({ "profile": profile }),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    format!(
        "/api/runtimes/{runtime}/workers/{}",
        w["worker_id"].as_str().unwrap()
    )
}

/// `yoi usage --server <the backend> ARGS`: what it prints.
async fn yoi_usage(b: &Backend, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_yoi"))
        .arg("usage")
        .arg("--server")
        .arg(format!("http://{}", b.addr))
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn group<'a>(report: &'a Value, key: &str, value: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g[key] == value)
        .unwrap_or_else(|| panic!("no group {key}={value} in {report}"))
}

#[tokio::test]
async fn usage_sums_the_runs_of_the_backend_and_a_local_runtime_and_names_a_runtime_that_is_down() {
    let mock = MockOpenAi::start().await;
    let mut remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let toml = format!(
        "{PROFILES}\n[[runtimes]]\nid = \"near\"\nkind = \"local\"\n\n[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
        remote.url()
    );
    let b = Backend::start_in(
        TempDir::new("usage"),
        &mock.base_url(),
        &toml,
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    b.wait_runtime("near", "available").await;
    b.wait_runtime("gpu", "available").await;

    // Before any run: nothing, in one empty answer.
    let (status, empty) = b.get("/api/usage").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["groups"], json!([]));
    assert_eq!(empty["total"]["runs"], 0);
    assert_eq!(empty["missing"], json!([]));

    // The Companion (mock-model) in the backend: two completed runs, one failed.
    let (_, info) = b.get("/api/companion").await;
    let companion = format!(
        "/api/runtimes/backend-internal/workers/{}",
        info["worker_id"].as_str().unwrap()
    );
    for (text, want) in [
        ("one [[usage:100:10]]", 200),
        ("two [[usage:200:20]]", 200),
        ("three [[error:400]]", 502),
    ] {
        let (status, answer) = run(&b, &companion, text).await;
        assert_eq!(status, want, "{answer}");
    }
    // `big` (big-model) in the backend and in the local runtime.
    let big_here = worker(&b, "backend-internal", "big").await;
    let (status, answer) = run(&b, &big_here, "four [[usage:1000:100]]").await;
    assert_eq!(status, 200, "{answer}");
    let big_near = worker(&b, "near", "big").await;
    for text in ["five [[usage:3000:300]]", "six [[usage:5000:500]]"] {
        let (status, answer) = run(&b, &big_near, text).await;
        assert_eq!(status, 200, "{answer}");
    }
    // A run with a tool call, in the local runtime.
    let tooled = worker(&b, "near", "tooled").await;
    let (status, answer) = run(&b, &tooled, "[[tool:yoi.list_workers]]").await;
    assert_eq!(status, 200, "{answer}");
    let tooled_tokens = (
        answer["usage"]["prompt_tokens"].as_u64().unwrap(),
        answer["usage"]["completion_tokens"].as_u64().unwrap(),
    );

    let (status, by_model) = b.get("/api/usage?by=model").await;
    assert_eq!(status, 200, "{by_model}");
    assert_eq!(by_model["by"], json!(["model"]));
    let mock_model = group(&by_model, "model", "mock-model");
    assert_eq!(mock_model["usage"]["runs"], 3);
    assert_eq!(mock_model["usage"]["completed"], 2);
    assert_eq!(mock_model["usage"]["failed"], 1);
    assert_eq!(mock_model["usage"]["prompt_tokens"], 300);
    assert_eq!(mock_model["usage"]["completion_tokens"], 30);
    let big = group(&by_model, "model", "big-model");
    assert_eq!(
        big["usage"]["runs"], 3,
        "the backend's and the local runtime's, summed"
    );
    assert_eq!(big["usage"]["prompt_tokens"], 9000);
    assert_eq!(big["usage"]["completion_tokens"], 900);
    assert_eq!(big["usage"]["tool_calls"], 0);
    let tool = group(&by_model, "model", "tool-model");
    assert_eq!(tool["usage"]["runs"], 1);
    assert_eq!(tool["usage"]["tool_calls"], 1);
    assert_eq!(tool["usage"]["prompt_tokens"], tooled_tokens.0);
    assert_eq!(by_model["total"]["runs"], 7);
    assert_eq!(by_model["total"]["prompt_tokens"], 9300 + tooled_tokens.0);
    assert_eq!(by_model["missing"], json!([]));

    // `yoi usage` shows the same numbers as a table.
    let table = yoi_usage(&b, &["--by", "model"]).await;
    let big_row = table
        .lines()
        .find(|l| l.starts_with("big-model"))
        .unwrap_or_else(|| panic!("no big-model row:\n{table}"));
    let cells: Vec<&str> = big_row.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        ["big-model", "3", "3", "0", "0", "9000", "900"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("total") && l.contains(" 7 ")),
        "{table}"
    );

    // By runtime and profile: each runtime answers for its own workers.
    let (_, by_runtime) = b.get("/api/usage?by=runtime,profile").await;
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for g in by_runtime["groups"].as_array().unwrap() {
        seen.insert(
            (
                g["runtime_id"].as_str().unwrap().to_owned(),
                g["profile"].as_str().unwrap().to_owned(),
            ),
            g["usage"]["runs"].as_u64().unwrap(),
        );
    }
    let want: BTreeMap<(String, String), u64> = [
        (("backend-internal", "big"), 1),
        (("backend-internal", "companion"), 3),
        (("near", "big"), 2),
        (("near", "tooled"), 1),
    ]
    .into_iter()
    .map(|((r, p), n)| ((r.to_owned(), p.to_owned()), n))
    .collect();
    assert_eq!(seen, want, "{by_runtime}");

    // By day: today's, in UTC; by worker: each worker's own.
    let today = b.get("/api/usage?by=day").await.1["to"].clone();
    let (_, by_day) = b.get("/api/usage?by=day,worker").await;
    let days: Vec<&Value> = by_day["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["day"])
        .collect();
    assert!(days.iter().all(|d| **d == today), "{by_day}");
    let near_worker = big_near.rsplit('/').next().unwrap();
    assert_eq!(group(&by_day, "worker_id", near_worker)["usage"]["runs"], 2);

    // A range that holds no run, and one that ends before it starts.
    let (status, future) = b.get("/api/usage?from=2999-01-01&to=2999-01-31").await;
    assert_eq!(status, 200, "{future}");
    assert_eq!(future["total"]["runs"], 0);
    let (status, backwards) = b.get("/api/usage?from=2026-12-03&to=2026-12-01").await;
    assert_eq!(status, 200, "{backwards}");
    assert_eq!(backwards["groups"], json!([]));
    // Bad values are invalid_input, naming what is wrong.
    for bad in [
        "from=yesterday",
        "to=2026-02-30",
        "from=2026-1-5",
        "by=hour",
        "by=day,,model",
    ] {
        let (status, err) = b.get(&format!("/api/usage?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error"]["code"], "invalid_input", "{bad}");
    }

    // The remote runtime goes down: it is named, the others still count.
    remote.proc.kill().await;
    b.wait_runtime("gpu", "unavailable").await;
    let (status, partial) = b.get("/api/usage?by=model").await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(partial["missing"], json!(["gpu"]));
    assert_eq!(partial["total"]["runs"], 7);
    let table = yoi_usage(&b, &["--since", "1d"]).await;
    assert!(
        table.ends_with("not counted (runtime unavailable): gpu\n"),
        "{table}"
    );

    b.assert_no_leaks(&[remote.url()], &[]);
}

/// Runs `scripts/check-metrics.py` on `text`: every sample by
/// `name{label=value,...}`. Fails the test when the text does not parse.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let dir = TempDir::new("metrics");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let python = std::env::var("YOI_PROMETHEUS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-metrics.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{python} does not run ({e}); .ci/run installs prometheus-client and sets YOI_PROMETHEUS_PYTHON"));
    assert!(
        out.status.success(),
        "the Prometheus parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_checker_refuses_text_that_is_not_prometheus() {
    let refused = std::panic::catch_unwind(|| {
        parse_metrics("yoi_runs_started_total{profile=\"x\" 1\n# EOF\n")
    });
    assert!(refused.is_err(), "a broken label set must not parse");
    let counted = parse_metrics("# TYPE yoi_x counter\nyoi_x_total 2\n# EOF\n");
    assert_eq!(counted["yoi_x_total{}"], 2.0);
}

/// A socket of the backend opened with its token.
async fn socket(b: &Backend, token: &str, path: &str) -> yoi_test_support::EventSocket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}{path}", b.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    yoi_test_support::EventSocket::connect(request, std::sync::Arc::default())
        .await
        .expect("upgrade accepted")
}

/// Waits on the workspace socket (with the backend's token) until runtime
/// `id` has `status`.
async fn wait_status(b: &Backend, token: &str, id: &str, status: &str) {
    let mut events = socket(b, token, "/api/events").await;
    let found = tokio::time::timeout(support::WAIT, async {
        loop {
            let frame = events.frame().await;
            let runtimes = match frame["type"].as_str() {
                Some("workspace_snapshot") => frame["runtimes"].as_array().cloned().unwrap(),
                Some("runtime_status") => vec![frame["runtime"].clone()],
                _ => continue,
            };
            if runtimes
                .iter()
                .any(|r| r["runtime_id"] == id && r["status"] == status)
            {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "runtime {id} never became {status}");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_what_the_test_did() {
    let mock = MockOpenAi::start().await;
    let mut remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let backend_token = "backend-token-for-metrics-0123456789";
    let toml = format!(
        "{PROFILES}\n[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
        remote.url()
    );
    let b = Backend::start_in(
        TempDir::new("metrics"),
        &mock.base_url(),
        &toml,
        &[
            ("GPU_TOKEN", TOKEN.to_owned()),
            ("YOI_TOKEN", backend_token.to_owned()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = http.get(b.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // Guarded like /api: no token, no metrics.
    let refused = get("/metrics", None).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let post = |path: String, body: Value| {
        http.post(b.url(&path))
            .bearer_auth(backend_token)
            .json(&body)
            .send()
    };
    let create = |runtime: &'static str, profile: &'static str| {
        let post = &post;
        async move {
            let w: Value = post(
                format!("/api/runtimes/{runtime}/workers"),
                json!({ "profile": profile }),
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            format!(
                "/api/runtimes/{runtime}/workers/{}",
                w["worker_id"].as_str().unwrap()
            )
        }
    };
    wait_status(&b, backend_token, "gpu", "available").await;
    let companion = create("backend-internal", "companion").await;
    let remote_worker = create("gpu", "companion").await;
    let big = create("backend-internal", "big").await;
    let tooled = create("backend-internal", "tooled").await;
    for (worker, text, want) in [
        (&companion, "a [[usage:10:1]]", 200),
        (&companion, "b [[usage:20:2]]", 200),
        (&big, "c [[usage:400:40]]", 200),
        (&big, "d [[error:400]]", 502),
        (&tooled, "[[tool:yoi.list_workers]] [[usage:7:3]]", 200),
        (&remote_worker, "in the runtime [[usage:5000:5]]", 200),
    ] {
        let answer = post(format!("{worker}/input?wait=true"), json!({ "text": text }))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), want, "{text}");
    }
    let mut events = socket(&b, backend_token, &format!("{companion}/events")).await;
    // The snapshot is sent once the socket counts as open.
    assert_eq!(events.frame().await["type"], "snapshot");

    let text = get("/metrics", Some(backend_token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse_metrics(&text);
    let at = |key: &str| {
        m.get(key)
            .copied()
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
    };
    assert_eq!(at("yoi_runs_started_total{profile=companion}"), 2.0);
    assert_eq!(at("yoi_runs_started_total{profile=big}"), 2.0);
    assert_eq!(
        at("yoi_runs_ended_total{outcome=completed,profile=companion}"),
        2.0
    );
    assert_eq!(
        at("yoi_runs_ended_total{outcome=completed,profile=big}"),
        1.0
    );
    assert_eq!(at("yoi_runs_ended_total{outcome=failed,profile=big}"), 1.0);
    assert_eq!(at("yoi_tokens_total{kind=prompt,profile=companion}"), 30.0);
    assert_eq!(
        at("yoi_tokens_total{kind=completion,profile=companion}"),
        3.0
    );
    assert_eq!(at("yoi_tokens_total{kind=prompt,profile=big}"), 400.0);
    assert_eq!(at("yoi_provider_errors_total{code=provider_error}"), 1.0);
    assert_eq!(at("yoi_tool_calls_total{outcome=ok}"), 1.0);
    assert_eq!(at("yoi_run_duration_seconds_count{}"), 5.0);
    assert_eq!(
        at("yoi_first_token_seconds_count{}"),
        4.0,
        "once per run that got a first token (the failed one got none)"
    );
    // The Companion the backend made, plus the three of the test; all idle.
    assert_eq!(at("yoi_workers{status=idle}"), 4.0);
    assert_eq!(at("yoi_workers{status=running}"), 0.0);
    assert_eq!(at("yoi_event_sockets{}"), 1.0);
    assert_eq!(at("yoi_queued_inputs{}"), 0.0);
    assert_eq!(at("yoi_runtime_available{runtime=backend-internal}"), 1.0);
    assert_eq!(at("yoi_runtime_available{runtime=gpu}"), 1.0);
    assert!(at("yoi_store_commit_seconds_count{}") >= 5.0);

    // A call that asks, allowed by a person: an approval and a tool call more.
    let asking = create("backend-internal", "asking").await;
    let mut ask_events = socket(&b, backend_token, &format!("{asking}/events")).await;
    assert_eq!(ask_events.frame().await["type"], "snapshot");
    let accepted = post(
        format!("{asking}/input"),
        json!({ "text": "[[tool:yoi.list_workers]] [[usage:1:1]]" }),
    )
    .await
    .unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let asked = ask_events.until("tool_approval_requested").await;
    let call_id = asked.last().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let decided = post(
        format!("{asking}/approvals/{call_id}"),
        json!({ "decision": "allow" }),
    )
    .await
    .unwrap();
    assert_eq!(decided.status().as_u16(), 200);
    ask_events.until("run_completed").await;

    // A run in flight and an input queued behind it, seen while they are.
    let busy = create("backend-internal", "companion").await;
    let mut busy_events = socket(&b, backend_token, &format!("{busy}/events")).await;
    assert_eq!(busy_events.frame().await["type"], "snapshot");
    post(format!("{busy}/input"), json!({ "text": "[[hang]]" }))
        .await
        .unwrap();
    busy_events.until("run_started").await;
    let queued = post(
        format!("{busy}/input"),
        json!({ "text": "later [[usage:1:1]]", "on_busy": "queue" }),
    )
    .await
    .unwrap();
    assert_eq!(queued.status().as_u16(), 202);
    busy_events.until("input_queued").await;
    let text = get("/metrics", Some(backend_token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mid = parse_metrics(&text);
    assert_eq!(mid["yoi_queued_inputs{}"], 1.0, "{text}");
    assert_eq!(mid["yoi_workers{status=running}"], 1.0, "{text}");
    assert_eq!(mid["yoi_event_sockets{}"], 3.0, "{text}");
    // Cancel the hanging run: the queued input runs next.
    post(format!("{busy}/cancel"), json!({})).await.unwrap();
    busy_events.until("run_completed").await;
    let text = get("/metrics", Some(backend_token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let end = parse_metrics(&text);
    assert_eq!(end["yoi_approvals_total{decision=allow}"], 1.0);
    assert_eq!(end["yoi_tool_calls_total{outcome=ok}"], 2.0);
    assert_eq!(
        end["yoi_runs_ended_total{outcome=cancelled,profile=companion}"],
        1.0
    );
    assert_eq!(
        end["yoi_runs_ended_total{outcome=completed,profile=companion}"],
        3.0
    );
    assert_eq!(
        end["yoi_runs_ended_total{outcome=completed,profile=asking}"],
        1.0
    );
    assert_eq!(end["yoi_queued_inputs{}"], 0.0);
    assert_eq!(end["yoi_workers{status=running}"], 0.0);
    assert_eq!(end["yoi_workers{status=idle}"], 6.0);

    // The remote runtime serves its own under /v1/metrics, with its token.
    let own = http
        .get(format!("{}/v1/metrics", remote.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 401);
    let own = http
        .get(format!("{}/v1/metrics", remote.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = parse_metrics(&own);
    assert_eq!(r["yoi_runs_started_total{profile=companion}"], 1.0);
    assert_eq!(
        r["yoi_runs_ended_total{outcome=completed,profile=companion}"],
        1.0
    );
    assert_eq!(r["yoi_tokens_total{kind=prompt,profile=companion}"], 5000.0);

    // The runtime goes down: the backend says so.
    remote.proc.kill().await;
    wait_status(&b, backend_token, "gpu", "unavailable").await;
    let text = get("/metrics", Some(backend_token))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        parse_metrics(&text)["yoi_runtime_available{runtime=gpu}"],
        0.0
    );

    // No secret, URL or path in either answer.
    for answer in [&text, &own] {
        for secret in [support::API_KEY, TOKEN, backend_token, "/tmp/", "127.0.0.1"] {
            assert!(
                !answer.contains(secret),
                "`{secret}` in the metrics:\n{answer}"
            );
        }
        assert!(!answer.contains(b.workspace.path().to_str().unwrap()));
    }
}
