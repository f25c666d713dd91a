//! Who may talk to the backend, at the edges: malformed and missing `Host`,
//! IPv6 and other ports, `Origin: null`, a wrong token in `?token=`.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a request exactly as written (the HTTP client would fix its Host)
/// and returns the status and the body.
async fn raw(s: &Server, head: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let request = format!("{head}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn health_with_host(s: &Server, host: &str) -> (u16, String) {
    raw(s, &format!("GET /api/health HTTP/1.1\r\nHost: {host}\r\n")).await
}

#[tokio::test]
async fn malformed_and_missing_hosts_are_refused() {
    let s = Server::start().await;
    let (status, body) = raw(&s, "GET /api/health HTTP/1.1\r\n").await;
    assert_eq!(status, 400, "no Host: {body}");
    assert!(body.contains("invalid_input"), "{body}");
    let (status, _) = raw(&s, "GET / HTTP/1.1\r\n").await;
    assert_eq!(status, 400, "the console needs a Host too");
    for bad in [
        "[::1]junk",
        "[::1",
        "localhost:",
        "localhost:99999",
        "127.0.0.1:80:80",
        "user@localhost",
    ] {
        let (status, body) = health_with_host(&s, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("invalid_input"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn loopback_names_on_any_port_are_accepted_others_refused() {
    let s = Server::start().await;
    let port = s.addr.port();
    // Only the name matters: a page elsewhere cannot send a loopback Host.
    for good in [
        "[::1]".to_owned(),
        format!("[::1]:{port}"),
        format!("localhost:{port}"),
        "localhost:1".to_owned(),
        "127.0.0.1:1".to_owned(),
        "app.localhost".to_owned(),
    ] {
        let (status, body) = health_with_host(&s, &good).await;
        assert_eq!(status, 200, "{good}: {body}");
    }
    for foreign in ["evil.example", "[2001:db8::1]:7760", "192.168.1.10:7760"] {
        let (status, body) = health_with_host(&s, foreign).await;
        assert_eq!(status, 403, "{foreign}: {body}");
        assert!(body.contains("forbidden_origin"), "{foreign}: {body}");
    }
}

#[tokio::test]
async fn null_and_other_port_origins_are_refused() {
    let s = Server::start().await;
    let port = s.addr.port();
    let with_origin = |origin: String| {
        let s = &s;
        async move {
            let head = format!(
                "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
            );
            raw(s, &head).await
        }
    };
    for origin in [
        "null".to_owned(),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("http://localhost:{port}"),
        format!("ftp://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/path"),
    ] {
        let (status, body) = with_origin(origin.clone()).await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert!(body.contains("forbidden_origin"), "{origin}: {body}");
    }
    let (status, _) = with_origin(format!("http://127.0.0.1:{port}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_wrong_token_in_the_query_is_refused() {
    let token = "a-long-test-token-123";
    let s = Server::start_with(Options {
        token: Some(token.to_owned()),
        ..Options::default()
    })
    .await;
    let port = s.addr.port();
    for query in [
        "token=a-long-test-token-124",
        "token=a-long-test-token-12",
        "token=a-long-test-token-1234",
        "token=",
        "token",
    ] {
        let (status, body) = raw(
            &s,
            &format!("GET /api/runtimes?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"),
        )
        .await;
        assert_eq!(status, 401, "{query}: {body}");
        assert!(body.contains("unauthorized"), "{query}: {body}");
        assert!(!body.contains(token), "{body}");
    }
    let socket = s
        .ws_with("/api/events?token=a-long-test-token-124", |req| {
            req.headers_mut().remove("authorization");
        })
        .await;
    assert_eq!(socket.err(), Some(401));
    let (status, _) = raw(
        &s,
        &format!("GET /api/runtimes?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"),
    )
    .await;
    assert_eq!(status, 200);
}
