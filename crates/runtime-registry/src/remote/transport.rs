//! How the registry reaches a runtime process: REST with reqwest and
//! WebSockets with tokio-tungstenite, over TCP (`http://` or `https://`) or a
//! Unix socket, with one code path for both above this module.
//!
//! Every failure is sorted into what the caller needs: the runtime's own
//! answer in the contract's envelope ([`CallError::Api`], carried unchanged),
//! or a reason it could not be reached ([`Unreachable`]), whose text is what
//! the runtime's `diagnostics.last_error` shows. Neither ever holds the URL,
//! the socket path or the token: reqwest's own error texts name the URL, so
//! they are classified, never displayed.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use yoi_protocol::{ApiError, ErrorCode, ErrorEnvelope};

/// Largest REST answer, and largest WebSocket message or frame, the backend
/// reads from a runtime. A faulty runtime (or a tampered link) must not make
/// the backend hold more per call or socket; a bigger answer is taken for a
/// broken runtime.
pub const MAX_RUNTIME_ANSWER: usize = 16 * 1024 * 1024;

/// Why a runtime could not be reached. The text is shown to clients as
/// `diagnostics.last_error`, so it never holds an address or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    #[error("cannot connect")]
    Refused,
    /// The runtime's TLS certificate is not one the backend trusts (signed by
    /// another CA than `ca_file` or the system's roots, for another name,
    /// expired).
    #[error("certificate not trusted")]
    Untrusted,
    #[error("timed out")]
    TimedOut,
    #[error("connection lost")]
    Lost,
    /// The process of a local runtime exited (it is being restarted).
    #[error("the runtime process exited")]
    Exited,
    /// The runtime refused our token.
    #[error("unauthorized")]
    Unauthorized,
    /// Something answered that is not a yoi runtime of this version.
    #[error("not a yoi runtime of this version")]
    Incompatible,
    #[error("unexpected answer (HTTP {0})")]
    Unexpected(u16),
    /// An answer or event frame past [`MAX_RUNTIME_ANSWER`].
    #[error("answer too large")]
    Oversized,
}

/// How a call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The runtime answered with an error of the contract.
    Api(ApiError),
    Unreachable(Unreachable),
}

impl From<Unreachable> for CallError {
    fn from(u: Unreachable) -> Self {
        CallError::Unreachable(u)
    }
}

/// Where a runtime listens.
#[derive(Clone)]
pub enum Endpoint {
    /// `http://host:port[/prefix]` or `https://...`, with the bearer token.
    Tcp {
        url: Url,
        token: Option<String>,
        /// PEM of a private CA the runtime's certificate must chain to (the
        /// system's roots are then not used for it).
        ca: Option<Arc<[u8]>>,
    },
    /// A Unix socket, guarded by its file permissions.
    Unix { path: PathBuf },
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Addresses and tokens stay out of logs and panics.
        match self {
            Endpoint::Tcp { .. } => f.write_str("Endpoint::Tcp(..)"),
            Endpoint::Unix { .. } => f.write_str("Endpoint::Unix(..)"),
        }
    }
}

/// A runtime's event socket, as a stream of messages.
pub type WsStream = Pin<Box<dyn Stream<Item = Result<Message, WsError>> + Send>>;

/// The HTTP and WebSocket clients of one runtime.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    /// The base of every REST URL, without a trailing `/`.
    base: Arc<str>,
    socket: Socket,
    token: Option<Arc<str>>,
    connect_timeout: Duration,
    /// The TLS of WebSockets to a runtime with a private CA.
    tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Clone)]
enum Socket {
    /// The base of every WebSocket URL (`ws://` or `wss://`), without a trailing `/`.
    Tcp(Arc<str>),
    Unix(Arc<std::path::Path>),
}

/// Why a transport could not be built from an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "the runtime URL must start with http:// or https:// and hold no user, query or fragment"
    )]
    BadUrl,
    #[error("the HTTP client could not be built")]
    Client,
    #[error("the CA file holds no usable PEM certificate")]
    BadCa,
}

impl Transport {
    pub fn new(
        endpoint: &Endpoint,
        connect_timeout: Duration,
    ) -> Result<Transport, TransportError> {
        // No redirects: the token goes to the configured runtime and nowhere else.
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true);
        match endpoint {
            Endpoint::Tcp { url, token, ca } => {
                let ws_scheme = match url.scheme() {
                    "http" => "ws",
                    "https" => "wss",
                    _ => return Err(TransportError::BadUrl),
                };
                if !url.username().is_empty()
                    || url.password().is_some()
                    || url.query().is_some()
                    || url.fragment().is_some()
                    || url.host_str().is_none()
                {
                    return Err(TransportError::BadUrl);
                }
                let base = url.as_str().trim_end_matches('/').to_owned();
                let rest = base
                    .split_once("://")
                    .map(|(_, rest)| rest)
                    .ok_or(TransportError::BadUrl)?;
                let tls = ca
                    .as_deref()
                    .map(super::tls::private_ca)
                    .transpose()?
                    .map(Arc::new);
                let builder = match &tls {
                    Some(config) => builder.tls_backend_preconfigured(config.as_ref().clone()),
                    None => builder,
                };
                let http = builder.build().map_err(|_| TransportError::Client)?;
                Ok(Transport {
                    http,
                    socket: Socket::Tcp(format!("{ws_scheme}://{rest}").into()),
                    base: base.into(),
                    token: token.as_deref().map(Arc::from),
                    connect_timeout,
                    tls,
                })
            }
            Endpoint::Unix { path } => {
                let http = builder
                    .unix_socket(path.as_path())
                    .build()
                    .map_err(|_| TransportError::Client)?;
                Ok(Transport {
                    http,
                    base: "http://localhost".into(),
                    socket: Socket::Unix(Arc::from(path.as_path())),
                    token: None,
                    connect_timeout,
                    tls: None,
                })
            }
        }
    }

    /// Sends a request to `path` (which starts with `/v1`) and reads the whole answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, bytes::Bytes), CallError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let bytes = read_capped(response).await?;
        Ok((status, bytes))
    }

    /// A JSON answer of the expected type, or the error the runtime answered.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
        timeout: Option<Duration>,
    ) -> Result<T, CallError> {
        let (status, bytes) = self.send(method, path, body, timeout).await?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|_| Unreachable::Incompatible.into())
        } else {
            Err(error_answer(status.as_u16(), &bytes))
        }
    }

    /// [`Transport::json`] for a call whose `not_found` is the runtime's own
    /// answer (an unknown tool call), not a sign of another program.
    pub async fn json_or_not_found<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
        timeout: Option<Duration>,
    ) -> Result<T, CallError> {
        let (status, bytes) = self.send(method, path, body, timeout).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| Unreachable::Incompatible.into());
        }
        Err(not_found_or_error(status.as_u16(), &bytes))
    }

    /// A call answered with no body (204).
    pub async fn empty(
        &self,
        method: Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> Result<(), CallError> {
        let (status, bytes) = self.send(method, path, None::<&()>, timeout).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(error_answer(status.as_u16(), &bytes))
        }
    }

    /// Like [`Transport::empty`], for a route whose own answer may be
    /// `not_found` (a queued input that is no longer queued): that answer is
    /// the runtime's, not a sign of another program. A runtime too old for
    /// the route answers `not_found` too, and has nothing queued either.
    pub async fn empty_or_not_found(
        &self,
        method: Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> Result<(), CallError> {
        let (status, bytes) = self.send(method, path, None::<&()>, timeout).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(not_found_or_error(status.as_u16(), &bytes))
    }

    /// Opens the WebSocket at `path_and_query` (which starts with `/v1`).
    pub async fn websocket(&self, path_and_query: &str) -> Result<WsStream, CallError> {
        let connect = async {
            match &self.socket {
                Socket::Tcp(base) => {
                    let mut request = format!("{base}{path_and_query}")
                        .into_client_request()
                        .map_err(|_| CallError::from(Unreachable::Refused))?;
                    if let Some(token) = &self.token {
                        let value = HeaderValue::from_str(&format!("Bearer {token}"))
                            .map_err(|_| CallError::from(Unreachable::Unauthorized))?;
                        request.headers_mut().insert(AUTHORIZATION, value);
                    }
                    let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
                    let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
                        request,
                        Some(socket_config()),
                        true,
                        connector,
                    )
                    .await
                    .map_err(classify_ws)?;
                    Ok::<WsStream, CallError>(Box::pin(stream))
                }
                Socket::Unix(path) => {
                    let unix = tokio::net::UnixStream::connect(path.as_ref())
                        .await
                        .map_err(|e| CallError::from(classify_io(&e)))?;
                    let request = format!("ws://localhost{path_and_query}")
                        .into_client_request()
                        .map_err(|_| CallError::from(Unreachable::Refused))?;
                    let (stream, _) = tokio_tungstenite::client_async_with_config(
                        request,
                        unix,
                        Some(socket_config()),
                    )
                    .await
                    .map_err(classify_ws)?;
                    Ok::<WsStream, CallError>(Box::pin(stream))
                }
            }
        };
        // The handshake is bounded too: a host that accepts and never answers
        // must not hold a subscriber forever.
        tokio::time::timeout(self.connect_timeout * 2, connect)
            .await
            .map_err(|_| CallError::from(Unreachable::TimedOut))?
    }
}

/// The body of `response`, or [`Unreachable::Oversized`] as soon as it
/// passes [`MAX_RUNTIME_ANSWER`] (declared or read).
async fn read_capped(mut response: reqwest::Response) -> Result<bytes::Bytes, CallError> {
    let too_large = |n: usize| n > MAX_RUNTIME_ANSWER;
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, too_large))
    {
        return Err(Unreachable::Oversized.into());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if too_large(body.len() + chunk.len()) {
            return Err(Unreachable::Oversized.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What the backend takes on a runtime's event socket.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_RUNTIME_ANSWER))
        .max_frame_size(Some(MAX_RUNTIME_ANSWER))
}

/// A non-2xx answer where the runtime's own `not_found` is an answer, not a
/// sign of another program (a queued input or a tool call it does not know).
fn not_found_or_error(status: u16, body: &[u8]) -> CallError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) if status == 404 && envelope.error.code == ErrorCode::NotFound => {
            CallError::Api(envelope.error)
        }
        _ => error_answer(status, body),
    }
}

/// A non-2xx answer: the runtime's own error, or a sign that we are not
/// talking to a runtime that accepts us.
fn error_answer(status: u16, body: &[u8]) -> CallError {
    if status == 401 {
        return Unreachable::Unauthorized.into();
    }
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) => match envelope.error.code {
            ErrorCode::Unauthorized => Unreachable::Unauthorized.into(),
            // Our own requests are well-formed: a missing route or method
            // means another program or another version of the contract.
            ErrorCode::NotFound | ErrorCode::MethodNotAllowed | ErrorCode::ForbiddenOrigin => {
                Unreachable::Incompatible.into()
            }
            _ => CallError::Api(envelope.error),
        },
        Err(_) => Unreachable::Unexpected(status).into(),
    }
}

fn classify(e: reqwest::Error) -> CallError {
    let reason = if untrusted_certificate(&e) {
        Unreachable::Untrusted
    } else if e.is_timeout() {
        Unreachable::TimedOut
    } else if e.is_connect() {
        Unreachable::Refused
    } else {
        Unreachable::Lost
    };
    tracing::debug!(reason = %reason, "runtime request failed");
    reason.into()
}

/// Whether `e`, or an error that caused it, is a certificate TLS refused.
fn untrusted_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        // An `io::Error`'s `source` skips the error it wraps: look inside.
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if let Some(inner) = wrapped {
            return untrusted_certificate(inner);
        }
        next = e.source();
    }
    false
}

fn classify_io(e: &std::io::Error) -> Unreachable {
    use std::io::ErrorKind;
    if untrusted_certificate(e) {
        return Unreachable::Untrusted;
    }
    match e.kind() {
        ErrorKind::TimedOut => Unreachable::TimedOut,
        ErrorKind::ConnectionRefused
        | ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::AddrNotAvailable => Unreachable::Refused,
        _ => Unreachable::Lost,
    }
}

fn classify_ws(e: WsError) -> CallError {
    match e {
        WsError::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            error_answer(response.status().as_u16(), body)
        }
        WsError::Io(io) => classify_io(&io).into(),
        WsError::Tls(tls) if untrusted_certificate(&tls) => Unreachable::Untrusted.into(),
        WsError::Capacity(_) => Unreachable::Oversized.into(),
        _ => Unreachable::Lost.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_secrets_or_odd_schemes_are_refused() {
        for bad in [
            "ftp://host:1",
            "http://user:pw@host:1",
            "http://host:1/?token=x",
            "http://host:1/#x",
        ] {
            let endpoint = Endpoint::Tcp {
                url: Url::parse(bad).unwrap(),
                token: None,
                ca: None,
            };
            assert!(
                Transport::new(&endpoint, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        let ok = Endpoint::Tcp {
            url: Url::parse("https://gpu.example:7761/yoi/").unwrap(),
            token: Some("t".into()),
            ca: None,
        };
        let t = Transport::new(&ok, Duration::from_secs(1)).unwrap();
        assert_eq!(&*t.base, "https://gpu.example:7761/yoi");
        assert!(matches!(&t.socket, Socket::Tcp(ws) if &**ws == "wss://gpu.example:7761/yoi"));
    }

    #[test]
    fn endpoints_never_print_their_address() {
        let e = Endpoint::Tcp {
            url: Url::parse("http://10.1.2.3:7761").unwrap(),
            token: Some("secret-token".into()),
            ca: None,
        };
        let printed = format!("{e:?}");
        assert!(!printed.contains("10.1.2.3") && !printed.contains("secret"));
    }

    #[test]
    fn answers_are_sorted_into_api_errors_and_unreachable() {
        let busy = br#"{"error":{"code":"busy","message":"m","retryable":true}}"#;
        assert!(matches!(error_answer(409, busy), CallError::Api(e) if e.code == ErrorCode::Busy));
        assert!(matches!(
            error_answer(401, b""),
            CallError::Unreachable(Unreachable::Unauthorized)
        ));
        let missing = br#"{"error":{"code":"not_found","message":"m","retryable":false}}"#;
        assert!(matches!(
            error_answer(404, missing),
            CallError::Unreachable(Unreachable::Incompatible)
        ));
        assert!(matches!(
            error_answer(502, b"<html>bad gateway</html>"),
            CallError::Unreachable(Unreachable::Unexpected(502))
        ));
    }
}
