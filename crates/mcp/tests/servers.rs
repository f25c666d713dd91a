//! MCP servers as tool sources, end to end in one process: real Runtime
//! and Worker actors, the real OpenAI provider against the mock OpenAI
//! server (whose `[[tool:...]]` directives make the calls), and the
//! `yoi-mock-mcp` server as a real child process (stdio) or HTTP server.
//! What reached the server is read from the file it records into.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use worker_runtime::testing::{until, until_terminal};
use worker_runtime::tools::{ToolGrants, ToolLimits, ToolSource};
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig};
use yoi_mcp::{inherited_env, McpServerConfig, McpSource, StartMode, Transport};
use yoi_protocol::{
    ApprovalDecision, ApprovalRequest, ApprovalScope, CreateWorker, EventKind, InputRequest,
    RuntimeId, ToolCallState, ToolPolicy, ToolSourceStatus, WorkerId,
};
use yoi_test_support::{mock_mcp_bin, MockOpenAi};

const WAIT: Duration = Duration::from_secs(30);

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("yoi-mcp-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdio_server(record: &Path, start: StartMode, timeout: Option<Duration>) -> McpServerConfig {
    let parent: std::collections::HashMap<String, String> = std::env::vars().collect();
    let mut env = inherited_env(&parent);
    env.push(("MOCK_OWN".into(), "own".into()));
    McpServerConfig {
        name: "mock".into(),
        transport: Transport::Stdio {
            program: mock_mcp_bin(),
            args: vec![
                "--stdio".into(),
                "--record".into(),
                record.to_string_lossy().into_owned(),
            ],
            env,
            workdir: None,
        },
        start,
        call_timeout: timeout,
    }
}

fn config(mock: &MockOpenAi, rules: &[(&str, ToolPolicy)], limits: ToolLimits) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    c.workspace_name = "testspace".into();
    c.tool_limits = limits;
    let mut companion = worker_runtime::profile::specs(&c).remove(0);
    companion.tools = ToolGrants::new(
        rules
            .iter()
            .map(|(pattern, policy)| ((*pattern).to_owned(), *policy))
            .collect(),
    );
    c.profiles = vec![companion];
    c
}

struct Setup {
    mock: MockOpenAi,
    rt: Runtime,
    source: Arc<McpSource>,
    record: PathBuf,
    _dir: TempDir,
}

async fn setup_with(
    rules: &[(&str, ToolPolicy)],
    limits: ToolLimits,
    server: impl FnOnce(&Path) -> McpServerConfig,
) -> Setup {
    let dir = TempDir::new("servers");
    let record = dir.0.join("record.txt");
    let mock = MockOpenAi::start().await;
    let source = Arc::new(McpSource::start(server(&record)));
    let rt = Runtime::start_with_tools(
        config(&mock, rules, limits),
        yoi_providers::Providers::shared(),
        vec![source.clone() as Arc<dyn ToolSource>],
    )
    .await
    .expect("runtime starts");
    Setup {
        mock,
        rt,
        source,
        record,
        _dir: dir,
    }
}

async fn setup(rules: &[(&str, ToolPolicy)]) -> Setup {
    setup_with(rules, ToolLimits::default(), |r| {
        stdio_server(r, StartMode::Lazy, None)
    })
    .await
}

const ALL: &[(&str, ToolPolicy)] = &[("mock.*", ToolPolicy::Allow)];

async fn worker(rt: &Runtime) -> WorkerId {
    rt.create_worker(CreateWorker::default())
        .await
        .expect("worker created")
        .summary
        .worker_id
}

/// `(state, ok, output)` of each call that ended.
fn finished(frames: &[Arc<EventFrame>]) -> Vec<(ToolCallState, bool, String)> {
    frames
        .iter()
        .filter_map(|f| match &f.event.kind {
            EventKind::ToolCallFinished {
                state, ok, output, ..
            } => Some((*state, *ok, output.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn lines(record: &Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until the server recorded a line that satisfies `pred` (the file
/// is the server's only way to tell; read again every 20 ms).
async fn wait_record(record: &Path, what: &str, pred: impl Fn(&[String]) -> bool) {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if pred(&lines(record)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "the server never recorded {what}: {:?}",
        lines(record)
    );
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

#[tokio::test]
async fn a_lazy_server_starts_for_the_first_run_that_may_use_it_and_answers() {
    let s = setup(ALL).await;
    assert_eq!(s.source.status().0, ToolSourceStatus::NotStarted);
    let w = worker(&s.rt).await;
    // Creating a worker starts nothing: only a run that may use it does.
    assert!(lines(&s.record).is_empty(), "{:?}", lines(&s.record));
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(
        w,
        InputRequest::text("[[tool:mock.echo {\"text\":\"hello from mcp\"}]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert!(
        matches!(
            frames.last().unwrap().event.kind,
            EventKind::RunCompleted { .. }
        ),
        "{:?}",
        frames.last().unwrap().event.kind
    );
    let ended = finished(&frames);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].0, ToolCallState::Ok, "{}", ended[0].2);
    assert_eq!(ended[0].2, "hello from mcp");
    assert_eq!(s.source.status().0, ToolSourceStatus::Ready);
    let seen = lines(&s.record);
    assert_eq!(count(&seen, "start "), 1, "{seen:?}");
    assert!(
        seen.iter()
            .any(|l| l == "call echo {\"text\":\"hello from mcp\"}"),
        "{seen:?}"
    );
    // The model was offered the server's tools under `<server>__<tool>`.
    let offered = s.mock.requests()[0].body["tools"].clone();
    assert!(offered.to_string().contains("mock__echo"), "{offered}");
    // What the profile grants is listed with the server's tools now.
    let summary = s.rt.summary().await.unwrap();
    let granted = &summary.profiles.unwrap()[0].tools;
    assert!(
        granted
            .iter()
            .any(|g| g.name == "mock.echo" && g.policy == ToolPolicy::Allow),
        "{granted:?}"
    );
    // `GET /api/tools` material: the tools with their source and schema.
    let listed = s.rt.tools();
    let echo = listed.iter().find(|t| t.name == "mock.echo").unwrap();
    assert_eq!(echo.source, "mock");
    assert!(echo.input_schema["properties"]["text"].is_object());
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_denied_call_never_reaches_the_server() {
    let s = setup(&[
        ("mock.*", ToolPolicy::Allow),
        ("mock.echo", ToolPolicy::Ask),
    ])
    .await;
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(
        w,
        InputRequest::text("[[tool:mock.echo {\"text\":\"secret\"}]]"),
    )
    .await
    .unwrap();
    let frames = until(&mut sub, |k| {
        matches!(k, EventKind::ToolApprovalRequested { .. })
    })
    .await;
    let call_id = frames
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::ToolApprovalRequested { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .unwrap();
    s.rt.approve(
        w,
        call_id,
        ApprovalRequest {
            decision: ApprovalDecision::Deny,
            scope: ApprovalScope::Once,
        },
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(finished(&frames)[0].0, ToolCallState::Denied);
    // A call that did reach it afterwards is recorded: the denied one is not.
    s.rt.input_wait(w, InputRequest::text("[[tool:mock.add {\"a\":1,\"b\":2}]]"))
        .await
        .unwrap();
    let seen = lines(&s.record);
    assert!(seen.iter().any(|l| l.starts_with("call add")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("call echo")), "{seen:?}");
    s.rt.shutdown().await;
}

#[tokio::test]
async fn cancel_during_a_call_reaches_the_server() {
    let s = setup(ALL).await;
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(w, InputRequest::text("[[tool:mock.sleep {\"ms\":60000}]]"))
        .await
        .unwrap();
    until(&mut sub, |k| matches!(k, EventKind::ToolCallStarted { .. })).await;
    wait_record(&s.record, "the call", |l| count(l, "call sleep") == 1).await;
    s.rt.cancel(w).await.unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(finished(&frames)[0].0, ToolCallState::Cancelled);
    wait_record(&s.record, "the cancellation", |l| count(l, "cancel") == 1).await;
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_call_past_its_time_ends_timed_out_and_is_cancelled_on_the_server() {
    let s = setup_with(ALL, ToolLimits::default(), |r| {
        stdio_server(r, StartMode::Lazy, Some(Duration::from_millis(300)))
    })
    .await;
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(w, InputRequest::text("[[tool:mock.sleep {\"ms\":60000}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Error);
    assert!(!ended[0].1);
    assert!(ended[0].2.contains("timed out"), "{}", ended[0].2);
    assert!(ended[0].2.contains("300 ms"), "{}", ended[0].2);
    wait_record(&s.record, "the cancellation", |l| count(l, "cancel") == 1).await;
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_large_result_is_cut_to_result_bytes() {
    let limits = ToolLimits {
        result_bytes: 1000,
        ..ToolLimits::default()
    };
    let s = setup_with(ALL, limits, |r| stdio_server(r, StartMode::Lazy, None)).await;
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(
        w,
        InputRequest::text("[[tool:mock.big {\"bytes\":200000}]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Ok);
    assert!(ended[0].2.len() < 1200, "{}", ended[0].2.len());
    assert!(
        ended[0].2.contains("1000 of 200000 bytes"),
        "{}",
        &ended[0].2[1000..]
    );
    // The model got the cut result too.
    let second = &s.mock.requests()[1].body;
    let tool_message = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(tool_message["content"].as_str().unwrap().len() < 1200);
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_server_dying_mid_call_ends_the_call_not_ok_and_is_started_again() {
    let s = setup_with(ALL, ToolLimits::default(), |r| {
        stdio_server(r, StartMode::Eager, None)
    })
    .await;
    assert_eq!(s.source.ready(WAIT).await, ToolSourceStatus::Ready);
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(w, InputRequest::text("[[tool:mock.die {}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Error);
    assert!(!ended[0].1);
    assert!(
        ended[0].2.contains("stopped during the call"),
        "{}",
        ended[0].2
    );
    // Restarted with backoff: a second process, and calls work again.
    wait_record(&s.record, "a second start", |l| count(l, "start ") == 2).await;
    assert_eq!(s.source.ready(WAIT).await, ToolSourceStatus::Ready);
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(w, InputRequest::text("[[tool:mock.add {\"a\":2,\"b\":3}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Ok, "{}", ended[0].2);
    assert_eq!(ended[0].2, "5");
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_list_change_from_the_server_updates_the_tools() {
    let s = setup(ALL).await;
    let w = worker(&s.rt).await;
    s.rt.input_wait(w, InputRequest::text("[[tool:mock.change_list {}]]"))
        .await
        .unwrap();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if s.rt.tools().iter().any(|t| t.name == "mock.extra") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "mock.extra never listed: {:?}", s.rt.tools());
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(w, InputRequest::text("[[tool:mock.extra {}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Ok, "{}", ended[0].2);
    assert_eq!(ended[0].2, "extra");
    s.rt.shutdown().await;
}

#[tokio::test]
async fn a_missing_server_is_listed_down_and_the_worker_answers_without_it() {
    let s = setup_with(ALL, ToolLimits::default(), |_| McpServerConfig {
        name: "mock".into(),
        transport: Transport::Stdio {
            program: PathBuf::from("/nonexistent/secret-dir/mcp-server"),
            args: vec!["--secret-arg".into()],
            env: vec![("SECRET_ENV".into(), "secret-env-value".into())],
            workdir: None,
        },
        start: StartMode::Lazy,
        call_timeout: None,
    })
    .await;
    let w = worker(&s.rt).await;
    let outcome =
        s.rt.input_wait(w, InputRequest::text("What time is it?"))
            .await
            .unwrap();
    assert_eq!(outcome.message.text, "You said: What time is it?");
    let sources = s.rt.tool_sources();
    let mock = sources.iter().find(|x| x.name == "mock").unwrap();
    assert_eq!(mock.status, ToolSourceStatus::Down);
    let reason = mock.reason.clone().unwrap();
    assert!(reason.contains("not found"), "{reason}");
    let all = serde_json::to_string(&sources).unwrap();
    assert!(!all.contains("secret"), "{all}");
    assert!(!all.contains("nonexistent"), "{all}");
    s.rt.shutdown().await;
}

/// `yoi-mock-mcp --http` on a free port: the process and its address.
async fn http_server(record: &Path) -> (tokio::process::Child, String) {
    let mut server = tokio::process::Command::new(mock_mcp_bin())
        .args([
            "--http",
            "127.0.0.1:0",
            "--token",
            "http-secret-token",
            "--record",
        ])
        .arg(record)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines_out = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(WAIT, lines_out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = line.strip_prefix("listening on ").unwrap().to_owned();
    (server, addr)
}

fn http_config(addr: &str) -> McpServerConfig {
    http_config_with(addr, "http-secret-token")
}

fn http_config_with(addr: &str, token: &str) -> McpServerConfig {
    McpServerConfig {
        name: "mock".into(),
        transport: Transport::Http {
            url: format!("http://{addr}/mcp"),
            bearer_token: Some(token.into()),
        },
        start: StartMode::Lazy,
        call_timeout: None,
    }
}

#[tokio::test]
async fn a_streamable_http_server_serves_calls() {
    let dir = TempDir::new("http");
    let record = dir.0.join("record.txt");
    let (mut server, addr) = http_server(&record).await;
    let s = setup_with(ALL, ToolLimits::default(), |_| http_config(&addr)).await;
    let w = worker(&s.rt).await;
    let mut sub = s.rt.subscribe(w, None).await.unwrap();
    s.rt.input(
        w,
        InputRequest::text("[[tool:mock.add {\"a\":20,\"b\":22}]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].0, ToolCallState::Ok, "{}", ended[0].2);
    assert_eq!(ended[0].2, "42");
    assert!(lines(&record).iter().any(|l| l.starts_with("call add")));
    s.rt.shutdown().await;
    let _ = server.kill().await;
}

#[tokio::test]
async fn a_list_change_over_streamable_http_updates_the_tools() {
    let dir = TempDir::new("http-list");
    let record = dir.0.join("record.txt");
    let (mut server, addr) = http_server(&record).await;
    let s = setup_with(ALL, ToolLimits::default(), |_| http_config(&addr)).await;
    let w = worker(&s.rt).await;
    s.rt.input_wait(w, InputRequest::text("[[tool:mock.change_list {}]]"))
        .await
        .unwrap();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if s.rt.tools().iter().any(|t| t.name == "mock.extra") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "mock.extra never listed: {:?}", s.rt.tools());
    s.rt.shutdown().await;
    let _ = server.kill().await;
}

#[tokio::test]
async fn a_wrong_bearer_token_leaves_the_server_down_and_says_nothing_of_the_token_or_url() {
    let dir = TempDir::new("http-token");
    let record = dir.0.join("record.txt");
    let (mut server, addr) = http_server(&record).await;
    let s = setup_with(ALL, ToolLimits::default(), |_| {
        http_config_with(&addr, "wrong-secret-token")
    })
    .await;
    assert_eq!(s.source.ready(WAIT).await, ToolSourceStatus::Down);
    let (_, reason) = s.source.status();
    let reason = reason.unwrap();
    assert!(reason.contains("refused the token (HTTP 401)"), "{reason}");
    assert!(!reason.contains("wrong-secret-token"), "{reason}");
    assert!(!reason.contains(&addr), "{reason}");
    assert!(!reason.contains("127.0.0.1"), "{reason}");
    // The worker still answers, without the server's tools.
    let w = worker(&s.rt).await;
    let outcome =
        s.rt.input_wait(w, InputRequest::text("hello"))
            .await
            .unwrap();
    assert_eq!(outcome.message.text, "You said: hello");
    s.rt.shutdown().await;
    let _ = server.kill().await;
}
