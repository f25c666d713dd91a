//! `client_message_id` survives `yoi serve`'s restarts: a retry after a
//! clean stop (SIGTERM) or a crash (SIGKILL) is answered with the first
//! answer (same `run_id` and `message_id`) and runs nothing, for an input
//! that ran and for one that waited in the queue (issue 21).

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::{json, Value};
use support::{Backend, TempDir, WAIT};
use yoi_test_support::{MockOpenAi, Reply};

async fn companion(b: &Backend) -> String {
    let (status, c) = b.get("/api/companion").await;
    assert_eq!(status, 200, "{c}");
    format!(
        "/api/runtimes/{}/workers/{}",
        c["runtime_id"].as_str().unwrap(),
        c["worker_id"].as_str().unwrap()
    )
}

/// Stops `b` (SIGTERM, or SIGKILL when `crash`) and starts `yoi serve`
/// again on the same workspace.
async fn restart(mut b: Backend, mock: &MockOpenAi, crash: bool) -> Backend {
    if crash {
        b.proc.kill().await;
    } else {
        let pid = b.proc.pid().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exited = tokio::time::timeout(WAIT, b.proc.child.wait()).await;
        assert!(exited.is_ok(), "yoi serve stops on SIGTERM");
    }
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);
    Backend::restart_in(&mock.base_url(), workspace, &[]).await
}

fn same_answer(first: &Value, again: &Value) {
    for key in ["run_id", "message_id", "seq", "queued", "position"] {
        assert_eq!(first[key], again[key], "{key}: {first} then {again}");
    }
}

async fn user_messages(b: &Backend, worker: &str) -> Vec<String> {
    let (status, t) = b.get(&format!("{worker}/transcript?limit=1000")).await;
    assert_eq!(status, 200, "{t}");
    t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn retries_after_a_restart_run_nothing(crash: bool) {
    let mock = MockOpenAi::start().await;
    let b = Backend::start(&mock.base_url(), "", &[]).await;
    let worker = companion(&b).await;
    // The first input's run is still streaming at the restart; the second
    // waits in the queue behind it.
    mock.push(Reply::tokens((0..1000).map(|i| format!("t{i} "))).then_hang());
    let input = format!("{worker}/input");
    let (status, ran) = b
        .post(&input, json!({"text": "first", "client_message_id": "c-1"}))
        .await;
    assert_eq!(status, 202, "{ran}");
    let (status, queued) = b
        .post(
            &input,
            json!({"text": "second", "client_message_id": "c-2", "on_busy": "queue"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], true, "{queued}");

    let b = restart(b, &mock, crash).await;
    // The restored worker runs the queued input: let it end first, so that
    // a retry that wrongly ran would show as a third user message.
    let mut events = b.ws(&format!("{worker}/events")).await;
    let snapshot = events.frame().await;
    if snapshot["worker"]["status"] != "idle"
        || !snapshot["worker"]["queue"].as_array().unwrap().is_empty()
    {
        events.until("run_completed").await;
    }
    events.close().await;
    for (text, id, first) in [("first", "c-1", &ran), ("second", "c-2", &queued)] {
        let (status, again) = b
            .post(&input, json!({"text": text, "client_message_id": id}))
            .await;
        assert_eq!(status, 202, "{again}");
        same_answer(first, &again);
    }
    assert_eq!(user_messages(&b, &worker).await, ["first", "second"]);
    // Waiting on the retry answers the run's end, from its answer in the
    // transcript (the outcome itself was not kept across the restart).
    let (status, waited) = b
        .post(
            &format!("{input}?wait=true"),
            json!({"text": "second", "client_message_id": "c-2"}),
        )
        .await;
    assert_eq!(status, 200, "{waited}");
    assert_eq!(waited["run_id"], queued["run_id"], "{waited}");
    assert_eq!(waited["message"]["text"], "You said: second", "{waited}");
    let (_, detail) = b.get(&worker).await;
    assert_eq!(detail["status"], "idle", "{detail}");
    assert_eq!(detail["usage"]["runs"], 2, "{detail}");

    // Once more across a second restart: the ids are still known.
    let b = restart(b, &mock, crash).await;
    let (status, again) = b
        .post(&input, json!({"text": "first", "client_message_id": "c-1"}))
        .await;
    assert_eq!(status, 202, "{again}");
    same_answer(&ran, &again);
    assert_eq!(user_messages(&b, &worker).await, ["first", "second"]);
    b.assert_no_leaks(&[], &[]);
}

#[tokio::test]
async fn a_retry_after_a_clean_restart_gets_the_first_answer_and_runs_nothing() {
    retries_after_a_restart_run_nothing(false).await;
}

#[tokio::test]
async fn a_retry_after_a_crash_gets_the_first_answer_and_runs_nothing() {
    retries_after_a_restart_run_nothing(true).await;
}
