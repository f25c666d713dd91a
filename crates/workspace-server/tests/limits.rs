//! The configured limits, each answered with `limit_reached` (429,
//! retryable): workers per runtime, event sockets per worker, open
//! connections, and an answer too long for one run.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::*;
use yoi_test_support::Reply;

const WORKERS: &str = "/api/runtimes/backend-internal/workers";

fn assert_limit_reached(status: u16, body: &Value, names: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(names), "{message}");
}

#[tokio::test]
async fn workers_per_runtime_are_limited() {
    let s = Server::start_with(Options {
        runtime_limits: RuntimeLimits {
            workers: 2,
            ..RuntimeLimits::default()
        },
        ..Options::default()
    })
    .await;
    // The Companion is one of the two.
    let (status, second) = s.post(WORKERS, json!({})).await;
    assert_eq!(status, 201, "{second}");
    let (status, body) = s.post(WORKERS, json!({})).await;
    assert_limit_reached(status, &body, "limits.workers_per_runtime");
    let (_, list) = s.get(WORKERS).await;
    assert_eq!(list["workers"].as_array().unwrap().len(), 2);
    let id = second["worker_id"].as_str().unwrap();
    let (status, _) = s.delete(&format!("{WORKERS}/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = s.post(WORKERS, json!({})).await;
    assert_eq!(status, 201, "a slot is free again: {body}");
    s.assert_no_leaks();
}

#[tokio::test]
async fn event_sockets_per_worker_are_limited() {
    let s = Server::start_with(Options {
        runtime_limits: RuntimeLimits {
            subscribers_per_worker: 2,
            ..RuntimeLimits::default()
        },
        ..Options::default()
    })
    .await;
    let path = s.companion_path().await;
    let events = format!("{path}/events");
    let mut a = s.ws(&events).await;
    a.frame().await;
    let mut b = s.ws(&events).await;
    b.frame().await;
    assert_eq!(s.ws_with(&events, |_| {}).await.err(), Some(429));
    // Another worker is not affected.
    let (_, other) = s.post(WORKERS, json!({})).await;
    let other = other["worker_id"].as_str().unwrap();
    let mut c = s.ws(&format!("{WORKERS}/{other}/events")).await;
    assert_eq!(c.frame().await["type"], "snapshot");
    // A closed socket frees its place at once.
    let ending = a.close_handshake().await;
    assert_eq!(ending.close_code, Some(1000));
    let mut d = s.ws(&events).await;
    assert_eq!(d.frame().await["type"], "snapshot");
    s.assert_no_leaks();
}

#[tokio::test]
async fn open_connections_are_limited() {
    let s = Server::start_with(Options {
        limits: ServerLimits {
            max_connections: 3,
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    // The test client's kept-alive connection holds the first slot.
    let path = s.companion_path().await;
    let mut a = s.ws(&format!("{path}/events")).await;
    a.frame().await;
    let mut b = s.ws("/api/events").await;
    b.frame().await;
    // Every slot is held: a request on a new connection is refused.
    let (status, body) = fresh_get(&s, "/api/health").await;
    assert_limit_reached(status, &body, "limits.connections");
    assert_eq!(s.ws_with("/api/events", |_| {}).await.err(), Some(429));
    let ending = b.close_handshake().await;
    assert_eq!(ending.close_code, Some(1000));
    let (status, body) = fresh_get(&s, "/api/health").await;
    assert_eq!(status, 200, "{body}");
    s.assert_no_leaks();
}

/// A GET on a connection of its own (the server's client keeps one alive).
async fn fresh_get(s: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(s.url(path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_run_past_the_answer_limit_fails_and_keeps_its_text() {
    let s = Server::start_with(Options {
        runtime_limits: RuntimeLimits {
            answer_bytes: 1024,
            ..RuntimeLimits::default()
        },
        ..Options::default()
    })
    .await;
    let token = "t".repeat(100);
    s.mock.push(Reply::tokens((0..50).map(|_| token.clone())));
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    let (status, body) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "go on"}))
        .await;
    assert_limit_reached(status, &body, "limits.answer_bytes");
    let frames = ws.until_idle().await;
    let failed = frames.iter().find(|f| f["type"] == "run_failed").unwrap();
    assert_eq!(failed["error"]["code"], "limit_reached");
    let message = frames
        .iter()
        .find(|f| f["type"] == "assistant_message")
        .unwrap();
    assert_eq!(message["message"]["state"], "failed");
    assert_eq!(message["message"]["text"], token.repeat(10));
    let (_, transcript) = s.get(&format!("{path}/transcript")).await;
    let last = transcript["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["text"], token.repeat(10));
    // The worker takes input again.
    s.mock.push(Reply::text("short"));
    let (status, body) = s
        .post(
            &format!("{path}/input?wait=true"),
            json!({"text": "shorter"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.assert_no_leaks();
}
