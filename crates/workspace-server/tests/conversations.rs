//! Profiles, renaming and the worker list's last activity, against the real
//! server on a real socket and the mock OpenAI servers (one per provider).

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::{json, Value};
use support::{Options, Server};
use worker_runtime::config::ProfileSpec;
use worker_runtime::ProviderConfig;
use yoi_test_support::{MockOpenAi, Reply};

const WORKERS: &str = "/api/runtimes/backend-internal/workers";

/// A profile on its own mock server, with a prompt file of the workspace.
fn local_profile(mock: &MockOpenAi, prompt: std::path::PathBuf) -> ProfileSpec {
    ProfileSpec {
        tools: Default::default(),
        name: "local".into(),
        description: Some("A small model on this machine".into()),
        provider: ProviderConfig {
            base_url: mock.base_url(),
            api_key: None,
            model: "local-model".into(),
            ..ProviderConfig::default()
        },
        prompt: Some(prompt),
        language: Some("Esperanto".into()),
    }
}

/// A hosted profile whose key is not set.
fn hosted_profile() -> ProfileSpec {
    ProfileSpec {
        tools: Default::default(),
        name: "hosted".into(),
        description: None,
        provider: ProviderConfig {
            base_url: "https://llm.example.net/v1".into(),
            api_key_env: "HOSTED_KEY".into(),
            api_key: None,
            model: "big-model".into(),
            ..ProviderConfig::default()
        },
        prompt: None,
        language: None,
    }
}

async fn with_profiles() -> (Server, MockOpenAi) {
    let (s, local, _prompt) = with_profiles_and_prompt().await;
    (s, local)
}

/// As [`with_profiles`], with the path of the `local` profile's prompt file.
async fn with_profiles_and_prompt() -> (Server, MockOpenAi, std::path::PathBuf) {
    let local = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!(
        "yoi-profile-prompt-{}-{}",
        std::process::id(),
        local.addr().port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = dir.join("terse.md");
    std::fs::write(&prompt, "Be terse, answer in {{language}}.").unwrap();
    let s = Server::start_with(Options {
        profiles: vec![local_profile(&local, prompt.clone()), hosted_profile()],
        ..Options::default()
    })
    .await;
    (s, local, prompt)
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn profiles_are_listed_with_their_state_and_never_a_url_or_key() {
    let (s, _local) = with_profiles().await;
    let (status, body) = s.get("/api/profiles").await;
    assert_eq!(status, 200, "{body}");
    let profiles = &body["profiles"];
    assert_eq!(
        names(profiles),
        ["companion", "local", "hosted"],
        "in configured order"
    );
    let companion = &profiles[0];
    assert_eq!(companion["model"], "mock-model");
    assert_eq!(companion["configured"], true);
    assert!(companion["description"].is_string());
    let hosted = &profiles[2];
    assert_eq!(hosted["configured"], false);
    assert!(hosted["hint"].as_str().unwrap().contains("HOSTED_KEY"));
    assert_eq!(
        profiles[1]["configured"], true,
        "a loopback URL needs no key"
    );
    let text = body.to_string();
    for secret in ["example.net", "127.0.0.1", "http", "terse.md"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let (_, runtime) = s.get("/api/runtimes/backend-internal").await;
    assert_eq!(
        runtime["profiles"], *profiles,
        "the runtime reports the same"
    );
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_worker_of_a_profile_talks_to_its_own_provider_with_its_prompt() {
    let (s, local) = with_profiles().await;
    local.set_default(Reply::text("saluton"));
    let (status, created) = s.post(WORKERS, json!({"profile": "local"})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["profile"]["name"], "local");
    assert_eq!(created["profile"]["model"], "local-model");
    assert_eq!(created["display_name"], "local");
    let path = format!("{WORKERS}/{}", created["worker_id"].as_str().unwrap());
    let (status, answer) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["message"]["text"], "saluton");
    let request = &local.wait_for_requests(1).await[0];
    assert_eq!(request.model(), Some("local-model"));
    assert_eq!(
        request.messages()[0],
        (
            "system".to_owned(),
            "Be terse, answer in Esperanto.".to_owned()
        )
    );
    assert!(
        s.mock.requests().is_empty(),
        "the Companion's provider saw nothing"
    );

    let (status, hosted) = s.post(WORKERS, json!({"profile": "hosted"})).await;
    assert_eq!(status, 201, "{hosted}");
    let path = format!("{WORKERS}/{}", hosted["worker_id"].as_str().unwrap());
    let (status, err) = s
        .post(&format!("{path}/input"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 503);
    assert_eq!(err["error"]["code"], "provider_unconfigured");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("HOSTED_KEY"));
    s.assert_no_leaks();
}

/// Workers of an unchanged profile share one copy of it; an edited prompt
/// file still applies to the next worker, and an earlier one keeps its own.
#[tokio::test]
async fn an_edited_prompt_applies_to_the_next_worker_and_not_the_earlier_ones() {
    let (s, local, prompt) = with_profiles_and_prompt().await;
    local.set_default(Reply::text("saluton"));
    let mut paths = Vec::new();
    for _ in 0..2 {
        let (status, created) = s.post(WORKERS, json!({"profile": "local"})).await;
        assert_eq!(status, 201, "{created}");
        paths.push(format!(
            "{WORKERS}/{}",
            created["worker_id"].as_str().unwrap()
        ));
    }
    std::fs::write(&prompt, "Be kind, in {{language}}.").unwrap();
    let (status, created) = s.post(WORKERS, json!({"profile": "local"})).await;
    assert_eq!(status, 201, "{created}");
    paths.push(format!(
        "{WORKERS}/{}",
        created["worker_id"].as_str().unwrap()
    ));
    for path in &paths {
        let (status, answer) = s
            .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let systems: Vec<String> = local
        .wait_for_requests(3)
        .await
        .iter()
        .map(|r| r.messages()[0].1.clone())
        .collect();
    assert_eq!(
        systems,
        [
            "Be terse, answer in Esperanto.",
            "Be terse, answer in Esperanto.",
            "Be kind, in Esperanto."
        ]
    );
    s.assert_no_leaks();
}

#[tokio::test]
async fn an_unknown_profile_is_invalid_input_naming_the_known_ones() {
    let (s, _local) = with_profiles().await;
    let (status, err) = s.post(WORKERS, json!({"profile": "shell"})).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_input");
    let message = err["error"]["message"].as_str().unwrap();
    for name in ["shell", "companion", "hosted", "local"] {
        assert!(message.contains(name), "{name} missing: {message}");
    }
    s.assert_no_leaks();
}

#[tokio::test]
async fn renaming_answers_the_summary_and_tells_the_workspace() {
    let s = Server::start().await;
    let mut events = s.ws("/api/events").await;
    events.frame().await;
    let (_, created) = s.post(WORKERS, json!({"display_name": "draft"})).await;
    let wid = created["worker_id"].as_str().unwrap().to_owned();
    let path = format!("{WORKERS}/{wid}");

    let (status, renamed) = s
        .patch(&path, json!({"display_name": "  Trip planning  "}))
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_name"], "Trip planning");
    assert_eq!(renamed["display_ref"], "Trip planning@backend-internal");
    assert_eq!(renamed["worker_id"], wid.as_str());
    let frames = events.until("worker_updated").await;
    let update = frames.last().unwrap();
    assert_eq!(update["worker"]["display_name"], "Trip planning");
    let (_, detail) = s.get(&path).await;
    assert_eq!(detail["display_ref"], "Trip planning@backend-internal");
    let long = "n".repeat(80);
    let (status, _) = s.patch(&path, json!({"display_name": long})).await;
    assert_eq!(status, 200, "80 characters fit");

    for bad in [
        json!({"display_name": "   "}),
        json!({"display_name": "a@b"}),
        json!({"display_name": "n".repeat(81)}),
        json!({"display_name": 7}),
        json!({}),
    ] {
        let (status, err) = s.patch(&path, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error"]["code"], "invalid_input");
    }
    let unknown = format!("{WORKERS}/01J00000000000000000000000");
    let (status, err) = s.patch(&unknown, json!({"display_name": "x"})).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "worker_not_found");
    s.assert_no_leaks();
}

#[tokio::test]
async fn names_survive_a_restart_and_a_renamed_companion_stays_the_companion() {
    let s = Server::start().await;
    let companion = s.companion_path().await;
    let (status, _) = s.patch(&companion, json!({"display_name": "Buddy"})).await;
    assert_eq!(status, 200);
    let (_, other) = s.post(WORKERS, json!({"display_name": "second"})).await;
    let other_path = format!("{WORKERS}/{}", other["worker_id"].as_str().unwrap());
    let (status, _) = s.patch(&other_path, json!({"display_name": "Notes"})).await;
    assert_eq!(status, 200);
    let workspace = s.workspace.clone();
    s.assert_no_leaks();
    s.shutdown_keeping(true).await;

    let s = Server::start_with(Options {
        workspace: Some(workspace),
        ..Options::default()
    })
    .await;
    assert_eq!(s.companion_path().await, companion, "the same Companion");
    let (_, info) = s.get("/api/companion").await;
    assert_eq!(info["display_name"], "Buddy");
    let (_, detail) = s.get(&other_path).await;
    assert_eq!(detail["display_ref"], "Notes@backend-internal");
    let (_, list) = s.get(WORKERS).await;
    assert_eq!(list["workers"].as_array().unwrap().len(), 2, "{list}");
    s.assert_no_leaks();
}

#[tokio::test]
async fn summaries_carry_the_last_message_and_runs_send_worker_updated() {
    let s = Server::start().await;
    s.mock
        .set_default(Reply::text("An answer\n\nwith two paragraphs"));
    let (_, created) = s.post(WORKERS, json!({})).await;
    assert!(created.get("last_message").is_none(), "{created}");
    assert!(created.get("last_activity").is_none(), "{created}");
    let wid = created["worker_id"].as_str().unwrap().to_owned();
    let mut events = s.ws("/api/events").await;
    events.frame().await;
    let path = format!("{WORKERS}/{wid}");
    let (status, _) = s
        .post(
            &format!("{path}/input?wait=true"),
            json!({"text": "a question"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut last = Value::Null;
    while last["worker"]["last_message"] != "An answer with two paragraphs" {
        let frames = events.until("worker_updated").await;
        last = frames.last().unwrap().clone();
        assert_eq!(last["worker"]["worker_id"], wid.as_str());
    }
    assert!(last["worker"]["last_activity"].is_string());
    let (_, list) = s.get(WORKERS).await;
    let listed = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["worker_id"] == wid.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["last_message"], "An answer with two paragraphs");
    assert_eq!(listed["last_activity"], last["worker"]["last_activity"]);
    s.assert_no_leaks();
}
