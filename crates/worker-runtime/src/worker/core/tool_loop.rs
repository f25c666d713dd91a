//! The tool loop of a run: a model turn that ends with tool calls starts a
//! round; each call is looked up, checked against the grants, maybe waits
//! for a person, runs with a deadline, and its result is bounded and
//! recorded; when every call of the round has ended, the next model turn
//! starts with the results. The run stays one run (one `run_id`, one
//! terminal event).
//!
//! The steps are functions of the core (this module is the core's child, so
//! the core's state stays in one place); what needs a task (calling a tool,
//! an approval's deadline, the next turn) is handed to the actor as a
//! [`ToolStep`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoi_protocol::{
    ApiError, ApprovalAnswer, ApprovalDecision, ApprovalRequest, ApprovalScope, ErrorCode,
    EventKind, PendingApproval, Role, RunId, Timestamp, ToolCall, ToolCallState, ToolPolicy,
    WorkerId, WorkerStatus,
};

use super::call_text::{
    bound_for_model, check_arguments, client_arguments, history_turns, one_line, state_word,
};
use super::{RunEnd, WorkerCore};
use crate::error::RuntimeError;
use crate::provider::{ChatMessage, ChatRequest, ChatRole, ChatToolCall, ToolSpec};
use crate::tools::{CallContext, FoundTool, ModelNames, ToolFailure, ToolOutput, WorkerTools};

/// Deepest chain of workers asking workers (`yoi.ask_worker`).
pub const MAX_ASK_DEPTH: usize = 3;

/// Who asked for a run when it was not a person.
#[derive(Debug, Clone)]
pub struct AskOrigin {
    /// `display_ref` of the asking worker, shown as the message's sender.
    pub sender: String,
    /// The workers that wait on this run, the first asker first.
    pub chain: Vec<WorkerId>,
}

/// What the actor does for the loop.
pub enum ToolStep {
    /// Call the tool; report [`super::super::actor::WorkerMsg::ToolDone`].
    Call {
        run_id: RunId,
        call_id: String,
        tool: FoundTool,
        arguments: serde_json::Value,
        context: CallContext,
        timeout: Duration,
    },
    /// Deny the call if nobody decided by then.
    ApprovalDeadline {
        run_id: RunId,
        call_id: String,
        after: Duration,
    },
    /// The next model turn.
    NextTurn { run_id: RunId, request: ChatRequest },
}

/// How a call that ran ended.
#[derive(Debug)]
pub enum CallOutcome {
    Done(Result<ToolOutput, ToolFailure>),
    TimedOut(Duration),
}

/// The tools offered to one run: names both ways and each one's policy.
#[derive(Debug, Clone, Default)]
pub struct Offered {
    names: ModelNames,
    policies: HashMap<String, ToolPolicy>,
    specs: Vec<ToolSpec>,
}

impl Offered {
    pub fn new(tools: &WorkerTools) -> Self {
        let granted = tools.granted();
        let names = ModelNames::new(granted.iter().map(|g| g.name.as_str()));
        let specs = granted
            .iter()
            .filter_map(|g| {
                let found = tools.registry.find(&g.name)?;
                Some(ToolSpec {
                    name: names.model(&g.name)?.to_owned(),
                    description: found.def.description,
                    parameters: found.def.input_schema,
                })
            })
            .collect();
        let policies = granted.into_iter().map(|g| (g.name, g.policy)).collect();
        Self {
            names,
            policies,
            specs,
        }
    }
}

/// The tool state of the run in flight.
#[derive(Default)]
pub struct RunTools {
    offered: Arc<Offered>,
    /// Model turns that ended with tool calls so far.
    round: u32,
    /// Every call of the run, in order: what the message shows.
    pub calls: Vec<ToolCall>,
    /// Calls of the turn being streamed.
    streamed: Vec<ChatToolCall>,
    /// The calls of the current round as the model named them.
    round_calls: Vec<ChatToolCall>,
    /// The run's own part of the conversation: assistant turns with calls,
    /// and the results.
    conversation: Vec<ChatMessage>,
    /// The request of the first turn, without this run's part.
    base: Option<ChatRequest>,
    /// What the model gets for each call of the round, by call id.
    results: HashMap<String, String>,
    started: HashMap<String, Instant>,
    /// When each call that waits for a person started to wait.
    asked_at: HashMap<String, Timestamp>,
    tasks: HashMap<String, tokio::task::AbortHandle>,
    pub ask_chain: Vec<WorkerId>,
}

impl RunTools {
    pub fn new(offered: Arc<Offered>, base: ChatRequest, ask_chain: Vec<WorkerId>) -> Self {
        Self {
            offered,
            base: Some(base),
            ask_chain,
            ..Self::default()
        }
    }

    /// A call streamed in the current turn.
    pub fn add_streamed(&mut self, call: ChatToolCall) {
        self.streamed.push(call);
    }

    pub fn has_streamed_calls(&self) -> bool {
        !self.streamed.is_empty()
    }

    fn call_mut(&mut self, call_id: &str) -> Option<&mut ToolCall> {
        self.calls.iter_mut().find(|c| c.call_id == call_id)
    }

    pub fn waiting(&self) -> bool {
        self.calls
            .iter()
            .any(|c| c.state == ToolCallState::WaitingApproval)
    }

    /// Aborts every running call.
    pub fn abort_all(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

impl WorkerCore {
    /// The tool steps the actor has yet to take.
    pub fn take_steps(&mut self) -> Vec<ToolStep> {
        std::mem::take(&mut self.steps)
    }

    /// The request of a run's first turn: the system prompt, the history
    /// (with earlier runs' tool calls and results), the tools offered.
    pub(super) fn first_request(&self) -> (ChatRequest, Arc<Offered>) {
        let offered = Arc::new(Offered::new(&self.tools));
        let mut messages = vec![ChatMessage::new(
            ChatRole::System,
            self.profile.system_prompt.clone(),
        )];
        for m in self.transcript.history() {
            match m.role {
                Role::User => messages.push(ChatMessage::new(ChatRole::User, m.text.clone())),
                Role::Assistant => history_turns(m, &offered.names, &mut messages),
            }
        }
        let request = ChatRequest {
            model: self.profile.model.clone(),
            messages,
            tools: offered.specs.clone(),
        };
        (request, offered)
    }

    /// What this worker's runs may use, started if it starts on demand;
    /// `None` when the first turn need not wait.
    pub fn prepare_tools(&self) -> Option<futures::future::BoxFuture<'static, ()>> {
        self.tools.prepare()
    }

    /// The sources a run waited for are ready (or failed): the first turn's
    /// request is made again with the tools offered now. `None` when the
    /// run ended meanwhile.
    pub fn tools_ready(&mut self, run_id: RunId) -> Option<ChatRequest> {
        let fresh = self
            .active
            .as_ref()
            .is_some_and(|a| a.run_id == run_id && a.tools.round == 0);
        if !fresh {
            return None;
        }
        let (request, offered) = self.first_request();
        let run = self.active.as_mut()?;
        let chain = std::mem::take(&mut run.tools.ask_chain);
        run.tools = RunTools::new(offered, request.clone(), chain);
        Some(request)
    }

    /// The model's turn ended with tool calls: a new round.
    pub(super) fn begin_tool_round(&mut self, run_id: RunId) {
        let Some(run) = self.active.as_mut().filter(|a| a.run_id == run_id) else {
            return;
        };
        let most = self.tools.limits.max_rounds;
        if run.tools.round >= most {
            self.finish(RunEnd::Failed(ApiError::new(
                ErrorCode::LimitReached,
                format!(
                    "the model asked for tools in more than {most} turns of one run (tools.max_rounds); the run was stopped"
                ),
            )));
            return;
        }
        run.tools.round += 1;
        let round = run.tools.round;
        // Ids are ours: unique in the worker's life and safe in a path,
        // whatever the provider sent (some send `call_0` every turn).
        let mut calls = std::mem::take(&mut run.tools.streamed);
        for call in &mut calls {
            call.id = format!("call_{}", yoi_protocol::MessageId::new());
        }
        // The text of this turn stays with its calls; the answer's text is
        // that of the last turn.
        let text_before = std::mem::take(&mut run.text);
        run.tools.conversation.push(ChatMessage {
            role: ChatRole::Assistant,
            content: text_before.clone(),
            tool_calls: calls.clone(),
            tool_call_id: None,
        });
        run.tools.round_calls.clone_from(&calls);
        run.tools.results.clear();
        let offered = run.tools.offered.clone();
        let mut text_before = (!text_before.is_empty()).then_some(text_before);
        let mut to_check = Vec::new();
        for call in &calls {
            let name = offered
                .names
                .contract(&call.name)
                .map_or_else(|| call.name.clone(), str::to_owned);
            run.tools.calls.push(ToolCall {
                call_id: call.id.clone(),
                name: name.clone(),
                arguments: client_arguments(&call.arguments),
                state: ToolCallState::Running,
                round,
                text_before: text_before.take(),
                summary: None,
                output: None,
                duration_ms: None,
            });
            run.tools.started.insert(call.id.clone(), Instant::now());
            to_check.push((call.clone(), name));
        }
        self.show_tool_calls();
        for (call, name) in to_check {
            self.emit(EventKind::ToolCallStarted {
                run_id,
                call_id: call.id.clone(),
                name: name.clone(),
                arguments: client_arguments(&call.arguments),
            });
            self.admit_call(run_id, &call, &name, &offered);
        }
        self.after_call_change(run_id);
    }

    /// Looks up, checks and grants one call: it runs, waits for a person,
    /// or ends now (unknown tool, bad arguments, a remembered denial).
    fn admit_call(&mut self, run_id: RunId, call: &ChatToolCall, name: &str, offered: &Offered) {
        let policy = offered.policies.get(name).copied();
        let found = policy.and_then(|_| self.tools.registry.find(name));
        let (Some(policy), Some(found)) = (policy, found) else {
            let failure = ToolFailure::BadArguments(format!(
                "no tool named `{}` is offered to you; use one of the tools you were given",
                call.name
            ));
            self.end_call(run_id, &call.id, ToolCallState::Error, Err(failure));
            return;
        };
        let arguments = match check_arguments(&call.arguments, &found.def.input_schema) {
            Ok(arguments) => arguments,
            Err(why) => {
                let failure = ToolFailure::BadArguments(why);
                self.end_call(run_id, &call.id, ToolCallState::Error, Err(failure));
                return;
            }
        };
        let decided = match policy {
            ToolPolicy::Allow => Some(ApprovalDecision::Allow),
            ToolPolicy::Deny => Some(ApprovalDecision::Deny),
            ToolPolicy::Ask => self.remembered.get(name).copied(),
        };
        match decided {
            Some(ApprovalDecision::Allow) => self.run_call(run_id, &call.id, found, arguments),
            Some(ApprovalDecision::Deny) => self.end_denied(
                run_id,
                &call.id,
                "the person declined this call earlier for this conversation; do not call it again",
            ),
            None => {
                if let Some(tools) = self.run_tools_mut() {
                    tools.asked_at.insert(call.id.clone(), Timestamp::now());
                    if let Some(c) = tools.call_mut(&call.id) {
                        c.state = ToolCallState::WaitingApproval;
                    }
                }
                self.emit(EventKind::ToolApprovalRequested {
                    run_id,
                    call_id: call.id.clone(),
                    name: name.to_owned(),
                    arguments: client_arguments(&call.arguments),
                });
                self.steps.push(ToolStep::ApprovalDeadline {
                    run_id,
                    call_id: call.id.clone(),
                    after: self.tools.limits.approval_timeout,
                });
            }
        }
    }

    fn run_tools_mut(&mut self) -> Option<&mut RunTools> {
        self.active.as_mut().map(|a| &mut a.tools)
    }

    /// Hands the call to the actor to run.
    fn run_call(
        &mut self,
        run_id: RunId,
        call_id: &str,
        tool: FoundTool,
        arguments: serde_json::Value,
    ) {
        let chain = self
            .active
            .as_ref()
            .map(|a| a.tools.ask_chain.clone())
            .unwrap_or_default();
        if let Some(c) = self.run_tools_mut().and_then(|t| t.call_mut(call_id)) {
            c.state = ToolCallState::Running;
        }
        self.steps.push(ToolStep::Call {
            run_id,
            call_id: call_id.to_owned(),
            arguments,
            context: CallContext {
                runtime_id: self.runtime_id.clone(),
                worker_id: self.worker_id,
                display_ref: self.display_ref(),
                ask_chain: chain,
            },
            timeout: tool
                .source
                .call_timeout()
                .unwrap_or(self.tools.limits.call_timeout),
            tool,
        });
    }

    /// Keeps the task of a running call, so that ending the run aborts it.
    pub fn attach_tool_task(
        &mut self,
        run_id: RunId,
        call_id: &str,
        task: tokio::task::AbortHandle,
    ) {
        match self.active.as_mut().filter(|a| a.run_id == run_id) {
            Some(run) => {
                run.tools.tasks.insert(call_id.to_owned(), task);
            }
            None => task.abort(),
        }
    }

    /// A call's task ended.
    pub fn tool_done(&mut self, run_id: RunId, call_id: &str, outcome: CallOutcome) {
        let running = self
            .active
            .as_mut()
            .filter(|a| a.run_id == run_id)
            .and_then(|a| {
                a.tools.tasks.remove(call_id);
                a.tools.call_mut(call_id)
            })
            .is_some_and(|c| c.state == ToolCallState::Running);
        if !running {
            return;
        }
        let (state, result) = match outcome {
            CallOutcome::Done(Ok(output)) => (ToolCallState::Ok, Ok(output)),
            CallOutcome::Done(Err(failure)) => (ToolCallState::Error, Err(failure)),
            CallOutcome::TimedOut(after) => (
                ToolCallState::Error,
                Err(ToolFailure::Failed(format!(
                    "timed out: the tool gave no result within {} ms, so it was stopped",
                    after.as_millis()
                ))),
            ),
        };
        self.end_call(run_id, call_id, state, result);
        self.after_call_change(run_id);
    }

    /// A person's decision on a waiting call.
    pub fn decide(
        &mut self,
        call_id: &str,
        request: ApprovalRequest,
    ) -> Result<ApprovalAnswer, RuntimeError> {
        let known = self.transcript_knows_call(call_id);
        let Some(run) = self.active.as_mut() else {
            return Err(if known {
                RuntimeError::NotPending(call_id.to_owned())
            } else {
                RuntimeError::UnknownToolCall(call_id.to_owned())
            });
        };
        let run_id = run.run_id;
        let Some(call) = run.tools.call_mut(call_id) else {
            return Err(if known {
                RuntimeError::NotPending(call_id.to_owned())
            } else {
                RuntimeError::UnknownToolCall(call_id.to_owned())
            });
        };
        if call.state != ToolCallState::WaitingApproval {
            return Err(RuntimeError::NotPending(call_id.to_owned()));
        }
        let name = call.name.clone();
        self.emit(EventKind::ToolApprovalDecided {
            run_id,
            call_id: call_id.to_owned(),
            decision: request.decision,
            scope: request.scope,
        });
        if request.scope == ApprovalScope::Worker {
            self.remembered.insert(name.clone(), request.decision);
            self.store
                .put_tool_decision(self.worker_id, name.clone(), request.decision);
        }
        match request.decision {
            ApprovalDecision::Allow => {
                let arguments = self.call_arguments(call_id);
                match (self.tools.registry.find(&name), arguments) {
                    (Some(tool), Some(arguments)) => {
                        self.run_call(run_id, call_id, tool, arguments);
                    }
                    _ => self.end_call(
                        run_id,
                        call_id,
                        ToolCallState::Error,
                        Err(ToolFailure::Unavailable(format!(
                            "`{name}` is no longer available"
                        ))),
                    ),
                }
            }
            ApprovalDecision::Deny => {
                self.end_denied(run_id, call_id, "the person declined this call");
            }
        }
        self.after_call_change(run_id);
        Ok(ApprovalAnswer {
            call_id: call_id.to_owned(),
            decision: request.decision,
            scope: request.scope,
        })
    }

    /// The approval's time ran out: denied, with its own reason.
    pub fn approval_expired(&mut self, run_id: RunId, call_id: &str) {
        let waiting = self
            .active
            .as_mut()
            .filter(|a| a.run_id == run_id)
            .and_then(|a| a.tools.call_mut(call_id))
            .is_some_and(|c| c.state == ToolCallState::WaitingApproval);
        if !waiting {
            return;
        }
        self.emit(EventKind::ToolApprovalDecided {
            run_id,
            call_id: call_id.to_owned(),
            decision: ApprovalDecision::Deny,
            scope: ApprovalScope::Once,
        });
        let secs = self.tools.limits.approval_timeout.as_secs();
        self.end_denied(
            run_id,
            call_id,
            &format!(
                "nobody answered the request to run this call within {secs} s, so it was not run"
            ),
        );
        self.after_call_change(run_id);
    }

    fn transcript_knows_call(&self, call_id: &str) -> bool {
        self.transcript
            .iter()
            .any(|m| m.tool_calls.iter().any(|c| c.call_id == call_id))
    }

    /// The checked arguments of a waiting call (checked again: cheap).
    fn call_arguments(&self, call_id: &str) -> Option<serde_json::Value> {
        let run = self.active.as_ref()?;
        let call = run.tools.round_calls.iter().find(|c| c.id == call_id)?;
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            &call.arguments
        };
        serde_json::from_str(text).ok()
    }

    fn end_denied(&mut self, run_id: RunId, call_id: &str, why: &str) {
        let text = format!("Not run: {why}.");
        self.end_call(
            run_id,
            call_id,
            ToolCallState::Denied,
            Ok(ToolOutput {
                text,
                summary: Some("denied".to_owned()),
            }),
        );
    }

    /// Records how a call ended: its state, what the model gets (bounded),
    /// and `tool_call_finished`.
    fn end_call(
        &mut self,
        run_id: RunId,
        call_id: &str,
        state: ToolCallState,
        result: Result<ToolOutput, ToolFailure>,
    ) {
        let most = self.tools.limits.result_bytes;
        let Some(run) = self.active.as_mut().filter(|a| a.run_id == run_id) else {
            return;
        };
        let (for_model, summary) = match result {
            Ok(output) => {
                let summary = output.summary.unwrap_or_else(|| match state {
                    ToolCallState::Ok => format!("ok, {} bytes", output.text.len()),
                    _ => state_word(state).to_owned(),
                });
                (output.text, summary)
            }
            Err(failure) => {
                let text = format!("Error: {failure}");
                (text.clone(), one_line(&text))
            }
        };
        let for_model = bound_for_model(&for_model, most);
        let duration_ms = run
            .tools
            .started
            .get(call_id)
            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
        let output = yoi_protocol::bound_text(&for_model, yoi_protocol::MAX_TOOL_TEXT_FOR_CLIENTS);
        run.tools.results.insert(call_id.to_owned(), for_model);
        if let Some(call) = run.tools.call_mut(call_id) {
            call.state = state;
            call.summary = Some(summary.clone());
            call.output = Some(output.clone());
            call.duration_ms = duration_ms;
        }
        self.emit(EventKind::ToolCallFinished {
            run_id,
            call_id: call_id.to_owned(),
            ok: state == ToolCallState::Ok,
            summary,
            state,
            output: Some(output),
        });
    }

    /// After a call changed: the message shows it, the status follows what
    /// waits, and a round whose calls all ended starts the next turn.
    fn after_call_change(&mut self, run_id: RunId) {
        self.show_tool_calls();
        let Some(run) = self.active.as_ref().filter(|a| a.run_id == run_id) else {
            return;
        };
        let waiting = run.tools.waiting();
        let round_over = run.tools.round_calls.iter().all(|c| {
            run.tools
                .calls
                .iter()
                .find(|t| t.call_id == c.id)
                .is_none_or(|t| t.state.is_final())
        });
        let want = if waiting {
            WorkerStatus::WaitingApproval
        } else {
            WorkerStatus::Running
        };
        if self.status != want {
            self.set_status(want);
        }
        if round_over {
            self.next_turn(run_id);
        }
    }

    /// The results go to the model in the order of the calls.
    fn next_turn(&mut self, run_id: RunId) {
        let Some(run) = self.active.as_mut().filter(|a| a.run_id == run_id) else {
            return;
        };
        let calls = std::mem::take(&mut run.tools.round_calls);
        for call in &calls {
            let content = run.tools.results.remove(&call.id).unwrap_or_default();
            run.tools
                .conversation
                .push(ChatMessage::tool_result(call.id.clone(), content));
        }
        let Some(mut request) = run.tools.base.clone() else {
            return;
        };
        request
            .messages
            .extend(run.tools.conversation.iter().cloned());
        self.steps.push(ToolStep::NextTurn { run_id, request });
    }

    /// The assistant message in the transcript shows the run's calls as
    /// they stand (it joins the transcript now if no text came yet).
    fn show_tool_calls(&mut self) {
        let Some(run) = self.active.as_mut() else {
            return;
        };
        run.unsaved = true;
        let calls = run.tools.calls.clone();
        if run.assistant_started {
            if let Some(m) = self.transcript.get_mut(run.assistant_id) {
                m.tool_calls = calls;
                m.text.clone_from(&run.text);
            }
        } else {
            run.assistant_started = true;
            let mut message = run.partial_message();
            message.tool_calls = calls;
            self.transcript.push(message);
        }
    }

    /// The run ends while calls wait or run: they end `cancelled` (or as
    /// `state` says), each with its `tool_call_finished`, before the run's
    /// terminal event.
    pub(super) fn end_open_calls(&mut self, run_id: RunId, state: ToolCallState) {
        let Some(run) = self.active.as_mut().filter(|a| a.run_id == run_id) else {
            return;
        };
        run.tools.abort_all();
        let open: Vec<String> = run
            .tools
            .calls
            .iter()
            .filter(|c| !c.state.is_final())
            .map(|c| c.call_id.clone())
            .collect();
        for call_id in open {
            let text = match state {
                ToolCallState::Cancelled => "the run was cancelled before this call ended",
                _ => "the run ended before this call did",
            };
            self.end_call(
                run_id,
                &call_id,
                state,
                Ok(ToolOutput {
                    text: text.to_owned(),
                    summary: Some(state_word(state).to_owned()),
                }),
            );
        }
    }

    /// Calls that wait for a person, for the worker's detail.
    pub(super) fn pending_approvals(&self) -> Vec<PendingApproval> {
        let Some(run) = self.active.as_ref() else {
            return Vec::new();
        };
        run.tools
            .calls
            .iter()
            .filter(|c| c.state == ToolCallState::WaitingApproval)
            .map(|c| PendingApproval {
                run_id: run.run_id,
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                requested_at: run
                    .tools
                    .asked_at
                    .get(&c.call_id)
                    .copied()
                    .unwrap_or_else(Timestamp::now),
            })
            .collect()
    }
}
