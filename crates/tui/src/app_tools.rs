//! The app's side of tool calls that ask first: the calls waiting for a
//! person (from a snapshot's `pending_approvals` and the approval events),
//! the prompt's keys (`y` yes once, `a` always for this worker, `n` no),
//! and the answers to the decisions sent.
//!
//! While a call waits, those three letters answer the prompt instead of
//! going into the message: the run cannot go on without the answer, and a
//! prompt that needs a mouse or a mode switch would be missed.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use yoi_protocol::{
    ApprovalAnswer, ApprovalDecision, ApprovalRequest, ApprovalScope, ErrorCode, PendingApproval,
    RunId, Timestamp,
};

use super::{App, Command};
use crate::client::ClientError;
use crate::keys::Focus;
use crate::notice::describe_client_error;

/// A snapshot says which calls wait; the calls of the run in flight show
/// them waiting (a reconnect or a console opened while one waits).
pub(super) fn snapshot(app: &mut App, pending: &[PendingApproval]) {
    app.approvals.replace(pending.to_vec());
    for p in pending {
        if app.active_run == Some(p.run_id) {
            app.transcript
                .tool_waiting(p.run_id, &p.call_id, &p.name, &p.arguments);
        }
    }
}

pub(super) fn requested(
    app: &mut App,
    run_id: RunId,
    call_id: String,
    name: String,
    arguments: serde_json::Value,
    at: Timestamp,
) {
    app.transcript
        .tool_waiting(run_id, &call_id, &name, &arguments);
    app.approvals.push(PendingApproval {
        run_id,
        call_id,
        name,
        arguments,
        requested_at: at,
    });
}

/// Whether the key answers the prompt: a call waits, no panel is open, and
/// it is a plain `y`, `a` or `n`.
pub(super) fn is_approval_key(app: &App, key: KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && app.focus == Focus::Composer
        && !app.approvals.is_empty()
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        && matches!(key.code, KeyCode::Char('y' | 'a' | 'n'))
}

pub(super) fn decide_key(app: &mut App, key: KeyEvent) -> Vec<Command> {
    let (decision, scope) = match key.code {
        KeyCode::Char('y') => (ApprovalDecision::Allow, ApprovalScope::Once),
        KeyCode::Char('a') => (ApprovalDecision::Allow, ApprovalScope::Worker),
        _ => (ApprovalDecision::Deny, ApprovalScope::Once),
    };
    let Some(target) = app.resolved() else {
        return Vec::new();
    };
    let Some(call_id) = app.approvals.start_deciding() else {
        return Vec::new();
    };
    vec![Command::Decide {
        generation: app.generation,
        target,
        call_id,
        request: ApprovalRequest { decision, scope },
    }]
}

/// The decision's answer. A call that no longer waits (decided in another
/// console, cancelled, timed out: `not_pending`) or that the worker never
/// made leaves the prompt quietly; the events say how it went.
pub(super) fn decision_answered(
    app: &mut App,
    call_id: &str,
    result: Result<ApprovalAnswer, ClientError>,
) -> Vec<Command> {
    app.approvals.done_deciding(call_id);
    match result {
        Ok(_) => app.approvals.remove(call_id),
        Err(e)
            if e.api()
                .is_some_and(|a| matches!(a.code, ErrorCode::NotPending | ErrorCode::NotFound)) =>
        {
            app.approvals.remove(call_id);
        }
        Err(e) => app.notice = Some(describe_client_error(&e, app.worker_name())),
    }
    Vec::new()
}
