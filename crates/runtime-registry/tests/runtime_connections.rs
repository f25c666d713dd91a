//! `yoi runtime serve` against clients that connect and say nothing: idle
//! connections hold slots of `limits.connections` only until the idle
//! timeout closes them, and the backend's requests are served again then.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_http::limits::ServerLimits;
use yoi_protocol::{RuntimeId, RuntimeKind};
use yoi_runtime_server::ServerOptions;
use yoi_test_support::MockOpenAi;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "runtime-connections-token-0123";

async fn closed_by_server(mut tcp: TcpStream) {
    let mut buf = [0u8; 256];
    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn status(url: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn idle_connections_hold_runtime_slots_until_the_idle_timeout() {
    let mock = MockOpenAi::start().await;
    let mut config = RuntimeConfig::new(RuntimeId::parse("runtime").unwrap(), "runtime");
    config.kind = RuntimeKind::Remote;
    config.provider.base_url = mock.base_url();
    config.provider.api_key = Some("sk-runtime".into());
    let runtime = Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServerOptions {
        token: Some(TOKEN.into()),
        limits: ServerLimits {
            max_connections: 3,
            idle_timeout: Duration::from_millis(400),
            ..ServerLimits::default()
        },
    };
    tokio::spawn(yoi_runtime_server::serve_tcp(
        listener,
        runtime,
        options,
        std::future::pending(),
    ));
    let url = format!("http://{addr}/v1/runtime");
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    assert_eq!(status(&url).await, 429, "idle connections hold every slot");
    tokio::time::timeout(
        WAIT,
        futures::future::join_all(idle.into_iter().map(closed_by_server)),
    )
    .await
    .expect("idle connections are closed after the idle timeout");
    assert_eq!(status(&url).await, 200);
}
