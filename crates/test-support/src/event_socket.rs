//! A WebSocket client for tests of yoi's event sockets: it reads JSON frames
//! with a timeout that only fails the test, records every frame's text (so a
//! test can check that nothing leaked), and reads up to the end of a run.

// A test client: its `expect`s are the assertions of the tests that use it.
#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame before it fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(30);

/// Every text a test saw, shared between its HTTP answers and its sockets.
pub type Seen = Arc<Mutex<Vec<String>>>;

pub struct EventSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    seen: Seen,
}

impl EventSocket {
    /// Connects; `Err(status)` when the server refuses the upgrade (its body
    /// is recorded too).
    pub async fn connect(request: Request, seen: Seen) -> Result<EventSocket, u16> {
        // Snapshots of long transcripts are large; browsers take them whole.
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        match tokio::time::timeout(FRAME_WAIT, connect)
            .await
            .expect("the upgrade is answered in time")
        {
            Ok((stream, _)) => Ok(EventSocket { stream, seen }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                if let Some(body) = resp.body() {
                    record(&seen, &String::from_utf8_lossy(body));
                }
                Err(resp.status().as_u16())
            }
            Err(e) => panic!("websocket failed: {e}"),
        }
    }

    /// The next text frame as JSON; `None` once the server closed the socket.
    pub async fn next(&mut self) -> Option<Value> {
        // One deadline for the frame: pings in between do not extend it.
        let deadline = tokio::time::Instant::now() + FRAME_WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame (or the close) arrives in time: never silence");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    record(&self.seen, &t);
                    return Some(serde_json::from_str(&t).expect("frames are JSON"));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame of a socket that must still be open.
    pub async fn frame(&mut self) -> Value {
        self.next().await.expect("the socket is open")
    }

    /// Frames up to and including the `status` that follows a terminal event.
    pub async fn until_idle(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut ended = false;
        loop {
            let f = self.frame().await;
            let t = f["type"].as_str().unwrap_or("").to_owned();
            let done = ended && t == "status";
            ended |= matches!(t.as_str(), "run_completed" | "run_failed" | "run_cancelled");
            out.push(f);
            if done {
                return out;
            }
        }
    }

    /// Frames until one of this type (included).
    pub async fn until(&mut self, ty: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let f = self.frame().await;
            let hit = f["type"] == ty;
            out.push(f);
            if hit {
                return out;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.send(Message::Close(None)).await;
    }

    /// Sends a text message (clients send nothing that matters; the server
    /// must still bound and survive it).
    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("the message is sent");
    }

    /// Sends a Close (code 1000) and reads until the server's answer.
    pub async fn close_handshake(mut self) -> Ending {
        self.stream
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            })))
            .await
            .expect("the close is sent");
        self.until_close().await
    }

    /// The next frame, read at `pace` (a client slower than the stream).
    pub async fn frame_paced(&mut self, pace: &mut Pace) -> Value {
        let frame = self.frame().await;
        pace.parsed(frame.to_string().len()).await;
        frame
    }

    /// Closes the way Python's `websocket-client` does (`WebSocket.close()`):
    /// sends a Close (1000), then reads and discards frames at `pace` until
    /// the server's Close arrives. The caller bounds how long it waits (that
    /// client gives up after 3 s). Returns the ending and the bytes of the
    /// frames discarded first.
    pub async fn close_paced(mut self, mut pace: Pace) -> (Ending, usize) {
        self.stream
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await
            .expect("the close is sent");
        let mut frames_before = 0;
        let mut bytes = 0;
        let close_code = loop {
            let msg = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("a frame, the close or the end arrives in time");
            match msg {
                Some(Ok(Message::Close(frame))) => {
                    break Some(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    frames_before += 1;
                    bytes += message.len();
                    pace.parsed(message.len()).await;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            }
        };
        let ending = Ending {
            close_code,
            frames_before,
        };
        (ending, bytes)
    }

    /// Reads (and counts) frames until the server closes or drops the socket.
    pub async fn until_close(&mut self) -> Ending {
        let mut frames_before = 0;
        // Each data frame shows progress; pings alone do not.
        let mut deadline = tokio::time::Instant::now() + FRAME_WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame, the close or the end arrives in time");
            match msg {
                Some(Ok(Message::Close(frame))) => {
                    return Ending {
                        close_code: Some(frame.map_or(1005, |f| u16::from(f.code))),
                        frames_before,
                    }
                }
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    frames_before += 1;
                    deadline = tokio::time::Instant::now() + FRAME_WAIT;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    return Ending {
                        close_code: None,
                        frames_before,
                    }
                }
            }
        }
    }
}

/// How a socket ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The code of the server's Close frame (1005 for one without a code);
    /// `None` when the connection ended without one.
    pub close_code: Option<u16>,
    /// Data frames read before the end.
    pub frames_before: usize,
}

/// How fast a client takes frames in: each frame costs `per_frame` plus
/// `per_kib` for each KiB of it. The time owed is slept off a millisecond at
/// a time (finer sleeps are not kept). Python's `websocket-client` 1.9 on
/// the machine issue 21 was checked on took 30 µs (idle) to 120 µs (busy) a
/// small frame.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub per_frame: Duration,
    pub per_kib: Duration,
    owed: Duration,
}

impl Pace {
    pub fn new(per_frame: Duration, per_kib: Duration) -> Self {
        Self {
            per_frame,
            per_kib,
            owed: Duration::ZERO,
        }
    }

    /// Counts a frame of `bytes` taken in; sleeps off what is owed.
    async fn parsed(&mut self, bytes: usize) {
        let kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX);
        self.owed += self.per_frame + self.per_kib.saturating_mul(kib);
        if self.owed >= Duration::from_millis(1) {
            tokio::time::sleep(self.owed).await;
            self.owed = Duration::ZERO;
        }
    }
}

fn record(seen: &Seen, text: &str) {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(text.to_owned());
}

/// The `type` of each frame.
pub fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The `seq` of each frame but snapshots.
pub fn seqs(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| f["type"] != "snapshot")
        .filter_map(|f| f["seq"].as_u64())
        .collect()
}

/// The text of the `assistant_delta` frames, joined.
pub fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "assistant_delta")
        .filter_map(|f| f["text"].as_str())
        .collect()
}
