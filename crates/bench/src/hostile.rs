//! Hostile clients: what they can make a real `yoi serve` hold. Today one
//! figure: 100 event sockets each declare a 16 MiB frame and send the first
//! 4 MiB of it. A server that buffered declared frames until the message
//! limit applied would hold all of it (about 400 MiB); yoi refuses such a
//! frame from its header (Close 1008 or 1009), so its memory stays flat.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use yoi_test_support::MockOpenAi;

use crate::{BenchError, Figure, Size};

const SOCKETS: usize = 100;
/// What each socket sends of its declared frame.
const SENT: usize = 4 * 1024 * 1024;
const DECLARED: u64 = 16 * 1024 * 1024;

/// Opens `/api/events` by hand, so that raw frames can be written.
async fn raw_socket(port: u16) -> Result<TcpStream, BenchError> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte).await? == 0 {
            return Err(BenchError::Shape("the upgrade was not answered"));
        }
        answer.push(byte[0]);
    }
    if !answer.starts_with(b"HTTP/1.1 101") {
        return Err(BenchError::Shape("the upgrade was refused"));
    }
    Ok(tcp)
}

/// Declares a frame of `DECLARED` bytes and sends `SENT` of it; a write the
/// server refuses (it closed the socket) ends the sending.
async fn declare_and_send(tcp: &mut TcpStream) {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&DECLARED.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    if tcp.write_all(&header).await.is_err() {
        return;
    }
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..SENT / chunk.len() {
        if tcp.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

/// The code of the server's Close, if one comes.
async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    loop {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(tcp.read_u16().await.ok()?),
            127 => tcp.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?];
        tcp.read_exact(&mut payload).await.ok()?;
        if head[0] & 0x0f == 0x8 {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
    }
}

/// Every figure of the hostile clients.
pub async fn run(_size: Size) -> Result<Vec<Figure>, BenchError> {
    let mock = MockOpenAi::start().await;
    let (yoi, _client, _dir) = crate::relay::start(&mock).await?;
    let before = yoi.rss_kib();
    let mut tasks = Vec::new();
    for _ in 0..SOCKETS {
        let mut tcp = raw_socket(yoi.port).await?;
        tasks.push(tokio::spawn(async move {
            declare_and_send(&mut tcp).await;
            tcp
        }));
    }
    let mut sockets = Vec::new();
    for task in tasks {
        if let Ok(tcp) = task.await {
            sockets.push(tcp);
        }
    }
    // Measured while every socket is still open.
    let grown_mib = (yoi.rss_kib() - before).max(0.0) / 1024.0;
    let mut refused = 0;
    for tcp in &mut sockets {
        let code = tokio::time::timeout(Duration::from_secs(5), close_code(tcp))
            .await
            .ok()
            .flatten();
        if matches!(code, Some(1008 | 1009)) {
            refused += 1;
        }
    }
    drop(sockets);
    yoi.stop().await;
    Ok(vec![
        Figure::new(
            "hostile: RSS growth, 100 sockets declaring 16 MiB frames",
            grown_mib,
            "MiB",
        )
        .at_most(64.0),
        Figure::new(
            "hostile: those sockets closed from the frame header",
            f64::from(refused),
            "",
        )
        .at_least(SOCKETS as f64),
    ])
}
