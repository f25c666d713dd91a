//! A store that cannot write, with real `yoi serve` processes: a database
//! capped by `YOI_MAX_STORE_BYTES` fills up, inputs answer
//! `store_unavailable` and nothing reports success, `/api/health` says so,
//! a SIGKILL then hands out no `seq` twice, and with space back everything
//! works again. A damaged worker row quarantines that worker only.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
use support::{Backend, TempDir};
use yoi_test_support::{MockOpenAi, Reply};

async fn companion(b: &Backend) -> String {
    let (status, c) = b.get("/api/companion").await;
    assert_eq!(status, 200, "{c}");
    format!(
        "/api/runtimes/{}/workers/{}",
        c["runtime_id"].as_str().unwrap(),
        c["worker_id"].as_str().unwrap()
    )
}

/// Every event a client applied, by `seq`: a `seq` seen twice must carry
/// the same event.
#[derive(Default)]
struct Seen(HashMap<u64, Value>);

impl Seen {
    fn apply(&mut self, frame: &Value) {
        if frame["type"] == "snapshot" {
            return;
        }
        let seq = frame["seq"].as_u64().unwrap();
        let mut event = frame.clone();
        event.as_object_mut().unwrap().remove("at");
        if let Some(earlier) = self.0.get(&seq) {
            assert_eq!(earlier, &event, "seq {seq} was handed out twice");
        }
        self.0.insert(seq, event);
    }

    fn highest(&self) -> u64 {
        self.0.keys().copied().max().unwrap_or(0)
    }
}

#[tokio::test]
async fn a_full_disk_answers_store_unavailable_and_a_killed_yoi_reuses_no_seq() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let b = Backend::start(
        &mock.base_url(),
        "",
        &[("YOI_MAX_STORE_BYTES", (96 * 1024).to_string())],
    )
    .await;
    let (_, health) = b.get("/api/health").await;
    assert_eq!(
        (&health["status"], &health["store"]),
        (&json!("ok"), &json!("ok"))
    );
    let worker = companion(&b).await;
    let mut socket = b.ws(&format!("{worker}/events")).await;
    let mut seen = Seen::default();

    let mut kept = Vec::new();
    let mut refused = None;
    for round in 0..40 {
        let text = format!("round {round} {}", "y".repeat(8 * 1024));
        let (status, body) = b
            .post(&format!("{worker}/input?wait=true"), json!({"text": text}))
            .await;
        if status == 200 {
            kept.push(text);
            continue;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
        assert_eq!(body["error"]["retryable"], true);
        refused = Some(text);
        break;
    }
    let refused = refused.expect("the capped store fills up");
    // Another input is refused too, without a 202.
    let (status, body) = b
        .post(
            &format!("{worker}/input"),
            json!({"text": "z".repeat(8 * 1024)}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("store_unavailable"))
    );

    // The events: every run has its one terminal event, and the refused
    // one did not complete.
    let mut terminals = Vec::new();
    while terminals.len() < kept.len() + 1 {
        let f = socket.frame().await;
        seen.apply(&f);
        if ["run_completed", "run_failed", "run_cancelled"].contains(&f["type"].as_str().unwrap()) {
            terminals.push(f);
        }
    }
    assert!(terminals[..kept.len()]
        .iter()
        .all(|f| f["type"] == "run_completed"));
    assert_eq!(terminals[kept.len()]["type"], "run_failed");
    assert_eq!(terminals[kept.len()]["error"]["code"], "store_unavailable");
    let highest = seen.highest();

    // SIGKILL, then space returns: no cap.
    let mut b = b;
    b.proc.kill().await;
    drop(socket);
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);
    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let (_, health) = b.get("/api/health").await;
    assert_eq!(
        (&health["status"], &health["store"]),
        (&json!("ok"), &json!("ok"))
    );

    // Resuming from the cursor held: a reset or later events, never a
    // seq seen before with other content.
    let mut socket = b.ws(&format!("{worker}/events?cursor={highest}")).await;
    let first = socket.frame().await;
    if first["type"] == "snapshot" {
        assert_eq!(first["reset"], true, "{first}");
    } else {
        assert!(first["seq"].as_u64().unwrap() > highest, "{first}");
    }
    seen.apply(&first);
    let (status, body) = b
        .post(
            &format!("{worker}/input?wait=true"),
            json!({"text": "space is back"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    loop {
        let f = socket.frame().await;
        seen.apply(&f);
        if f["type"] != "snapshot" {
            assert!(f["seq"].as_u64().unwrap() > highest, "a seq reused: {f}");
        }
        if f["type"] == "run_completed" {
            break;
        }
    }

    // The history holds what was answered as kept, never a success it lacks.
    let (status, t) = b.get(&format!("{worker}/transcript?limit=200")).await;
    assert_eq!(status, 200, "{t}");
    let users: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = kept.iter().map(String::as_str).collect();
    // The refused input's own message is kept when what failed was the
    // write of its answer; it was never reported done either way.
    if users.len() == expected.len() + 2 {
        expected.push(refused.as_str());
    }
    expected.push("space is back");
    assert_eq!(users, expected);
}

#[tokio::test]
async fn health_says_degraded_while_the_database_cannot_be_written_and_ok_after() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let b = Backend::start(&mock.base_url(), "", &[]).await;
    let worker = companion(&b).await;
    // Another program holds the database's write lock (a `sqlite3` shell in
    // a transaction, a backup tool): every write of yoi fails.
    let db = rusqlite::Connection::open(b.workspace.path().join(".yoi").join("yoi.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, body) = b
        .post(&format!("{worker}/input"), json!({"text": "not kept"}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let (status, health) = b.get("/api/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["store"], "unavailable", "{health}");
    assert!(health["version"].is_string());

    // The lock goes: yoi writes again by itself.
    db.execute_batch("ROLLBACK").unwrap();
    let (status, body) = b
        .post(
            &format!("{worker}/input?wait=true"),
            json!({"text": "kept"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, health) = b.get("/api/health").await;
    assert_eq!(
        (&health["status"], &health["store"]),
        (&json!("ok"), &json!("ok"))
    );
}

#[tokio::test]
async fn yoi_serve_starts_with_a_damaged_worker_row_and_lists_it_quarantined() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let mut b = Backend::start(&mock.base_url(), "", &[]).await;
    let companion = companion(&b).await;
    let helper = b.create_worker("backend-internal").await;
    let helper_id = helper.rsplit('/').next().unwrap().to_owned();
    b.proc.kill().await;
    let workspace = std::mem::replace(&mut b.workspace, TempDir::new("unused"));
    drop(b);

    let db = rusqlite::Connection::open(workspace.path().join(".yoi").join("yoi.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE workers SET created_at = 'not a time' WHERE worker_id = ?1",
            [&helper_id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    let b = Backend::restart_in(&mock.base_url(), workspace, &[]).await;
    let (status, list) = b.get("/api/runtimes/backend-internal/workers").await;
    assert_eq!(status, 200, "{list}");
    let workers = list["workers"].as_array().unwrap();
    let status_of = |id: &str| {
        workers
            .iter()
            .find(|w| w["worker_id"] == id)
            .map(|w| w["status"].clone())
    };
    let companion_id = companion.rsplit('/').next().unwrap();
    assert_eq!(status_of(companion_id), Some(json!("idle")), "{list}");
    assert_eq!(status_of(&helper_id), Some(json!("quarantined")), "{list}");
    let (status, detail) = b.get(&helper).await;
    assert_eq!((status, &detail["status"]), (200, &json!("quarantined")));
    let out = b.proc.output();
    assert!(
        out.contains(&helper_id) && out.contains("quarantined"),
        "a log line names the worker: {out}"
    );

    let (status, body) = b
        .post(&format!("{helper}/input"), json!({"text": "hi"}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable");
    assert_eq!(body["error"]["retryable"], false);
    // The others work.
    let (status, body) = b
        .post(
            &format!("{companion}/input?wait=true"),
            json!({"text": "still here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
