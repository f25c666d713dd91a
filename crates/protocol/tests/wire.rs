//! The JSON of the wire types, pinned to `docs/api.md`: each example
//! parses, and serialises back to exactly the same JSON.

// Tests and their helpers may panic: a panic is a failed test. Long tests
// read as one scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use yoi_protocol::*;

const RUN: &str = "01JD6Z8Y3M2Q9W7T4R5E6N1XKA";
const WORKER: &str = "01JD6Z8Y3M2Q9W7T4R5E6N1XKB";
const MSG: &str = "01JD6Z8Y3M2Q9W7T4R5E6N1XKC";
const AT: &str = "2026-11-23T10:00:00.120Z";

fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug + PartialEq>(v: Value) -> T {
    let parsed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), v);
    parsed
}

fn message(role: &str, state: &str) -> Value {
    json!({"id": MSG, "role": role, "text": "Hel", "at": AT, "run_id": RUN, "state": state})
}

fn summary() -> Value {
    json!({
        "runtime_id": "backend-internal", "worker_id": WORKER, "display_name": "companion",
        "display_ref": "companion@backend-internal", "status": "idle",
        "profile": {"name": "companion", "model": "gpt-4o-mini"}
    })
}

fn detail() -> Value {
    let mut d = summary();
    let extra = json!({
        "created_at": AT, "tools": [],
        "queue": [{"message_id": MSG, "text": "next", "at": AT}],
        "usage": {"runs": 2, "prompt_tokens": 30, "completion_tokens": 12},
        "last_run": {"run_id": RUN, "state": "failed",
                     "error": {"code": "timeout", "message": "slow", "retryable": true},
                     "usage": {"prompt_tokens": 3, "completion_tokens": 0}, "duration_ms": 60000}
    });
    d.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    d
}

fn event(extra: Value) -> Value {
    let mut e = json!({"seq": 12, "at": AT, "runtime_id": "backend-internal", "worker_id": WORKER});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e
}

#[test]
fn the_error_envelope_matches_the_contract() {
    let e: ErrorEnvelope = round_trip(json!({"error": {"code": "busy",
        "message": "worker companion@backend-internal is already running a turn",
        "retryable": true, "active_run_id": RUN}}));
    assert_eq!(e.error.code, ErrorCode::Busy);
    round_trip::<ErrorEnvelope>(
        json!({"error": {"code": "invalid_input", "message": "x", "retryable": false}}),
    );
    let codes = [
        ("invalid_input", 400),
        ("unauthorized", 401),
        ("forbidden_origin", 403),
        ("runtime_not_found", 404),
        ("worker_not_found", 404),
        ("busy", 409),
        ("not_running", 409),
        ("payload_too_large", 413),
        ("unsupported", 501),
        ("provider_error", 502),
        ("runtime_unavailable", 503),
        ("provider_unconfigured", 503),
        ("timeout", 504),
        ("internal", 500),
        ("not_found", 404),
        ("queue_full", 409),
    ];
    for (name, status) in codes {
        let code: ErrorCode = serde_json::from_value(json!(name)).unwrap();
        assert_eq!(code.http_status(), status, "{name}");
        assert_eq!(code.as_str(), name);
    }
}

#[test]
fn summaries_and_details_match_the_contract() {
    round_trip::<WorkerSummary>(summary());
    let d: WorkerDetail = round_trip(detail());
    assert!(d.tools.is_empty());
    let mut c = summary();
    c["provider"] = json!({"configured": false, "model": "gpt-4o-mini"});
    round_trip::<CompanionInfo>(c);
    round_trip::<RuntimeSummary>(json!({
        "runtime_id": "gpu-box", "display_name": "GPU box", "kind": "remote", "status": "unavailable",
        "capabilities": {"workers": true, "create_worker": true, "cancel": true, "events": true},
        "worker_count": 3, "diagnostics": {"last_error": "unauthorized", "last_seen": AT}
    }));
    round_trip::<RuntimeSummary>(json!({
        "runtime_id": "backend-internal", "display_name": "Backend", "kind": "embedded", "status": "available",
        "capabilities": {"workers": true, "create_worker": true, "cancel": true, "events": true},
        "worker_count": 1
    }));
    for state in ["complete", "streaming", "cancelled", "failed"] {
        round_trip::<Message>(message("assistant", state));
    }
    let mut with_reasoning = message("assistant", "complete");
    with_reasoning["reasoning"] = json!("first, think");
    round_trip::<Message>(with_reasoning);
}

#[test]
fn rest_bodies_match_the_contract() {
    round_trip::<Health>(json!({"status": "ok", "version": "0.1.0", "store": "ok"}));
    round_trip::<Health>(json!({"status": "degraded", "version": "0.1.0", "store": "unavailable"}));
    round_trip::<InputRequest>(json!({"text": "hi", "client_message_id": "c-1"}));
    round_trip::<InputRequest>(json!({"text": "hi"}));
    round_trip::<CreateWorker>(json!({}));
    round_trip::<CreateWorker>(json!({"display_name": "scribe", "profile": "companion"}));
    round_trip::<InputAccepted>(json!({"run_id": RUN, "message_id": MSG, "seq": 7}));
    let q: InputAccepted = round_trip(
        json!({"run_id": RUN, "message_id": MSG, "seq": 8, "queued": true, "position": 2}),
    );
    assert_eq!((q.queued, q.position), (true, Some(2)));
    round_trip::<InputRequest>(json!({"text": "hi", "on_busy": "queue"}));
    round_trip::<InputRequest>(json!({"text": "hi", "on_busy": "reject"}));
    assert!(
        serde_json::from_value::<InputRequest>(json!({"text": "hi", "on_busy": "wait"})).is_err()
    );
    // A worker detail of a runtime from before queues reads with an empty queue.
    let mut old = detail();
    old.as_object_mut().unwrap().remove("queue");
    let d: WorkerDetail = serde_json::from_value(old).unwrap();
    assert!(d.queue.is_empty());
    round_trip::<RunOutcome>(
        json!({"run_id": RUN, "message": message("assistant", "complete"),
        "usage": {"runs": 1, "prompt_tokens": 3, "completion_tokens": 4}}),
    );
    round_trip::<CancelAccepted>(json!({"run_id": RUN}));
    round_trip::<Transcript>(
        json!({"messages": [message("user", "complete")], "seq": 9, "truncated": false}),
    );
    assert!(
        serde_json::from_value::<InputRequest>(json!({"text": "hi", "client_message_id": ""}))
            .is_err()
    );
    assert!(serde_json::from_value::<InputRequest>(json!({})).is_err());
}

#[test]
fn every_worker_event_matches_the_contract() {
    let cases = [
        json!({"type": "snapshot", "worker": detail(), "transcript": [message("user", "complete")],
               "in_flight": {"run_id": RUN, "text": "Hel"}, "reset": true, "reason": "cursor_expired"}),
        json!({"type": "snapshot", "worker": detail(), "transcript": [], "reset": false}),
        json!({"type": "input_accepted", "run_id": RUN, "message": message("user", "complete")}),
        json!({"type": "input_queued", "message_id": MSG, "text": "next", "position": 1}),
        json!({"type": "input_dequeued", "message_id": MSG, "reason": "started"}),
        json!({"type": "input_dequeued", "message_id": MSG, "reason": "removed"}),
        json!({"type": "input_dequeued", "message_id": MSG, "reason": "worker_stopped"}),
        json!({"type": "run_started", "run_id": RUN, "model": "gpt-4o-mini"}),
        json!({"type": "assistant_delta", "run_id": RUN, "text": "Hel"}),
        json!({"type": "reasoning_delta", "run_id": RUN, "text": "hmm"}),
        json!({"type": "assistant_message", "run_id": RUN, "message": message("assistant", "complete")}),
        json!({"type": "run_completed", "run_id": RUN, "usage": {"prompt_tokens": 1, "completion_tokens": 2}, "duration_ms": 1200}),
        json!({"type": "run_failed", "run_id": RUN, "error": {"code": "provider_error", "message": "502", "retryable": true}}),
        json!({"type": "run_cancelled", "run_id": RUN}),
        json!({"type": "status", "status": "running"}),
        json!({"type": "worker_stopped"}),
        json!({"type": "tool_call_started", "run_id": RUN, "call_id": "c1", "name": "read", "arguments": {"path": "x"}}),
        json!({"type": "tool_call_finished", "run_id": RUN, "call_id": "c1", "ok": true, "summary": "done", "state": "ok", "output": "3 workers"}),
        json!({"type": "tool_approval_requested", "run_id": RUN, "call_id": "c2", "name": "yoi.ask_worker", "arguments": {"worker": "notes", "text": "hi"}}),
        json!({"type": "tool_approval_decided", "run_id": RUN, "call_id": "c2", "decision": "deny", "scope": "worker"}),
    ];
    for extra in cases {
        let e: WorkerEvent = round_trip(event(extra));
        assert_eq!(e.seq, Seq(12));
    }
    for reason in ["cursor_expired", "cursor_ahead", "lagged"] {
        round_trip::<WorkerEvent>(event(json!({"type": "snapshot", "worker": detail(),
            "transcript": [], "reset": true, "reason": reason})));
    }
}

#[test]
fn every_workspace_event_matches_the_contract() {
    let rt = json!({
        "runtime_id": "backend-internal", "display_name": "Backend", "kind": "embedded", "status": "available",
        "capabilities": {"workers": true, "create_worker": true, "cancel": true, "events": true},
        "worker_count": 1
    });
    round_trip::<WorkspaceEvent>(
        json!({"type": "workspace_snapshot", "runtimes": [rt.clone()], "workers": [summary()]}),
    );
    round_trip::<WorkspaceEvent>(json!({"type": "worker_created", "worker": summary()}));
    round_trip::<WorkspaceEvent>(
        json!({"type": "worker_stopped", "runtime_id": "backend-internal", "worker_id": WORKER}),
    );
    round_trip::<WorkspaceEvent>(
        json!({"type": "status", "runtime_id": "backend-internal", "worker_id": WORKER, "status": "stopped"}),
    );
    round_trip::<WorkspaceEvent>(json!({"type": "runtime_status", "runtime": rt}));
}

#[test]
fn malformed_ids_are_refused() {
    assert!(serde_json::from_value::<WorkerId>(json!("nope")).is_err());
    assert!(serde_json::from_value::<RuntimeId>(json!("Has Spaces")).is_err());
    assert!(serde_json::from_value::<WorkerRef>(
        json!({"runtime_id": "backend-internal", "worker_id": WORKER})
    )
    .is_ok());
}
