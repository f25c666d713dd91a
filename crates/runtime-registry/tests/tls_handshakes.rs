//! `yoi runtime serve`'s TLS listener against clients that connect and never
//! start their handshake: each is closed after the handshake timeout, and no
//! more than the bound run at a time, so a real client's handshake waits for
//! a slot rather than the silent ones multiplying.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rcgen::{CertificateParams, KeyPair};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yoi_runtime_server::tls::{server_config, Handshakes, TlsListener};

const WAIT: Duration = Duration::from_secs(15);

/// Whether the server has closed `tcp` already (EOF or reset waiting).
fn closed_now(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match tcp.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test]
async fn silent_clients_hold_at_most_the_bound_and_are_closed_after_the_timeout() {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = server_config(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handshakes = Handshakes {
        timeout: Duration::from_millis(400),
        at_once: 2,
    };
    let mut listener = TlsListener::with_handshakes(tcp, config, handshakes).unwrap();
    let addr = listener.local_addr().unwrap();

    // Two clients that connect and say nothing take both handshake slots.
    let mut silent = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    // A real client's handshake waits for a slot.
    let client_config = runtime_registry::remote::tls::private_ca(cert.pem().as_bytes()).unwrap();
    let client = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!("wss://localhost:{}/v1/events", addr.port())
            .into_client_request()
            .unwrap();
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(client_config));
        // No server answers the upgrade: only the TLS handshake matters here.
        let _ =
            tokio_tungstenite::client_async_tls_with_config(request, tcp, None, Some(connector))
                .await;
    });
    tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the real client's handshake finishes");
    // It could only start once the silent ones were closed.
    for tcp in &silent {
        assert!(
            closed_now(tcp),
            "a silent client still held a handshake slot"
        );
    }
    for tcp in &mut silent {
        let mut buf = [0u8; 16];
        assert!(matches!(tcp.read(&mut buf).await, Ok(0) | Err(_)));
    }
    client.abort();
}
