//! When a local runtime's process dies and its supervisor brings it back,
//! the workspace socket says so every time, in order: `runtime_status`
//! `unavailable`, then `available` (issue 21: a restart faster than the
//! health check went unannounced).

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{children_of, Backend, WAIT};
use yoi_test_support::MockOpenAi;

const RESTARTS: usize = 3;

/// The next `runtime_status` of runtime `near` on the workspace socket.
async fn next_status(events: &mut support::Socket) -> Value {
    loop {
        let frame = events.frame().await;
        if frame["type"] == "runtime_status" && frame["runtime"]["runtime_id"] == "near" {
            return frame["runtime"].clone();
        }
    }
}

#[tokio::test]
async fn every_restart_of_a_local_runtime_is_announced_unavailable_then_available() {
    let mock = MockOpenAi::start().await;
    let b = Backend::start(
        &mock.base_url(),
        "[[runtimes]]\nid = \"near\"\nkind = \"local\"\n",
        &[],
    )
    .await;
    b.wait_runtime("near", "available").await;
    let mut events = b.ws("/api/events").await;
    assert_eq!(events.frame().await["type"], "workspace_snapshot");
    for restart in 1..=RESTARTS {
        let children = children_of(b.proc.pid());
        assert_eq!(children.len(), 1, "one local runtime process: {children:?}");
        let status = std::process::Command::new("kill")
            .args(["-KILL", &children[0].to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let down = tokio::time::timeout(WAIT, next_status(&mut events))
            .await
            .unwrap_or_else(|_| panic!("restart {restart}: no runtime_status after the kill"));
        assert_eq!(down["status"], "unavailable", "restart {restart}: {down}");
        assert_eq!(
            down["diagnostics"]["last_error"], "the runtime process exited",
            "restart {restart}: {down}"
        );
        // Unavailable (its reason may change while it starts again) until
        // the new process answers: then available.
        tokio::time::timeout(WAIT, async {
            loop {
                let next = next_status(&mut events).await;
                if next["status"] == "available" {
                    return;
                }
                assert_eq!(next["status"], "unavailable", "restart {restart}: {next}");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("restart {restart}: never available again"));
        // The new process answers: its workers' routes work again.
        let (status, list) = b.get("/api/runtimes/near/workers").await;
        assert_eq!(status, 200, "restart {restart}: {list}");
    }
    events.close().await;
    b.assert_no_leaks(&[], &[]);
}
