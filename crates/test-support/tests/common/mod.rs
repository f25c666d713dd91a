//! Helpers shared by the integration tests: requests and SSE parsing.
#![allow(dead_code)]

use serde_json::{json, Value};
use yoi_test_support::MockOpenAi;

pub fn chat_body(user: &str, stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are a test."},
            {"role": "user", "content": user},
        ],
        "stream": stream,
    });
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub async fn post(mock: &MockOpenAi, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Streams a chat request and returns the SSE `data:` payloads in order.
pub async fn stream(mock: &MockOpenAi, user: &str, include_usage: bool) -> Vec<String> {
    let response = post(mock, &chat_body(user, true, include_usage)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    data_frames(&response.text().await.unwrap())
}

/// Splits an SSE body into its `data:` payloads, checking the framing on the way.
pub fn data_frames(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n") || body.is_empty(),
        "unterminated frame in {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|frame| {
            frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data frame: {frame:?}"))
                .to_owned()
        })
        .collect()
}

/// The JSON chunks of a stream (everything but `[DONE]`).
pub fn chunks(frames: &[String]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f.as_str() != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect()
}

/// The concatenated `content` deltas.
pub fn content(chunks: &[Value]) -> String {
    delta_field(chunks, "content")
}

pub fn delta_field(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c.pointer(&format!("/choices/0/delta/{field}")))
        .filter_map(Value::as_str)
        .collect()
}
