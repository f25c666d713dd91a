//! The mock against async-openai, the client the worker runtime uses: its typed
//! chunks must parse, and its errors must come out as the right kind.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, FinishReason};
use async_openai::Client;
use futures::StreamExt;
use serde_json::json;
use yoi_test_support::{MockOpenAi, Reply};

fn client(mock: &MockOpenAi) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(mock.base_url())
            .with_api_key("sk-test"),
    )
}

fn request(stream: bool) -> CreateChatCompletionRequest {
    serde_json::from_value(json!({
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { json!(null) },
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_stream_parses_every_chunk() {
    let mock = MockOpenAi::start().await;
    mock.push(
        Reply::text("Hello typed world")
            .reasoning(["hm"])
            .usage(4, 3),
    );

    let mut stream = client(&mock)
        .chat()
        .create_stream(request(true))
        .await
        .unwrap();
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for choice in chunk.choices {
            text.extend(choice.delta.content);
            finish = finish.or(choice.finish_reason);
        }
        usage = usage.or(chunk.usage);
    }

    assert_eq!(text, "Hello typed world");
    assert_eq!(finish, Some(FinishReason::Stop));
    assert_eq!(usage.unwrap().total_tokens, 7);
    assert_eq!(
        mock.requests()[0].authorization.as_deref(),
        Some("Bearer sk-test")
    );
}

#[tokio::test]
async fn typed_completion_parses() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("whole answer"));

    let response = client(&mock).chat().create(request(false)).await.unwrap();

    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("whole answer")
    );
}

#[tokio::test]
async fn cut_stream_yields_an_error() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::tokens(["a", "b", "c"]).cut_after(1));

    let mut stream = client(&mock)
        .chat()
        .create_stream(request(true))
        .await
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }

    assert!(items.iter().any(Result::is_err), "{items:?}");
}

#[tokio::test]
async fn http_error_is_an_api_error() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::http_error(404, "no such model"));

    let error = client(&mock)
        .chat()
        .create_stream(request(true))
        .await
        .err()
        .unwrap();

    match error {
        OpenAIError::ApiError(e) => {
            assert_eq!(e.status_code, 404);
            assert_eq!(e.api_error.message, "no such model");
            assert_eq!(e.api_error.code.as_deref(), Some("model_not_found"));
        }
        other => panic!("unexpected {other:?}"),
    }
}
