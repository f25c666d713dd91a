//! What a client may hold of the server by connecting and saying little or
//! nothing: a frame declared past the message cap closes its socket at once,
//! idle and slow-header connections are closed after their timeouts and
//! count against `limits.connections` meanwhile, and requests with a token
//! are served all along.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "connections-test-token-0123456789";

/// Opens a WebSocket by hand, so that the test can write raw frames.
async fn raw_socket(s: &Server, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {TOKEN}\r\n\r\n",
        s.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "the server hung up");
        answer.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    tcp
}

/// Reads the server's frames until its Close; its code.
async fn close_code(tcp: &mut TcpStream) -> u16 {
    loop {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.unwrap();
        let len = match head[1] & 0x7f {
            126 => u64::from(tcp.read_u16().await.unwrap()),
            127 => tcp.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        tcp.read_exact(&mut payload).await.unwrap();
        if head[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn a_frame_declared_past_the_message_cap_closes_the_socket() {
    let s = Server::start_with(Options {
        token: Some(TOKEN.into()),
        ..Options::default()
    })
    .await;
    let path = s.companion_path().await;
    for route in ["/api/events".to_owned(), format!("{path}/events")] {
        let mut tcp = raw_socket(&s, &route).await;
        // A masked text frame that declares 16 MiB, then its first bytes:
        // the server must refuse it from its header, not buffer it.
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&(16u64 << 20).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend_from_slice(&[b'x'; 1024]);
        tcp.write_all(&frame).await.unwrap();
        let code = tokio::time::timeout(WAIT, close_code(&mut tcp))
            .await
            .expect("the socket is closed without the rest of the frame");
        assert!(code == 1009 || code == 1008, "{route}: closed with {code}");
    }
}

/// Reads until the server closes the connection (EOF or reset).
async fn closed_by_server(mut tcp: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn get_with_token(s: &Server, path: &str) -> (u16, Value) {
    // A connection of its own: the idle ones must not be what serves it.
    let response = reqwest::Client::new()
        .get(s.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed_and_token_requests_served() {
    let s = Server::start_with(Options {
        token: Some(TOKEN.into()),
        limits: ServerLimits {
            max_connections: 2_000,
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..1_000 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    for _ in 0..100 {
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        // A request head begun and never finished.
        tcp.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        held.push(tcp);
    }
    let (status, body) = get_with_token(&s, "/api/health").await;
    assert_eq!(status, 200, "{body}");
    // Every one of them is closed by the server, none by the test.
    tokio::time::timeout(
        WAIT,
        futures::future::join_all(held.into_iter().map(closed_by_server)),
    )
    .await
    .expect("idle and slow-header connections are closed after their timeouts");
    let (status, body) = get_with_token(&s, "/api/health").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn idle_connections_count_against_the_limit_until_closed() {
    let s = Server::start_with(Options {
        token: Some(TOKEN.into()),
        limits: ServerLimits {
            max_connections: 4,
            idle_timeout: Duration::from_millis(500),
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let (status, body) = get_with_token(&s, "/api/health").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.connections"),
        "{body}"
    );
    tokio::time::timeout(
        WAIT,
        futures::future::join_all(held.into_iter().map(closed_by_server)),
    )
    .await
    .expect("idle connections are closed after the idle timeout");
    let (status, body) = get_with_token(&s, "/api/health").await;
    assert_eq!(status, 200, "{body}");
}
