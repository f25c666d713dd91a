//! The transcript projection: a bounded list of user and assistant messages,
//! the thing UIs render. Partial text of a cancelled or failed run is kept.

use std::collections::VecDeque;

use yoi_protocol::{Message, MessageId, MessageState};

pub struct Transcript {
    messages: VecDeque<Message>,
    bound: usize,
    /// Whether older messages were dropped to keep the bound.
    dropped: bool,
}

impl Transcript {
    pub fn new(bound: usize) -> Self {
        Self {
            messages: VecDeque::new(),
            bound: bound.max(2),
            dropped: false,
        }
    }

    pub fn push(&mut self, message: Message) {
        if self.messages.len() == self.bound {
            self.messages.pop_front();
            self.dropped = true;
        }
        self.messages.push_back(message);
    }

    pub fn get_mut(&mut self, id: MessageId) -> Option<&mut Message> {
        // The message being streamed is almost always the last one.
        self.messages.iter_mut().rev().find(|m| m.id == id)
    }

    pub fn all(&self) -> Vec<Message> {
        self.messages.iter().cloned().collect()
    }

    /// The newest `limit` messages and whether older ones exist.
    pub fn tail(&self, limit: usize) -> (Vec<Message>, bool) {
        let skip = self.messages.len().saturating_sub(limit);
        let truncated = skip > 0 || self.dropped;
        (
            self.messages.iter().skip(skip).cloned().collect(),
            truncated,
        )
    }

    /// History for the next provider request: every message with text, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .filter(|m| !m.text.is_empty() && m.state != MessageState::Streaming)
    }

    /// The newest message with text, for a worker list's preview.
    pub fn last_with_text(&self) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|m| !m.text.trim().is_empty())
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::{Role, RunId, Timestamp};

    fn msg(text: &str) -> Message {
        Message {
            id: MessageId::new(),
            role: Role::User,
            text: text.into(),
            at: Timestamp::now(),
            run_id: RunId::new(),
            state: MessageState::Complete,
            reasoning: None,
            error: None,
        }
    }

    #[test]
    fn bound_drops_the_oldest_and_marks_truncation() {
        let mut t = Transcript::new(3);
        for i in 0..5 {
            t.push(msg(&i.to_string()));
        }
        let (tail, truncated) = t.tail(100);
        assert_eq!(
            tail.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["2", "3", "4"]
        );
        assert!(truncated);
    }

    #[test]
    fn tail_limits_and_reports_truncation() {
        let mut t = Transcript::new(10);
        for i in 0..4 {
            t.push(msg(&i.to_string()));
        }
        let (tail, truncated) = t.tail(2);
        assert_eq!(tail.len(), 2);
        assert!(truncated);
        let (all, truncated) = t.tail(4);
        assert_eq!(all.len(), 4);
        assert!(!truncated);
    }
}
