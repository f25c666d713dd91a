//! The console's network side against the real backend on a real socket
//! (with the mock OpenAI server as its provider): the REST client and the
//! worker and workspace feeds, driven through `update` exactly as the event
//! loop drives them. A TCP proxy between the two cuts the connection while
//! the worker lives on, so the cursor resume is tested over a real socket.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use worker_runtime::RuntimeConfig;
use yoi_protocol::{
    ClientMessageId, ErrorCode, RuntimeId, Seq, WorkerId, WorkerRef, WorkspaceEvent,
};
use yoi_test_support::{MockOpenAi, Reply};
use yoi_tui::app::{ConnState, LiveKind, Target};
use yoi_tui::client::{ApiClient, ClientError};
use yoi_tui::feed::{worker_feed, workspace_feed};
use yoi_tui::render::transcript_extent;
use yoi_tui::transcript::Body;
use yoi_tui::{update, App, AppEvent};
use yoi_workspace_server::{Access, Backend};

const TOKEN: &str = "tui-feed-test-token-0123";
const WAIT: Duration = Duration::from_secs(20);

/// A real backend on 127.0.0.1, with a token, and the mock as its provider.
struct Server {
    addr: SocketAddr,
    mock: MockOpenAi,
    workspace: std::path::PathBuf,
    companion: WorkerRef,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start() -> Server {
        let mock = MockOpenAi::start().await;
        let workspace = std::env::temp_dir().join(format!(
            "yoi-tui-feed-{}-{}",
            std::process::id(),
            WorkerId::new()
        ));
        std::fs::create_dir_all(&workspace).unwrap();
        let mut config = RuntimeConfig::new(RuntimeId::backend_internal(), "Backend");
        config.provider.base_url = mock.base_url();
        config.provider.api_key = Some("sk-tui-feed".into());
        config.provider.model = "mock-model".into();
        config.prompts_dir = Some(workspace.join("prompts"));
        let backend = Backend::start(config).await.unwrap();
        let companion = backend.companion().await.unwrap().summary;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let access = Access {
            loopback: true,
            token: Some(TOKEN.into()),
        };
        tokio::spawn(yoi_workspace_server::serve(
            listener,
            backend,
            access,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            mock,
            workspace,
            companion: WorkerRef {
                runtime_id: companion.runtime_id,
                worker_id: companion.worker_id,
            },
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.workspace);
    }
}

/// A TCP proxy in front of the server that can cut every open connection at
/// once, as a network failure would.
struct Proxy {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let task = {
            let conns = conns.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let conn = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    conns.lock().unwrap().push(conn);
                }
            })
        };
        Proxy { addr, conns, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// The worker feed of one `App`, driven the way the event loop drives it
/// (update, then publish the cursor).
struct Driver {
    rx: mpsc::Receiver<AppEvent>,
    cursor: watch::Sender<Option<Seq>>,
    feed: JoinHandle<()>,
}

impl Driver {
    fn start(app: &App, client: ApiClient, target: Target) -> Driver {
        let (tx, rx) = mpsc::channel(64);
        let (cursor, cursor_rx) = watch::channel(app.cursor());
        let feed = tokio::spawn(worker_feed(client, target, app.generation, cursor_rx, tx));
        Driver { rx, cursor, feed }
    }

    /// Applies events until `done` holds; fails the test after [`WAIT`].
    async fn until(&mut self, app: &mut App, done: impl Fn(&App) -> bool) {
        let outcome = tokio::time::timeout(WAIT, async {
            while !done(app) {
                let Some(event) = self.rx.recv().await else {
                    return;
                };
                update(app, event);
                self.cursor.send_replace(app.cursor());
            }
        })
        .await;
        assert!(
            outcome.is_ok() && done(app),
            "timed out; console state: {:?} {:?}",
            app.conn,
            app.notice
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

fn answer_text(app: &App) -> String {
    app.transcript
        .entries()
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            Body::Assistant { text, .. } => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_cut_connection_resumes_from_the_last_applied_seq_with_nothing_lost_or_repeated() {
    let server = Server::start().await;
    let proxy = Proxy::start(server.addr).await;
    let tokens: Vec<String> = (0..150).map(|i| format!("w{i} ")).collect();
    let full: String = tokens.concat();
    server
        .mock
        .push(Reply::tokens(tokens).token_delay(Duration::from_millis(10)));
    let client = ApiClient::new(&proxy.url(), Some(TOKEN.into())).unwrap();
    let mut app = App::new(proxy.url(), None, "T", transcript_extent);
    app.start();
    let mut driver = Driver::start(&app, client.clone(), Target::Companion);
    driver
        .until(&mut app, |a| {
            matches!(a.conn, ConnState::Live(LiveKind::Fresh))
        })
        .await;
    client
        .send_input(&server.companion, "count", None)
        .await
        .unwrap();
    driver
        .until(&mut app, |a| answer_text(a).split(' ').count() > 10)
        .await;
    // The network drops mid-answer; the worker streams on.
    proxy.cut();
    let applied = app.cursor().unwrap();
    driver
        .until(&mut app, |a| {
            matches!(a.conn, ConnState::Live(LiveKind::Resumed { .. }))
        })
        .await;
    match app.conn {
        ConnState::Live(LiveKind::Resumed { from }) => {
            assert!(
                from >= applied,
                "resumed from {from:?}, had applied {applied:?}"
            );
        }
        ref other => panic!("unexpected {other:?}"),
    }
    driver.until(&mut app, |a| answer_text(a) == full).await;
    assert_eq!(
        app.duplicates_dropped, 0,
        "the server replays only what follows the cursor"
    );
}

#[tokio::test]
async fn an_explicit_worker_that_does_not_exist_ends_in_a_typed_state() {
    let server = Server::start().await;
    let client = ApiClient::new(&server.url(), Some(TOKEN.into())).unwrap();
    let target = WorkerRef {
        runtime_id: RuntimeId::backend_internal(),
        worker_id: WorkerId::new(),
    };
    let mut app = App::new(server.url(), Some(target.clone()), "T", transcript_extent);
    app.start();
    let mut driver = Driver::start(&app, client, Target::Worker(target));
    driver
        .until(&mut app, |a| matches!(a.conn, ConnState::Gone { .. }))
        .await;
    assert!(matches!(&app.conn, ConnState::Gone { reason } if reason == "worker not found"));
    let notice = app
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("no longer exists"), "{notice}");
}

#[tokio::test]
async fn a_server_that_is_down_is_retried_and_shown_not_fatal() {
    // Bind and drop: a port on which nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let client = ApiClient::new(&url, None).unwrap();
    let mut app = App::new(&url, None, "T", transcript_extent);
    app.start();
    let mut driver = Driver::start(&app, client, Target::Companion);
    driver
        .until(&mut app, |a| {
            matches!(a.conn, ConnState::Reconnecting { attempt: 2, .. })
        })
        .await;
    assert!(
        matches!(&app.conn, ConnState::Reconnecting { reason, .. } if reason == "server unreachable"),
        "{:?}",
        app.conn
    );
}

#[tokio::test]
async fn a_retried_input_gets_the_first_answer_and_another_one_is_queued() {
    let server = Server::start().await;
    server.mock.push(Reply::hang());
    let client = ApiClient::new(&server.url(), Some(TOKEN.into())).unwrap();
    let id = ClientMessageId::parse("tui-T-1").ok();
    let first = client
        .send_input(&server.companion, "hello", id.clone())
        .await
        .unwrap();
    // The same id again (a retry) is the same input, also while it runs.
    let retried = client
        .send_input(&server.companion, "hello", id)
        .await
        .unwrap();
    assert_eq!(retried.run_id, first.run_id);
    assert_eq!(retried.message_id, first.message_id);
    // Another input while the run is in flight waits in the worker's queue
    // (the console queues what is typed during an answer).
    let queued = client
        .send_input(
            &server.companion,
            "again",
            ClientMessageId::parse("tui-T-2").ok(),
        )
        .await
        .unwrap();
    assert!(queued.queued, "{queued:?}");
    assert_eq!(queued.position, Some(1));
    assert_ne!(queued.run_id, first.run_id);
    // Without the token the server refuses, typed too.
    let anonymous = ApiClient::new(&server.url(), None).unwrap();
    match anonymous.send_input(&server.companion, "hi", None).await {
        Err(ClientError::Api(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let recorded = server.mock.requests();
    assert_eq!(recorded.len(), 1, "one run reached the provider");
}

#[tokio::test]
async fn the_workspace_feed_delivers_the_snapshot_for_the_picker() {
    let server = Server::start().await;
    let client = ApiClient::new(&server.url(), Some(TOKEN.into())).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let feed = tokio::spawn(workspace_feed(client, tx));
    let first = tokio::time::timeout(WAIT, rx.recv()).await;
    feed.abort();
    match first {
        Ok(Some(AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot { runtimes, workers }))) => {
            assert_eq!(runtimes.len(), 1);
            assert_eq!(runtimes[0].runtime_id, RuntimeId::backend_internal());
            assert_eq!(workers.len(), 1);
            assert_eq!(workers[0].display_ref, "companion@backend-internal");
        }
        other => panic!("expected a workspace snapshot, got {other:?}"),
    }
}
