//! A Worker's event log: gapless `seq` from 1, a bounded ring of recent events,
//! and a broadcast channel for live subscribers.
//!
//! Each event is serialised once, when it is appended; every subscriber and
//! every socket shares that one JSON text through an `Arc`. A delta, the
//! event of every token, is written by hand from parts the log keeps ready
//! (the ids, the time of the current millisecond): the same text serde
//! writes (a test holds them equal), at a fraction of the cost.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;
use yoi_protocol::{EventKind, RuntimeId, Seq, Timestamp, WorkerEvent, WorkerId};

/// Events a live subscriber may fall behind the live channel; past it, it
/// catches up from the ring (and is reset with `lagged` only past the ring).
pub const LIVE_BUFFER: usize = 256;

/// An event and its JSON text, made once.
#[derive(Debug)]
pub struct EventFrame {
    pub event: WorkerEvent,
    pub json: Arc<str>,
}

impl EventFrame {
    fn with_json(event: WorkerEvent, json: String) -> Arc<Self> {
        Arc::new(Self {
            event,
            json: json.into(),
        })
    }

    pub fn new(event: WorkerEvent) -> Arc<Self> {
        let json: Arc<str> = match serde_json::to_string(&event) {
            Ok(s) => s.into(),
            // Our own types always serialise; keep the log gapless regardless.
            Err(e) => {
                tracing::error!(error = %e, "event did not serialise");
                format!(r#"{{"seq":{},"type":"status","status":"idle"}}"#, event.seq).into()
            }
        };
        Arc::new(Self { event, json })
    }

    pub fn seq(&self) -> Seq {
        self.event.seq
    }
}

/// Where a cursor falls relative to the ring.
#[derive(Debug, PartialEq, Eq)]
pub enum CursorFit {
    /// Every event after the cursor is held: replay them.
    Held,
    /// Events after the cursor were dropped from the ring.
    Expired,
    /// The cursor is beyond the last event.
    Ahead,
}

/// The parts of a delta's text that change seldom.
struct DeltaParts {
    /// `"runtime_id":…,"worker_id":…` as every frame of the log has them.
    ids: String,
    /// The second the last delta was stamped in, and its text up to the
    /// milliseconds (`2026-12-03T16:08:43.`).
    second: i64,
    prefix: String,
}

impl DeltaParts {
    fn new(runtime_id: &RuntimeId, worker_id: WorkerId) -> Self {
        Self {
            ids: format!(
                r#""runtime_id":{},"worker_id":"{worker_id}""#,
                serde_json::Value::from(runtime_id.as_str())
            ),
            second: i64::MIN,
            prefix: String::new(),
        }
    }

    /// `at` as the wire writes it (RFC 3339, milliseconds, `Z`), its date
    /// and time of day made once a second.
    fn write_stamp(&mut self, out: &mut Vec<u8>, at: &Timestamp) -> Option<()> {
        use std::io::Write as _;
        let second = at.0.timestamp();
        if second != self.second || self.prefix.is_empty() {
            let mut whole = at.to_string();
            // `.mmmZ` goes; the date, the time and the dot stay.
            whole.truncate(whole.len().saturating_sub(4));
            self.prefix = whole;
            self.second = second;
        }
        out.extend_from_slice(self.prefix.as_bytes());
        write!(out, "{:03}Z", at.0.timestamp_subsec_millis()).ok()
    }
}

pub struct EventLog {
    runtime_id: RuntimeId,
    worker_id: WorkerId,
    /// What every delta's text is written from; made at the first delta
    /// (an idle Worker holds one pointer).
    parts: Option<Box<DeltaParts>>,
    last: Seq,
    ring: VecDeque<Arc<EventFrame>>,
    capacity: usize,
    /// Made when the first subscriber comes and dropped when the last one
    /// left: an idle Worker holds no channel.
    live: Option<broadcast::Sender<Arc<EventFrame>>>,
}

impl EventLog {
    pub fn new(runtime_id: RuntimeId, worker_id: WorkerId, capacity: usize) -> Self {
        Self {
            runtime_id,
            worker_id,
            parts: None,
            last: Seq::ZERO,
            ring: VecDeque::new(),
            capacity: capacity.max(1),
            live: None,
        }
    }

    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// Continues numbering after `last` (a Worker restored from saved state).
    pub fn resume_after(&mut self, last: Seq) {
        self.last = last;
        self.ring.clear();
    }

    /// Numbers the event, keeps it, and sends it to live subscribers.
    pub fn append(&mut self, kind: EventKind) -> Arc<EventFrame> {
        self.last = self.last.next();
        let event = WorkerEvent {
            seq: self.last,
            at: Timestamp::now(),
            runtime_id: self.runtime_id.clone(),
            worker_id: self.worker_id,
            kind,
        };
        let frame = match self.delta_json(&event) {
            Some(json) => EventFrame::with_json(event, json),
            None => EventFrame::new(event),
        };
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(frame.clone());
        if let Some(live) = &self.live {
            if live.send(frame.clone()).is_err() {
                // Nobody is watching any more.
                self.live = None;
            }
        }
        frame
    }

    /// The JSON text of a delta, written from the parts the log keeps;
    /// `None` for every other kind.
    fn delta_json(&mut self, event: &WorkerEvent) -> Option<String> {
        use std::io::Write as _;
        let (tag, run_id, text) = match &event.kind {
            EventKind::AssistantDelta { run_id, text } => ("assistant_delta", run_id, text),
            EventKind::ReasoningDelta { run_id, text } => ("reasoning_delta", run_id, text),
            _ => return None,
        };
        let parts = self
            .parts
            .get_or_insert_with(|| Box::new(DeltaParts::new(&self.runtime_id, self.worker_id)));
        let mut out = Vec::with_capacity(192 + text.len());
        write!(out, r#"{{"seq":{},"at":""#, event.seq.0).ok()?;
        parts.write_stamp(&mut out, &event.at)?;
        write!(
            out,
            r#"",{},"type":"{tag}","run_id":"{run_id}","text":"#,
            parts.ids
        )
        .ok()?;
        serde_json::to_writer(&mut out, text).ok()?;
        out.push(b'}');
        String::from_utf8(out).ok()
    }

    /// A snapshot frame at the current `seq` (consumes no `seq`).
    pub fn snapshot_frame(&self, kind: EventKind) -> Arc<EventFrame> {
        EventFrame::new(WorkerEvent {
            seq: self.last,
            at: Timestamp::now(),
            runtime_id: self.runtime_id.clone(),
            worker_id: self.worker_id,
            kind,
        })
    }

    pub fn fit(&self, cursor: Seq) -> CursorFit {
        if cursor > self.last {
            return CursorFit::Ahead;
        }
        let oldest = self.ring.front().map_or(self.last.next(), |f| f.seq());
        if cursor.0 + 1 < oldest.0 {
            CursorFit::Expired
        } else {
            CursorFit::Held
        }
    }

    /// Every held event with `seq > cursor`, in order.
    pub fn after(&self, cursor: Seq) -> Vec<Arc<EventFrame>> {
        self.ring
            .iter()
            .filter(|f| f.seq() > cursor)
            .cloned()
            .collect()
    }

    /// How many receivers of live events exist (one per subscriber).
    pub fn subscribers(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// A receiver of every event appended from now on.
    pub fn live(&mut self) -> broadcast::Receiver<Arc<EventFrame>> {
        self.live
            .get_or_insert_with(|| broadcast::channel(LIVE_BUFFER).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::WorkerStatus;

    fn log(cap: usize) -> EventLog {
        EventLog::new(RuntimeId::backend_internal(), WorkerId::new(), cap)
    }

    fn status() -> EventKind {
        EventKind::Status {
            status: WorkerStatus::Idle,
        }
    }

    #[test]
    fn seq_is_gapless_and_the_ring_is_bounded() {
        let mut l = log(3);
        for _ in 0..5 {
            l.append(status());
        }
        assert_eq!(l.last_seq(), Seq(5));
        let held: Vec<u64> = l.after(Seq::ZERO).iter().map(|f| f.seq().0).collect();
        assert_eq!(held, vec![3, 4, 5]);
    }

    #[test]
    fn cursor_fit_follows_the_contract() {
        let mut l = log(3);
        assert_eq!(l.fit(Seq(0)), CursorFit::Held);
        assert_eq!(l.fit(Seq(1)), CursorFit::Ahead);
        for _ in 0..5 {
            l.append(status());
        }
        assert_eq!(l.fit(Seq(1)), CursorFit::Expired);
        assert_eq!(l.fit(Seq(2)), CursorFit::Held);
        assert_eq!(l.fit(Seq(5)), CursorFit::Held);
        assert_eq!(l.fit(Seq(6)), CursorFit::Ahead);
    }

    #[test]
    fn a_delta_written_by_hand_is_what_serde_writes() {
        let run_id = yoi_protocol::RunId::new();
        for runtime in [
            RuntimeId::backend_internal(),
            RuntimeId::parse("r-2").unwrap(),
        ] {
            let mut l = EventLog::new(runtime, WorkerId::new(), 8);
            for text in [
                "",
                " t1",
                "quote \" and \\ slash",
                "ctl \u{1}\n\t",
                "日本語 🎉",
                "</script>",
            ] {
                for kind in [
                    EventKind::AssistantDelta {
                        run_id,
                        text: text.into(),
                    },
                    EventKind::ReasoningDelta {
                        run_id,
                        text: text.into(),
                    },
                ] {
                    let frame = l.append(kind);
                    assert_eq!(*frame.json, serde_json::to_string(&frame.event).unwrap());
                }
            }
        }
    }

    #[test]
    fn a_stamp_made_from_its_second_is_the_wire_text() {
        let mut parts = DeltaParts::new(&RuntimeId::backend_internal(), WorkerId::new());
        for text in [
            "2026-12-31T23:59:58.000Z",
            "2026-12-31T23:59:58.001Z",
            "2026-12-31T23:59:58.999Z",
            "2026-12-31T23:59:59.000Z",
            "2026-12-31T23:59:59.010Z",
            "2027-01-01T00:00:00.007Z",
            "2027-01-01T00:00:00.123Z",
            "2027-01-02T00:00:00.123Z",
        ] {
            let at: Timestamp = serde_json::from_value(serde_json::json!(text)).unwrap();
            let mut out = Vec::new();
            parts.write_stamp(&mut out, &at).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text);
            assert_eq!(at.to_string(), text);
        }
    }

    #[test]
    fn frames_are_serialised_once_with_the_contract_shape() {
        let mut l = log(3);
        let f = l.append(status());
        let v: serde_json::Value = serde_json::from_str(&f.json).unwrap();
        assert_eq!(v["seq"], 1);
        assert_eq!(v["type"], "status");
        assert_eq!(v["status"], "idle");
        assert_eq!(v["runtime_id"], "backend-internal");
    }
}
