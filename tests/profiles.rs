//! Profiles and renaming across processes: `yoi serve` with `[profiles]` in
//! its `yoi.toml`, a local runtime it starts (which offers the backend's
//! profiles), and a remote runtime with a config file of its own, each
//! against the mock OpenAI server.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use serde_json::{json, Value};
use support::{Backend, Proc, RemoteRuntime, TempDir, TOKEN};
use yoi_test_support::{MockOpenAi, Reply};

const TERSE: &str = r#"
[profiles.terse]
model = "terse-model"
prompt = "prompts/terse.md"
language = "Latin"
description = "Short answers"
"#;

fn profile_names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A workspace with `prompts/terse.md`.
fn workspace(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    std::fs::write(
        dir.path().join("prompts/terse.md"),
        "Answer in one line, in {{language}}.",
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn local_and_remote_runtimes_report_their_profiles_and_rename_workers() {
    let mock = MockOpenAi::start().await;
    // The remote runtime has a profile of its own, from its own file.
    let remote_dir = workspace("remote-profiles");
    std::fs::write(
        remote_dir.path().join("runtime.toml"),
        "[profiles.gpu-big]\nmodel = \"big-model\"\n",
    )
    .unwrap();
    let remote = RemoteRuntime::start_with(
        &mock.base_url(),
        "gpu",
        0,
        remote_dir,
        &["--config", "runtime.toml"],
    )
    .await;
    let toml = format!(
        "{TERSE}\n[[runtimes]]\nid = \"near\"\nkind = \"local\"\n\n[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
        remote.url()
    );
    let b = Backend::start_in(
        workspace("profiles"),
        &mock.base_url(),
        &toml,
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    let (status, own) = b.get("/api/profiles").await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(profile_names(&own["profiles"]), ["companion", "terse"]);
    assert_eq!(own["profiles"][1]["model"], "terse-model");
    assert_eq!(own["profiles"][1]["description"], "Short answers");
    let near = b.wait_runtime("near", "available").await;
    assert_eq!(
        near["profiles"], own["profiles"],
        "a local runtime offers the backend's profiles"
    );
    let gpu = b.wait_runtime("gpu", "available").await;
    assert_eq!(profile_names(&gpu["profiles"]), ["companion", "gpu-big"]);

    // A worker of the backend's profile in the local runtime: its model and prompt.
    mock.push(Reply::text("Breviter."));
    let (status, w) = b
        .post(
            "/api/runtimes/near/workers",
            json!({"profile": "terse", "display_name": "brief"}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["profile"]["model"], "terse-model");
    let path = format!(
        "/api/runtimes/near/workers/{}",
        w["worker_id"].as_str().unwrap()
    );
    let (status, answer) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let request = &mock.wait_for_requests(1).await[0];
    assert_eq!(request.model(), Some("terse-model"));
    assert_eq!(request.messages()[0].1, "Answer in one line, in Latin.");

    // Renaming through both kinds of runtime process.
    let mut events = b.ws("/api/events").await;
    assert_eq!(events.frame().await["type"], "workspace_snapshot");
    let (status, renamed) = b.patch(&path, json!({"display_name": " Short one "})).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["display_ref"], "Short one@near");
    let update = events.until("worker_updated").await;
    assert_eq!(
        update.last().unwrap()["worker"]["display_ref"],
        "Short one@near"
    );
    let gpu_path = b.create_worker("gpu").await;
    let (status, renamed) = b
        .patch(&gpu_path, json!({"display_name": "Remote one"}))
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["runtime_id"], "gpu");
    assert_eq!(renamed["display_ref"], "Remote one@gpu");
    loop {
        let frames = events.until("worker_updated").await;
        if frames.last().unwrap()["worker"]["display_ref"] == "Remote one@gpu" {
            break;
        }
    }
    let (_, detail) = b.get(&gpu_path).await;
    assert_eq!(detail["display_name"], "Remote one");
    let (status, err) = b.patch(&gpu_path, json!({"display_name": ""})).await;
    assert_eq!(status, 400, "{err}");

    // An unknown profile names those the runtime offers.
    let (status, err) = b
        .post("/api/runtimes/gpu/workers", json!({"profile": "terse"}))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_input");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gpu-big") && message.contains("companion"),
        "{message}"
    );
    b.assert_no_leaks(&[remote.url()], &["terse.md", "runtime.toml"]);
}

/// `yoi serve` refuses a profile with an unknown key or a missing prompt
/// file, naming it.
#[tokio::test]
async fn bad_profiles_stop_yoi_serve_with_their_name() {
    let mock = MockOpenAi::start().await;
    for (toml, needles) in [
        (
            "[profiles.fast]\nmodel = \"m\"\ntemperature = 2\n",
            vec!["temperature", "fast"],
        ),
        (
            "[profiles.poet]\nprompt = \"prompts/missing.md\"\n",
            vec!["poet", "prompts/missing.md"],
        ),
    ] {
        let dir = TempDir::new("bad-profile");
        std::fs::write(dir.path().join("yoi.toml"), toml).unwrap();
        let mut env = support::provider_env(&mock.base_url());
        env.push(("YOI_BIND", "127.0.0.1:0".to_owned()));
        let mut proc = Proc::spawn(&["serve"], dir.path(), &env);
        let status = tokio::time::timeout(support::WAIT, proc.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{}", proc.output());
        for needle in needles {
            proc.wait_for_output(needle).await;
        }
    }
}
