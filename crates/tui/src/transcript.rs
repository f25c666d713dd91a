//! The conversation as the console shows it.
//!
//! Messages are keyed by their id, as the server's transcript is. An answer
//! that is still streaming has no id yet: its deltas are keyed by `run_id`
//! until `assistant_message` delivers the final message with its id and state.
//! Partial answers keep their text when a run is cancelled or fails, marked so.
//! Reasoning and tool calls hang off the run they belong to.
//!
//! The server ends every run with an assistant message, also when no text was
//! streamed (then its text is empty), and a failed one carries its error. So a
//! snapshot's transcript says how each run ended, and the live `run_failed`
//! only repeats an error the answer already has: an answer holds one error.
//!
//! A snapshot carries only the newest messages; older ones are paged in on
//! request (`transcript?before=`) and put in front ([`Transcript::prepend`]).
//! Stored messages never change and their ids are unique, so a page is
//! placed before the oldest message it was asked for, copies are dropped by
//! id, and a later snapshot that still starts inside what is shown keeps the
//! earlier pages.

use yoi_protocol::{
    ApiError, InFlight, Message, MessageId, MessageState, Role, RunId, Timestamp, ToolCallState,
};

use crate::tool_calls::{self, CallLine};

/// Most entries kept. The server's transcript is bounded too; this bounds a
/// console left open on a Worker for days.
pub const MAX_ENTRIES: usize = 2000;

/// One row of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The message id; `None` for an answer still streaming.
    pub id: Option<MessageId>,
    pub run_id: RunId,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    User {
        text: String,
    },
    Assistant {
        text: String,
        state: MessageState,
        /// Reasoning streamed before or beside the answer, when the provider sends it.
        reasoning: String,
        /// Why the run failed: the message's own `error`, or the `run_failed`
        /// one. Put in words for a person when drawn (`notice::describe_api_error`).
        error: Option<ApiError>,
        /// The run's tool calls, each placed in `text` (see [`tool_calls`]).
        calls: Vec<CallLine>,
    },
}

/// How a call ended, as `tool_call_finished` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolEnd {
    pub state: ToolCallState,
    pub summary: String,
    pub output: Option<String>,
}

/// Whether messages older than the first entry exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum History {
    /// A snapshot gave the newest messages; the first page fetched tells.
    #[default]
    Unknown,
    /// The last page said older ones exist.
    More,
    /// The first entry is the conversation's first message.
    Complete,
}

/// The conversation: entries in order of arrival.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    entries: Vec<Entry>,
    history: History,
    /// Entries paged in on request, on top of [`MAX_ENTRIES`]: trimming never
    /// drops what the person just asked to see.
    paged: usize,
    /// A page was put in front since the last switch of worker.
    paged_in: bool,
}

impl Transcript {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.history = History::Unknown;
        self.paged = 0;
        self.paged_in = false;
    }

    pub fn history(&self) -> History {
        self.history
    }

    /// Whether earlier pages were asked for (and so the start is worth marking).
    pub fn paged_in(&self) -> bool {
        self.paged_in
    }

    /// The oldest message shown: what the page of earlier ones is asked before.
    /// `None` when none is shown or the conversation's start is.
    pub fn older_anchor(&self) -> Option<MessageId> {
        if self.history == History::Complete {
            return None;
        }
        self.entries.iter().find_map(|e| e.id)
    }

    /// Puts `page` (the messages just older than `before`) in front. False,
    /// and nothing changes, when `before` is no longer the oldest message
    /// shown (a snapshot replaced the view meanwhile).
    pub fn prepend(&mut self, before: MessageId, page: Vec<Message>, truncated: bool) -> bool {
        if self.entries.iter().find_map(|e| e.id) != Some(before) {
            return false;
        }
        let mut older: Vec<Entry> = Vec::with_capacity(page.len());
        for m in page {
            if self.position_of(m.id).is_none() && !older.iter().any(|e| e.id == Some(m.id)) {
                older.push(Entry::from_message(m));
            }
        }
        self.paged += older.len();
        self.paged_in = true;
        older.append(&mut self.entries);
        self.entries = older;
        self.history = if truncated {
            History::More
        } else {
            History::Complete
        };
        true
    }

    /// Replaces everything with a snapshot's transcript and the run in flight.
    /// The earlier pages shown stay when the snapshot starts inside them.
    pub fn replace(&mut self, messages: Vec<Message>, in_flight: Option<InFlight>) {
        let first = messages.first().map(|m| m.id);
        let at = first.and_then(|id| self.position_of(id));
        let mut entries: Vec<Entry> = match at {
            Some(at) => self.entries[..at]
                .iter()
                .filter(|e| e.id.is_some_and(|id| !messages.iter().any(|m| m.id == id)))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        self.history = match (first, at) {
            // A snapshot holds the newest messages: an empty one is all of them.
            (None, _) => History::Complete,
            (Some(_), Some(_)) => self.history,
            (Some(_), None) => History::Unknown,
        };
        self.paged = entries.len();
        entries.extend(messages.into_iter().map(Entry::from_message));
        self.entries = entries;
        if let Some(run) = in_flight {
            let entry = self.streaming_answer(run.run_id);
            if let Body::Assistant {
                text,
                state,
                reasoning,
                calls,
                ..
            } = &mut entry.body
            {
                // `in_flight` holds the current turn's text; the earlier
                // turns' text stays before it (placed with the message's calls).
                text.truncate(calls.last().map_or(0, |c| c.offset));
                text.push_str(&run.text);
                *state = MessageState::Streaming;
                if let Some(r) = run.reasoning {
                    *reasoning = r;
                }
            }
        }
        self.trim();
    }

    /// Adds a message, or updates the one with the same id.
    pub fn upsert(&mut self, message: Message) {
        match self.position_of(message.id) {
            Some(i) => self.entries[i] = Entry::from_message(message),
            None => {
                self.entries.push(Entry::from_message(message));
                self.trim();
            }
        }
    }

    pub fn append_delta(&mut self, run_id: RunId, delta: &str) {
        if let Body::Assistant { text, .. } = &mut self.streaming_answer(run_id).body {
            text.push_str(delta);
        }
    }

    pub fn append_reasoning(&mut self, run_id: RunId, delta: &str) {
        if let Body::Assistant { reasoning, .. } = &mut self.streaming_answer(run_id).body {
            reasoning.push_str(delta);
        }
    }

    /// The final assistant message of a run: it takes the place of the
    /// streamed text. What the message leaves out (the reasoning streamed
    /// beside it, an error `run_failed` already gave) is kept.
    pub fn finish_answer(&mut self, run_id: RunId, message: Message) {
        let at = self
            .position_of(message.id)
            .or_else(|| self.answer_position(run_id));
        let kept = at.and_then(|i| match &self.entries[i].body {
            Body::Assistant {
                reasoning,
                error,
                calls,
                ..
            } => Some((reasoning.clone(), error.clone(), calls.clone())),
            _ => None,
        });
        let mut entry = Entry::from_message(message);
        if let (
            Some((kept_reasoning, kept_error, kept_calls)),
            Body::Assistant {
                reasoning,
                error,
                calls,
                ..
            },
        ) = (kept, &mut entry.body)
        {
            if reasoning.is_empty() {
                *reasoning = kept_reasoning;
            }
            if error.is_none() {
                *error = kept_error;
            }
            // A message without its calls' record (an older runtime): the
            // calls seen live stay, before its text.
            if calls.is_empty() {
                *calls = kept_calls
                    .into_iter()
                    .map(|c| CallLine { offset: 0, ..c })
                    .collect();
            }
        }
        match at {
            Some(i) => self.entries[i] = entry,
            None => {
                self.entries.push(entry);
                self.trim();
            }
        }
    }

    /// Marks the run's answer as ended: completed, cancelled or failed. A run
    /// cancelled or failed before its first word still gets a (empty) answer
    /// row, so the person sees what happened to their message.
    /// A failed run's error takes the place of the one its answer may already
    /// carry (the same error, from `assistant_message`): it is shown once.
    pub fn end_run(&mut self, run_id: RunId, end: MessageState, error: Option<ApiError>) {
        if end == MessageState::Complete {
            if let Some(i) = self.answer_position(run_id) {
                if let Body::Assistant { state, .. } = &mut self.entries[i].body {
                    if *state == MessageState::Streaming {
                        *state = MessageState::Complete;
                    }
                }
            }
            return;
        }
        let entry = self.streaming_answer(run_id);
        if let Body::Assistant {
            state, error: e, ..
        } = &mut entry.body
        {
            *state = end;
            if error.is_some() {
                *e = error;
            }
        }
    }

    /// The model called a tool: it runs now (or waits, as the next event says).
    pub fn tool_started(
        &mut self,
        run_id: RunId,
        call_id: &str,
        name: &str,
        arguments: &serde_json::Value,
        at: Timestamp,
    ) {
        let call = self.call_mut(run_id, call_id, name, arguments);
        call.started_at.get_or_insert(at);
    }

    /// A call waits for a person (an event, or a snapshot's pending approval).
    pub fn tool_waiting(
        &mut self,
        run_id: RunId,
        call_id: &str,
        name: &str,
        arguments: &serde_json::Value,
    ) {
        self.call_mut(run_id, call_id, name, arguments).state = ToolCallState::WaitingApproval;
    }

    /// A person decided: an allowed call runs from now, a denied one is denied.
    pub fn tool_decided(&mut self, run_id: RunId, call_id: &str, allowed: bool, at: Timestamp) {
        if let Some(call) = self.find_call(run_id, call_id) {
            if call.state == ToolCallState::WaitingApproval {
                if allowed {
                    call.state = ToolCallState::Running;
                    call.started_at = Some(at);
                } else {
                    call.state = ToolCallState::Denied;
                }
            }
        }
    }

    pub fn tool_finished(&mut self, run_id: RunId, call_id: &str, end: ToolEnd, at: Timestamp) {
        let call = self.call_mut(run_id, call_id, "", &serde_json::Value::Null);
        call.state = end.state;
        call.summary = Some(end.summary);
        call.output = end.output;
        if let Some(start) = call.started_at {
            let ms = (at.0 - start.0).num_milliseconds();
            call.duration_ms = u64::try_from(ms).ok();
        }
    }

    fn find_call(&mut self, run_id: RunId, call_id: &str) -> Option<&mut CallLine> {
        let i = self.answer_position(run_id)?;
        match &mut self.entries[i].body {
            Body::Assistant { calls, .. } => calls.iter_mut().find(|c| c.call_id == call_id),
            _ => None,
        }
    }

    /// The call of the run's answer, added after the text so far when new.
    fn call_mut(
        &mut self,
        run_id: RunId,
        call_id: &str,
        name: &str,
        arguments: &serde_json::Value,
    ) -> &mut CallLine {
        let entry = self.streaming_answer(run_id);
        let Body::Assistant { text, calls, .. } = &mut entry.body else {
            unreachable!("streaming_answer returns an answer row")
        };
        let i = match calls.iter().position(|c| c.call_id == call_id) {
            Some(i) => i,
            None => {
                calls.push(CallLine {
                    call_id: call_id.to_owned(),
                    name: name.to_owned(),
                    arguments: tool_calls::arguments_text(arguments),
                    state: ToolCallState::Running,
                    summary: None,
                    output: None,
                    duration_ms: None,
                    started_at: None,
                    offset: text.len(),
                });
                calls.len() - 1
            }
        };
        &mut calls[i]
    }

    /// The run's answer row, created (streaming, empty) if it has none yet.
    fn streaming_answer(&mut self, run_id: RunId) -> &mut Entry {
        let i = match self.answer_position(run_id) {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    id: None,
                    run_id,
                    body: Body::Assistant {
                        text: String::new(),
                        state: MessageState::Streaming,
                        reasoning: String::new(),
                        error: None,
                        calls: Vec::new(),
                    },
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    /// What a retry sends: the question of the last run, when that run failed
    /// or was cancelled.
    pub fn retry_text(&self) -> Option<&str> {
        let last = self.entries.last()?;
        let Body::Assistant { state, .. } = &last.body else {
            return None;
        };
        if !matches!(state, MessageState::Failed | MessageState::Cancelled) {
            return None;
        }
        self.entries.iter().rev().find_map(|e| match &e.body {
            Body::User { text } if e.run_id == last.run_id && !text.trim().is_empty() => {
                Some(text.as_str())
            }
            _ => None,
        })
    }

    /// The text of the run's answer, if it has an answer row.
    pub fn answer_text(&self, run_id: RunId) -> Option<&str> {
        self.answer_position(run_id)
            .and_then(|i| match &self.entries[i].body {
                Body::Assistant { text, .. } => Some(text.as_str()),
                _ => None,
            })
    }

    fn answer_position(&self, run_id: RunId) -> Option<usize> {
        self.entries
            .iter()
            .rposition(|e| e.run_id == run_id && matches!(e.body, Body::Assistant { .. }))
    }

    fn position_of(&self, id: MessageId) -> Option<usize> {
        self.entries.iter().rposition(|e| e.id == Some(id))
    }

    fn trim(&mut self) {
        let bound = MAX_ENTRIES.saturating_add(self.paged);
        if self.entries.len() > bound {
            let excess = self.entries.len() - bound;
            self.entries.drain(..excess);
            self.history = History::More;
        }
    }
}

impl Entry {
    fn from_message(m: Message) -> Entry {
        let placed = tool_calls::from_message(&m);
        let body = match m.role {
            Role::User => Body::User { text: m.text },
            Role::Assistant => {
                let (text, calls) = placed.unwrap_or((m.text, Vec::new()));
                Body::Assistant {
                    text,
                    state: m.state,
                    reasoning: m.reasoning.unwrap_or_default(),
                    // Only a failed answer says why; any other state has nothing to say.
                    error: m.error.filter(|_| m.state == MessageState::Failed),
                    calls,
                }
            }
        };
        Entry {
            id: Some(m.id),
            run_id: m.run_id,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::Timestamp;

    fn msg(role: Role, run_id: RunId, text: &str, state: MessageState) -> Message {
        Message {
            sender: None,
            tool_calls: Vec::new(),
            id: MessageId::new(),
            role,
            text: text.into(),
            at: Timestamp::now(),
            run_id,
            state,
            reasoning: None,
            error: None,
        }
    }

    #[test]
    fn deltas_stream_into_one_answer_that_the_final_message_replaces() {
        let run = RunId::new();
        let mut t = Transcript::default();
        t.append_reasoning(run, "thinking");
        t.append_delta(run, "Hel");
        t.append_delta(run, "lo");
        assert_eq!(t.entries().len(), 1);
        let fin = msg(Role::Assistant, run, "Hello", MessageState::Complete);
        let id = fin.id;
        t.finish_answer(run, fin);
        assert_eq!(t.entries().len(), 1);
        assert_eq!(t.entries()[0].id, Some(id));
        match &t.entries()[0].body {
            Body::Assistant {
                text,
                state,
                reasoning,
                ..
            } => {
                assert_eq!(text, "Hello");
                assert_eq!(*state, MessageState::Complete);
                assert_eq!(reasoning, "thinking");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_run_cancelled_before_any_text_still_shows_a_marked_answer() {
        let run = RunId::new();
        let mut t = Transcript::default();
        t.upsert(msg(Role::User, run, "hi", MessageState::Complete));
        t.end_run(run, MessageState::Cancelled, None);
        assert!(matches!(
            t.entries()[1].body,
            Body::Assistant {
                state: MessageState::Cancelled,
                ..
            }
        ));
    }

    #[test]
    fn entries_are_bounded() {
        let mut t = Transcript::default();
        for i in 0..MAX_ENTRIES + 5 {
            t.upsert(msg(
                Role::User,
                RunId::new(),
                &i.to_string(),
                MessageState::Complete,
            ));
        }
        assert_eq!(t.entries().len(), MAX_ENTRIES);
        assert!(matches!(&t.entries()[0].body, Body::User { text } if text == "5"));
    }
}
