//! A runtime's own event sockets (`/v1/events`, `/v1/workers/{id}/events`)
//! run the same pumps as the backend's: a Close is answered with a Close, a
//! client message over 64 KiB ends the socket with 1008.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::{SinkExt, StreamExt};
use support::{Served, TOKEN, WAIT};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use worker_runtime::RuntimeApi;
use yoi_protocol::CreateWorker;
use yoi_test_support::MockOpenAi;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(served: &Served, path: &str) -> Socket {
    let mut request = format!("ws://{}{path}", served.addr.unwrap())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // The first frame: a snapshot.
    let first = tokio::time::timeout(WAIT, socket.next()).await.unwrap();
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
    socket
}

/// Reads until the server's Close; its code, or `None` if the connection
/// ended without one.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => return Some(frame.map_or(1005, |f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn a_runtimes_sockets_answer_a_close_and_bound_client_messages() {
    let mock = MockOpenAi::start().await;
    let served = Served::tcp(&mock).await;
    let worker = served
        .runtime
        .create_worker(CreateWorker::default())
        .await
        .unwrap()
        .summary
        .worker_id;
    for path in [
        "/v1/events".to_owned(),
        format!("/v1/workers/{worker}/events"),
    ] {
        let mut socket = connect(&served, &path).await;
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        socket.send(Message::Close(Some(bye))).await.unwrap();
        assert_eq!(close_code(&mut socket).await, Some(1000), "{path}");

        let mut socket = connect(&served, &path).await;
        let big = "a".repeat(64 * 1024 + 1);
        socket.send(Message::Text(big.into())).await.unwrap();
        assert_eq!(close_code(&mut socket).await, Some(1008), "{path}");
    }
    served.stop().await;
}
