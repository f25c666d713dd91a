//! `[[...]]` directives in the last user message, honoured in echo mode only.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::{chat_body, chunks, content, data_frames, delta_field, post, stream};
use serde_json::Value;
use yoi_test_support::{MockOpenAi, Reply};

#[tokio::test]
async fn tokens_directive_streams_numbered_tokens() {
    let mock = MockOpenAi::start().await;

    let chunks = chunks(&stream(&mock, "go [[tokens:3]]", false).await);

    assert_eq!(content(&chunks), "tok1 tok2 tok3");
    assert_eq!(chunks.len(), 5);
}

#[tokio::test]
async fn slow_directive_streams_forty_tokens() {
    let mock = MockOpenAi::start().await;

    // A custom delay keeps the test quick; `[[slow]]` alone waits 300 ms per token.
    let chunks = chunks(&stream(&mock, "[[slow:1]]", false).await);

    assert_eq!(content(&chunks).split(' ').count(), 40);
}

#[tokio::test]
async fn error_directive_answers_with_openai_error_json() {
    let mock = MockOpenAi::start().await;

    let response = post(&mock, &chat_body("please [[error:429]]", true, false)).await;

    assert_eq!(response.status(), 429);
    let value: Value = response.json().await.unwrap();
    assert_eq!(value["error"]["message"], "mock error 429");
    assert!(value["error"]["type"].is_string());
}

#[tokio::test]
async fn hang_directive_hangs_until_the_client_leaves() {
    let mock = MockOpenAi::start().await;

    let response = post(&mock, &chat_body("[[hang]]", true, false)).await;

    assert_eq!(response.status(), 200);
    mock.wait_for_open_streams(1).await;
    drop(response);
    mock.wait_for_open_streams(0).await;
}

#[tokio::test]
async fn cut_directive_cuts_after_n_chunks() {
    let mock = MockOpenAi::start().await;

    let mut response = post(&mock, &chat_body("[[tokens:5]] [[cut:2]]", true, false)).await;
    let mut received = Vec::new();
    let result = loop {
        match response.chunk().await {
            Ok(Some(bytes)) => received.extend_from_slice(&bytes),
            other => break other,
        }
    };

    assert!(result.is_err(), "{result:?}");
    let frames = data_frames(&String::from_utf8(received).unwrap());
    assert_eq!(content(&chunks(&frames)), "tok1 tok2");
}

#[tokio::test]
async fn reasoning_directive_sends_reasoning_before_the_echo() {
    let mock = MockOpenAi::start().await;

    let chunks = chunks(&stream(&mock, "[[reasoning]] why?", false).await);

    assert!(!delta_field(&chunks, "reasoning_content").is_empty());
    assert_eq!(content(&chunks), "You said: why?");
    let first_content = chunks
        .iter()
        .position(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap();
    let last_reasoning = chunks
        .iter()
        .rposition(|c| c["choices"][0]["delta"].get("reasoning_content").is_some())
        .unwrap();
    assert!(last_reasoning < first_content);
}

#[tokio::test]
async fn markdown_directive_has_heading_list_code_and_script() {
    let mock = MockOpenAi::start().await;

    let text = content(&chunks(&stream(&mock, "[[markdown]]", false).await));

    assert!(text.starts_with("# "));
    assert!(text.contains("\n- "));
    assert!(text.contains("```rust\n"));
    assert!(text.contains("<script>alert(1)</script>"));
}

#[tokio::test]
async fn directives_are_ignored_when_a_reply_is_queued_or_defaulted() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("queued"));

    assert_eq!(
        content(&chunks(&stream(&mock, "[[error:500]]", false).await)),
        "queued"
    );

    mock.set_default(Reply::text("default"));
    assert_eq!(
        content(&chunks(&stream(&mock, "[[error:500]]", false).await)),
        "default"
    );
}

#[tokio::test]
async fn unknown_directives_are_echoed() {
    let mock = MockOpenAi::start().await;

    let text = post(&mock, &chat_body("[[nope]] hi", true, false))
        .await
        .text()
        .await
        .unwrap();

    assert_eq!(
        content(&chunks(&data_frames(&text))),
        "You said: [[nope]] hi"
    );
}
