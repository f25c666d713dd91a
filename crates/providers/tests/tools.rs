//! Tools across the provider boundary, against the mock server: the request
//! offers them as OpenAI `tools`, the model's calls come back whole (their
//! arguments streamed in fragments, several calls in one turn), and the
//! conversation sent back holds the calls and one `tool` message per call.

// Tests may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use worker_runtime::config::ProviderConfig;
use worker_runtime::provider::{
    ChatMessage, ChatRequest, ChatRole, ChatToolCall, Provider, ProviderEvent, ToolSpec,
};
use yoi_providers::openai::OpenAiProvider;
use yoi_test_support::{MockOpenAi, Reply};

/// Only fails a test that would otherwise hang.
const WAIT: Duration = Duration::from_secs(20);

fn provider(mock: &MockOpenAi) -> OpenAiProvider {
    OpenAiProvider::new(ProviderConfig {
        base_url: mock.base_url(),
        api_key: Some("sk-tools-test".to_owned()),
        ..ProviderConfig::default()
    })
}

fn user(text: &str) -> ChatMessage {
    ChatMessage::new(ChatRole::User, text)
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "yoi__list_workers".to_owned(),
            description: "Lists the workers of the workspace".to_owned(),
            parameters: json!({"type": "object", "properties": {}}),
        },
        ToolSpec {
            name: "time__get_current_time".to_owned(),
            description: "The current time in a timezone".to_owned(),
            parameters: json!({"type": "object",
                "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}),
        },
    ]
}

async fn events(p: &OpenAiProvider, request: ChatRequest) -> Vec<ProviderEvent> {
    tokio::time::timeout(WAIT, async {
        let stream = p.stream(request).await.unwrap();
        stream.map(Result::unwrap).collect::<Vec<_>>().await
    })
    .await
    .expect("the answer ends")
}

fn calls(events: &[ProviderEvent]) -> Vec<(usize, ChatToolCall)> {
    events
        .iter()
        .filter_map(|e| match e {
            ProviderEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .enumerate()
        .collect()
}

#[tokio::test]
async fn tools_are_offered_and_several_calls_come_back_whole() {
    let mock = MockOpenAi::start().await;
    let berlin = r#"{"timezone":"Europe/Berlin"}"#;
    mock.push(Reply::text("").with_tool_calls([
        ("yoi__list_workers", "{}"),
        ("time__get_current_time", berlin),
    ]));
    let request = ChatRequest {
        model: "mock-model".to_owned(),
        messages: vec![user("what time is it, and who is here?")],
        tools: tools(),
    };
    let got = events(&provider(&mock), request).await;

    let calls = calls(&got);
    assert_eq!(calls.len(), 2, "{got:?}");
    assert_eq!(calls[0].0, 0);
    assert_eq!(calls[0].1.name, "yoi__list_workers");
    assert_eq!(calls[0].1.arguments, "{}");
    assert_eq!(calls[1].0, 1);
    assert_eq!(calls[1].1.name, "time__get_current_time");
    assert_eq!(calls[1].1.arguments, berlin, "fragments are joined");
    assert_ne!(calls[0].1.id, calls[1].1.id);
    // The calls come before the end of the turn, whose reason says why it ended.
    let finished = got
        .iter()
        .position(|e| matches!(e, ProviderEvent::Finished { reason } if reason == "tool_calls"))
        .expect("finished with tool_calls");
    let last_call = got
        .iter()
        .rposition(|e| matches!(e, ProviderEvent::ToolCall(_)))
        .unwrap();
    assert!(last_call < finished, "{got:?}");

    let sent = &mock.wait_for_requests(1).await[0].body;
    let offered: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            t["function"]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(offered, ["yoi__list_workers", "time__get_current_time"]);
    assert_eq!(
        sent["tools"][1]["function"]["parameters"]["required"],
        json!(["timezone"])
    );
}

#[tokio::test]
async fn tool_results_go_back_and_the_mock_answers_with_their_content() {
    let mock = MockOpenAi::start().await;
    let call = |id: &str, name: &str| ChatToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: "{}".to_owned(),
    };
    let request = ChatRequest {
        model: "mock-model".to_owned(),
        messages: vec![
            user("who is here?"),
            ChatMessage {
                role: ChatRole::Assistant,
                content: String::new(),
                tool_calls: vec![
                    call("call_a", "yoi__list_workers"),
                    call("call_b", "time__get_current_time"),
                ],
                tool_call_id: None,
            },
            ChatMessage::tool_result("call_a", "companion, helper"),
            ChatMessage::tool_result("call_b", "12:00"),
        ],
        tools: tools(),
    };
    let got = events(&provider(&mock), request).await;
    let text: String = got
        .iter()
        .filter_map(|e| match e {
            ProviderEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "[call_a] companion, helper\n[call_b] 12:00");

    let sent = &mock.wait_for_requests(1).await[0].body;
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], serde_json::Value::Null);
    assert_eq!(messages[1]["tool_calls"][1]["id"], "call_b");
    assert_eq!(
        messages[1]["tool_calls"][1]["function"]["name"],
        "time__get_current_time"
    );
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], "call_a");
    assert_eq!(messages[3]["content"], "12:00");
}

#[tokio::test]
async fn a_tool_directive_in_the_users_message_makes_a_call() {
    let mock = MockOpenAi::start().await;
    let request = ChatRequest {
        model: "mock-model".to_owned(),
        messages: vec![user(r#"[[tool:yoi.list_workers {"limit":10}]]"#)],
        tools: tools(),
    };
    let got = events(&provider(&mock), request).await;
    let calls = calls(&got);
    assert_eq!(calls.len(), 1, "{got:?}");
    assert_eq!(calls[0].1.name, "yoi__list_workers");
    assert_eq!(calls[0].1.arguments, r#"{"limit":10}"#);
}

#[tokio::test]
async fn a_request_without_tools_sends_no_tools_key() {
    let mock = MockOpenAi::start().await;
    let request = ChatRequest {
        model: "mock-model".to_owned(),
        messages: vec![user("hi")],
        tools: Vec::new(),
    };
    let got = events(&provider(&mock), request).await;
    assert!(calls(&got).is_empty());
    let sent = &mock.wait_for_requests(1).await[0].body;
    assert!(sent.get("tools").is_none(), "{sent}");
}
