//! How a run ends: its one terminal event, its closed assistant message,
//! `last_run`, usage, and the answer `wait=true` callers get, once the store
//! has the end.

use yoi_protocol::{
    ApiError, ErrorCode, EventKind, LastRun, Message, MessageState, Role, RunId, RunOutcome,
    RunState, RunUsage, Timestamp, Usage, WorkerStatus,
};

use super::{store_unavailable, ActiveRun, RunEnd, WorkerCore};

impl WorkerCore {
    /// Ends the run in flight with its one terminal event and returns to idle.
    pub fn finish(&mut self, end: RunEnd) {
        let Some(run_id) = self.active.as_ref().map(|a| a.run_id) else {
            return;
        };
        let open_state = match end {
            RunEnd::Cancelled => yoi_protocol::ToolCallState::Cancelled,
            _ => yoi_protocol::ToolCallState::Error,
        };
        self.end_open_calls(run_id, open_state);
        let Some(mut run) = self.active.take() else {
            return;
        };
        self.steps.clear();
        self.end_mark = self.store.mark();
        self.staging = true;
        if let Some(task) = run.task.take() {
            task.abort();
        }
        let run_id = run.run_id;
        let message = self.close_assistant_message(&mut run, &end);
        self.emit(EventKind::AssistantMessage {
            run_id,
            message: message.clone(),
        });
        let usage = run.usage.unwrap_or_default();
        // The counts are the provider's: saturate, a panic here would lose the run's end.
        self.usage.runs = self.usage.runs.saturating_add(1);
        self.usage.prompt_tokens = self.usage.prompt_tokens.saturating_add(usage.prompt_tokens);
        self.usage.completion_tokens = self
            .usage
            .completion_tokens
            .saturating_add(usage.completion_tokens);
        let elapsed = run.started.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let tool_calls = u64::try_from(message.tool_calls.len()).unwrap_or(u64::MAX);
        let error = match &end {
            RunEnd::Failed(e) => Some(e.code),
            _ => None,
        };
        self.store.put_message(self.worker_id, message.clone());
        let result = self.record_end(run_id, end, usage, duration_ms, message);
        if let Some(run) = &self.last_run {
            self.store.put_run(self.worker_id, run.clone());
            self.tally(run.state, usage, elapsed, tool_calls, error);
        }
        self.store.put_usage(self.worker_id, self.usage);
        self.set_status(WorkerStatus::Idle);
        // `wait=true` callers hear of the end once it is committed.
        let waiters = self.waiters.remove(&run_id).unwrap_or_default();
        let answer = result.clone();
        self.store
            .after_commit_since(self.end_mark, move |outcome| {
                // Nothing reports a run done that the store did not keep.
                let answer = outcome.map_err(|_| store_unavailable()).and(answer);
                for waiter in waiters {
                    let _ = waiter.send(answer.clone());
                }
            });
        self.remember_outcome(run_id, result);
    }

    /// What the run adds to the usage roll-up (stored with its end) and to
    /// the metrics.
    fn tally(
        &self,
        state: RunState,
        usage: RunUsage,
        elapsed: std::time::Duration,
        tool_calls: u64,
        error: Option<ErrorCode>,
    ) {
        let outcome = match state {
            RunState::Completed => "completed",
            RunState::Cancelled => "cancelled",
            RunState::Failed | RunState::Running => "failed",
        };
        crate::metrics::run_ended(&self.profile.name, outcome, usage, elapsed, error);
        self.store.put_tally(crate::store::usage::Tally {
            worker_id: self.worker_id,
            day: Timestamp::now().0.format("%Y-%m-%d").to_string(),
            profile: self.profile.name.clone(),
            model: self.profile.model.clone(),
            state,
            usage,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            tool_calls,
        });
    }

    /// Every run ends with its assistant message, so that the transcript
    /// shows how each run ended; a broken run keeps the text it streamed.
    fn close_assistant_message(&mut self, run: &mut ActiveRun, end: &RunEnd) -> Message {
        let state = match end {
            RunEnd::Completed => MessageState::Complete,
            RunEnd::Failed(_) => MessageState::Failed,
            RunEnd::Cancelled => MessageState::Cancelled,
        };
        let error = match end {
            RunEnd::Failed(e) => Some(e.clone()),
            _ => None,
        };
        let text = std::mem::take(&mut run.text);
        let reasoning = (!run.reasoning.is_empty()).then(|| std::mem::take(&mut run.reasoning));
        let tool_calls = std::mem::take(&mut run.tools.calls);
        if run.assistant_started {
            if let Some(m) = self.transcript.get_mut(run.assistant_id) {
                m.state = state;
                m.text = text;
                m.reasoning = reasoning;
                m.error = error;
                m.tool_calls = tool_calls;
                return m.clone();
            }
        }
        let message = Message {
            id: run.assistant_id,
            role: Role::Assistant,
            text,
            at: Timestamp::now(),
            run_id: run.run_id,
            state,
            reasoning,
            error,
            tool_calls,
            sender: None,
        };
        self.transcript.push(message.clone());
        message
    }

    /// The run's terminal event and `last_run`; the outcome `wait=true` answers.
    fn record_end(
        &mut self,
        run_id: RunId,
        end: RunEnd,
        usage: RunUsage,
        duration_ms: u64,
        message: Message,
    ) -> Result<RunOutcome, ApiError> {
        let (state, error, result) = match end {
            RunEnd::Completed => {
                self.emit(EventKind::RunCompleted {
                    run_id,
                    usage,
                    duration_ms,
                });
                let outcome = RunOutcome {
                    run_id,
                    message,
                    usage: Usage {
                        runs: 1,
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    },
                };
                (RunState::Completed, None, Ok(outcome))
            }
            RunEnd::Failed(error) => {
                self.emit(EventKind::RunFailed {
                    run_id,
                    error: error.clone(),
                });
                (RunState::Failed, Some(error.clone()), Err(error))
            }
            RunEnd::Cancelled => {
                self.emit(EventKind::RunCancelled { run_id });
                let error =
                    ApiError::new(ErrorCode::NotRunning, format!("run {run_id} was cancelled"));
                (RunState::Cancelled, None, Err(error))
            }
        };
        self.last_run = Some(LastRun {
            run_id,
            state,
            error,
            usage: Some(usage),
            duration_ms: Some(duration_ms),
        });
        result
    }
}
