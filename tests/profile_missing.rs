//! A worker whose profile is gone from `yoi.toml` is restored and listed
//! with its history readable, and its input answers `profile_missing`
//! naming the profile and what to do; a profile whose prompt file was
//! removed while yoi runs answers the same kind of error, naming the file
//! relative to the workspace, never an absolute path (issue 21).

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::json;
use support::{Backend, TempDir};
use yoi_test_support::{MockOpenAi, Reply};

const PROFILES: &str = r#"
[profiles.helper]
description = "Helps"
prompt = "prompts/helper.md"

[profiles.poet]
description = "Writes verse"
"#;

#[tokio::test]
async fn a_worker_whose_profile_is_gone_is_restored_readable_and_refuses_input_saying_why() {
    let mock = MockOpenAi::start().await;
    let workspace = TempDir::new("profile-missing");
    std::fs::create_dir_all(workspace.path().join("prompts")).unwrap();
    std::fs::write(workspace.path().join("prompts/helper.md"), "Help.").unwrap();
    let ws_path = workspace.path().to_string_lossy().into_owned();
    let mut b = Backend::start_in(workspace, &mock.base_url(), PROFILES, &[]).await;

    // A poet with a conversation.
    let (status, poet) = b
        .post(
            "/api/runtimes/backend-internal/workers",
            json!({"profile": "poet", "display_name": "verse"}),
        )
        .await;
    assert_eq!(status, 201, "{poet}");
    let poet_path = format!(
        "/api/runtimes/backend-internal/workers/{}",
        poet["worker_id"].as_str().unwrap()
    );
    mock.push(Reply::text("roses are red"));
    let (status, answer) = b
        .post(
            &format!("{poet_path}/input?wait=true"),
            json!({"text": "a poem"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // The helper's prompt file disappears while yoi runs: a new helper is
    // refused with the file's name relative to the workspace.
    std::fs::remove_file(b.workspace.path().join("prompts/helper.md")).unwrap();
    let (status, refused) = b
        .post(
            "/api/runtimes/backend-internal/workers",
            json!({"profile": "helper"}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "profile_missing", "{refused}");
    assert_eq!(refused["error"]["retryable"], false, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`helper`") && message.contains("`prompts/helper.md`"),
        "{message}"
    );
    assert!(!message.contains(&ws_path), "no absolute path: {message}");

    // The poet profile leaves yoi.toml (and the helper's prompt comes back,
    // so that yoi serve starts); yoi restarts.
    b.proc.kill().await;
    std::fs::write(b.workspace.path().join("prompts/helper.md"), "Help.").unwrap();
    let without_poet =
        "bind = \"127.0.0.1:0\"\n[profiles.helper]\nprompt = \"prompts/helper.md\"\n";
    std::fs::write(b.workspace.path().join("yoi.toml"), without_poet).unwrap();
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);
    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;

    // Listed, with its history readable.
    let (status, list) = b.get("/api/runtimes/backend-internal/workers").await;
    assert_eq!(status, 200, "{list}");
    let listed = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["worker_id"] == poet["worker_id"])
        .unwrap_or_else(|| panic!("the poet is listed: {list}"))
        .clone();
    assert_eq!(listed["status"], "idle", "{listed}");
    assert_eq!(listed["profile"]["name"], "poet", "{listed}");
    let (status, transcript) = b.get(&format!("{poet_path}/transcript")).await;
    assert_eq!(status, 200, "{transcript}");
    let texts: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["a poem", "roses are red"]);

    // Input says why it is refused, and what to do; so does the detail.
    let (status, refused) = b
        .post(&format!("{poet_path}/input"), json!({"text": "another"}))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "profile_missing", "{refused}");
    assert_eq!(refused["error"]["retryable"], false, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`poet`") && message.contains("yoi.toml"),
        "{message}"
    );
    let (status, detail) = b.get(&poet_path).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["input_error"]["code"], "profile_missing", "{detail}");
    // Its events socket opens on a snapshot with the same reason.
    let mut events = b.ws(&format!("{poet_path}/events")).await;
    let snapshot = events.frame().await;
    assert_eq!(snapshot["worker"]["input_error"]["code"], "profile_missing");
    events.close().await;
    // It can still be stopped.
    let (status, _) = b.delete(&poet_path).await;
    assert_eq!(status, 204);
    b.assert_no_leaks(&[], &[]);
}
