//! The inputs waiting for the answer in flight (`on_busy: queue`), as the
//! worker's events and snapshots tell them: the next first. The console
//! shows them dimmed under the transcript, and Ctrl-X takes back the last.

use yoi_protocol::{MessageId, QueuedInput, Timestamp};

/// The worker's queue as this console knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    items: Vec<QueuedInput>,
}

impl Queue {
    /// What a snapshot says is queued.
    pub fn replace(&mut self, items: Vec<QueuedInput>) {
        self.items = items;
    }

    /// `input_queued`: it joins at the end (once, should a frame repeat).
    pub fn push(&mut self, message_id: MessageId, text: String, at: Timestamp) {
        self.remove(message_id);
        self.items.push(QueuedInput {
            message_id,
            text,
            at,
        });
    }

    /// `input_dequeued`, or its `input_accepted`: it left the queue.
    pub fn remove(&mut self, message_id: MessageId) {
        self.items.retain(|q| q.message_id != message_id);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The one queued last: what Ctrl-X takes back.
    pub fn last(&self) -> Option<&QueuedInput> {
        self.items.last()
    }

    pub fn items(&self) -> &[QueuedInput] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
