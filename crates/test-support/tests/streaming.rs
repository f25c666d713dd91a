//! The SSE wire format of successful streams, and non-streamed answers.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::time::Duration;

use common::{chunks, content, delta_field, post, stream};
use serde_json::{json, Value};
use yoi_test_support::{MockOpenAi, Reply};

#[tokio::test]
async fn stream_has_role_content_finish_and_done_in_order() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["Hel", "lo"]));

    let frames = stream(&mock, "hi", false).await;

    assert_eq!(frames.len(), 5, "{frames:?}");
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let chunks = chunks(&frames);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for chunk in &chunks {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "test-model");
        assert!(chunk["created"].as_u64().unwrap() > 0);
        assert_eq!(chunk["choices"][0]["index"], 0);
        assert!(chunk.get("usage").is_none());
    }
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
    assert_eq!(deltas[1], &json!({"content": "Hel"}));
    assert_eq!(deltas[2], &json!({"content": "lo"}));
    assert_eq!(deltas[3], &json!({}));
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .collect();
    assert_eq!(
        finishes,
        [&Value::Null, &Value::Null, &Value::Null, &json!("stop")]
    );
}

#[tokio::test]
async fn usage_chunk_comes_only_with_include_usage() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("a b c").usage(7, 3));
    mock.push(Reply::text("a b c").usage(7, 3));

    let without = chunks(&stream(&mock, "hi", false).await);
    assert!(without.iter().all(|c| c.get("usage").is_none()));

    let frames = stream(&mock, "hi", true).await;
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let with = chunks(&frames);
    let last = with.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})
    );
    // The chunk before the usage chunk is the finish chunk.
    assert_eq!(with[with.len() - 2]["choices"][0]["finish_reason"], "stop");
    // Like OpenAI, the other chunks carry `"usage": null`.
    assert!(with[..with.len() - 1].iter().all(|c| c["usage"].is_null()));
}

#[tokio::test]
async fn default_usage_counts_chunks() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["x", "y"]).reasoning(["r"]));

    let chunks = chunks(&stream(&mock, "one two three", true).await);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 3);
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 0);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + 3);
}

#[tokio::test]
async fn text_is_split_into_pieces_that_concatenate_back() {
    let mock = MockOpenAi::start().await;
    let text = "Hello there,  general\nKenobi!";
    mock.push(Reply::text(text));

    let chunks = chunks(&stream(&mock, "hi", false).await);

    assert_eq!(content(&chunks), text);
    // role chunk + 4 word pieces + finish chunk
    assert_eq!(chunks.len(), 6);
}

#[tokio::test]
async fn reasoning_chunks_come_before_content() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["Answer"]).reasoning(["Let me ", "think"]));

    let chunks = chunks(&stream(&mock, "hi", false).await);

    let kinds: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| {
            let delta = c["choices"][0]["delta"].as_object().unwrap();
            assert_eq!(delta.len(), 1);
            delta.keys().next().unwrap().as_str()
        })
        .collect();
    assert_eq!(kinds, ["reasoning_content", "reasoning_content", "content"]);
    assert_eq!(delta_field(&chunks, "reasoning_content"), "Let me think");
    assert_eq!(content(&chunks), "Answer");
}

#[tokio::test]
async fn delays_do_not_change_the_stream() {
    let mock = MockOpenAi::start().await;
    mock.push(
        Reply::text("slow but sure")
            .first_token_delay(Duration::from_millis(20))
            .token_delay(Duration::from_millis(5)),
    );

    let frames = stream(&mock, "hi", false).await;

    assert_eq!(content(&chunks(&frames)), "slow but sure");
    assert_eq!(frames.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn finish_reason_can_be_chosen() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("truncated").finish_reason("length"));

    let chunks = chunks(&stream(&mock, "hi", false).await);

    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
}

#[tokio::test]
async fn without_done_ends_cleanly_after_the_content() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["a", "b"]).without_done());

    let frames = stream(&mock, "hi", true).await;

    assert!(!frames.iter().any(|f| f == "[DONE]"));
    let chunks = chunks(&frames);
    assert_eq!(chunks.len(), 3, "role + 2 content chunks: {chunks:?}");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert_eq!(content(&chunks), "ab");
}

#[tokio::test]
async fn non_streaming_request_gets_a_chat_completion() {
    let mock = MockOpenAi::start().await;
    let stream_false = common::chat_body("hi", false, false);
    let mut stream_absent = stream_false.clone();
    stream_absent.as_object_mut().unwrap().remove("stream");

    for body in [stream_false, stream_absent] {
        mock.push(Reply::text("Hello world").reasoning(["hmm"]).usage(5, 2));
        let response = post(&mock, &body).await;

        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let value: Value = response.json().await.unwrap();
        assert_eq!(value["object"], "chat.completion");
        assert!(value["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(value["model"], "test-model");
        assert_eq!(
            value["choices"][0]["message"],
            json!({"role": "assistant", "content": "Hello world", "reasoning_content": "hmm"})
        );
        assert_eq!(value["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            value["usage"],
            json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
        );
    }
}

#[tokio::test]
async fn models_lists_the_default_model() {
    let mock = MockOpenAi::start().await;

    let value: Value = reqwest::get(format!("{}/models", mock.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(value["object"], "list");
    assert_eq!(value["data"][0]["id"], yoi_test_support::DEFAULT_MODEL);
}

#[tokio::test]
async fn headers_arrive_before_the_first_token_delay_ends() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("late").first_token_delay(Duration::from_secs(3600)));

    let response = post(&mock, &common::chat_body("hi", true, false)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    mock.wait_for_open_streams(1).await;
    drop(response);
    mock.wait_for_open_streams(0).await;
}
