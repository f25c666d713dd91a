//! A real backend on a real socket, against the mock OpenAI server, with a
//! record of every answer and frame so each test can check nothing leaked.

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use worker_runtime::RuntimeConfig;
pub use worker_runtime::RuntimeLimits;
pub use yoi_http::limits::ServerLimits;
pub use yoi_http::socket::{SocketPolicy, StalledDrops};
use yoi_protocol::RuntimeId;
#[allow(unused_imports)]
pub use yoi_test_support::event_socket::{seqs, text_of, types};
use yoi_test_support::{EventSocket, MockOpenAi};
use yoi_workspace_server::{Access, Backend};

pub const API_KEY: &str = "sk-test-key-never-leak-4242";
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Server {
    pub addr: SocketAddr,
    pub mock: MockOpenAi,
    pub http: reqwest::Client,
    pub workspace: PathBuf,
    pub token: Option<String>,
    /// The sockets this server dropped because their client stopped reading.
    pub stalled_drops: StalledDrops,
    /// Leave the workspace on disk when dropped (for restart tests).
    pub keep_workspace: bool,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub struct Options {
    pub token: Option<String>,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub event_ring: usize,
    pub first_token_timeout: Duration,
    pub run_timeout: Duration,
    /// Reuse this workspace (and the workers saved in it) instead of a new one.
    pub workspace: Option<PathBuf>,
    /// `[profiles.<name>]` besides the built-in Companion's.
    pub profiles: Vec<worker_runtime::config::ProfileSpec>,
    pub limits: ServerLimits,
    pub runtime_limits: RuntimeLimits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: None,
            api_key: Some(API_KEY.to_owned()),
            base_url: None,
            event_ring: 4096,
            first_token_timeout: Duration::from_secs(10),
            run_timeout: Duration::from_secs(30),
            workspace: None,
            profiles: Vec::new(),
            limits: ServerLimits::default(),
            runtime_limits: RuntimeLimits::default(),
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Server {
        let mock = MockOpenAi::start().await;
        let workspace = opts
            .workspace
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("yoi-ws-test-{}", ulid_like())));
        std::fs::create_dir_all(&workspace).unwrap();
        let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "Backend");
        config.provider.base_url = opts.base_url.unwrap_or_else(|| mock.base_url());
        config.provider.api_key = opts.api_key;
        config.provider.model = "mock-model".into();
        config.provider.first_token_timeout = opts.first_token_timeout;
        config.provider.run_timeout = opts.run_timeout;
        config.event_ring = opts.event_ring;
        config.workspace_name = "testspace".into();
        config.prompts_dir = Some(workspace.join("prompts"));
        config.state_dir = Some(workspace.join(".yoi"));
        config.profiles = opts.profiles;
        config.limits = opts.runtime_limits;
        let mut backend = Backend::start(config).await.unwrap();
        backend.limits = opts.limits;
        let stalled_drops = backend.stalled_drops.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let access = Access {
            loopback: true,
            token: opts.token.clone(),
        };
        let task = tokio::spawn(yoi_workspace_server::serve(
            listener,
            backend,
            access,
            async move {
                let _ = stop_rx.await;
            },
        ));
        Server {
            addr,
            mock,
            http: reqwest::Client::new(),
            workspace,
            token: opts.token,
            stalled_drops,
            keep_workspace: false,
            seen: Arc::new(Mutex::new(Vec::new())),
            stop: Some(stop_tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn record(&self, text: &str) {
        self.seen.lock().unwrap().push(text.to_owned());
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request and returns status and JSON body (Null when empty).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request reaches the server");
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
        self.send(self.authorize(self.http.get(self.url(path))))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.authorize(self.http.post(self.url(path)).json(&body)))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.send(
            self.authorize(
                self.http
                    .post(self.url(path))
                    .header("content-type", "application/json")
                    .body(body),
            ),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.authorize(self.http.patch(self.url(path)).json(&body)))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.authorize(self.http.delete(self.url(path))))
            .await
    }

    /// The Companion's `/api/runtimes/{rid}/workers/{wid}` prefix.
    pub async fn companion_path(&self) -> String {
        let (status, info) = self.get("/api/companion").await;
        assert_eq!(status, 200, "{info}");
        format!(
            "/api/runtimes/{}/workers/{}",
            info["runtime_id"].as_str().unwrap(),
            info["worker_id"].as_str().unwrap()
        )
    }

    pub async fn ws(&self, path: &str) -> Socket {
        self.ws_with(path, |_| {}).await.expect("upgrade accepted")
    }

    /// Opens a WebSocket; `Err(status)` when the upgrade is refused.
    pub async fn ws_with(
        &self,
        path: &str,
        tweak: impl FnOnce(&mut tokio_tungstenite::tungstenite::handshake::client::Request),
    ) -> Result<Socket, u16> {
        let mut req = format!("ws://{}{}", self.addr, path)
            .into_client_request()
            .unwrap();
        if let Some(t) = &self.token {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        tweak(&mut req);
        EventSocket::connect(req, self.seen.clone()).await
    }

    /// Checks that nothing this test saw carried the key or the workspace path.
    pub fn assert_no_leaks(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty(), "the test recorded no traffic");
        let workspace = self.workspace.to_string_lossy().to_string();
        for text in seen.iter() {
            assert!(!text.contains(API_KEY), "API key leaked: {text}");
            assert!(!text.contains(&workspace), "workspace path leaked: {text}");
            assert!(!text.contains("/tmp/"), "a filesystem path leaked: {text}");
        }
    }

    /// Stops the server the way Ctrl-C does and waits for it.
    pub async fn shutdown(self) {
        self.shutdown_keeping(false).await;
    }

    /// Stops the server and keeps its workspace for a restart.
    pub async fn shutdown_keeping(mut self, keep: bool) {
        self.keep_workspace = keep;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        tokio::time::timeout(WAIT, task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ran cleanly");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.keep_workspace {
            let _ = std::fs::remove_dir_all(&self.workspace);
        }
    }
}

fn ulid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

pub type Socket = EventSocket;

pub fn assert_gapless(frames: &[Value]) {
    let s = seqs(frames);
    for w in s.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap or repeat in {s:?}");
    }
}
