//! A runtime served in-process by worker-runtime's own server (over TCP or a
//! Unix socket), a TCP proxy that can cut or refuse connections, and helpers
//! to wait on events with timeouts that only fail the test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runtime_registry::{Endpoint, RemoteConfig, RemoteRuntime, Timing};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use worker_runtime::{Runtime, RuntimeConfig};
use yoi_protocol::{RuntimeId, RuntimeKind, RuntimeStatus, RuntimeSummary, WorkspaceEvent};
use yoi_runtime_server::ServerOptions;
use yoi_test_support::MockOpenAi;

pub const WAIT: Duration = Duration::from_secs(20);
pub const TOKEN: &str = "runtime-token-never-leak-77";

/// Timing short enough for tests, long enough for a loaded CI machine.
pub fn quick() -> Timing {
    Timing {
        health_every: Duration::from_millis(300),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(300),
        resume_within: Duration::from_secs(3),
        ..Timing::default()
    }
}

/// A runtime process, in-process: worker-runtime's server over a runtime
/// that calls itself `runtime` (the registry re-labels it).
pub struct Served {
    pub runtime: Runtime,
    pub addr: Option<SocketAddr>,
    pub socket: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

fn runtime_config(mock: &MockOpenAi, kind: RuntimeKind) -> RuntimeConfig {
    let mut c = RuntimeConfig::new(RuntimeId::parse("runtime").unwrap(), "runtime");
    c.kind = kind;
    c.provider.base_url = mock.base_url();
    c.provider.api_key = Some("sk-remote-provider-key".into());
    c.provider.model = "mock-model".into();
    c
}

async fn start(config: RuntimeConfig) -> Runtime {
    Runtime::start(config, yoi_providers::Providers::shared())
        .await
        .unwrap()
}

impl Served {
    pub async fn tcp(mock: &MockOpenAi) -> Served {
        Self::tcp_with(mock, |_| {}).await
    }

    /// On TCP, with its configuration changed by `tweak`.
    pub async fn tcp_with(mock: &MockOpenAi, tweak: impl FnOnce(&mut RuntimeConfig)) -> Served {
        let mut config = runtime_config(mock, RuntimeKind::Remote);
        tweak(&mut config);
        let runtime = start(config).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let options = ServerOptions {
            token: Some(TOKEN.into()),
            ..ServerOptions::default()
        };
        let task = tokio::spawn(yoi_runtime_server::serve(
            listener,
            runtime.clone(),
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Served {
            runtime,
            addr: Some(addr),
            socket: None,
            stop: Some(stop),
            task,
        }
    }

    /// On TCP with TLS, with `cert_pem` and `key_pem`.
    pub async fn tls(mock: &MockOpenAi, cert_pem: &str, key_pem: &str) -> Served {
        let runtime = start(runtime_config(mock, RuntimeKind::Remote)).await;
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let config =
            yoi_runtime_server::tls::server_config(cert_pem.as_bytes(), key_pem.as_bytes())
                .unwrap();
        let listener = yoi_runtime_server::tls::TlsListener::new(tcp, config).unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let options = ServerOptions {
            token: Some(TOKEN.into()),
            ..ServerOptions::default()
        };
        let task = tokio::spawn(yoi_runtime_server::serve(
            listener,
            runtime.clone(),
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Served {
            runtime,
            addr: Some(addr),
            socket: None,
            stop: Some(stop),
            task,
        }
    }

    pub async fn unix(mock: &MockOpenAi, path: PathBuf) -> Served {
        let runtime = start(runtime_config(mock, RuntimeKind::Local)).await;
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let options = ServerOptions {
            token: None,
            ..ServerOptions::default()
        };
        let task = tokio::spawn(yoi_runtime_server::serve(
            listener,
            runtime.clone(),
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Served {
            runtime,
            addr: None,
            socket: Some(path),
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.unwrap())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(WAIT, &mut self.task).await;
    }
}

pub async fn remote(id: &str, url: &str, token: &str) -> RemoteRuntime {
    remote_with_ca(id, url, token, None).await
}

/// A remote runtime that trusts only the CA of `ca_pem` (when given).
pub async fn remote_with_ca(
    id: &str,
    url: &str,
    token: &str,
    ca_pem: Option<&str>,
) -> RemoteRuntime {
    RemoteRuntime::start(RemoteConfig {
        runtime_id: RuntimeId::parse(id).unwrap(),
        display_name: format!("{id} box"),
        kind: RuntimeKind::Remote,
        endpoint: Endpoint::Tcp {
            url: url.parse().unwrap(),
            token: Some(token.into()),
            ca: ca_pem.map(|pem| Arc::from(pem.as_bytes())),
        },
        timing: quick(),
    })
    .await
    .unwrap()
}

/// Waits for a `runtime_status` of `id` that satisfies `pred`.
pub async fn runtime_status(
    events: &mut broadcast::Receiver<WorkspaceEvent>,
    id: &str,
    pred: impl Fn(&RuntimeSummary) -> bool,
) -> RuntimeSummary {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(WorkspaceEvent::RuntimeStatus { runtime })
                    if runtime.runtime_id.as_str() == id && pred(&runtime) =>
                {
                    return runtime
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("workspace events ended: {e}"),
            }
        }
    })
    .await
    .expect("the runtime status arrives in time")
}

pub async fn available(events: &mut broadcast::Receiver<WorkspaceEvent>, id: &str) {
    runtime_status(events, id, |r| r.status == RuntimeStatus::Available).await;
}

/// The next workspace event that satisfies `pred`.
pub async fn workspace_event(
    events: &mut broadcast::Receiver<WorkspaceEvent>,
    pred: impl Fn(&WorkspaceEvent) -> bool,
) -> WorkspaceEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("workspace events ended: {e}"),
            }
        }
    })
    .await
    .expect("the workspace event arrives in time")
}

/// A TCP proxy in front of a runtime: it can cut every open connection, and
/// refuse new ones while it is down.
pub struct Proxy {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = {
            let conns = conns.clone();
            let down = down.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if down.load(std::sync::atomic::Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let conn = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    conns.lock().unwrap().push(conn);
                }
            })
        };
        Proxy {
            addr,
            conns,
            down,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection at once, as a network failure would.
    pub fn cut(&self) {
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    /// While down, new connections are closed as soon as they are accepted.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.cut();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
