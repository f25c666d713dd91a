//! MCP servers through real processes: `yoi serve` with `[mcp.<name>]` in
//! its `yoi.toml`, the `local` runtime it starts (which starts the same
//! servers), a third-party server from PyPI (`mcp-server-time`, installed
//! by `.ci/run`) and yoi's own `yoi-mock-mcp`, all against the mock OpenAI
//! server making the calls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::{Backend, Proc, TempDir, API_KEY, WAIT};
use yoi_test_support::{mock_mcp_bin, MockOpenAi};

/// `mcp-server-time` from PyPI: `$YOI_MCP_TIME`, or where `.ci/run` installs it.
fn time_server() -> PathBuf {
    let path = std::env::var_os("YOI_MCP_TIME").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/yoi-tools/mcp-time/bin/mcp-server-time")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "mcp-server-time is not installed at {} (set YOI_MCP_TIME, or run .ci/run, which installs it from PyPI: python3 -m venv ~/.cache/yoi-tools/mcp-time && ~/.cache/yoi-tools/mcp-time/bin/pip install mcp-server-time)",
        path.display()
    );
    path
}

async fn worker(b: &Backend, rt: &str, profile: &str) -> String {
    let (status, w) = b
        .post(
            &format!("/api/runtimes/{rt}/workers"),
            json!({"display_name": "helper", "profile": profile}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    format!(
        "/api/runtimes/{rt}/workers/{}",
        w["worker_id"].as_str().unwrap()
    )
}

async fn ask(b: &Backend, path: &str, text: &str) -> Value {
    let (status, outcome) = b
        .post(&format!("{path}/input?wait=true"), json!({ "text": text }))
        .await;
    assert_eq!(status, 200, "{outcome}");
    outcome["message"].clone()
}

/// "What time is it in Tokyo?" answered from the real server's result.
async fn tokyo(b: &Backend, rt: &str) {
    let path = worker(b, rt, "helper").await;
    let message = ask(
        b,
        &path,
        "What time is it in Tokyo? [[tool:time.get_current_time {\"timezone\":\"Asia/Tokyo\"}]]",
    )
    .await;
    let call = &message["tool_calls"][0];
    assert_eq!(call["name"], "time.get_current_time", "{message}");
    assert_eq!(call["state"], "ok", "{message}");
    let output = call["output"].as_str().unwrap();
    assert!(output.contains("Asia/Tokyo"), "{output}");
    assert!(output.contains("+09:00"), "{output}");
    // The model answered with what the server returned.
    assert!(
        message["text"].as_str().unwrap().contains("Asia/Tokyo"),
        "{message}"
    );
    // The call is in the stored transcript.
    let (_, transcript) = b.get(&format!("{path}/transcript")).await;
    let last = transcript["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["tool_calls"][0]["name"], "time.get_current_time");
    assert_eq!(last["tool_calls"][0]["state"], "ok");
}

#[tokio::test]
async fn a_profile_granted_time_answers_from_mcp_server_time_through_the_backend_and_a_local_runtime(
) {
    let time = time_server();
    let mock = MockOpenAi::start().await;
    let toml = format!(
        r#"
[mcp.time]
command = ["{}", "--local-timezone", "Europe/Berlin"]
timeout_ms = 30000

[profiles.helper]
description = "Knows the time"

[profiles.helper.tools]
"time.*" = "allow"

[[runtimes]]
id = "near"
kind = "local"
"#,
        time.display()
    );
    let b = Backend::start(&mock.base_url(), &toml, &[]).await;
    b.wait_runtime("near", "available").await;
    tokyo(&b, "backend-internal").await;
    tokyo(&b, "near").await;
    let (_, tools) = b.get("/api/tools").await;
    let time_source = tools["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "time")
        .unwrap()
        .clone();
    assert_eq!(time_source["kind"], "mcp");
    assert_eq!(time_source["status"], "ready", "{time_source}");
    assert!(tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "time.get_current_time" && t["source"] == "time"));
    b.assert_no_leaks(&[], &[API_KEY, &time.to_string_lossy()]);
}

fn mock_toml(record: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[mcp.mock]
command = ["{}", "--stdio", "--record", "{}"]
env = {{ MOCK_OWN = "own-value" }}
start = "eager"
{extra}
[profiles.helper.tools]
"mock.*" = "allow"
"#,
        mock_mcp_bin().display(),
        record.display()
    )
}

/// Waits until the server's record satisfies `pred` (read every 20 ms).
async fn wait_record(record: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let text = std::fs::read_to_string(record).unwrap_or_default();
            if pred(&text) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "the record never got there: {}",
            std::fs::read_to_string(record).unwrap_or_default()
        )
    })
}

#[tokio::test]
async fn api_tools_lists_servers_with_status_and_never_a_command_env_url_or_token() {
    let mock = MockOpenAi::start().await;
    let dir = TempDir::new("mcp-list");
    let record = dir.path().join("record.txt");
    let extra = r#"
[mcp.gone]
command = ["/nonexistent/secret-dir/mcp-server", "--secret-arg"]
env = { SECRET_ENV = "secret-env-value" }
start = "eager"

[mcp.web]
url = "http://127.0.0.1:9/secret-path"
bearer_token_env = "WEB_MCP_TOKEN"
start = "eager"
"#;
    let b = Backend::start(
        &mock.base_url(),
        &mock_toml(&record, extra),
        &[("WEB_MCP_TOKEN", "secret-token-value".to_owned())],
    )
    .await;
    wait_record(&record, |t| t.contains("list")).await;
    // Statuses settle shortly after start; wait for each to say it.
    let tools = tokio::time::timeout(WAIT, async {
        loop {
            let (_, tools) = b.get("/api/tools").await;
            let status = |name: &str| {
                tools["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["name"] == name)
                    .map(|s| s["status"].clone())
            };
            if status("mock") == Some(json!("ready"))
                && status("gone") == Some(json!("down"))
                && status("web") == Some(json!("down"))
            {
                return tools;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every server settles");
    let sources = tools["sources"].as_array().unwrap();
    let yoi = sources.iter().find(|s| s["name"] == "yoi").unwrap();
    assert_eq!(yoi["kind"], "yoi");
    let gone = sources.iter().find(|s| s["name"] == "gone").unwrap();
    assert!(
        gone["reason"].as_str().unwrap().contains("not found"),
        "{gone}"
    );
    let web = sources.iter().find(|s| s["name"] == "web").unwrap();
    assert!(
        web["reason"].as_str().unwrap().contains("cannot connect"),
        "{web}"
    );
    let mock_tools: Vec<&Value> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["source"] == "mock")
        .collect();
    assert!(mock_tools.iter().any(|t| t["name"] == "mock.echo"));
    let text = tools.to_string();
    for secret in [
        "secret",
        "nonexistent",
        "127.0.0.1:9",
        "yoi-mock-mcp",
        "own-value",
    ] {
        assert!(!text.contains(secret), "`{secret}` leaked: {text}");
    }
    b.assert_no_leaks(&[], &[API_KEY, "secret-token-value", "secret-env-value"]);
}

#[tokio::test]
async fn a_server_gets_only_the_allowlisted_environment_and_its_own_env() {
    let mock = MockOpenAi::start().await;
    let dir = TempDir::new("mcp-env");
    let record = dir.path().join("record.txt");
    let b = Backend::start(
        &mock.base_url(),
        &mock_toml(&record, ""),
        &[("YOI_CANARY_SECRET", "canary-value".to_owned())],
    )
    .await;
    let path = worker(&b, "backend-internal", "helper").await;
    let canary = ask(
        &b,
        &path,
        "[[tool:mock.env {\"name\":\"YOI_CANARY_SECRET\"}]]",
    )
    .await;
    assert_eq!(canary["tool_calls"][0]["output"], "unset", "{canary}");
    let key = ask(&b, &path, "[[tool:mock.env {\"name\":\"OPENAI_API_KEY\"}]]").await;
    assert_eq!(key["tool_calls"][0]["output"], "unset", "{key}");
    let own = ask(&b, &path, "[[tool:mock.env {\"name\":\"MOCK_OWN\"}]]").await;
    assert_eq!(own["tool_calls"][0]["output"], "set", "{own}");
    let path_var = ask(&b, &path, "[[tool:mock.env {\"name\":\"PATH\"}]]").await;
    assert_eq!(path_var["tool_calls"][0]["output"], "set", "{path_var}");
}

/// The pid the mock server recorded at its start.
fn started_pid(record: &str) -> u32 {
    record
        .lines()
        .find_map(|l| l.strip_prefix("start "))
        .and_then(|p| p.trim().parse().ok())
        .expect("a start line")
}

async fn wait_gone(pid: u32) {
    let gone = tokio::time::timeout(WAIT, async {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie its parent (gone too) left to init.
            if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the MCP server {pid} outlived its runtime");
}

#[tokio::test]
async fn a_server_stops_with_its_runtime_on_sigterm_and_on_sigkill() {
    let mock = MockOpenAi::start().await;
    for signal in ["TERM", "KILL"] {
        let dir = TempDir::new("mcp-stop");
        let record = dir.path().join("record.txt");
        let mut b = Backend::start(&mock.base_url(), &mock_toml(&record, ""), &[]).await;
        let text = wait_record(&record, |t| t.contains("start ")).await;
        let pid = started_pid(&text);
        let yoi = b.proc.pid();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &yoi.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = tokio::time::timeout(WAIT, b.proc.child.wait()).await;
        wait_gone(pid).await;
    }
}

#[tokio::test]
async fn bad_mcp_configuration_stops_yoi_serve_naming_the_server_and_the_key() {
    let mock = MockOpenAi::start().await;
    let cases = [
        (
            "[mcp.docs]\ncommand = [\"/bin/sh\"]\nurl = \"https://h/mcp\"\n",
            "mcp.url",
        ),
        ("[mcp.docs]\ntimeout_ms = 10\n", "mcp.command"),
        (
            "[mcp.docs]\ncommand = [\"no-such-mcp-server-yoi\"]\n",
            "mcp.command",
        ),
        ("[mcp.docs]\nurl = \"https://user:pw@h/mcp\"\n", "mcp.url"),
        ("[mcp.docs]\nurl = \"https://h/mcp#frag\"\n", "mcp.url"),
        (
            "[mcp.docs]\nurl = \"http://192.0.2.1/mcp\"\n",
            "mcp.allow_insecure",
        ),
    ];
    for (toml, key) in cases {
        let dir = TempDir::new("mcp-bad");
        std::fs::write(dir.path().join("yoi.toml"), toml).unwrap();
        let mut env = support::provider_env(&mock.base_url());
        env.push(("YOI_BIND", "127.0.0.1:0".to_owned()));
        let mut proc = Proc::spawn(&["serve"], dir.path(), &env);
        let status = tokio::time::timeout(WAIT, proc.child.wait())
            .await
            .expect("yoi serve stops")
            .unwrap();
        assert_eq!(status.code(), Some(2), "{toml}");
        let out = proc.wait_for_output(key).await;
        assert!(out.contains("`docs`"), "{toml}: {out}");
        assert!(!out.contains("pw@"), "{out}");
    }
}

#[tokio::test]
async fn a_remote_runtime_starts_the_servers_of_its_own_config() {
    let mock = MockOpenAi::start().await;
    let remote_dir = TempDir::new("mcp-remote");
    let record = remote_dir.path().join("record.txt");
    let config = remote_dir.path().join("runtime.toml");
    std::fs::write(&config, mock_toml(&record, "")).unwrap();
    let config_arg = config.to_string_lossy().into_owned();
    let remote = support::RemoteRuntime::start_with(
        &mock.base_url(),
        "gpu",
        0,
        remote_dir,
        &["--config", &config_arg],
    )
    .await;
    let toml = format!(
        "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
        remote.url()
    );
    let b = Backend::start(
        &mock.base_url(),
        &toml,
        &[("GPU_TOKEN", support::TOKEN.to_owned())],
    )
    .await;
    b.wait_runtime("gpu", "available").await;
    let path = worker(&b, "gpu", "helper").await;
    let message = ask(&b, &path, "[[tool:mock.add {\"a\":1,\"b\":41}]]").await;
    assert_eq!(message["tool_calls"][0]["state"], "ok", "{message}");
    assert_eq!(message["tool_calls"][0]["output"], "42", "{message}");
    // The backend itself has no such server: tools run where the worker lives.
    let (_, tools) = b.get("/api/tools").await;
    assert!(!tools.to_string().contains("mock."), "{tools}");
    wait_record(&record, |t| t.contains("call add")).await;
}

#[tokio::test]
async fn a_servers_stderr_goes_to_the_log_at_debug_level() {
    let mock = MockOpenAi::start().await;
    let dir = TempDir::new("mcp-stderr");
    let record = dir.path().join("record.txt");
    let b = Backend::start(
        &mock.base_url(),
        &mock_toml(&record, ""),
        &[("RUST_LOG", "info,yoi_mcp=debug".to_owned())],
    )
    .await;
    let out = b
        .proc
        .wait_for_output("yoi-mock-mcp: serving on stdio")
        .await;
    let line = out
        .lines()
        .find(|l| l.contains("yoi-mock-mcp: serving on stdio"))
        .unwrap();
    assert!(
        line.contains("DEBUG") && line.contains("mcp=mock"),
        "{line}"
    );
}
