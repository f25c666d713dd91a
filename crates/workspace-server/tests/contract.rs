//! Parts of the contract no other test reached: an unreadable prompt file
//! answered `profile_missing` with no absolute path, `status` frames on `/api/events`, `reasoning_delta` over
//! the backend's worker socket.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::*;
use yoi_test_support::Reply;

#[tokio::test]
async fn an_unreadable_prompt_is_profile_missing_naming_no_absolute_path() {
    let s = Server::start().await;
    // An override of the Companion's prompt that cannot be read (a
    // directory): creating a worker with that profile says which file, as
    // the workspace names it (issue 21; before: `internal`).
    std::fs::create_dir_all(s.workspace.join("prompts").join("companion.md")).unwrap();
    let (status, body) = s
        .post("/api/runtimes/backend-internal/workers", json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "profile_missing");
    assert_eq!(body["error"]["retryable"], false);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`prompts/companion.md`"), "{message}");
    assert!(
        !message.contains(&*s.workspace.to_string_lossy()),
        "{message}"
    );
    s.assert_no_leaks();
}

#[tokio::test]
async fn the_workspace_socket_reports_status_changes() {
    let s = Server::start().await;
    let path = s.companion_path().await;
    let worker_id = path.rsplit('/').next().unwrap().to_owned();
    let mut ws = s.ws("/api/events").await;
    assert_eq!(ws.frame().await["type"], "workspace_snapshot");
    s.mock.push(Reply::text("done"));
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "go"}))
        .await;
    assert_eq!(status, 200);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let f = ws.frame().await;
        if f["type"] == "status" {
            assert_eq!(f["runtime_id"], "backend-internal");
            assert_eq!(f["worker_id"], worker_id.as_str());
            seen.push(f["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["running", "idle"]);
    s.assert_no_leaks();
}

#[tokio::test]
async fn reasoning_arrives_as_reasoning_delta_before_the_text() {
    let s = Server::start().await;
    s.mock
        .push(Reply::tokens(["The", " answer"]).reasoning(["Let me ", "think."]));
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    s.post(&format!("{path}/input"), json!({"text": "why?"}))
        .await;
    let frames = ws.until_idle().await;
    let kinds = types(&frames);
    let first_reasoning = kinds.iter().position(|t| t == "reasoning_delta").unwrap();
    let first_text = kinds.iter().position(|t| t == "assistant_delta").unwrap();
    assert!(first_reasoning < first_text, "{kinds:?}");
    let reasoning: String = frames
        .iter()
        .filter(|f| f["type"] == "reasoning_delta")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(reasoning, "Let me think.");
    assert_eq!(text_of(&frames), "The answer");
    let message = frames
        .iter()
        .find(|f| f["type"] == "assistant_message")
        .unwrap();
    assert_eq!(message["message"]["reasoning"], "Let me think.");
    assert_gapless(&frames);
    s.assert_no_leaks();
}
