//! `GET .../transcript.md`: a worker's whole conversation as Markdown, every
//! page of its history and its tool calls with their results (issue 21).

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::*;
use worker_runtime::config::{ProfileSpec, ProviderConfig};
use worker_runtime::tools::ToolGrants;
use yoi_protocol::ToolPolicy;
use yoi_test_support::MockOpenAi;

/// More runs than one page of the history holds (1000 messages).
const RUNS: usize = 505;

fn helper(mock: &MockOpenAi) -> ProfileSpec {
    ProfileSpec {
        tools: ToolGrants::new(vec![("yoi.list_workers".to_owned(), ToolPolicy::Allow)]),
        name: "helper".into(),
        description: None,
        provider: ProviderConfig {
            base_url: mock.base_url(),
            api_key: Some("sk-helper-never-leak".into()),
            model: "helper-model".into(),
            ..ProviderConfig::default()
        },
        prompt: None,
        language: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markdown_export_holds_the_whole_conversation_with_its_tool_calls() {
    let mock = MockOpenAi::start().await;
    let s = Server::start_with(Options {
        profiles: vec![helper(&mock)],
        ..Options::default()
    })
    .await;
    let (status, made) = s
        .post(
            "/api/runtimes/backend-internal/workers",
            json!({"profile": "helper", "display_name": "scribe"}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let path = format!(
        "/api/runtimes/backend-internal/workers/{}",
        made["worker_id"].as_str().unwrap()
    );
    let input = format!("{path}/input?wait=true");
    let (status, answer) = s
        .post(
            &input,
            json!({"text": "Who is there? [[tool:yoi.list_workers {}]]"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for i in 0..RUNS {
        let (status, answer) = s.post(&input, json!({"text": format!("line {i}")})).await;
        assert_eq!(status, 200, "{answer}");
    }

    let resp = reqwest::get(s.url(&format!("{path}/transcript.md")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/markdown"), "{kind}");
    let md = resp.text().await.unwrap();
    assert!(
        md.starts_with("# scribe@backend-internal\n"),
        "{}",
        &md[..200]
    );
    let messages = 2 * (RUNS + 1);
    assert!(
        md.contains(&format!("{messages} messages")),
        "{}",
        &md[..200]
    );
    assert_eq!(md.matches("\n## You · ").count(), RUNS + 1);
    assert_eq!(md.matches("\n## Assistant · ").count(), RUNS + 1);
    // The first message (far beyond one page) and the last, in order.
    let first = md.find("Who is there?").expect("the first message");
    let last = md
        .find(&format!("You said: line {}", RUNS - 1))
        .expect("the last answer");
    assert!(first < last);
    // The tool call, with its arguments and result.
    assert!(
        md.contains("**Tool call** `yoi.list_workers` (ok)"),
        "{}",
        &md[..2000]
    );
    assert!(md.contains("Arguments:\n\n```\n{}\n```"), "{}", &md[..2000]);
    assert!(md.contains("Result:\n\n```"), "{}", &md[..2000]);
    assert!(md.contains("scribe"), "the result lists the worker");

    let (status, body) = s
        .get("/api/runtimes/backend-internal/workers/01ARZ3NDEKTSV4RRFFQ69G5FAV/transcript.md")
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "worker_not_found");
    s.assert_no_leaks();
}
