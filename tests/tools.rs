//! Tools through real processes: a `yoi serve` whose `yoi.toml` grants
//! tools, a `local` runtime it starts, and a remote `yoi runtime serve` with
//! its own configuration, all against the mock OpenAI server making tool
//! calls. Approvals travel over HTTP like every other command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::{json, Value};
use support::{Backend, RemoteRuntime, TempDir, API_KEY, TOKEN};
use yoi_test_support::MockOpenAi;

const GRANTS: &str = r#"
[profiles.helper]
description = "Knows the workspace"

[profiles.helper.tools]
"yoi.*" = "ask"
"yoi.list_workers" = "allow"
"#;

fn backend_toml(remote_url: &str) -> String {
    format!(
        r#"{GRANTS}
[[runtimes]]
id = "near"
kind = "local"

[[runtimes]]
id = "gpu"
kind = "remote"
url = "{remote_url}"
token_env = "GPU_TOKEN"
"#
    )
}

async fn helper(b: &Backend, rt: &str) -> String {
    named(b, rt, "helper").await
}

async fn named(b: &Backend, rt: &str, name: &str) -> String {
    let (status, w) = b
        .post(
            &format!("/api/runtimes/{rt}/workers"),
            json!({"display_name": name, "profile": "helper"}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    format!(
        "/api/runtimes/{rt}/workers/{}",
        w["worker_id"].as_str().unwrap()
    )
}

/// "Which workers are there?" answered by calling `yoi.list_workers`.
async fn lists_workers(b: &Backend, rt: &str) {
    let path = helper(b, rt).await;
    let (status, outcome) = b
        .post(
            &format!("{path}/input?wait=true"),
            json!({"text": "Which workers are there? [[tool:yoi.list_workers {}]]"}),
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    let message = &outcome["message"];
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains(&format!("helper@{rt}")),
        "{message}"
    );
    assert_eq!(message["tool_calls"][0]["name"], "yoi.list_workers");
    assert_eq!(message["tool_calls"][0]["state"], "ok");
}

/// An `ask` call waits for a person; the decision travels to the runtime.
async fn asks_first(b: &Backend, rt: &str) {
    let path = named(b, rt, "asker").await;
    let mut ws = b.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    let (status, _) = b
        .post(
            &format!("{path}/input"),
            json!({"text": "[[tool:yoi.read_transcript {\"worker\": \"helper\"}]]"}),
        )
        .await;
    assert_eq!(status, 202);
    let frames = ws.until("tool_approval_requested").await;
    let request = frames.last().unwrap();
    assert_eq!(request["name"], "yoi.read_transcript");
    assert_eq!(request["arguments"]["worker"], "helper");
    let call = request["call_id"].as_str().unwrap().to_owned();
    ws.until("status").await;

    let (status, detail) = b.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "waiting_approval");
    assert_eq!(detail["pending_approvals"][0]["call_id"], call.as_str());

    let (status, body) = b
        .post(
            &format!("{path}/approvals/call_unknown"),
            json!({"decision": "allow"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = b
        .post(
            &format!("{path}/approvals/{call}"),
            json!({"decision": "maybe"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = b
        .post(
            &format!("{path}/approvals/{call}"),
            json!({"decision": "allow", "scope": "once"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"], "allow");
    let (status, body) = b
        .post(
            &format!("{path}/approvals/{call}"),
            json!({"decision": "deny"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_pending");

    let frames = ws.until("run_completed").await;
    let finished = frames
        .iter()
        .find(|f| f["type"] == "tool_call_finished")
        .unwrap();
    assert_eq!(finished["ok"], true);
    assert_eq!(finished["state"], "ok");
}

#[tokio::test]
async fn tools_work_the_same_through_the_backend_a_local_and_a_remote_runtime() {
    let mock = MockOpenAi::start().await;
    let remote_dir = TempDir::new("remote-tools");
    let remote_config = remote_dir.path().join("runtime.toml");
    std::fs::write(&remote_config, GRANTS).unwrap();
    let config_arg = remote_config.to_string_lossy().into_owned();
    let remote = RemoteRuntime::start_with(
        &mock.base_url(),
        "gpu",
        0,
        remote_dir,
        &["--config", &config_arg],
    )
    .await;
    let b = Backend::start(
        &mock.base_url(),
        &backend_toml(&remote.url()),
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    b.wait_runtime("near", "available").await;
    b.wait_runtime("gpu", "available").await;

    let (status, tools) = b.get("/api/tools").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["yoi.ask_worker", "yoi.list_workers", "yoi.read_transcript"]
    );
    assert!(tools["tools"][0]["input_schema"]["properties"].is_object());
    let (_, profiles) = b.get("/api/profiles").await;
    let helper_profile = profiles["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "helper")
        .unwrap()
        .clone();
    assert_eq!(
        helper_profile["tools"],
        json!([
            {"name": "yoi.ask_worker", "policy": "ask"},
            {"name": "yoi.list_workers", "policy": "allow"},
            {"name": "yoi.read_transcript", "policy": "ask"},
        ])
    );
    // The Companion has no grants.
    let companion: &Value = profiles["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "companion")
        .unwrap();
    assert!(companion.get("tools").is_none(), "{companion}");

    for rt in ["backend-internal", "near", "gpu"] {
        lists_workers(&b, rt).await;
        asks_first(&b, rt).await;
    }
    b.assert_no_leaks(&[remote.url()], &[API_KEY]);
}

#[tokio::test]
async fn a_typo_in_a_tool_rule_stops_yoi_serve_naming_profile_and_rule() {
    let mock = MockOpenAi::start().await;
    let workspace = TempDir::new("typo");
    std::fs::write(
        workspace.path().join("yoi.toml"),
        "bind = \"127.0.0.1:0\"\n[profiles.helper.tools]\n\"yoi.list_worker\" = \"allow\"\n",
    )
    .unwrap();
    let mut env = support::provider_env(&mock.base_url());
    env.push(("RUST_LOG", "info".to_owned()));
    let proc = support::Proc::spawn(&["serve"], workspace.path(), &env);
    let out = proc.wait_for_output("yoi.list_worker").await;
    assert!(out.contains("helper"), "{out}");
}

#[tokio::test]
async fn a_call_cut_short_by_sigkill_is_interrupted_and_never_run_again() {
    let mock = MockOpenAi::start().await;
    let workspace = TempDir::new("kill-tools");
    std::fs::write(
        workspace.path().join("yoi.toml"),
        format!("bind = \"127.0.0.1:0\"\n{GRANTS}"),
    )
    .unwrap();
    let mut b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let path = helper(&b, "backend-internal").await;
    let mut ws = b.ws(&format!("{path}/events")).await;
    ws.frame().await;
    b.post(
        &format!("{path}/input"),
        json!({"text": "[[tool:yoi.read_transcript {\"worker\": \"helper\"}]]"}),
    )
    .await;
    ws.until("tool_approval_requested").await;
    // The waiting call is on disk once the transcript page read from the
    // store shows it (the partial answer is written within 250 ms).
    let db = b.workspace.path().join(".yoi/yoi.db");
    tokio::time::timeout(support::WAIT, async {
        loop {
            let found = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM messages WHERE instr(data, 'waiting_approval') > 0",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
            if found > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the waiting call is written");
    b.proc.kill().await;
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);

    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let (status, page) = b.get(&format!("{path}/transcript")).await;
    assert_eq!(status, 200);
    let last = page["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["tool_calls"][0]["state"], "interrupted", "{last}");
    assert_eq!(last["state"], "failed");
    let (_, detail) = b.get(&path).await;
    assert!(detail.get("pending_approvals").is_none(), "{detail}");
    assert_eq!(detail["status"], "idle");
    assert_eq!(mock.requests().len(), 1, "nothing ran again by itself");
}
