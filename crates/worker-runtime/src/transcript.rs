//! The transcript projection: the newest user and assistant messages, the
//! thing UIs render, kept in memory up to a bound. With a durable store the
//! whole history is in the database and this is its cache; older pages come
//! from the store. Partial text of a cancelled or failed run is kept.

use std::collections::VecDeque;

use yoi_protocol::{Message, MessageId, MessageState, RunId};

pub struct Transcript {
    messages: VecDeque<Message>,
    bound: usize,
    /// Whether older messages exist than those held (dropped to keep the
    /// bound, or left in the store).
    older: bool,
    /// Changes with every change to the messages, for snapshot sharing.
    version: u64,
}

impl Transcript {
    pub fn new(bound: usize) -> Self {
        Self {
            messages: VecDeque::new(),
            bound: bound.max(2),
            older: false,
            version: 0,
        }
    }

    /// A number that changes whenever the transcript may have.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn push(&mut self, message: Message) {
        self.version += 1;
        if self.messages.len() == self.bound {
            self.messages.pop_front();
            self.older = true;
        }
        self.messages.push_back(message);
    }

    /// Says that older messages exist than those that will be pushed.
    pub fn set_older(&mut self, older: bool) {
        self.version += 1;
        self.older = older;
    }

    /// The newest message of a run.
    pub fn last_of_run(&self, run_id: RunId) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.run_id == run_id)
    }

    pub fn get_mut(&mut self, id: MessageId) -> Option<&mut Message> {
        self.version += 1;
        // The message being streamed is almost always the last one.
        self.messages.iter_mut().rev().find(|m| m.id == id)
    }

    pub fn all(&self) -> Vec<Message> {
        self.messages.iter().cloned().collect()
    }

    /// The newest `limit` messages and whether older ones exist.
    pub fn tail(&self, limit: usize) -> (Vec<Message>, bool) {
        let skip = self.messages.len().saturating_sub(limit);
        let truncated = skip > 0 || self.older;
        (
            self.messages.iter().skip(skip).cloned().collect(),
            truncated,
        )
    }

    /// Up to `limit` messages before `before` (the newest when `None`) and
    /// whether older ones exist; `None` when the page reaches past what is
    /// held and older messages exist elsewhere.
    pub fn page(&self, limit: usize, before: Option<MessageId>) -> Option<(Vec<Message>, bool)> {
        let end = match before {
            None => self.messages.len(),
            Some(id) => self.messages.iter().position(|m| m.id == id)?,
        };
        let start = end.saturating_sub(limit);
        if start == 0 && end - start < limit && self.older {
            return None;
        }
        let truncated = start > 0 || self.older;
        Some((
            self.messages.range(start..end).cloned().collect(),
            truncated,
        ))
    }

    /// The messages still streaming (at most the one of the run in flight).
    pub fn streaming(&self) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .rev()
            .take(2)
            .filter(|m| m.state == MessageState::Streaming)
    }

    /// History for the next provider request: every message with text or
    /// tool calls, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| {
            (!m.text.is_empty() || !m.tool_calls.is_empty()) && m.state != MessageState::Streaming
        })
    }

    /// Every message held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter()
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
    use yoi_protocol::{Role, Timestamp};

    fn msg(text: &str) -> Message {
        Message {
            sender: None,
            tool_calls: Vec::new(),
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
    fn pages_go_back_from_a_message_and_defer_to_the_store_past_the_cache() {
        let mut t = Transcript::new(10);
        let ms: Vec<Message> = (0..4).map(|i| msg(&i.to_string())).collect();
        for m in &ms {
            t.push(m.clone());
        }
        let (page, older) = t.page(2, Some(ms[3].id)).unwrap();
        assert_eq!(
            page.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert!(older);
        let (page, older) = t.page(5, Some(ms[1].id)).unwrap();
        assert_eq!(page.len(), 1);
        assert!(!older);
        t.set_older(true);
        assert!(
            t.page(5, Some(ms[1].id)).is_none(),
            "the store has the rest"
        );
        assert!(t.page(1, Some(ms[1].id)).is_some());
        assert!(
            t.page(2, Some(MessageId::new())).is_none(),
            "not held: the store knows"
        );
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
