//! The tool loop, end to end: real Runtime and Worker actors, the real
//! OpenAI provider, the mock OpenAI server making tool calls, and yoi's own
//! tools. Nothing of ours is faked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use worker_runtime::testing::{until, until_terminal};
use worker_runtime::tools::ToolGrants;
use worker_runtime::{EventFrame, Runtime, RuntimeApi, RuntimeConfig, RuntimeError, WorkerStream};
use yoi_protocol::{
    ApprovalDecision, ApprovalRequest, ApprovalScope, CreateWorker, ErrorCode, EventKind,
    InputRequest, Message, RuntimeId, ToApiError, ToolCallState, ToolPolicy, TranscriptPage,
    WorkerId, WorkerStatus,
};
use yoi_test_support::{MockOpenAi, Reply};

const WAIT: Duration = Duration::from_secs(20);

fn config(mock: &MockOpenAi, rules: &[(&str, ToolPolicy)]) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-test-secret".into());
    c.provider.model = "mock-model".into();
    c.workspace_name = "testspace".into();
    let mut companion = worker_runtime::profile::specs(&c).remove(0);
    companion.tools = ToolGrants::new(
        rules
            .iter()
            .map(|(pattern, policy)| ((*pattern).to_owned(), *policy))
            .collect(),
    );
    c.profiles = vec![companion];
    c
}

async fn start_with(c: RuntimeConfig) -> Runtime {
    Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .expect("runtime starts")
}

async fn worker(rt: &Runtime, name: &str) -> WorkerId {
    rt.create_worker(CreateWorker {
        display_name: Some(name.into()),
        ..CreateWorker::default()
    })
    .await
    .expect("worker created")
    .summary
    .worker_id
}

fn terminal_count(frames: &[Arc<EventFrame>]) -> usize {
    frames.iter().filter(|f| f.event.is_terminal()).count()
}

fn finished(frames: &[Arc<EventFrame>]) -> Vec<(String, ToolCallState, String)> {
    frames
        .iter()
        .filter_map(|f| match &f.event.kind {
            EventKind::ToolCallFinished {
                call_id,
                state,
                output,
                ..
            } => Some((call_id.clone(), *state, output.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn final_message(frames: &[Arc<EventFrame>]) -> Message {
    frames
        .iter()
        .rev()
        .find_map(|f| match &f.event.kind {
            EventKind::AssistantMessage { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("an assistant message")
}

fn approval_call(frames: &[Arc<EventFrame>]) -> String {
    frames
        .iter()
        .find_map(|f| match &f.event.kind {
            EventKind::ToolApprovalRequested { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .expect("an approval request")
}

fn offered_tools(request: &serde_json::Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Input whose turn calls `yoi.list_workers`, read up to its approval
/// request: the subscription and the call waiting.
async fn waiting_list_call(rt: &Runtime, w: WorkerId) -> (WorkerStream, String) {
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    let frames = until(&mut sub, |k| {
        matches!(k, EventKind::ToolApprovalRequested { .. })
    })
    .await;
    (sub, approval_call(&frames))
}

fn decision(decision: ApprovalDecision, scope: ApprovalScope) -> ApprovalRequest {
    ApprovalRequest { decision, scope }
}

const ALLOW_LIST: &[(&str, ToolPolicy)] = &[("yoi.list_workers", ToolPolicy::Allow)];

#[tokio::test]
async fn an_allowed_tool_runs_and_the_model_answers_with_its_result() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ALLOW_LIST)).await;
    let w = worker(&rt, "asker").await;
    worker(&rt, "notes").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(
        w,
        InputRequest::text("Let me look. [[tool:yoi.list_workers {\"limit\": 10}]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(terminal_count(&frames), 1);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    let ended = finished(&frames);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, ToolCallState::Ok);
    assert!(
        ended[0].2.contains("notes@backend-internal"),
        "{}",
        ended[0].2
    );
    // The model's answer quotes what the tool returned.
    let message = final_message(&frames);
    assert!(
        message.text.contains("notes@backend-internal"),
        "{}",
        message.text
    );
    assert!(message.text.contains(&ended[0].0));
    // The text written before the call is kept with the call.
    assert_eq!(message.tool_calls.len(), 1);
    assert_eq!(message.tool_calls[0].name, "yoi.list_workers");
    assert_eq!(message.tool_calls[0].state, ToolCallState::Ok);
    assert_eq!(
        message.tool_calls[0].text_before.as_deref(),
        Some("Let me look.")
    );
    // One run: every event of it has the same run id.
    let run_ids: std::collections::HashSet<_> =
        frames.iter().filter_map(|f| f.event.run_id()).collect();
    assert_eq!(run_ids.len(), 1);

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(offered_tools(&requests[0].body), ["yoi__list_workers"]);
    let sent = requests[1].body["messages"].as_array().unwrap();
    let n = sent.len();
    assert_eq!(sent[n - 2]["role"], "assistant");
    assert_eq!(
        sent[n - 2]["tool_calls"][0]["function"]["name"],
        "yoi__list_workers"
    );
    assert_eq!(sent[n - 2]["content"], "Let me look.");
    assert_eq!(sent[n - 1]["role"], "tool");
    assert_eq!(sent[n - 1]["tool_call_id"], ended[0].0.as_str());

    // The transcript keeps the call; a later run sends it as history.
    let page = rt.transcript(w, TranscriptPage::newest(10)).await.unwrap();
    let last = page.messages.last().unwrap();
    assert_eq!(last.tool_calls.len(), 1);
    rt.input_wait(w, InputRequest::text("thanks"))
        .await
        .unwrap();
    let third = &mock.requests()[2].body;
    let history = third["messages"].as_array().unwrap();
    assert!(history
        .iter()
        .any(|m| m["role"] == "tool" && m["tool_call_id"] == ended[0].0.as_str()));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_tool_without_a_grant_is_never_offered_nor_run() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, &[])).await;
    let w = worker(&rt, "plain").await;
    assert!(rt.worker(w).await.unwrap().tools.is_empty());
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    let requests = mock.requests();
    assert!(requests[0].body.get("tools").is_none(), "no tools offered");
    let ended = finished(&frames);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, ToolCallState::Error);
    assert!(ended[0].2.contains("no tool named"), "{}", ended[0].2);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_are_told_to_the_model_and_the_tool_is_not_called() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ALLOW_LIST)).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(
        w,
        InputRequest::text(
            "[[tool:yoi.list_workers {\"limit\": \"many\"}]] [[tool:yoi.list_workers {oops]]",
        ),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended.len(), 2, "two calls in one turn");
    assert!(ended.iter().all(|e| e.1 == ToolCallState::Error));
    assert!(
        ended[0].2.contains("schema") && ended[0].2.contains("/limit"),
        "{}",
        ended[0].2
    );
    assert!(ended[1].2.contains("not valid JSON"), "{}", ended[1].2);
    let answer = final_message(&frames).text;
    assert!(
        answer.contains("schema") && answer.contains("not valid JSON"),
        "{answer}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn several_calls_in_one_turn_all_run_and_a_failing_tool_is_an_error_result() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, &[("yoi.*", ToolPolicy::Allow)])).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(
        w,
        InputRequest::text(
            "[[tool:yoi.list_workers {}]] [[tool:yoi.read_transcript {\"worker\": \"nobody\"}]]",
        ),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended.len(), 2);
    let states: Vec<ToolCallState> = ended.iter().map(|e| e.1).collect();
    assert!(states.contains(&ToolCallState::Ok));
    assert!(states.contains(&ToolCallState::Error));
    let failed = ended.iter().find(|e| e.1 == ToolCallState::Error).unwrap();
    assert!(
        failed.2.contains("no worker named `nobody`"),
        "{}",
        failed.2
    );
    assert_eq!(final_message(&frames).tool_calls.len(), 2);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    rt.shutdown().await;
}

const ASK_LIST: &[(&str, ToolPolicy)] = &[("yoi.list_workers", ToolPolicy::Ask)];

#[tokio::test]
async fn an_ask_call_waits_for_a_person_and_runs_once_allowed() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ASK_LIST)).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    let frames = until(&mut sub, |k| {
        matches!(k, EventKind::ToolApprovalRequested { .. })
    })
    .await;
    let call = approval_call(&frames);
    let frames = until(&mut sub, |k| {
        matches!(
            k,
            EventKind::Status {
                status: WorkerStatus::WaitingApproval
            }
        )
    })
    .await;
    assert!(!frames.is_empty());
    let detail = rt.worker(w).await.unwrap();
    assert_eq!(detail.summary.status, WorkerStatus::WaitingApproval);
    assert_eq!(detail.pending_approvals.len(), 1);
    assert_eq!(detail.pending_approvals[0].call_id, call);
    // Nothing ran: the model was asked once so far.
    assert_eq!(mock.requests().len(), 1);

    // An unknown call is not found; the real one is decided once.
    let unknown = rt
        .approve(
            w,
            "call_nope".into(),
            decision(ApprovalDecision::Allow, ApprovalScope::Once),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.to_api_error().code, ErrorCode::NotFound);
    let allow = decision(ApprovalDecision::Allow, ApprovalScope::Once);
    let answer = rt.approve(w, call.clone(), allow).await.unwrap();
    assert_eq!(answer.decision, ApprovalDecision::Allow);
    let again = rt.approve(w, call.clone(), allow).await.unwrap_err();
    assert_eq!(again.to_api_error().code, ErrorCode::NotPending);
    assert_eq!(again.to_api_error().code.http_status(), 409);

    let frames = until_terminal(&mut sub).await;
    assert!(frames.iter().any(|f| matches!(
        &f.event.kind,
        EventKind::ToolApprovalDecided { decision: ApprovalDecision::Allow, call_id, .. } if *call_id == call
    )));
    assert_eq!(finished(&frames)[0].1, ToolCallState::Ok);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    // After the run the call is known but no longer waits.
    let late = rt.approve(w, call, allow).await.unwrap_err();
    assert_eq!(late.to_api_error().code, ErrorCode::NotPending);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_denied_call_is_not_run_and_the_run_goes_on() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ASK_LIST)).await;
    let w = worker(&rt, "asker").await;
    let (mut sub, call) = waiting_list_call(&rt, w).await;
    rt.approve(
        w,
        call,
        decision(ApprovalDecision::Deny, ApprovalScope::Once),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].1, ToolCallState::Denied);
    assert!(final_message(&frames).text.contains("the person declined"));
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn an_approval_nobody_answers_is_denied_with_its_own_reason() {
    let mock = MockOpenAi::start().await;
    let mut c = config(&mock, ASK_LIST);
    c.tool_limits.approval_timeout = Duration::from_millis(300);
    let rt = start_with(c).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert!(frames.iter().any(|f| matches!(
        f.event.kind,
        EventKind::ToolApprovalDecided {
            decision: ApprovalDecision::Deny,
            ..
        }
    )));
    let ended = finished(&frames);
    assert_eq!(ended[0].1, ToolCallState::Denied);
    assert!(ended[0].2.contains("nobody answered"), "{}", ended[0].2);
    rt.shutdown().await;
}

#[tokio::test]
async fn two_people_approving_at_once_run_the_call_once() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ASK_LIST)).await;
    let w = worker(&rt, "asker").await;
    let (mut sub, call) = waiting_list_call(&rt, w).await;
    let allow = decision(ApprovalDecision::Allow, ApprovalScope::Once);
    let deny = decision(ApprovalDecision::Deny, ApprovalScope::Once);
    let (a, b) = tokio::join!(
        rt.approve(w, call.clone(), allow),
        rt.approve(w, call.clone(), deny)
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(wins, 1, "exactly one decision wins");
    let loser = a.err().or(b.err()).unwrap();
    assert_eq!(loser.to_api_error().code, ErrorCode::NotPending);
    let frames = until_terminal(&mut sub).await;
    let decided = frames
        .iter()
        .filter(|f| matches!(f.event.kind, EventKind::ToolApprovalDecided { .. }))
        .count();
    assert_eq!(decided, 1);
    assert_eq!(finished(&frames).len(), 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn cancel_while_waiting_for_approval_ends_the_run_cancelled_once() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ASK_LIST)).await;
    let w = worker(&rt, "asker").await;
    let (mut sub, call) = waiting_list_call(&rt, w).await;
    rt.cancel(w).await.unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(terminal_count(&frames), 1);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCancelled { .. }
    ));
    assert_eq!(finished(&frames)[0].1, ToolCallState::Cancelled);
    let late = rt
        .approve(
            w,
            call,
            decision(ApprovalDecision::Allow, ApprovalScope::Once),
        )
        .await
        .unwrap_err();
    assert_eq!(late.to_api_error().code, ErrorCode::NotPending);
    assert_eq!(
        rt.worker(w).await.unwrap().summary.status,
        WorkerStatus::Idle
    );
    assert_eq!(mock.requests().len(), 1, "nothing ran after the cancel");
    rt.shutdown().await;
}

/// A call that asks a worker whose provider never answers: a tool that runs
/// for as long as the test wants.
fn hanging_ask(mock: &MockOpenAi) {
    mock.push(Reply::text("").with_tool_calls([(
        "yoi.ask_worker",
        r#"{"worker": "slow", "text": "take your time [[hang]]"}"#,
    )]));
}

#[tokio::test]
async fn a_tool_past_its_time_is_stopped_and_the_model_told() {
    let mock = MockOpenAi::start().await;
    let mut c = config(&mock, &[("yoi.ask_worker", ToolPolicy::Allow)]);
    c.tool_limits.call_timeout = Duration::from_millis(500);
    let rt = start_with(c).await;
    let w = worker(&rt, "asker").await;
    worker(&rt, "slow").await;
    hanging_ask(&mock);
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("ask slow")).await.unwrap();
    let frames = until_terminal(&mut sub).await;
    let ended = finished(&frames);
    assert_eq!(ended[0].1, ToolCallState::Error);
    assert!(ended[0].2.contains("timed out"), "{}", ended[0].2);
    assert!(final_message(&frames).text.contains("timed out"));
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn cancel_while_a_tool_runs_aborts_it_and_ends_the_run_cancelled() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, &[("yoi.ask_worker", ToolPolicy::Allow)])).await;
    let w = worker(&rt, "asker").await;
    let slow = worker(&rt, "slow").await;
    hanging_ask(&mock);
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("ask slow")).await.unwrap();
    until(&mut sub, |k| matches!(k, EventKind::ToolCallStarted { .. })).await;
    // The asked worker is running: the tool is in its call.
    mock.wait_for_open_streams(1).await;
    rt.cancel(w).await.unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(terminal_count(&frames), 1);
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCancelled { .. }
    ));
    assert_eq!(finished(&frames)[0].1, ToolCallState::Cancelled);
    let message = final_message(&frames);
    assert_eq!(message.tool_calls[0].state, ToolCallState::Cancelled);
    // The asked worker shows the question with its sender.
    let asked = rt
        .transcript(slow, TranscriptPage::newest(5))
        .await
        .unwrap();
    let question = asked.messages.first().unwrap();
    assert_eq!(question.sender.as_deref(), Some("asker@backend-internal"));
    rt.shutdown().await;
}

#[tokio::test]
async fn stop_while_waiting_for_approval_ends_the_run_once() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ASK_LIST)).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    until(&mut sub, |k| {
        matches!(k, EventKind::ToolApprovalRequested { .. })
    })
    .await;
    rt.stop_worker(w).await.unwrap();
    let frames = until(&mut sub, |k| matches!(k, EventKind::WorkerStopped)).await;
    assert_eq!(terminal_count(&frames), 1);
    assert_eq!(finished(&frames)[0].1, ToolCallState::Cancelled);
    rt.shutdown().await;
}

#[tokio::test]
async fn more_tool_rounds_than_allowed_fail_the_run_limit_reached() {
    let mock = MockOpenAi::start().await;
    let mut c = config(&mock, ALLOW_LIST);
    c.tool_limits.max_rounds = 3;
    let rt = start_with(c).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(
        w,
        InputRequest::text("[[tool:yoi.list_workers {}]] [[tool_rounds:4]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert_eq!(terminal_count(&frames), 1);
    match &frames.last().unwrap().event.kind {
        EventKind::RunFailed { error, .. } => {
            assert_eq!(error.code, ErrorCode::LimitReached);
            assert!(
                error.message.contains("tools.max_rounds"),
                "{}",
                error.message
            );
        }
        other => panic!("expected run_failed, got {other:?}"),
    }
    assert_eq!(finished(&frames).len(), 3, "three rounds ran");
    assert_eq!(mock.requests().len(), 4);

    // Three rounds within the bound complete.
    rt.input(
        w,
        InputRequest::text("[[tool:yoi.list_workers {}]] [[tool_rounds:3]]"),
    )
    .await
    .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert!(matches!(
        frames.last().unwrap().event.kind,
        EventKind::RunCompleted { .. }
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn sixteen_tool_rounds_run_by_default_and_a_seventeenth_fails_the_run() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, ALLOW_LIST)).await;
    let w = worker(&rt, "asker").await;
    let outcome = rt
        .input_wait(
            w,
            InputRequest::text("[[tool:yoi.list_workers {}]] [[tool_rounds:16]]"),
        )
        .await
        .unwrap();
    assert_eq!(outcome.message.tool_calls.len(), 16);
    assert_eq!(outcome.message.tool_calls[15].round, 16);
    let err = rt
        .input_wait(
            w,
            InputRequest::text("[[tool:yoi.list_workers {}]] [[tool_rounds:17]]"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::LimitReached);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_chain_of_asks_that_would_wait_on_itself_is_refused() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, &[("yoi.ask_worker", ToolPolicy::Allow)])).await;
    let a = worker(&rt, "alpha").await;
    let b = worker(&rt, "beta").await;
    // alpha's turn asks beta; beta's turn asks alpha back; then both answer
    // with what their tools returned (the mock's echo).
    mock.push(Reply::text("").with_tool_calls([(
        "yoi.ask_worker",
        r#"{"worker": "beta", "text": "what does alpha think?"}"#,
    )]));
    mock.push(Reply::text("").with_tool_calls([(
        "yoi.ask_worker",
        r#"{"worker": "alpha", "text": "alpha, what do you think?"}"#,
    )]));
    let outcome = tokio::time::timeout(WAIT, rt.input_wait(a, InputRequest::text("start")))
        .await
        .expect("no deadlock")
        .unwrap();
    assert!(
        outcome.message.text.contains("refused")
            && outcome.message.text.contains(
                "alpha@backend-internal -> beta@backend-internal -> alpha@backend-internal"
            ),
        "{}",
        outcome.message.text
    );
    let beta = rt.transcript(b, TranscriptPage::newest(10)).await.unwrap();
    assert_eq!(
        beta.messages[0].sender.as_deref(),
        Some("alpha@backend-internal")
    );
    assert_eq!(
        beta.messages[1].tool_calls[0].state,
        ToolCallState::Error,
        "beta's ask was refused"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_chain_of_asks_deeper_than_three_is_refused() {
    let mock = MockOpenAi::start().await;
    let rt = start_with(config(&mock, &[("yoi.ask_worker", ToolPolicy::Allow)])).await;
    let names = ["w1", "w2", "w3", "w4", "w5"];
    let mut ids = Vec::new();
    for name in names {
        ids.push(worker(&rt, name).await);
    }
    // w1 asks w2, w2 asks w3, w3 asks w4, w4 would ask w5: four deep.
    for next in &names[1..] {
        mock.push(Reply::text("").with_tool_calls([(
            "yoi.ask_worker",
            format!(r#"{{"worker": "{next}", "text": "pass it on"}}"#),
        )]));
    }
    tokio::time::timeout(WAIT, rt.input_wait(ids[0], InputRequest::text("start")))
        .await
        .expect("no deadlock")
        .unwrap();
    let w4 = rt
        .transcript(ids[3], TranscriptPage::newest(10))
        .await
        .unwrap();
    let call = &w4.messages.last().unwrap().tool_calls[0];
    assert_eq!(call.state, ToolCallState::Error);
    let output = call.output.clone().unwrap_or_default();
    assert!(output.contains("at most 3 deep"), "{output}");
    let w5 = rt
        .transcript(ids[4], TranscriptPage::newest(10))
        .await
        .unwrap();
    assert!(w5.messages.is_empty(), "w5 was never asked");
    // w3's ask of w4 (three deep) ran.
    let w3 = rt
        .transcript(ids[2], TranscriptPage::newest(10))
        .await
        .unwrap();
    assert_eq!(
        w3.messages.last().unwrap().tool_calls[0].state,
        ToolCallState::Ok
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_rule_naming_no_tool_stops_the_runtime_naming_profile_and_rule() {
    let mock = MockOpenAi::start().await;
    let c = config(&mock, &[("yoi.list_worker", ToolPolicy::Allow)]);
    let err = Runtime::start(c, yoi_providers::Providers::shared())
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("companion") && text.contains("yoi.list_worker"),
        "{text}"
    );
    assert!(matches!(err, RuntimeError::InvalidInput(_)));
}

#[tokio::test]
async fn a_worker_scope_decision_is_remembered_across_a_restart() {
    let mock = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!("yoi-tools-{}", WorkerId::new()));
    let mut c = config(&mock, ASK_LIST);
    c.state_dir = Some(dir.clone());
    let rt = start_with(c.clone()).await;
    let w = worker(&rt, "asker").await;
    let (mut sub, call) = waiting_list_call(&rt, w).await;
    rt.approve(
        w,
        call,
        decision(ApprovalDecision::Allow, ApprovalScope::Worker),
    )
    .await
    .unwrap();
    until_terminal(&mut sub).await;
    rt.shutdown().await;

    let rt = start_with(c).await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    let frames = until_terminal(&mut sub).await;
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f.event.kind, EventKind::ToolApprovalRequested { .. })),
        "no question asked again"
    );
    assert_eq!(finished(&frames)[0].1, ToolCallState::Ok);
    // The earlier call is in the restored transcript.
    let page = rt.transcript(w, TranscriptPage::newest(10)).await.unwrap();
    let with_calls = page
        .messages
        .iter()
        .filter(|m| !m.tool_calls.is_empty())
        .count();
    assert_eq!(with_calls, 2);
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_crash_during_a_call_leaves_it_interrupted_and_never_runs_it_again() {
    let mock = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!("yoi-tools-{}", WorkerId::new()));
    let mut c = config(&mock, ASK_LIST);
    c.state_dir = Some(dir.clone());
    let rt = start_with(c.clone()).await;
    let w = worker(&rt, "asker").await;
    let mut sub = rt.subscribe(w, None).await.unwrap();
    rt.input(w, InputRequest::text("[[tool:yoi.list_workers {}]]"))
        .await
        .unwrap();
    until(&mut sub, |k| {
        matches!(k, EventKind::ToolApprovalRequested { .. })
    })
    .await;
    wait_for_saved(&dir, "waiting_approval").await;
    rt.crash().await;

    let rt = start_with(c).await;
    let page = rt.transcript(w, TranscriptPage::newest(10)).await.unwrap();
    let last = page.messages.last().unwrap();
    assert_eq!(last.tool_calls.len(), 1);
    assert_eq!(last.tool_calls[0].state, ToolCallState::Interrupted);
    let detail = rt.worker(w).await.unwrap();
    assert!(detail.pending_approvals.is_empty());
    assert_eq!(
        detail.last_run.unwrap().error.unwrap().code,
        ErrorCode::Internal
    );
    assert_eq!(mock.requests().len(), 1, "nothing ran again by itself");
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until the store's database holds a message whose JSON has `needle`.
async fn wait_for_saved(dir: &std::path::Path, needle: &str) {
    let db = dir.join("yoi.db");
    tokio::time::timeout(WAIT, async {
        loop {
            let found = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM messages WHERE instr(data, ?1) > 0",
                    [needle],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
            if found > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the waiting call is written");
}

#[tokio::test]
async fn a_decision_for_the_worker_that_is_not_stored_is_not_answered_as_done() {
    let mock = MockOpenAi::start().await;
    let dir = std::env::temp_dir().join(format!("yoi-tools-{}", WorkerId::new()));
    let mut c = config(&mock, ASK_LIST);
    c.state_dir = Some(dir.clone());
    let rt = start_with(c).await;
    let w = worker(&rt, "asker").await;
    let (_sub, call) = waiting_list_call(&rt, w).await;
    // Another program holds the database's write lock: nothing can be stored.
    let lock = rusqlite::Connection::open(dir.join("yoi.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = rt
        .approve(
            w,
            call,
            decision(ApprovalDecision::Allow, ApprovalScope::Worker),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_api_error().code, ErrorCode::StoreUnavailable);
    lock.execute_batch("ROLLBACK").unwrap();
    rt.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
