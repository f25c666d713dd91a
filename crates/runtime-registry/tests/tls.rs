//! A runtime served over real TLS (`yoi runtime serve --tls-cert --tls-key`)
//! with a certificate this test makes, reached by a `RemoteRuntime` that
//! trusts only the test's private CA: REST and the event socket both go over
//! TLS; a certificate from another CA is refused.

// Tests and their helpers may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use support::{available, remote_with_ca, runtime_status, Served, TOKEN, WAIT};
use worker_runtime::RuntimeApi;
use yoi_protocol::{CreateWorker, ErrorCode, EventKind, InputRequest, RuntimeStatus};
use yoi_test_support::{MockOpenAi, Reply};

/// A private CA and a server certificate it signed for `localhost` and
/// `127.0.0.1`, all PEM.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

#[tokio::test]
async fn a_runtime_over_tls_is_used_through_its_private_ca() {
    let mock = MockOpenAi::start().await;
    let pki = pki();
    let served = Served::tls(&mock, &pki.cert, &pki.key).await;
    let url = format!("https://localhost:{}", served.addr.unwrap().port());
    let handle = remote_with_ca("gpu", &url, TOKEN, Some(&pki.ca)).await;
    let mut events = handle.workspace_events();
    available(&mut events, "gpu").await;

    let worker = handle
        .create_worker(CreateWorker {
            display_name: Some("helper".into()),
            profile: None,
        })
        .await
        .unwrap()
        .summary
        .worker_id;
    // The event socket is a WebSocket over the same TLS.
    let mut stream = handle.subscribe(worker, None).await.unwrap();
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first.event.kind, EventKind::Snapshot { .. }));
    mock.push(Reply::tokens(["over", " TLS"]));
    handle
        .input(
            worker,
            InputRequest {
                text: "hi".into(),
                client_message_id: None,
                on_busy: None,
            },
        )
        .await
        .unwrap();
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap();
        match &frame.event.kind {
            EventKind::AssistantDelta { text: t, .. } => text.push_str(t),
            EventKind::RunCompleted { .. } => break,
            EventKind::RunFailed { error, .. } => panic!("run failed: {error:?}"),
            _ => {}
        }
    }
    assert_eq!(text, "over TLS");
    served.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let mock = MockOpenAi::start().await;
    let served_pki = pki();
    let other = pki();
    let served = Served::tls(&mock, &served_pki.cert, &served_pki.key).await;
    let url = format!("https://localhost:{}", served.addr.unwrap().port());
    let handle = remote_with_ca("gpu", &url, TOKEN, Some(&other.ca)).await;
    let mut events = handle.workspace_events();
    let down = runtime_status(&mut events, "gpu", |r| {
        r.status == RuntimeStatus::Unavailable
            && r.diagnostics
                .as_ref()
                .is_some_and(|d| d.last_error.is_some())
    })
    .await;
    let error = down
        .diagnostics
        .and_then(|d| d.last_error)
        .unwrap_or_default();
    // Refused for its certificate, not for any other failure to connect.
    assert_eq!(error, "certificate not trusted");
    // The backend does not talk to a runtime it cannot trust.
    let refused = handle
        .list_workers(yoi_protocol::WorkerPage::all())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::RuntimeUnavailable, "{refused}");
    // The same runtime, trusted through its own CA, is reached: only the CA
    // made the difference.
    let trusting = remote_with_ca("gpu-trusting", &url, TOKEN, Some(&served_pki.ca)).await;
    let mut events = trusting.workspace_events();
    available(&mut events, "gpu-trusting").await;
    served.stop().await;
}
