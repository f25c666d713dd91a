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

/// A long answer of big tokens: 4000 frames of 8 KiB, far more than the
/// socket buffers between server and client hold.
fn flood() -> Reply {
    let chunk = "z".repeat(8 * 1024);
    Reply::tokens((0..4000).map(move |i| format!("{i}:{chunk}")))
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
    let s = Server::start_with(Options {
        limits: ServerLimits {
            sockets: SocketPolicy {
                send_deadline: Duration::from_millis(500),
                ..SocketPolicy::default()
            },
            ..ServerLimits::default()
        },
        runtime_limits: roomy(),
        ..Options::default()
    })
    .await;
    s.mock.push(flood());
    let path = s.companion_path().await;
    let mut drops = yoi_http::socket::stalled_drops();
    let before = *drops.borrow_and_update();
    let mut stalled = s.ws(&format!("{path}/events")).await;
    stalled.frame().await;
    // The run streams to its end while this socket reads nothing.
    let (status, _) = s
        .post(&format!("{path}/input?wait=true"), json!({"text": "flood"}))
        .await;
    assert_eq!(status, 200);
    tokio::time::timeout(WAIT, drops.wait_for(|n| *n > before))
        .await
        .expect("the stalled socket is dropped")
        .unwrap();
    // Nothing else was held up: the server answers, a new socket gets its
    // snapshot.
    let (status, _) = s.get("/api/health").await;
    assert_eq!(status, 200);
    let mut fresh = s.ws(&format!("{path}/events")).await;
    assert_eq!(fresh.frame().await["type"], "snapshot");
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
