//! A store that cannot write, with the real Runtime and Worker actors and a
//! real SQLite file: a database capped at `limits.store_bytes` that is full,
//! and one whose write lock another connection holds (as a `sqlite3` shell
//! or a backup tool would). Nothing reports success for what was not kept,
//! no `seq` is handed out twice across a crash, and yoi writes again once
//! the store does. A damaged worker row quarantines its worker only.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use worker_runtime::testing::next;
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig, WorkerStream};
use yoi_protocol::{
    CreateWorker, ErrorCode, EventKind, InputRequest, Role, RuntimeId, Seq, ToApiError,
    TranscriptPage, WorkerId, WorkerPage, WorkerStatus,
};
use yoi_test_support::{MockOpenAi, Reply};

fn config(mock: &MockOpenAi, dir: &Path) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    c.workspace_name = "testspace".into();
    c.state_dir = Some(dir.to_path_buf());
    c
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("yoi-store-failures-{}", WorkerId::new()))
}

async fn start(c: RuntimeConfig) -> Runtime {
    Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .expect("runtime starts")
}

/// Reads until a terminal event; returns it and the highest `seq` seen.
async fn until_terminal(sub: &mut WorkerStream) -> (Arc<EventFrame>, Seq) {
    let mut highest = Seq::ZERO;
    loop {
        let f = next(sub).await;
        highest = highest.max(f.seq());
        if f.event.is_terminal() {
            return (f, highest);
        }
    }
}

fn failed_with(frame: &EventFrame) -> Option<ErrorCode> {
    match &frame.event.kind {
        EventKind::RunFailed { error, .. } => Some(error.code),
        _ => None,
    }
}

/// A second connection that holds the database's write lock until dropped:
/// every write of the runtime's store fails (after its busy timeout).
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(dir: &Path) -> WriteLock {
        let conn = rusqlite::Connection::open(dir.join("yoi.db")).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }

    fn release(self) {
        self.0.execute_batch("ROLLBACK").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_answers_store_unavailable_and_nothing_reports_done() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = scratch();
    let mut c = config(&mock, &dir);
    c.limits.store_bytes = Some(96 * 1024);
    let rt = start(c).await;
    let w = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    assert!(rt.store_available());
    let mut sub = rt.subscribe(w, None).await.unwrap();
    let _snapshot = next(&mut sub).await;

    // Inputs of 8 KiB, each echoed back: the cap is reached within a few.
    let mut kept = Vec::new();
    let mut refused = None;
    for round in 0..40 {
        let text = format!("round {round} {}", "x".repeat(8 * 1024));
        match rt.input_wait(w, InputRequest::text(&text)).await {
            Ok(outcome) => {
                assert!(outcome.message.text.contains(&format!("round {round} ")));
                kept.push(text);
            }
            Err(e) => {
                let api = e.to_api_error();
                assert_eq!(api.code, ErrorCode::StoreUnavailable, "{api:?}");
                assert!(api.retryable);
                assert_eq!(api.code.http_status(), 503);
                refused = Some(text);
                break;
            }
        }
    }
    let refused = refused.expect("the capped store fills up");
    // (Health is not checked here: smaller writes may still fit in a capped
    // database. The locked store below fails every write.)
    // Every run that started ended with its one terminal event; the last
    // one failed with store_unavailable, not completed.
    for _ in &kept {
        let (terminal, _) = until_terminal(&mut sub).await;
        assert!(matches!(
            terminal.event.kind,
            EventKind::RunCompleted { .. }
        ));
    }
    let (terminal, _) = until_terminal(&mut sub).await;
    assert_eq!(failed_with(&terminal), Some(ErrorCode::StoreUnavailable));
    rt.shutdown().await;

    // Space returns (a larger cap): the store kept exactly what was
    // answered as kept, never the refused input.
    let rt = start(config(&mock, &dir)).await;
    let t = rt.transcript(w, TranscriptPage::newest(200)).await.unwrap();
    let users: Vec<&str> = t
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.text.as_str())
        .collect();
    // The refused input's own message may be kept when what failed was the
    // write of its answer; it was never reported done either way.
    let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
    assert!(
        users == kept || users == [&kept[..], &[refused.as_str()]].concat(),
        "kept {} of {} answered inputs",
        users.len(),
        kept.len()
    );
    let outcome = rt
        .input_wait(w, InputRequest::text("after the disk"))
        .await
        .unwrap();
    assert!(outcome.message.text.contains("after the disk"));
    assert!(rt.store_available());
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_refuses_input_and_recovers_by_itself() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = scratch();
    let rt = start(config(&mock, &dir)).await;
    let w = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    rt.input_wait(w, InputRequest::text("kept before"))
        .await
        .unwrap();

    let lock = WriteLock::take(&dir);
    let e = rt
        .input(w, InputRequest::text("not kept"))
        .await
        .unwrap_err();
    assert_eq!(e.to_api_error().code, ErrorCode::StoreUnavailable);
    assert!(!rt.store_available());
    let e = rt
        .input_wait(w, InputRequest::text("not kept either"))
        .await
        .unwrap_err();
    assert_eq!(e.to_api_error().code, ErrorCode::StoreUnavailable);
    // A worker whose row was not kept is not created (before: created, and
    // every later write of it failed, logged only).
    let e = rt.create_worker(CreateWorker::default()).await.unwrap_err();
    assert_eq!(e.to_api_error().code, ErrorCode::StoreUnavailable);
    let listed = rt.list_workers(WorkerPage::all()).await.unwrap().workers;
    assert_eq!(listed.len(), 1, "only the first worker exists");

    // The disk comes back: the next input is kept, without a restart.
    lock.release();
    let outcome = rt
        .input_wait(w, InputRequest::text("kept after"))
        .await
        .unwrap();
    assert!(outcome.message.text.contains("kept after"));
    assert!(rt.store_available());
    rt.shutdown().await;

    let rt = start(config(&mock, &dir)).await;
    let t = rt.transcript(w, TranscriptPage::newest(50)).await.unwrap();
    let users: Vec<&str> = t
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(users, ["kept before", "kept after"]);
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_that_was_not_committed_is_not_used_and_no_seq_is_reused_after_a_crash() {
    let mock = MockOpenAi::start().await;
    // More deltas than the first reservation covers.
    let words: Vec<String> = (0..6000).map(|i| format!("w{i} ")).collect();
    mock.push(Reply::tokens(words));
    let dir = scratch();
    let rt = start(config(&mock, &dir)).await;
    let w = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    let _snapshot = next(&mut sub).await;
    rt.input(w, InputRequest::text("a long answer"))
        .await
        .unwrap();
    let first = next(&mut sub).await;
    let lock = WriteLock::take(&dir);
    let (terminal, mut highest) = until_terminal(&mut sub).await;
    highest = highest.max(first.seq());
    assert_eq!(
        failed_with(&terminal),
        Some(ErrorCode::StoreUnavailable),
        "the run ends within what is reserved"
    );
    // The status after the terminal event.
    highest = highest.max(next(&mut sub).await.seq());
    // Crash while the store still cannot write: what was queued is lost.
    rt.crash().await;
    lock.release();

    let rt = start(config(&mock, &dir)).await;
    let t = rt.transcript(w, TranscriptPage::newest(10)).await.unwrap();
    // The restored worker ends the interrupted run with three events
    // (assistant_message, run_failed, status), all above every seq handed
    // out before the crash.
    let mut ended = rt.subscribe(w, Some(Seq(t.seq.0 - 3))).await.unwrap();
    for _ in 0..3 {
        let f = next(&mut ended).await;
        assert!(!f.event.is_snapshot());
        assert!(
            f.seq() > highest,
            "{:?} reuses a seq up to {highest:?}",
            f.seq()
        );
    }
    mock.push(Reply::text("fresh"));
    let mut after = rt.subscribe(w, Some(t.seq)).await.unwrap();
    rt.input_wait(w, InputRequest::text("after the crash"))
        .await
        .unwrap();
    let f = next(&mut after).await;
    assert!(!f.event.is_snapshot(), "a replay from the restored seq");
    assert!(
        f.seq() > highest,
        "{:?} reuses a seq up to {highest:?}",
        f.seq()
    );
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_worker_row_quarantines_that_worker_and_the_others_load() {
    let mock = MockOpenAi::start().await;
    mock.set_default(Reply::echo());
    let dir = scratch();
    let rt = start(config(&mock, &dir)).await;
    let good = rt
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    let bad = rt
        .create_worker(CreateWorker {
            display_name: Some("broken".into()),
            profile: None,
        })
        .await
        .unwrap()
        .summary
        .worker_id;
    let negative = rt
        .create_worker(CreateWorker {
            display_name: Some("negative".into()),
            profile: None,
        })
        .await
        .unwrap()
        .summary
        .worker_id;
    rt.input_wait(good, InputRequest::text("hello"))
        .await
        .unwrap();
    rt.shutdown().await;

    let db = rusqlite::Connection::open(dir.join("yoi.db")).unwrap();
    db.execute(
        "UPDATE workers SET usage = '{not json' WHERE worker_id = ?1",
        [bad.to_string()],
    )
    .unwrap();
    db.execute(
        "UPDATE workers SET seq_reserved = -5 WHERE worker_id = ?1",
        [negative.to_string()],
    )
    .unwrap();
    drop(db);

    let rt = start(config(&mock, &dir)).await;
    let list = rt.list_workers(WorkerPage::all()).await.unwrap().workers;
    let status = |id: WorkerId| list.iter().find(|w| w.worker_id == id).map(|w| w.status);
    assert_eq!(status(good), Some(WorkerStatus::Idle));
    assert_eq!(status(bad), Some(WorkerStatus::Quarantined));
    assert_eq!(status(negative), Some(WorkerStatus::Quarantined));
    let broken = list.iter().find(|w| w.worker_id == bad).unwrap();
    assert_eq!(broken.display_name, "broken");
    assert_eq!(
        rt.worker(bad).await.unwrap().summary.status,
        WorkerStatus::Quarantined
    );

    let e = rt
        .input(bad, InputRequest::text("hi"))
        .await
        .unwrap_err()
        .to_api_error();
    assert_eq!(e.code, ErrorCode::StoreUnavailable);
    assert!(!e.retryable, "the operator must act: {e:?}");
    assert!(e.message.contains("quarantined"), "{}", e.message);
    // The healthy one works on; the quarantined one can be stopped.
    rt.input_wait(good, InputRequest::text("again"))
        .await
        .unwrap();
    rt.stop_worker(bad).await.unwrap();
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
