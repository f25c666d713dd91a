//! Event sockets against hostile or broken clients: a Close is answered in
//! every state, messages are bounded, a client that stops reading or
//! answering pings is dropped without holding anything else up.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yoi_test_support::Reply;

const CLOSE_NORMAL: u16 = 1000;
const CLOSE_POLICY: u16 = 1008;

/// Room for the flood's 32 MiB answer.
fn roomy() -> RuntimeLimits {
    RuntimeLimits {
        answer_bytes: 64 * 1024 * 1024,
        ..RuntimeLimits::default()
    }
}

/// A shared machine may stream a flood slowly (minutes on a loaded debug
/// build); the run must still end well, so its timeout is far away.
const FLOOD_RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// A long answer of big tokens: 4000 frames of 8 KiB, far more than the
/// socket buffers between server and client hold.
fn flood() -> Reply {
    flood_of(4000)
}

/// `frames` tokens of 8 KiB each.
fn flood_of(frames: usize) -> Reply {
    let chunk = "z".repeat(8 * 1024);
    Reply::tokens((0..frames).map(move |i| format!("{i}:{chunk}")))
}

#[tokio::test]
async fn a_close_is_answered_while_live() {
    let s = Server::start().await;
    s.mock.push(Reply::hang());
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    assert_eq!(ws.frame().await["type"], "snapshot");
    s.post(&format!("{path}/input"), json!({"text": "wait"}))
        .await;
    ws.until("run_started").await;
    let ending = ws.close_handshake().await;
    assert_eq!(ending.close_code, Some(CLOSE_NORMAL), "{ending:?}");
    s.assert_no_leaks();
}

#[tokio::test]
async fn a_close_is_answered_while_replaying_a_cursor() {
    let s = Server::start_with(Options {
        event_ring: 8192,
        runtime_limits: roomy(),
        run_timeout: FLOOD_RUN_TIMEOUT,
        ..Options::default()
    })
    .await;
    s.mock.push(flood());
    let path = s.companion_path().await;
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "flood"}))
        .await;
    assert_eq!(status, 200);
    // Far behind the live edge: the server has thousands of frames to replay.
    let mut ws = s.ws(&format!("{path}/events?cursor=1")).await;
    for _ in 0..3 {
        assert_ne!(ws.frame().await["type"], "snapshot");
    }
    let ending = ws.close_handshake().await;
    assert_eq!(ending.close_code, Some(CLOSE_NORMAL), "{ending:?}");
    assert!(
        ending.frames_before < 3000,
        "the replay stopped at the close, not at its end: {ending:?}"
    );
}

#[tokio::test]
async fn a_close_is_answered_after_a_lag() {
    // A send deadline longer than the flood: this socket lags, it is not
    // dropped as stalled.
    let s = Server::start_with(Options {
        runtime_limits: roomy(),
        limits: ServerLimits {
            sockets: SocketPolicy {
                send_deadline: Duration::from_secs(600),
                ..SocketPolicy::default()
            },
            ..ServerLimits::default()
        },
        run_timeout: FLOOD_RUN_TIMEOUT,
        ..Options::default()
    })
    .await;
    s.mock.push(flood());
    let path = s.companion_path().await;
    let mut slow = s.ws(&format!("{path}/events")).await;
    slow.frame().await;
    // The worker streams the whole answer while this socket reads nothing,
    // so its subscription lags and starts over from a snapshot.
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "flood"}))
        .await;
    assert_eq!(status, 200);
    slow.frame().await;
    let ending = slow.close_handshake().await;
    assert_eq!(ending.close_code, Some(CLOSE_NORMAL), "{ending:?}");
}

#[tokio::test]
async fn client_messages_over_64_kib_end_the_socket() {
    let s = Server::start().await;
    let path = s.companion_path().await;
    let mut ws = s.ws(&format!("{path}/events")).await;
    ws.frame().await;
    // Up to the limit a message is read (and ignored).
    ws.send_text("a".repeat(60 * 1024)).await;
    let ending = ws.close_handshake().await;
    assert_eq!(ending.close_code, Some(CLOSE_NORMAL), "{ending:?}");

    for path in [format!("{path}/events"), "/api/events".to_owned()] {
        let mut ws = s.ws(&path).await;
        ws.frame().await;
        ws.send_text("a".repeat(64 * 1024 + 1)).await;
        let ending = ws.until_close().await;
        assert_eq!(ending.close_code, Some(CLOSE_POLICY), "{path}: {ending:?}");
    }
    let (status, _) = s.get("/api/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_holds_nothing_up() {
    // The deadline only decides when the stalled socket goes; every frame a
    // reading client gets below is small, so no reader comes near it.
    let s = Server::start_with(Options {
        limits: ServerLimits {
            sockets: SocketPolicy {
                send_deadline: Duration::from_secs(3),
                ..SocketPolicy::default()
            },
            ..ServerLimits::default()
        },
        runtime_limits: roomy(),
        run_timeout: FLOOD_RUN_TIMEOUT,
        ..Options::default()
    })
    .await;
    // About 12 MiB: several times what the socket buffers between server
    // and client take in (Linux lets a send buffer grow to 4 MiB).
    s.mock.push(flood_of(1500));
    let path = s.companion_path().await;
    // This server's own count: no other test's socket moves it.
    let mut drops = s.stalled_drops.watch();
    assert_eq!(*drops.borrow_and_update(), 0);
    let mut stalled = s.ws(&format!("{path}/events")).await;
    assert_eq!(stalled.frame().await["type"], "snapshot");
    // The run streams to its end while this socket reads nothing.
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "flood"}))
        .await;
    assert_eq!(status, 200);
    tokio::time::timeout(WAIT, drops.wait_for(|n| *n >= 1))
        .await
        .expect("the stalled socket is dropped")
        .unwrap();
    assert_eq!(*drops.borrow(), 1, "only the stalled socket was dropped");
    // Nothing else was held up: the server and the flooded worker answer,
    // and another worker streams a run to a new socket. (Not the flooded
    // worker: its history is now too big a request for the mock provider,
    // and a new socket of its own would read a snapshot of the flood.)
    let (status, _) = s.get("/api/health").await;
    assert_eq!(status, 200);
    let (status, flooded) = s.get(&path).await;
    assert_eq!(status, 200, "{flooded}");
    assert_eq!(flooded["status"], "idle");
    let (status, other) = s
        .post("/api/runtimes/backend-internal/workers", json!({}))
        .await;
    assert_eq!(status, 201, "{other}");
    let other = format!(
        "/api/runtimes/backend-internal/workers/{}",
        other["worker_id"].as_str().unwrap()
    );
    let mut fresh = s.ws(&format!("{other}/events")).await;
    assert_eq!(fresh.frame().await["type"], "snapshot");
    s.mock.push(Reply::text("after the drop"));
    let (status, accepted) = s
        .post(&format!("{other}/input"), json!({"text": "again"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let frames = fresh.until("run_completed").await;
    assert_eq!(text_of(&frames), "after the drop");
    // What it had buffered, then the end: no Close could be sent.
    let ending = stalled.until_close().await;
    assert_eq!(ending.close_code, None, "{ending:?}");
}

/// Reads raw frames, never answering a ping, until the server hangs up.
/// Returns how many pings came.
async fn read_without_answering(stream: &mut tokio::net::TcpStream) -> usize {
    let mut buf = Vec::new();
    let mut pings = 0;
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("the server hangs up in time")
            .unwrap_or(0);
        if n == 0 {
            return pings;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some((opcode, len)) = frame_at(&buf) {
            if opcode == 0x9 {
                pings += 1;
            }
            buf.drain(..len);
        }
    }
}

/// The opcode and total length of the server frame at the start of `buf`.
fn frame_at(buf: &[u8]) -> Option<(u8, usize)> {
    let (head, len) = match *buf.get(1)? & 0x7f {
        126 => (4, u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    (buf.len() >= head + len).then(|| (buf[0] & 0x0f, head + len))
}

#[tokio::test]
async fn server_pings_drop_a_client_that_never_answers() {
    let s = Server::start_with(Options {
        limits: ServerLimits {
            sockets: SocketPolicy {
                ping_every: Duration::from_millis(50),
                ..SocketPolicy::default()
            },
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    let path = s.companion_path().await;
    for path in [format!("{path}/events"), "/api/events".to_owned()] {
        let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            s.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let pings = read_without_answering(&mut stream).await;
        assert_eq!(
            pings, 2,
            "{path}: two pings unanswered, then the server hangs up"
        );
    }
}
