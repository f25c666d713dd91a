//! [`MockOpenAi`]: the HTTP server, its routes and the state tests inspect.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::shut_down;
use crate::reply::{ApiError, Reply};
use crate::request::{include_usage, is_stream, RecordedRequest};
use crate::respond::{error_response, respond, Context};
use crate::wire::{self, Completion};

/// The model listed by `GET /v1/models` and used when a request names none.
pub const DEFAULT_MODEL: &str = "mock-model";

/// How long the `wait_for_*` helpers wait before failing the test.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("cannot bind the mock OpenAI server to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the mock OpenAI server's local address: {0}")]
    LocalAddr(std::io::Error),
}

/// A mock OpenAI-compatible chat-completions server on a loopback port.
///
/// It serves from a spawned tokio task; dropping it shuts the server down and ends
/// every open stream.
pub struct MockOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Never sent on: dropping it is the shutdown signal.
    _shutdown: watch::Sender<()>,
    task: JoinHandle<()>,
}

/// State shared by the handlers and the test-facing handle.
struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_count: watch::Sender<usize>,
    open_streams: Arc<watch::Sender<usize>>,
    shutdown: watch::Receiver<()>,
    next_id: AtomicU64,
}

/// A poisoned lock only means another test thread panicked; the data is still fine.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockOpenAi {
    /// Starts a mock on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// When no loopback port can be bound; use [`MockOpenAi::bind`] to handle that.
    pub async fn start() -> MockOpenAi {
        match MockOpenAi::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await {
            Ok(mock) => mock,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a mock on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<MockOpenAi, MockError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MockError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(MockError::LocalAddr)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            default: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            request_count: watch::channel(0).0,
            open_streams: Arc::new(watch::channel(0).0),
            shutdown: shutdown_rx.clone(),
            next_id: AtomicU64::new(1),
        });
        let app = router(shared.clone());
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            // Like a real provider: each SSE chunk leaves at once, never held
            // back by Nagle's algorithm waiting for an ACK.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shut_down(&mut stop).await });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "mock OpenAI server stopped");
            }
        });
        tracing::debug!(%addr, "mock OpenAI server listening");
        Ok(MockOpenAi {
            addr,
            shared,
            _shutdown: shutdown_tx,
            task,
        })
    }

    /// The socket address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, what an OpenAI client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply; each chat request takes the next queued one (FIFO).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    /// The reply used when the queue is empty (instead of the echo).
    pub fn set_default(&self, reply: Reply) {
        *lock(&self.shared.default) = Some(reply);
    }

    /// Goes back to the echo reply when the queue is empty.
    pub fn clear_default(&self) {
        *lock(&self.shared.default) = None;
    }

    /// Every chat request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until at least `n` chat requests were received and returns them all.
    ///
    /// # Panics
    /// After 10 s without `n` requests.
    pub async fn wait_for_requests(&self, n: usize) -> Vec<RecordedRequest> {
        let mut count = self.shared.request_count.subscribe();
        let waited = tokio::time::timeout(WAIT_LIMIT, count.wait_for(|c| *c >= n)).await;
        if !matches!(waited, Ok(Ok(_))) {
            panic!(
                "mock OpenAI: waited 10 s for {n} requests, got {}",
                self.requests().len()
            );
        }
        self.requests()
    }

    /// How many streamed responses are open right now (SSE streams, and the bodies
    /// of hung or cut non-streamed answers).
    pub fn open_streams(&self) -> usize {
        *self.shared.open_streams.borrow()
    }

    /// Waits until exactly `n` streamed responses are open.
    ///
    /// # Panics
    /// After 10 s without exactly `n` open.
    pub async fn wait_for_open_streams(&self, n: usize) {
        let mut open = self.shared.open_streams.subscribe();
        let waited = tokio::time::timeout(WAIT_LIMIT, open.wait_for(|c| *c == n)).await;
        if !matches!(waited, Ok(Ok(_))) {
            panic!(
                "mock OpenAI: waited 10 s for {n} open streams, {} are open",
                self.open_streams()
            );
        }
    }

    /// Stops the server and waits until it has closed every connection.
    pub async fn shutdown(self) {
        let MockOpenAi {
            _shutdown, task, ..
        } = self;
        drop(_shutdown);
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "mock OpenAI server task failed");
        }
    }
}

impl std::fmt::Debug for MockOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOpenAi")
            .field("addr", &self.addr)
            .finish()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let request = RecordedRequest {
        body: match &parsed {
            Ok(value) => value.clone(),
            Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
        },
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        path: uri.path().to_owned(),
    };
    shared.record(request);

    let Ok(body) = parsed else {
        return error_response(&ApiError::for_status(
            400,
            "We could not parse the JSON body of your request.",
        ));
    };
    let reply = shared.next_reply();
    let completion = Completion {
        id: format!(
            "chatcmpl-mock{}",
            shared.next_id.fetch_add(1, Ordering::Relaxed)
        ),
        created: unix_now(),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_MODEL)
            .to_owned(),
        include_usage: include_usage(&body),
    };
    let cx = Context {
        request: &body,
        stream: is_stream(&body),
        completion,
        shutdown: shared.shutdown.clone(),
        open_streams: shared.open_streams.clone(),
    };
    respond(reply, cx).await
}

async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut ids = vec![DEFAULT_MODEL.to_owned()];
    for request in lock(&shared.requests).iter() {
        if let Some(model) = request.model() {
            if !ids.iter().any(|id| id == model) {
                ids.push(model.to_owned());
            }
        }
    }
    Json(wire::model_list(&ids))
}

async fn unknown_route(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let mut error = ApiError::for_status(404, &format!("Invalid URL ({method} {})", uri.path()));
    error.code = None;
    error_response(&error)
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let mut error = ApiError::for_status(
        405,
        &format!("Method not allowed ({method} {})", uri.path()),
    );
    error.code = None;
    error_response(&error)
}

impl Shared {
    fn record(&self, request: RecordedRequest) {
        let mut requests = lock(&self.requests);
        requests.push(request);
        self.request_count.send_replace(requests.len());
    }

    fn next_reply(&self) -> Reply {
        if let Some(reply) = lock(&self.queue).pop_front() {
            return reply;
        }
        lock(&self.default).clone().unwrap_or_else(Reply::echo)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
