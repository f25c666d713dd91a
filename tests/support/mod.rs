//! Real `yoi` processes for the multi-process tests: a backend (`yoi serve`)
//! with `[[runtimes]]` in its `yoi.toml`, and remote runtimes (`yoi runtime
//! serve --bind`), all against the in-process mock OpenAI server. Every HTTP
//! answer and WebSocket frame the tests see, and every line the processes
//! print, is recorded for the leak checks.

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
#[allow(unused_imports)]
pub use yoi_test_support::event_socket::{text_of, types};
use yoi_test_support::EventSocket;

pub const API_KEY: &str = "sk-provider-key-never-leak-5150";
pub const TOKEN: &str = "runtime-token-never-leak-8086";
pub const WAIT: Duration = Duration::from_secs(30);

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("yoi-{tag}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `yoi` process whose output is collected line by line.
pub struct Proc {
    pub child: Child,
    output: watch::Sender<String>,
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: watch::Sender<String>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.send_modify(|all| {
                all.push_str(&line);
                all.push('\n');
            });
        }
    });
}

impl Proc {
    pub fn spawn(args: &[&str], dir: &Path, env: &[(&str, String)]) -> Proc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yoi"));
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("yoi starts");
        let (output, _) = watch::channel(String::new());
        collect(child.stdout.take().unwrap(), output.clone());
        collect(child.stderr.take().unwrap(), output.clone());
        Proc { child, output }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.output.borrow().clone()
    }

    /// Waits until the output holds `needle`, and returns the output.
    pub async fn wait_for_output(&self, needle: &str) -> String {
        let mut rx = self.output.subscribe();
        let found = tokio::time::timeout(WAIT, rx.wait_for(|all| all.contains(needle))).await;
        match found {
            Ok(Ok(all)) => all.clone(),
            _ => panic!("`{needle}` never printed; output:\n{}", self.output()),
        }
    }

    /// The number printed right after `prefix` (a port).
    pub async fn number_after(&self, prefix: &str) -> u16 {
        let all = self.wait_for_output(prefix).await;
        let rest = &all[all.find(prefix).unwrap() + prefix.len()..];
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process runs")
    }

    /// Waits for the process to end by itself; its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the process ends in time")
            .expect("the process can be waited for")
            .code()
    }

    /// SIGKILL, as a crash or a power cut would.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Provider variables every process gets.
pub fn provider_env(mock_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", mock_url.to_owned()),
        ("OPENAI_API_KEY", API_KEY.to_owned()),
        ("YOI_MODEL", "mock-model".to_owned()),
        ("YOI_FIRST_TOKEN_TIMEOUT_MS", "10000".to_owned()),
        ("YOI_RUN_TIMEOUT_MS", "60000".to_owned()),
    ]
}

/// `yoi runtime serve --bind 127.0.0.1:PORT --runtime-id ID` with a token.
pub struct RemoteRuntime {
    pub proc: Proc,
    pub port: u16,
    pub dir: TempDir,
}

impl RemoteRuntime {
    pub async fn start(mock_url: &str, id: &str, port: u16) -> RemoteRuntime {
        let dir = TempDir::new("remote");
        Self::start_in(mock_url, id, port, dir).await
    }

    pub async fn start_in(mock_url: &str, id: &str, port: u16, dir: TempDir) -> RemoteRuntime {
        Self::start_with(mock_url, id, port, dir, &[]).await
    }

    /// With more flags (`--config FILE`, ...).
    pub async fn start_with(
        mock_url: &str,
        id: &str,
        port: u16,
        dir: TempDir,
        extra: &[&str],
    ) -> RemoteRuntime {
        let mut env = provider_env(mock_url);
        env.push(("YOI_RUNTIME_TOKEN", TOKEN.to_owned()));
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec!["runtime", "serve", "--bind", &bind, "--runtime-id", id];
        args.extend_from_slice(extra);
        let proc = Proc::spawn(&args, dir.path(), &env);
        let port = proc.number_after("is serving on TCP port ").await;
        RemoteRuntime { proc, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A backend (`yoi serve`) with a workspace and a `yoi.toml`.
pub struct Backend {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub workspace: TempDir,
    /// `$XDG_RUNTIME_DIR` of the backend: where local runtimes' sockets live.
    pub xdg: TempDir,
    pub http: reqwest::Client,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    /// Starts `yoi serve` with `runtimes` as the `[[runtimes]]` part of `yoi.toml`.
    pub async fn start(mock_url: &str, runtimes: &str, env: &[(&'static str, String)]) -> Backend {
        Self::start_in(TempDir::new("backend"), mock_url, runtimes, env).await
    }

    /// In a workspace prepared by the caller (prompt files, ...).
    pub async fn start_in(
        workspace: TempDir,
        mock_url: &str,
        runtimes: &str,
        env: &[(&'static str, String)],
    ) -> Backend {
        std::fs::write(
            workspace.path().join("yoi.toml"),
            format!("bind = \"127.0.0.1:0\"\n{runtimes}"),
        )
        .unwrap();
        Self::restart_in(mock_url, workspace, env).await
    }

    /// Starts `yoi serve` again in `workspace`, with its `yoi.toml` and state.
    pub async fn restart_in(
        mock_url: &str,
        workspace: TempDir,
        env: &[(&'static str, String)],
    ) -> Backend {
        let xdg = TempDir::new("xdg");
        let mut all = provider_env(mock_url);
        all.push(("XDG_RUNTIME_DIR", xdg.path().to_string_lossy().into_owned()));
        all.extend(env.iter().cloned());
        let proc = Proc::spawn(&["serve"], workspace.path(), &all);
        let port = proc.number_after("open http://127.0.0.1:").await;
        Backend {
            proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            workspace,
            xdg,
            http: reqwest::Client::new(),
            seen: Arc::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn record(&self, text: &str) {
        self.seen.lock().unwrap().push(text.to_owned());
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = tokio::time::timeout(WAIT, req.send())
            .await
            .expect("the backend answers in time")
            .expect("the request reaches the backend");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        self.record(&text);
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.patch(self.url(path)).json(&body)).await
    }

    /// Opens a WebSocket; `Err(status)` when the upgrade is refused.
    pub async fn try_ws(&self, path: &str) -> Result<Socket, u16> {
        let request = format!("ws://{}{}", self.addr, path)
            .into_client_request()
            .expect("a valid socket address");
        EventSocket::connect(request, self.seen.clone()).await
    }

    pub async fn ws(&self, path: &str) -> Socket {
        self.try_ws(path).await.expect("upgrade accepted")
    }

    /// Waits on the workspace socket until runtime `id` has `status`.
    pub async fn wait_runtime(&self, id: &str, status: &str) -> Value {
        let mut events = self.ws("/api/events").await;
        let snapshot = events.frame().await;
        assert_eq!(snapshot["type"], "workspace_snapshot");
        if let Some(rt) = snapshot["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["runtime_id"] == id && r["status"] == status)
        {
            return rt.clone();
        }
        loop {
            let f = events.frame().await;
            if f["type"] == "runtime_status"
                && f["runtime"]["runtime_id"] == id
                && f["runtime"]["status"] == status
            {
                return f["runtime"].clone();
            }
        }
    }

    /// Waits on the workspace socket for a `runtime_status` of `id` with a `last_error`.
    pub async fn wait_runtime_error(&self, id: &str) -> Value {
        let mut events = self.ws("/api/events").await;
        let snapshot = events.frame().await;
        if let Some(rt) = snapshot["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["runtime_id"] == id && r["diagnostics"]["last_error"].is_string())
        {
            return rt.clone();
        }
        loop {
            let f = events.frame().await;
            if f["type"] == "runtime_status"
                && f["runtime"]["runtime_id"] == id
                && f["runtime"]["diagnostics"]["last_error"].is_string()
            {
                return f["runtime"].clone();
            }
        }
    }

    /// `/api/runtimes/{rt}/workers/{worker_id}` of a new worker in `rt`.
    pub async fn create_worker(&self, rt: &str) -> String {
        let (status, w) = self
            .post(
                &format!("/api/runtimes/{rt}/workers"),
                serde_json::json!({"display_name": "helper"}),
            )
            .await;
        assert_eq!(status, 201, "{w}");
        assert_eq!(w["runtime_id"], rt);
        assert_eq!(w["display_ref"], format!("helper@{rt}"));
        format!(
            "/api/runtimes/{rt}/workers/{}",
            w["worker_id"].as_str().unwrap()
        )
    }

    /// Checks that no answer, frame or line the backend printed carries a
    /// secret, a runtime's address or a socket path.
    pub fn assert_no_leaks(&self, remote_urls: &[String], extra: &[&str]) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty(), "the test recorded no traffic");
        let workspace = self.workspace.path().to_string_lossy().into_owned();
        let xdg = self.xdg.path().to_string_lossy().into_owned();
        let mut secrets: Vec<&str> = vec![API_KEY, TOKEN, &workspace, &xdg, "runtime.sock"];
        // `http://127.0.0.1:PORT` with and without its scheme.
        secrets.extend(remote_urls.iter().map(String::as_str));
        secrets.extend(
            remote_urls
                .iter()
                .filter_map(|u| u.split_once("://").map(|(_, rest)| rest)),
        );
        secrets.extend(extra);
        for text in seen.iter() {
            for secret in &secrets {
                assert!(
                    !text.contains(secret),
                    "`{secret}` leaked in an answer: {text}"
                );
            }
            assert!(!text.contains("/tmp/"), "a filesystem path leaked: {text}");
        }
        // The backend's own log lines (its own URL is printed once, by design).
        let output = self.proc.output();
        for line in output.lines().filter(|l| !l.starts_with("yoi is running")) {
            for secret in &secrets {
                assert!(
                    !line.contains(secret),
                    "`{secret}` leaked in a log line: {line}"
                );
            }
        }
    }
}

pub type Socket = EventSocket;

/// Seqs of non-snapshot frames are consecutive, each once.
pub fn assert_gapless(after: u64, frames: &[Value]) {
    let seqs: Vec<u64> = frames
        .iter()
        .filter(|f| f["type"] != "snapshot")
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (after + 1..=after + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "gap or repeat");
}

/// Children of process `pid` (Linux `/proc`), to find a local runtime.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}
