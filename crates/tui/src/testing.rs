//! Fixtures shared by the unit tests: wire values built the way the server
//! sends them.

use yoi_protocol::{
    Capabilities, EventKind, InFlight, Message, MessageId, MessageState, ProfileInfo, Role, RunId,
    RuntimeId, RuntimeKind, RuntimeStatus, RuntimeSummary, Seq, SnapshotReason, Timestamp, Usage,
    WorkerDetail, WorkerEvent, WorkerId, WorkerRef, WorkerStatus, WorkerSummary,
};

pub fn runtime(id: &str) -> RuntimeSummary {
    RuntimeSummary {
        tools: None,
        runtime_id: RuntimeId::parse(id).expect("test runtime id"),
        display_name: id.to_owned(),
        kind: RuntimeKind::Embedded,
        status: RuntimeStatus::Available,
        capabilities: Capabilities::ALL,
        worker_count: 1,
        diagnostics: None,
        profiles: None,
    }
}

pub fn worker(runtime_id: &str, name: &str) -> WorkerSummary {
    WorkerSummary {
        runtime_id: RuntimeId::parse(runtime_id).expect("test runtime id"),
        worker_id: WorkerId::new(),
        display_name: name.to_owned(),
        display_ref: format!("{name}@{runtime_id}"),
        status: WorkerStatus::Idle,
        profile: ProfileInfo {
            name: "companion".into(),
            model: "gpt-test".into(),
        },
        last_activity: None,
        last_message: None,
    }
}

pub fn detail(summary: &WorkerSummary) -> WorkerDetail {
    WorkerDetail {
        pending_approvals: Vec::new(),
        input_error: None,
        summary: summary.clone(),
        created_at: Timestamp::now(),
        tools: Vec::new(),
        usage: Usage::default(),
        last_run: None,
        queue: Vec::new(),
    }
}

pub fn message(role: Role, run_id: RunId, text: &str, state: MessageState) -> Message {
    Message {
        sender: None,
        tool_calls: Vec::new(),
        id: MessageId::new(),
        role,
        text: text.to_owned(),
        at: Timestamp::now(),
        run_id,
        state,
        reasoning: None,
        error: None,
    }
}

pub fn event(target: &WorkerRef, seq: u64, kind: EventKind) -> WorkerEvent {
    WorkerEvent {
        seq: Seq(seq),
        at: Timestamp::now(),
        runtime_id: target.runtime_id.clone(),
        worker_id: target.worker_id,
        kind,
    }
}

pub fn snapshot(
    summary: &WorkerSummary,
    transcript: Vec<Message>,
    in_flight: Option<InFlight>,
    reset: Option<SnapshotReason>,
) -> EventKind {
    EventKind::Snapshot {
        worker: Box::new(detail(summary)),
        transcript,
        in_flight,
        reset: reset.is_some(),
        reason: reset,
    }
}
