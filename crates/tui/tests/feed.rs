//! The console's network side against a fake backend on a real socket: the
//! REST client and the worker and workspace feeds, driven through `update`
//! exactly as the event loop drives them. The fake speaks the JSON of
//! `api.md` written out by hand, so these tests also pin the wire shapes.
//!
//! (The real server is exercised by `tests/e2e_tmux.sh`; what it cannot
//! show is a socket that drops while the worker lives on, so the cursor
//! resume and dedupe over a real socket are tested here.)

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use yoi_protocol::{ErrorCode, RuntimeId, Seq, WorkerId, WorkerRef, WorkspaceEvent};
use yoi_tui::app::{ConnState, LiveKind, Target};
use yoi_tui::client::{ApiClient, ClientError};
use yoi_tui::feed::{worker_feed, workspace_feed};
use yoi_tui::render::transcript_extent;
use yoi_tui::transcript::Body;
use yoi_tui::{update, App, AppEvent};

const WORKER_ID: &str = "01JD6Z8Y3M2Q9W7T4R5E6N1XKA";
const RUN_ID: &str = "01JD6Z8Y3M2Q9W7T4R5E6N1XKB";
const TOKEN: &str = "t0ken";
const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Seen {
    /// `cursor` query and `Authorization` header of each event socket.
    sockets: Vec<(Option<String>, Option<String>)>,
    rest_auth: Vec<Option<String>>,
    inputs: Vec<Value>,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.seen.lock().expect("fake state"))
    }
}

fn auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn summary() -> Value {
    json!({"runtime_id": "backend-internal", "worker_id": WORKER_ID,
           "display_name": "companion", "display_ref": "companion@backend-internal",
           "status": "idle", "profile": {"name": "companion", "model": "gpt-test"}})
}

fn frame(seq: u64, kind: Value) -> String {
    let mut f = json!({"seq": seq, "at": "2026-11-23T10:00:00.120Z",
                       "runtime_id": "backend-internal", "worker_id": WORKER_ID});
    if let (Some(f), Some(kind)) = (f.as_object_mut(), kind.as_object()) {
        f.extend(kind.clone());
    }
    f.to_string()
}

fn error(status: StatusCode, code: &str, extra: Value) -> Response {
    let mut body = json!({"code": code, "message": format!("fake {code}"), "retryable": false});
    if let (Some(b), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(extra.clone());
    }
    (status, Json(json!({"error": body}))).into_response()
}

async fn companion(State(fake): State<Fake>, headers: HeaderMap) -> Json<Value> {
    fake.seen(|s| s.rest_auth.push(auth(&headers)));
    let mut info = summary();
    info["provider"] = json!({"configured": true, "model": "gpt-test"});
    Json(info)
}

async fn worker_detail(Path((_rid, wid)): Path<(String, String)>) -> Response {
    if wid != WORKER_ID {
        return error(StatusCode::NOT_FOUND, "worker_not_found", json!({}));
    }
    let mut detail = summary();
    detail["created_at"] = json!("2026-11-23T10:00:00.000Z");
    detail["tools"] = json!([]);
    detail["usage"] = json!({"runs": 0, "prompt_tokens": 0, "completion_tokens": 0});
    Json(detail).into_response()
}

async fn input(State(fake): State<Fake>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let n = fake.seen(|s| {
        s.rest_auth.push(auth(&headers));
        s.inputs.push(body);
        s.inputs.len()
    });
    if n == 1 {
        let accepted = json!({"run_id": RUN_ID, "message_id": WORKER_ID, "seq": 1});
        (StatusCode::ACCEPTED, Json(accepted)).into_response()
    } else {
        error(
            StatusCode::CONFLICT,
            "busy",
            json!({"retryable": true, "active_run_id": RUN_ID}),
        )
    }
}

async fn events(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let n = fake.seen(|s| {
        s.sockets
            .push((query.get("cursor").cloned(), auth(&headers)));
        s.sockets.len()
    });
    ws.on_upgrade(move |socket| script(socket, n))
}

/// First socket: a snapshot and one delta, then it drops. Second socket: the
/// server replays that delta (a duplicate) and sends the next, then stays open.
async fn script(mut socket: WebSocket, connection: usize) {
    let delta = |seq, text: &str| {
        frame(
            seq,
            json!({"type": "assistant_delta", "run_id": RUN_ID, "text": text}),
        )
    };
    let frames = if connection == 1 {
        let mut detail = summary();
        detail["created_at"] = json!("2026-11-23T10:00:00.000Z");
        detail["tools"] = json!([]);
        detail["usage"] = json!({"runs": 0, "prompt_tokens": 0, "completion_tokens": 0});
        let user = json!({"id": RUN_ID, "role": "user", "text": "hi", "at": "2026-11-23T10:00:00.000Z",
                          "run_id": RUN_ID, "state": "complete"});
        vec![
            frame(
                2,
                json!({"type": "snapshot", "worker": detail, "transcript": [user], "reset": false}),
            ),
            delta(3, "Hel"),
        ]
    } else {
        vec![delta(3, "Hel"), delta(4, "lo")]
    };
    for f in frames {
        if socket.send(Message::Text(f.into())).await.is_err() {
            return;
        }
    }
    if connection == 1 {
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    while let Some(Ok(_)) = socket.recv().await {}
}

async fn workspace(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        let runtime = json!({"runtime_id": "backend-internal", "display_name": "backend",
            "kind": "embedded", "status": "available",
            "capabilities": {"workers": true, "create_worker": true, "cancel": true, "events": true},
            "worker_count": 1});
        let snap = json!({"type": "workspace_snapshot", "runtimes": [runtime], "workers": [summary()]});
        if socket.send(Message::Text(snap.to_string().into())).await.is_ok() {
            while let Some(Ok(_)) = socket.recv().await {}
        }
    })
}

async fn start_fake() -> (String, Fake) {
    let fake = Fake::default();
    let router = Router::new()
        .route("/api/companion", get(companion))
        .route("/api/events", get(workspace))
        .route("/api/runtimes/{rid}/workers/{wid}", get(worker_detail))
        .route("/api/runtimes/{rid}/workers/{wid}/input", post(input))
        .route("/api/runtimes/{rid}/workers/{wid}/events", get(events))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake backend");
    let addr = listener.local_addr().expect("fake address");
    tokio::spawn(axum::serve(listener, router).into_future());
    (format!("http://{addr}"), fake)
}

/// Runs the worker feed into an `App` the way the event loop does (update,
/// then publish the cursor) until `done` holds.
async fn drive(app: &mut App, client: ApiClient, target: Target, done: impl Fn(&App) -> bool) {
    let (tx, mut rx) = mpsc::channel(64);
    let (cursor_tx, cursor_rx) = watch::channel(app.cursor());
    let feed = tokio::spawn(worker_feed(client, target, app.generation, cursor_rx, tx));
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some(event) = rx.recv().await {
            update(app, event);
            cursor_tx.send_replace(app.cursor());
            if done(app) {
                return;
            }
        }
    })
    .await;
    feed.abort();
    assert!(
        outcome.is_ok(),
        "timed out; console state: {:?} {:?}",
        app.conn,
        app.notice
    );
}

fn answer_text(app: &App) -> String {
    app.transcript
        .entries()
        .iter()
        .find_map(|e| match &e.body {
            Body::Assistant { text, .. } => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_dropped_socket_resumes_from_the_last_applied_seq_and_drops_the_replay() {
    let (url, fake) = start_fake().await;
    let client = ApiClient::new(&url, Some(TOKEN.into())).expect("client");
    let mut app = App::new(&url, None, "T", transcript_extent);
    app.start();
    drive(&mut app, client, Target::Companion, |a| {
        answer_text(a) == "Hello"
    })
    .await;

    assert_eq!(app.duplicates_dropped, 1, "the replayed seq 3 was dropped");
    assert_eq!(app.cursor(), Some(Seq(4)));
    assert_eq!(
        app.conn,
        ConnState::Live(LiveKind::Resumed { from: Seq(3) })
    );
    let bearer = Some(format!("Bearer {TOKEN}"));
    fake.seen(|s| {
        assert_eq!(
            s.sockets,
            vec![(None, bearer.clone()), (Some("3".into()), bearer.clone())],
            "first socket without a cursor, the second from the applied seq"
        );
        assert!(
            s.rest_auth.iter().all(|a| *a == bearer),
            "{:?}",
            s.rest_auth
        );
    });
}

#[tokio::test]
async fn an_explicit_worker_that_does_not_exist_ends_in_a_typed_state() {
    let (url, _fake) = start_fake().await;
    let client = ApiClient::new(&url, None).expect("client");
    let target = WorkerRef {
        runtime_id: RuntimeId::backend_internal(),
        worker_id: WorkerId::new(),
    };
    let mut app = App::new(&url, Some(target.clone()), "T", transcript_extent);
    app.start();
    drive(&mut app, client, Target::Worker(target), |a| {
        matches!(a.conn, ConnState::Gone { .. })
    })
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
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let client = ApiClient::new(&url, None).expect("client");
    let mut app = App::new(&url, None, "T", transcript_extent);
    app.start();
    drive(&mut app, client, Target::Companion, |a| {
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
async fn input_carries_the_client_message_id_and_the_queue_policy_and_errors_come_back_typed() {
    let (url, fake) = start_fake().await;
    let client = ApiClient::new(&url, None).expect("client");
    let target = WorkerRef {
        runtime_id: RuntimeId::backend_internal(),
        worker_id: WORKER_ID.parse().expect("worker id"),
    };
    let id = yoi_protocol::ClientMessageId::parse("tui-T-1").ok();
    let accepted = client.send_input(&target, "hello", id.clone()).await;
    assert!(accepted.is_ok(), "{accepted:?}");
    let busy = client.send_input(&target, "again", id).await;
    match busy {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.code, ErrorCode::Busy);
            assert!(e.active_run_id.is_some());
        }
        other => panic!("expected busy, got {other:?}"),
    }
    fake.seen(|s| {
        assert_eq!(
            s.inputs[0],
            json!({"text": "hello", "client_message_id": "tui-T-1", "on_busy": "queue"})
        );
        assert_eq!(s.rest_auth, vec![None, None], "no token, no header");
    });
}

#[tokio::test]
async fn the_workspace_feed_delivers_the_snapshot_for_the_picker() {
    let (url, _fake) = start_fake().await;
    let client = ApiClient::new(&url, None).expect("client");
    let (tx, mut rx) = mpsc::channel(8);
    let feed = tokio::spawn(workspace_feed(client, tx));
    let first = tokio::time::timeout(WAIT, rx.recv()).await;
    feed.abort();
    match first {
        Ok(Some(AppEvent::Workspace(WorkspaceEvent::WorkspaceSnapshot { runtimes, workers }))) => {
            assert_eq!(runtimes.len(), 1);
            assert_eq!(workers[0].display_ref, "companion@backend-internal");
        }
        other => panic!("expected a workspace snapshot, got {other:?}"),
    }
}
