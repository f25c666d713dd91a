//! Failing providers: HTTP errors, hangs, cut connections, unknown routes.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::time::Duration;

use common::{chat_body, chunks, content, data_frames, post};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yoi_test_support::{MockOpenAi, Reply};

#[tokio::test]
async fn http_error_has_status_and_openai_error_json() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::http_error(404, "The model `x` does not exist"));

    let response = post(&mock, &chat_body("hi", true, false)).await;

    assert_eq!(response.status(), 404);
    let value: Value = response.json().await.unwrap();
    assert_eq!(
        value,
        json!({"error": {
            "message": "The model `x` does not exist",
            "type": "invalid_request_error",
            "param": null,
            "code": "model_not_found",
        }})
    );
}

#[tokio::test]
async fn server_errors_are_server_error_type() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::http_error(503, "overloaded"));

    let response = post(&mock, &chat_body("hi", false, false)).await;

    assert_eq!(response.status(), 503);
    let value: Value = response.json().await.unwrap();
    assert_eq!(value["error"]["type"], "server_error");
    assert_eq!(value["error"]["message"], "overloaded");
}

#[tokio::test]
async fn http_error_with_sets_type_and_code() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::http_error_with(
        429,
        "You exceeded your current quota",
        "insufficient_quota",
        Some("insufficient_quota"),
    ));

    let response = post(&mock, &chat_body("hi", true, false)).await;

    assert_eq!(response.status(), 429);
    let value: Value = response.json().await.unwrap();
    assert_eq!(value["error"]["type"], "insufficient_quota");
    assert_eq!(value["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn hang_sends_headers_then_nothing_until_the_client_leaves() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());

    let mut response = post(&mock, &chat_body("hi", true, false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    mock.wait_for_open_streams(1).await;

    let read = tokio::time::timeout(Duration::from_millis(200), response.chunk()).await;
    assert!(read.is_err(), "a hung stream sent {read:?}");

    drop(response);
    mock.wait_for_open_streams(0).await;
}

#[tokio::test]
async fn hang_makes_a_client_timeout_fire() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();

    let result = async {
        client
            .post(format!("{}/chat/completions", mock.base_url()))
            .json(&chat_body("hi", true, false))
            .send()
            .await?
            .text()
            .await
    }
    .await;

    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    mock.wait_for_open_streams(0).await;
}

#[tokio::test]
async fn cut_gives_the_client_a_body_error_after_n_chunks() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["a", "b", "c", "d"]).cut_after(2));

    let mut response = post(&mock, &chat_body("hi", true, true)).await;
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(bytes)) => received.extend_from_slice(&bytes),
            Ok(None) => panic!("the body ended cleanly: {received:?}"),
            Err(e) => break e,
        }
    };

    assert!(error.is_body() || error.is_decode(), "{error:?}");
    let frames = data_frames(&String::from_utf8(received).unwrap());
    assert!(!frames.iter().any(|f| f == "[DONE]"));
    let chunks = chunks(&frames);
    assert_eq!(content(&chunks), "ab");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    mock.wait_for_open_streams(0).await;
}

#[tokio::test]
async fn cut_drops_the_connection_without_the_chunked_terminator() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["one", "two", "three"]).cut_after(1));
    let body = chat_body("hi", true, false).to_string();
    let mut socket = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        mock.addr(),
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();

    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }

    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked"));
    assert!(raw.contains(r#"{"content":"one"}"#), "{raw}");
    assert!(!raw.contains(r#""two""#), "{raw}");
    assert!(!raw.contains("[DONE]"));
    assert!(!raw.ends_with("0\r\n\r\n"), "clean terminator in {raw:?}");
}

#[tokio::test]
async fn cut_of_a_non_streamed_answer_truncates_the_json() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("a b c").cut_after(1));

    let response = post(&mock, &chat_body("hi", false, false)).await;

    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn unknown_route_is_404_with_error_json() {
    let mock = MockOpenAi::start().await;

    let response = reqwest::get(format!("{}/nope", mock.base_url()))
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    let value: Value = response.json().await.unwrap();
    assert_eq!(value["error"]["type"], "invalid_request_error");
    assert_eq!(value["error"]["message"], "Invalid URL (GET /v1/nope)");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_and_recorded() {
    let mock = MockOpenAi::start().await;

    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let value: Value = response.json().await.unwrap();
    assert_eq!(value["error"]["type"], "invalid_request_error");
    assert_eq!(mock.requests()[0].body, json!("{not json"));
}

#[tokio::test]
async fn dropping_the_mock_ends_open_streams() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::hang());
    let mut response = post(&mock, &chat_body("hi", true, false)).await;
    mock.wait_for_open_streams(1).await;

    mock.shutdown().await;

    assert!(response.chunk().await.is_err());
}
