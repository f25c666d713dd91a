//! Where the provider's key may go, and what the log may hold, checked on a
//! real `yoi serve` against mock OpenAI servers.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::{Backend, API_KEY};
use yoi_test_support::{MockOpenAi, Reply};

const RT: &str = "/api/runtimes/backend-internal";

/// A worker of `profile` in the backend's own runtime; its path.
async fn worker(b: &Backend, profile: &str) -> String {
    let (status, w) = b
        .post(&format!("{RT}/workers"), json!({"profile": profile}))
        .await;
    assert_eq!(status, 201, "{w}");
    format!("{RT}/workers/{}", w["worker_id"].as_str().unwrap())
}

#[tokio::test]
async fn a_profile_on_another_host_is_not_sent_the_providers_key() {
    let provider = MockOpenAi::start().await;
    let other = MockOpenAi::start().await;
    // `local` points at another server on this machine (the README's Ollama
    // example); `faraway` at a host that is not this machine, and is never
    // called: it is only named in a start-up warning.
    let toml = format!(
        "[profiles.local]\nbase_url = \"{}\"\nmodel = \"llama3.2\"\n\n[profiles.faraway]\nbase_url = \"http://10.255.255.1:9/v1\"\n",
        other.base_url()
    );
    let b = Backend::start(&provider.base_url(), &toml, &[]).await;

    let path = worker(&b, "local").await;
    let (status, answer) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let seen = &other.wait_for_requests(1).await[0];
    assert_eq!(seen.model(), Some("llama3.2"));
    assert!(
        seen.authorization
            .as_deref()
            .is_none_or(|a| !a.contains(API_KEY)),
        "the other host saw the provider's key: {:?}",
        seen.authorization
    );

    // The provider's own host still gets it.
    let path = worker(&b, "companion").await;
    let (status, answer) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let seen = &provider.wait_for_requests(1).await[0];
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );

    let log = b.proc.output();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("profile `faraway`")),
        "no start-up warning names `faraway`:\n{log}"
    );
    assert!(!log.contains("profile `local`"), "{log}");
}

#[tokio::test]
async fn the_log_after_a_provider_error_holds_neither_the_key_nor_the_body() {
    let mock = MockOpenAi::start().await;
    let tail = "END-OF-A-LONG-BODY";
    let body = format!("bad key {API_KEY}: {}{tail}", "y".repeat(20_000));
    mock.push(Reply::http_error(500, &body));
    mock.push(Reply::http_error(401, &body));
    let b = Backend::start(&mock.base_url(), "", &[]).await;
    let path = worker(&b, "companion").await;
    for status in [500, 401] {
        let (code, answer) = b
            .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
            .await;
        assert_ne!(code, 200, "{answer}");
        assert!(
            answer.to_string().contains(&format!("answered {status}")),
            "{answer}"
        );
    }
    // A request after both runs: its log line comes after everything they logged.
    let (code, _) = b.get(&path).await;
    assert_eq!(code, 200);
    let log = b
        .proc
        .wait_for_output(&format!("method=GET path={path} "))
        .await;
    assert!(!log.contains(API_KEY), "the key is in the log:\n{log}");
    assert!(!log.contains(tail), "the whole body is in the log");
    assert!(
        !log.contains(&"y".repeat(1_000)),
        "more than the capped message is in the log"
    );
    assert!(
        log.contains("the provider answered with an error") && log.contains("status=401"),
        "the errors are logged, masked and cut short:\n{log}"
    );
}
