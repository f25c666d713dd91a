//! Keep-alive connections that served a request and now sit idle hold a
//! slot of `limits.connections` until the server closes them (issue 21).

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection that asked for `/api/health` (keep-alive) and read the
/// whole answer: idle, and still open.
async fn served_and_idle(s: &Server) -> TcpStream {
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        s.addr
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // The answer is small: read until its JSON body ends.
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("the answer arrives")
            .unwrap();
        assert!(n > 0, "the connection stays open");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    tcp
}

#[tokio::test]
async fn idle_keep_alive_connections_count_against_the_limit_until_closed() {
    let s = Server::start_with(Options {
        limits: ServerLimits {
            max_connections: 3,
            idle_timeout: Duration::from_millis(500),
            ..ServerLimits::default()
        },
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(served_and_idle(&s).await);
    }
    // Every slot is held by an idle keep-alive connection.
    let (status, body) = s
        .send(reqwest::Client::new().get(s.url("/api/health")))
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached", "{body}");
    // The server closes them after the idle timeout; then a slot is free.
    for mut tcp in held {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("the idle connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "closed, not answered");
    }
    let (status, body) = s
        .send(reqwest::Client::new().get(s.url("/api/health")))
        .await;
    assert_eq!(status, 200, "{body}");
}
