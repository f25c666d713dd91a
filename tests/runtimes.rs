//! Multi-process tests of runtimes beyond the backend process: a backend
//! (`yoi serve`), a local runtime it starts and supervises, and a remote
//! runtime (`yoi runtime serve --bind`) with a token, each against the mock
//! OpenAI server. Clients use the backend's API exactly as for the embedded
//! runtime; only `kind` differs.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{
    assert_gapless, children_of, text_of, types, Backend, Proc, RemoteRuntime, TempDir, API_KEY,
    TOKEN,
};
use yoi_test_support::{MockOpenAi, Reply};

fn runtimes_toml(remote_url: &str) -> String {
    format!(
        r#"
[[runtimes]]
id = "near"
kind = "local"

[[runtimes]]
id = "gpu"
kind = "remote"
url = "{remote_url}"
token_env = "GPU_TOKEN"
display_name = "GPU box"
"#
    )
}

/// A conversation, busy, cancel and a provider fault through runtime `rt`.
async fn converse(b: &Backend, mock: &MockOpenAi, rt: &str) {
    let mut workspace = b.ws("/api/events").await;
    assert_eq!(workspace.frame().await["type"], "workspace_snapshot");
    let path = b.create_worker(rt).await;
    let created = workspace.until("worker_created").await;
    let created = created.last().unwrap();
    assert_eq!(created["worker"]["runtime_id"], rt);
    assert_eq!(created["worker"]["display_ref"], format!("helper@{rt}"));

    let mut ws = b.ws(&format!("{path}/events")).await;
    let snap = ws.frame().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["reset"], false);
    assert_eq!(snap["runtime_id"], rt);
    assert_eq!(snap["worker"]["display_ref"], format!("helper@{rt}"));

    // A conversation.
    mock.push(Reply::tokens(["Hello", " from", " ", rt]).usage(20, 4));
    let (status, accepted) = b
        .post(&format!("{path}/input"), json!({"text": "Hi there"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["seq"], 1);
    let frames = ws.until_idle().await;
    assert_eq!(
        types(&frames),
        [
            "input_accepted",
            "status",
            "run_started",
            "assistant_delta",
            "assistant_delta",
            "assistant_delta",
            "assistant_delta",
            "assistant_message",
            "run_completed",
            "status"
        ]
    );
    assert_gapless(0, &frames);
    assert_eq!(text_of(&frames), format!("Hello from {rt}"));
    assert_eq!(frames[0]["run_id"], accepted["run_id"]);
    assert_eq!(frames[2]["model"], "mock-model");
    assert_eq!(
        frames[8]["usage"],
        json!({"prompt_tokens": 20, "completion_tokens": 4})
    );
    assert!(frames.iter().all(|f| f["runtime_id"] == rt));
    let mut last = frames.last().unwrap()["seq"].as_u64().unwrap();
    let (status, t) = b.get(&format!("{path}/transcript")).await;
    assert_eq!(status, 200);
    assert_eq!(t["seq"], last);
    assert_eq!(t["messages"][1]["text"], format!("Hello from {rt}"));

    // Busy, then cancel, then not_running.
    mock.push(
        Reply::tokens((0..500).map(|i| format!("t{i} "))).token_delay(Duration::from_millis(20)),
    );
    let (status, first) = b
        .post(&format!("{path}/input"), json!({"text": "long"}))
        .await;
    assert_eq!(status, 202);
    let (status, busy) = b
        .post(&format!("{path}/input"), json!({"text": "again"}))
        .await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(busy["error"]["code"], "busy");
    assert_eq!(busy["error"]["active_run_id"], first["run_id"]);
    let (status, cancelled) = b.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(status, 202, "{cancelled}");
    assert_eq!(cancelled["run_id"], first["run_id"]);
    let frames = ws.until_idle().await;
    assert_gapless(last, &frames);
    assert!(types(&frames).contains(&"run_cancelled".to_owned()));
    last = frames.last().unwrap()["seq"].as_u64().unwrap();
    let (status, body) = b.post(&format!("{path}/cancel"), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "not_running");

    // A provider fault: a run_failed event, and the typed error with wait=true.
    mock.push(Reply::http_error(500, "upstream exploded"));
    let (status, _) = b
        .post(&format!("{path}/input"), json!({"text": "fail"}))
        .await;
    assert_eq!(status, 202);
    let frames = ws.until_idle().await;
    assert_gapless(last, &frames);
    let failed = frames.iter().find(|f| f["type"] == "run_failed").unwrap();
    assert_eq!(failed["error"]["code"], "provider_error");
    mock.push(Reply::http_error(500, "upstream exploded"));
    let (status, body) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "fail"}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "provider_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream exploded"));
    mock.push(Reply::text("waited for"));
    let (status, body) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "q"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["text"], "waited for");

    // Bad input and unknown workers get the contract's codes.
    let (status, body) = b
        .post(&format!("{path}/input"), json!({"text": "  "}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_input");
    let unknown = format!("/api/runtimes/{rt}/workers/01JD6Z8Y3M2Q9W7T4R5E6N1XKA");
    let (status, body) = b.get(&unknown).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "worker_not_found");
    assert_eq!(
        b.try_ws(&format!("{unknown}/events")).await.err(),
        Some(404)
    );

    // The runtime and its worker are listed like any other.
    let (status, list) = b.get(&format!("/api/runtimes/{rt}/workers")).await;
    assert_eq!(status, 200);
    assert_eq!(list["workers"][0]["display_ref"], format!("helper@{rt}"));

    // Deleting stops the worker: worker_stopped on both sockets.
    let (status, _) = b.delete(&path).await;
    assert_eq!(status, 204);
    let tail = ws.until("worker_stopped").await;
    assert_eq!(tail.last().unwrap()["runtime_id"], rt);
    assert!(
        ws.next().await.is_none(),
        "the socket closes after worker_stopped"
    );
    let stopped = workspace.until("worker_stopped").await;
    assert_eq!(stopped.last().unwrap()["runtime_id"], rt);
    workspace.close().await;
}

#[tokio::test]
async fn conversations_busy_cancel_and_faults_through_local_and_remote_runtimes() {
    let mock = MockOpenAi::start().await;
    let remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let b = Backend::start(
        &mock.base_url(),
        &runtimes_toml(&remote.url()),
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    let near = b.wait_runtime("near", "available").await;
    assert_eq!(near["kind"], "local");
    let gpu = b.wait_runtime("gpu", "available").await;
    assert_eq!(gpu["kind"], "remote");

    let (status, list) = b.get("/api/runtimes").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runtime_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["backend-internal", "gpu", "near"]);
    let (_, gpu) = b.get("/api/runtimes/gpu").await;
    assert_eq!(gpu["display_name"], "GPU box");
    assert_eq!(gpu["status"], "available");
    assert!(gpu["diagnostics"]["last_seen"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        gpu["capabilities"],
        json!({"workers": true, "create_worker": true, "cancel": true, "events": true})
    );

    converse(&b, &mock, "near").await;
    converse(&b, &mock, "gpu").await;
    b.assert_no_leaks(&[remote.url()], &[]);
}

#[tokio::test]
async fn a_remote_runtime_killed_mid_run_then_restarted() {
    let mock = MockOpenAi::start().await;
    let mut remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let port = remote.port;
    let url = remote.url();
    let b = Backend::start(
        &mock.base_url(),
        &format!(
            "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{url}\"\ntoken_env = \"GPU_TOKEN\"\n"
        ),
        &[("GPU_TOKEN", TOKEN.to_owned())],
    )
    .await;
    b.wait_runtime("gpu", "available").await;
    let path = b.create_worker("gpu").await;
    let mut workspace = b.ws("/api/events").await;
    assert_eq!(workspace.frame().await["type"], "workspace_snapshot");
    let mut ws = b.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    mock.push(
        Reply::tokens((0..500).map(|i| format!("t{i} "))).token_delay(Duration::from_millis(20)),
    );
    let (status, _) = b
        .post(&format!("{path}/input"), json!({"text": "long"}))
        .await;
    assert_eq!(status, 202);
    ws.until("assistant_delta").await;

    remote.proc.kill().await;

    // The run's subscriber gets a terminal event, a reset, or the end of its
    // socket: never silence (each read fails the test after a bounded wait).
    let mut last = 0;
    loop {
        match ws.next().await {
            None => break,
            Some(f) => {
                let ty = f["type"].as_str().unwrap().to_owned();
                if ty == "snapshot" {
                    assert_eq!(f["reset"], true);
                    break;
                }
                let seq = f["seq"].as_u64().unwrap();
                assert!(last == 0 || seq == last + 1, "gapless up to the end");
                last = seq;
                if matches!(
                    ty.as_str(),
                    "run_completed" | "run_failed" | "run_cancelled"
                ) {
                    break;
                }
            }
        }
    }
    // The workspace socket reports the runtime down, with why.
    let down = loop {
        let f = workspace.frame().await;
        if f["type"] == "runtime_status" && f["runtime"]["status"] == "unavailable" {
            break f;
        }
    };
    assert_eq!(down["runtime"]["runtime_id"], "gpu");
    assert!(down["runtime"]["diagnostics"]["last_error"].is_string());
    // Commands answer runtime_unavailable; so does a new subscription.
    for (status, body) in [
        b.post(&format!("{path}/input"), json!({"text": "hello?"}))
            .await,
        b.post(&format!("{path}/cancel"), json!({})).await,
        b.get(&path).await,
        b.get(&format!("{path}/transcript")).await,
        b.get("/api/runtimes/gpu/workers").await,
        b.post("/api/runtimes/gpu/workers", json!({})).await,
    ] {
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "runtime_unavailable");
        assert_eq!(body["error"]["retryable"], true);
    }
    assert_eq!(b.try_ws(&format!("{path}/events")).await.err(), Some(503));
    let (_, gpu) = b.get("/api/runtimes/gpu").await;
    assert_eq!(gpu["status"], "unavailable");
    // The backend itself carries on.
    let (status, _) = b.get("/api/companion").await;
    assert_eq!(status, 200);

    // Restarted on the same port: available again. It lost its worker.
    let restarted = RemoteRuntime::start(&mock.base_url(), "gpu", port).await;
    let up = loop {
        let f = workspace.frame().await;
        if f["type"] == "runtime_status" && f["runtime"]["status"] == "available" {
            break f;
        }
    };
    assert_eq!(up["runtime"]["runtime_id"], "gpu");
    assert!(up["runtime"]["diagnostics"]["last_error"].is_null());
    let (status, body) = b.get(&path).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "worker_not_found");
    let fresh = b.create_worker("gpu").await;
    mock.push(Reply::text("back again"));
    let (status, body) = b
        .post(
            &format!("{fresh}/input?wait=true"),
            json!({"text": "still there?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["text"], "back again");
    b.assert_no_leaks(&[url, restarted.url()], &[]);
}

#[tokio::test]
async fn a_local_runtime_that_dies_is_restarted() {
    let mock = MockOpenAi::start().await;
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    b.wait_runtime("near", "available").await;
    // The socket lives in a private directory only this user can enter.
    use std::os::unix::fs::PermissionsExt;
    let dirs: Vec<_> = std::fs::read_dir(b.xdg.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dirs[0]), 0o700);
    assert_eq!(mode(&dirs[0].join("runtime.sock")), 0o600);
    let children = children_of(b.proc.pid());
    assert_eq!(children.len(), 1, "one local runtime process");
    let mut workspace = b.ws("/api/events").await;
    assert_eq!(workspace.frame().await["type"], "workspace_snapshot");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &children[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The runtime went down and is back: reported on the workspace socket,
    // or (when the restart beat the health check, or a lagging listener got a
    // fresh snapshot instead) seen in its summary with a new child. Bounded:
    // pings keep the socket itself alive.
    let backend = b.proc.pid();
    let restarted_child = || children_of(backend).iter().any(|c| *c != children[0]);
    let back = tokio::time::timeout(support::WAIT, async {
        let mut saw_down = false;
        loop {
            let polled = tokio::time::timeout(Duration::from_millis(500), workspace.frame()).await;
            if let Ok(f) = polled {
                if f["type"] == "runtime_status" && f["runtime"]["runtime_id"] == "near" {
                    match f["runtime"]["status"].as_str() {
                        Some("unavailable") => saw_down = true,
                        Some("available") if saw_down => return,
                        _ => {}
                    }
                }
            }
            let (_, near) = b.get("/api/runtimes/near").await;
            if near["status"] == "available" && restarted_child() {
                return;
            }
        }
    })
    .await;
    assert!(back.is_ok(), "the local runtime came back in time");
    let restarted = children_of(b.proc.pid());
    assert_eq!(restarted.len(), 1);
    assert_ne!(restarted[0], children[0]);
    let path = b.create_worker("near").await;
    mock.push(Reply::text("alive"));
    let (status, body) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["text"], "alive");
    b.assert_no_leaks(&[], &[]);
}

/// Every directory and file under `root`, with its permission bits.
fn modes_under(root: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        out.push((dir.clone(), mode));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                out.push((path, mode));
            }
        }
    }
    out
}

#[tokio::test]
async fn state_files_are_private_to_the_user() {
    let mock = MockOpenAi::start().await;
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    b.wait_runtime("near", "available").await;
    let path = b.create_worker("near").await;
    mock.push(Reply::text("saved"));
    let (status, body) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "keep"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let state = b.workspace.path().join(".yoi");
    // Both stores hold the worker (its answer is committed before 200).
    assert!(state.join("yoi.db").is_file());
    assert!(state.join("runtimes").join("near").join("yoi.db").is_file());
    for (path, mode) in modes_under(&state) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

/// The environment of process `pid`, from `/proc`.
fn environment_of(pid: u32) -> std::collections::HashMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            String::from_utf8_lossy(kv)
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn a_local_runtime_inherits_only_allowlisted_variables() {
    let mock = MockOpenAi::start().await;
    let canary = "canary-value-never-inherit-4711";
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[
            ("YOI_CANARY", canary.to_owned()),
            ("OTHER_RUNTIME_TOKEN", canary.to_owned()),
            ("YOI_RUNTIME_TOKEN", canary.to_owned()),
            ("HOME", "/home/yoi-test".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("LC_TIME", "C".to_owned()),
        ],
    )
    .await;
    b.wait_runtime("near", "available").await;
    let children = children_of(b.proc.pid());
    assert_eq!(children.len(), 1, "one local runtime process");
    let env = environment_of(children[0]);
    for (key, value) in &env {
        assert!(!value.contains(canary), "{key} was inherited");
    }
    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "HOME",
            "LANG",
            "LC_TIME",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "PATH",
            "RUST_LOG",
            "YOI_FIRST_TOKEN_TIMEOUT_MS",
            "YOI_HEADER_TIMEOUT_MS",
            "YOI_IDLE_TIMEOUT_MS",
            "YOI_MAX_ANSWER_BYTES",
            "YOI_MAX_CONNECTIONS",
            "YOI_MAX_SUBSCRIBERS",
            "YOI_MAX_WORKERS",
            "YOI_MODEL",
            "YOI_QUEUE_LIMIT",
            "YOI_RUN_TIMEOUT_MS",
        ]
    );
    assert_eq!(env["HOME"], "/home/yoi-test");
    assert_eq!(env["OPENAI_API_KEY"], API_KEY);
}

#[tokio::test]
async fn a_wrong_token_says_unauthorized_and_leaks_nothing() {
    let mock = MockOpenAi::start().await;
    let remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let wrong = "wrong-token-never-leak-1234";
    let b = Backend::start(
        &mock.base_url(),
        &format!(
            "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"{}\"\ntoken_env = \"GPU_TOKEN\"\n",
            remote.url()
        ),
        &[("GPU_TOKEN", wrong.to_owned())],
    )
    .await;
    let gpu = loop {
        let (status, gpu) = b.get("/api/runtimes/gpu").await;
        assert_eq!(status, 200);
        if gpu["diagnostics"]["last_error"] == "unauthorized" {
            break gpu;
        }
        // Not reached yet: the workspace socket says when it changes.
        b.wait_runtime_error("gpu").await;
    };
    assert_eq!(gpu["status"], "unavailable");
    assert_eq!(gpu["kind"], "remote");
    let (status, body) = b.post("/api/runtimes/gpu/workers", json!({})).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "runtime_unavailable");
    let (status, body) = b.get("/api/runtimes/gpu/workers").await;
    assert_eq!(status, 503, "{body}");
    let (_, all) = b.get("/api/runtimes").await;
    assert_eq!(all["runtimes"].as_array().unwrap().len(), 2);
    let mut workspace = b.ws("/api/events").await;
    let snap = workspace.frame().await;
    let gpu_in_snapshot = snap["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime_id"] == "gpu")
        .unwrap()
        .clone();
    assert_eq!(gpu_in_snapshot["diagnostics"]["last_error"], "unauthorized");
    // The runtime saw the wrong token and refused; neither token leaks.
    b.assert_no_leaks(&[remote.url()], &[wrong]);
    assert!(!remote.proc.output().contains(wrong));
}

/// A private CA (PEM) and a certificate with its key it signed for localhost.
fn private_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_backend_reaches_a_runtime_serving_tls_through_its_ca_file() {
    let mock = MockOpenAi::start().await;
    let (ca, cert, key) = private_pki();
    let dir = TempDir::new("tls");
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    let mut env = support::provider_env(&mock.base_url());
    env.push(("YOI_RUNTIME_TOKEN", TOKEN.to_owned()));
    let args = [
        "runtime",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--runtime-id",
        "gpu",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ];
    let runtime = Proc::spawn(&args, dir.path(), &env);
    let port = runtime.number_after("is serving on TCP port ").await;
    runtime.wait_for_output("with TLS").await;
    let toml = format!(
        "[[runtimes]]\nid = \"gpu\"\nkind = \"remote\"\nurl = \"https://localhost:{port}\"\ntoken_env = \"GPU_TOKEN\"\nca_file = \"{}\"\n",
        dir.path().join("ca.pem").display()
    );
    let b = Backend::start(&mock.base_url(), &toml, &[("GPU_TOKEN", TOKEN.to_owned())]).await;
    b.wait_runtime("gpu", "available").await;
    let path = b.create_worker("gpu").await;
    mock.push(Reply::text("over TLS"));
    let (status, body) = b
        .post(&format!("{path}/input?wait=true"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["text"], "over TLS");
    let mut ws = b.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    b.assert_no_leaks(&[format!("https://localhost:{port}")], &[]);
}

#[tokio::test]
async fn runtime_serve_guards_its_door() {
    let mock = MockOpenAi::start().await;
    // No token on TCP: refuses to start.
    let dir = TempDir::new("door");
    let mut env = support::provider_env(&mock.base_url());
    let mut refused = Proc::spawn(
        &["runtime", "serve", "--bind", "127.0.0.1:0"],
        dir.path(),
        &env,
    );
    let status = tokio::time::timeout(support::WAIT, refused.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    refused.wait_for_output("YOI_RUNTIME_TOKEN").await;

    // With a token: every request needs it, browsers are refused.
    let remote = RemoteRuntime::start(&mock.base_url(), "gpu", 0).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/runtime", remote.url());
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let resp = http
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .get(&url)
        .bearer_auth(TOKEN)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let summary: Value = resp.json().await.unwrap();
    assert_eq!(summary["runtime_id"], "gpu");
    assert_eq!(summary["kind"], "remote");
    let resp = http
        .get(format!("{}/v1/nowhere", remote.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(!remote.proc.output().contains(TOKEN));

    // On a Unix socket: owner-only, no token needed.
    use std::os::unix::fs::PermissionsExt;
    let sock_dir = TempDir::new("sock");
    let socket = sock_dir.path().join("rt").join("runtime.sock");
    env.push(("YOI_RUNTIME_TOKEN", TOKEN.to_owned()));
    let unix = Proc::spawn(
        &[
            "runtime",
            "serve",
            "--unix",
            socket.to_str().unwrap(),
            "--runtime-id",
            "near",
        ],
        dir.path(),
        &env,
    );
    let printed = unix.wait_for_output("is serving on a Unix socket").await;
    assert!(
        !printed.contains(sock_dir.path().to_str().unwrap()),
        "{printed}"
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let over_unix = reqwest::Client::builder()
        .unix_socket(socket.as_path())
        .build()
        .unwrap();
    let resp = over_unix
        .get("http://localhost/v1/runtime")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let summary: Value = resp.json().await.unwrap();
    assert_eq!(summary["kind"], "local");
    assert_eq!(summary["runtime_id"], "near");
    assert!(!summary.to_string().contains(API_KEY), "{summary}");
}

#[tokio::test]
async fn stopping_the_backend_ends_local_runs_and_stops_its_child() {
    let mock = MockOpenAi::start().await;
    let mut b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    b.wait_runtime("near", "available").await;
    let children = children_of(b.proc.pid());
    assert_eq!(children.len(), 1, "one local runtime process");
    let path = b.create_worker("near").await;
    let mut ws = b.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    mock.push(Reply::hang());
    let (status, _) = b
        .post(&format!("{path}/input"), json!({"text": "wait"}))
        .await;
    assert_eq!(status, 202);
    ws.until("run_started").await;

    let term = std::process::Command::new("kill")
        .args(["-TERM", &b.proc.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // The run ends with its terminal event, then the socket closes.
    let frames = ws.until("run_cancelled").await;
    assert_gapless(frames[0]["seq"].as_u64().unwrap() - 1, &frames);
    while ws.next().await.is_some() {}
    let exit = tokio::time::timeout(support::WAIT, b.proc.child.wait())
        .await
        .expect("the backend stops in time")
        .unwrap();
    assert!(exit.success(), "{exit}");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", children[0])).exists(),
        "the local runtime's process is gone"
    );
    b.proc.wait_for_output("local runtime stopped").await;
    let left = std::fs::read_dir(b.xdg.path()).unwrap().count();
    assert_eq!(left, 0, "the private socket directory is removed");
}
