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

use yoi_protocol::{ApiError, InFlight, Message, MessageId, MessageState, Role, RunId};

/// Most entries kept. The server's transcript is bounded too; this bounds a
/// console left open on a Worker for days.
pub const MAX_ENTRIES: usize = 2000;

/// One row of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The message id; `None` for an answer still streaming or a tool call.
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
    },
    Tool {
        call_id: String,
        name: String,
        arguments: String,
        /// `(ok, summary)` once the call finished.
        outcome: Option<(bool, String)>,
    },
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
                ..
            } = &mut entry.body
            {
                *text = run.text;
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
                reasoning, error, ..
            } => Some((reasoning.clone(), error.clone())),
            _ => None,
        });
        let mut entry = Entry::from_message(message);
        if let (
            Some((kept_reasoning, kept_error)),
            Body::Assistant {
                reasoning, error, ..
            },
        ) = (kept, &mut entry.body)
        {
            if reasoning.is_empty() {
                *reasoning = kept_reasoning;
            }
            if error.is_none() {
                *error = kept_error;
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

    pub fn tool_started(
        &mut self,
        run_id: RunId,
        call_id: String,
        name: String,
        arguments: String,
    ) {
        self.entries.push(Entry {
            id: None,
            run_id,
            body: Body::Tool {
                call_id,
                name,
                arguments,
                outcome: None,
            },
        });
        self.trim();
    }

    pub fn tool_finished(&mut self, run_id: RunId, call: &str, ok: bool, summary: String) {
        let found = self
            .entries
            .iter_mut()
            .rev()
            .find_map(|e| match &mut e.body {
                Body::Tool {
                    call_id, outcome, ..
                } if e.run_id == run_id && call_id == call => Some(outcome),
                _ => None,
            });
        match found {
            Some(outcome) => *outcome = Some((ok, summary)),
            None => self.entries.push(Entry {
                id: None,
                run_id,
                body: Body::Tool {
                    call_id: call.to_owned(),
                    name: String::new(),
                    arguments: String::new(),
                    outcome: Some((ok, summary)),
                },
            }),
        }
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
        let last = self
            .entries
            .iter()
            .rev()
            .find(|e| !matches!(e.body, Body::Tool { .. }))?;
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
        let body = match m.role {
            Role::User => Body::User { text: m.text },
            Role::Assistant => Body::Assistant {
                text: m.text,
                state: m.state,
                reasoning: m.reasoning.unwrap_or_default(),
                // Only a failed answer says why; any other state has nothing to say.
                error: m.error.filter(|_| m.state == MessageState::Failed),
            },
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
