//! The OpenAI-compatible provider against the mock server: whatever a
//! provider sends is read with a bound, numbers are passed on as sent, and an
//! error's words come back masked and short.

// Tests may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use worker_runtime::config::ProviderConfig;
use worker_runtime::provider::{
    ChatMessage, ChatRequest, ChatRole, Provider, ProviderError, ProviderEvent,
};
use yoi_protocol::RunUsage;
use yoi_providers::openai::{OpenAiProvider, MAX_EVENT_BYTES};
use yoi_providers::redact::MESSAGE_LIMIT;
use yoi_test_support::{MockOpenAi, Reply};

const KEY: &str = "sk-bounds-test-key-31337";
/// Long enough to fail a test that waits for something that never comes.
const WAIT: Duration = Duration::from_secs(20);

fn provider(mock: &MockOpenAi) -> OpenAiProvider {
    OpenAiProvider::new(ProviderConfig {
        base_url: mock.base_url(),
        api_key: Some(KEY.to_owned()),
        model: "mock-model".to_owned(),
        ..ProviderConfig::default()
    })
}

fn request() -> ChatRequest {
    ChatRequest {
        tools: Vec::new(),
        model: "mock-model".to_owned(),
        messages: vec![ChatMessage {
            tool_call_id: None,
            tool_calls: Vec::new(),
            role: ChatRole::User,
            content: "hello".to_owned(),
        }],
    }
}

/// Every item of the answer, or the error that opening it gave.
async fn answer(
    p: &OpenAiProvider,
) -> Result<Vec<Result<ProviderEvent, ProviderError>>, ProviderError> {
    tokio::time::timeout(WAIT, async {
        let stream = p.stream(request()).await?;
        Ok(stream.collect::<Vec<_>>().await)
    })
    .await
    .expect("the provider call ends by itself, without waiting for the run timeout")
}

#[tokio::test]
async fn a_ten_megabyte_line_without_a_newline_fails_the_answer() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::long_line(10 * 1024 * 1024));
    let items = answer(&provider(&mock)).await.unwrap();
    let last = items.last().expect("an item");
    match last {
        Err(ProviderError::Protocol(message)) => assert!(
            message.contains(&MAX_EVENT_BYTES.to_string()) && message.contains("longer than"),
            "{message}"
        ),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(
        items[..items.len() - 1].iter().all(Result::is_ok),
        "only the last item is the error"
    );
}

#[tokio::test]
async fn an_endless_error_body_is_read_up_to_its_bound_and_masked() {
    let mock = MockOpenAi::start().await;
    let prefix = format!("bad key {KEY}; ");
    mock.push(Reply::long_error_body(502, &prefix, 10 * 1024 * 1024));
    let error = answer(&provider(&mock)).await.unwrap_err();
    let ProviderError::Http { status, message } = error else {
        panic!("expected an HTTP error, got {error:?}");
    };
    assert_eq!(status, 502);
    assert!(!message.contains(KEY), "{message}");
    assert!(message.contains("bad key <redacted>; aaa"), "{message}");
    assert!(message.chars().count() <= MESSAGE_LIMIT + 1, "{message}");
}

#[tokio::test]
async fn token_counts_of_u64_max_are_passed_on() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("hi").usage(u64::MAX, u64::MAX));
    let items = answer(&provider(&mock)).await.unwrap();
    let usage: Vec<RunUsage> = items
        .into_iter()
        .filter_map(|i| match i.unwrap() {
            ProviderEvent::Usage(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(
        usage,
        [RunUsage {
            prompt_tokens: u64::MAX,
            completion_tokens: u64::MAX
        }]
    );
}

#[tokio::test]
async fn an_error_mid_stream_comes_back_masked() {
    let mock = MockOpenAi::start().await;
    mock.push(Reply::text("secret conversation text").error_mid_stream(KEY));
    let items = answer(&provider(&mock)).await.unwrap();
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(ProviderEvent::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "secret conversation text");
    match items.last().unwrap() {
        Err(ProviderError::Protocol(m)) => assert!(!m.contains(KEY), "{m}"),
        other => panic!("expected the mid-stream error, got {other:?}"),
    }
}
