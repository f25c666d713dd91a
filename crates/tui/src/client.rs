//! The REST side of the backend API, and how its sockets are addressed.
//!
//! Commands (send input, cancel) and look-ups (the Companion, a worker) are
//! plain HTTP requests; observation goes over WebSockets (see [`crate::feed`]).
//! Both carry `Authorization: Bearer <token>` when the console was given a
//! token. Every failure becomes a [`ClientError`]: the contract's typed error
//! when the server answered with its error envelope, or a transport problem
//! when it could not be reached. None of them is fatal to the console.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use yoi_protocol::{
    ApiError, ApprovalAnswer, ApprovalRequest, CancelAccepted, ClientMessageId, CompanionInfo,
    CreateWorker, ErrorEnvelope, InputAccepted, InputRequest, MessageId, OnBusy, RenameWorker,
    RuntimeId, Seq, Transcript, WorkerDetail, WorkerRef, WorkerSummary,
};

use crate::error::TuiError;

/// How long a REST call may take. Input answers at once (202) and the run
/// streams over the socket, so nothing here waits for the model.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request to the backend did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with the contract's error envelope.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: connection refused, reset or timed out.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// A non-2xx answer without the error envelope (a proxy, or not a yoi server).
    #[error("the server answered HTTP {status}")]
    Http { status: u16 },
    /// A 2xx answer (or a socket frame) that does not parse as the contract says.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
}

impl ClientError {
    /// The contract error, when the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the server may have acted on the request although we saw no
    /// answer: then a retry must reuse the same `client_message_id`.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ClientError::Unreachable(_))
    }

    /// Turns a non-2xx answer into the contract's typed error when its body is
    /// the error envelope.
    pub fn from_status_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorEnvelope>(body) {
            Ok(envelope) => ClientError::Api(envelope.error),
            Err(_) => ClientError::Http { status },
        }
    }

    fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_decode() {
            ClientError::Decode(err.to_string())
        } else {
            ClientError::Unreachable(transport_reason(err))
        }
    }

    /// Maps a failed WebSocket handshake or read.
    pub fn from_socket(err: tungstenite::Error) -> Self {
        match err {
            tungstenite::Error::Http(response) => {
                let status = response.status().as_u16();
                let body = response.body().as_deref().unwrap_or_default();
                ClientError::from_status_body(status, body)
            }
            tungstenite::Error::Io(e) => ClientError::Unreachable(e.kind().to_string()),
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                ClientError::Unreachable("connection closed".into())
            }
            tungstenite::Error::Protocol(p) => ClientError::Unreachable(p.to_string()),
            other => ClientError::Unreachable(other.to_string()),
        }
    }
}

/// A short reason, without the URL reqwest puts into its messages.
fn transport_reason(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection refused".into()
    } else {
        err.without_url().to_string()
    }
}

/// A client of one backend: its base URL, its token and a pooled HTTP client.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output.
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ApiClient {
    /// Checks the server URL (http or https, no query) and builds the client.
    pub fn new(server: &str, token: Option<String>) -> Result<Self, TuiError> {
        let base = parse_base_url(server)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| TuiError::HttpClient(e.to_string()))?;
        let token = token.filter(|t| !t.trim().is_empty());
        Ok(Self { http, base, token })
    }

    /// The server URL as the user gave it, normalised.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /api/companion`.
    pub async fn companion(&self) -> Result<CompanionInfo, ClientError> {
        self.get("api/companion").await
    }

    /// `GET /api/runtimes/{runtime_id}/workers/{worker_id}`.
    pub async fn worker(&self, target: &WorkerRef) -> Result<WorkerDetail, ClientError> {
        self.get(&worker_path(target, "")).await
    }

    /// `GET .../transcript?limit=N&before=<message_id>`: the `limit` messages
    /// just older than `before`, oldest first; `truncated` while older ones exist.
    pub async fn transcript_before(
        &self,
        target: &WorkerRef,
        before: MessageId,
        limit: usize,
    ) -> Result<Transcript, ClientError> {
        self.get(&worker_path(
            target,
            &format!("/transcript?limit={limit}&before={before}"),
        ))
        .await
    }

    /// `GET /api/runtimes/{runtime_id}/workers?order=activity&limit=N&after=<id>&q=<text>`:
    /// a page of the runtime's workers in the consoles' order.
    pub async fn worker_page(
        &self,
        runtime_id: &RuntimeId,
        limit: usize,
        after: Option<yoi_protocol::WorkerId>,
        query: Option<&str>,
    ) -> Result<yoi_protocol::WorkerList, ClientError> {
        let mut url = self.url(&format!("api/runtimes/{runtime_id}/workers"))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("order", "activity");
            pairs.append_pair("limit", &limit.to_string());
            if let Some(after) = after {
                pairs.append_pair("after", &after.to_string());
            }
            if let Some(q) = query {
                pairs.append_pair("q", q);
            }
        }
        self.send(self.http.get(url)).await
    }

    /// `GET /api/search?q=`: the best hits for the words of `q`.
    pub async fn search(&self, q: &str) -> Result<yoi_protocol::SearchResults, ClientError> {
        let mut url = self.url("api/search")?;
        url.query_pairs_mut().append_pair("q", q);
        self.send(self.http.get(url)).await
    }

    /// `GET .../transcript?around=<message_id>&limit=N`: the page around one message.
    pub async fn transcript_around(
        &self,
        target: &WorkerRef,
        around: MessageId,
        limit: usize,
    ) -> Result<yoi_protocol::TranscriptWindow, ClientError> {
        self.get(&worker_path(
            target,
            &format!("/transcript?limit={limit}&around={around}"),
        ))
        .await
    }

    /// `POST .../input` with a `client_message_id`, so that a retry after a
    /// lost answer is answered with the first acceptance instead of a second
    /// run. While an answer is in flight the input waits in the worker's
    /// queue (`on_busy: queue`).
    pub async fn send_input(
        &self,
        target: &WorkerRef,
        text: &str,
        client_message_id: Option<ClientMessageId>,
    ) -> Result<InputAccepted, ClientError> {
        let body = InputRequest {
            text: text.to_owned(),
            client_message_id,
            on_busy: Some(OnBusy::Queue),
        };
        self.post(&worker_path(target, "/input"), &body).await
    }

    /// `POST /api/runtimes/{runtime_id}/workers`.
    pub async fn create_worker(
        &self,
        runtime_id: &RuntimeId,
        request: &CreateWorker,
    ) -> Result<WorkerDetail, ClientError> {
        self.post(&format!("api/runtimes/{runtime_id}/workers"), request)
            .await
    }

    /// `PATCH /api/runtimes/{runtime_id}/workers/{worker_id}`.
    pub async fn rename_worker(
        &self,
        target: &WorkerRef,
        display_name: &str,
    ) -> Result<WorkerSummary, ClientError> {
        let body = RenameWorker {
            display_name: display_name.to_owned(),
        };
        let request = self
            .http
            .patch(self.url(&worker_path(target, ""))?)
            .json(&body);
        self.send(request).await
    }

    /// `DELETE /api/runtimes/{runtime_id}/workers/{worker_id}` (204, no body).
    pub async fn stop_worker(&self, target: &WorkerRef) -> Result<(), ClientError> {
        let mut request = self.http.delete(self.url(&worker_path(target, ""))?);
        if let Some(value) = self.bearer()? {
            request = request.header("authorization", value);
        }
        let response = request.send().await.map_err(ClientError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.map_err(ClientError::from_reqwest)?;
        Err(ClientError::from_status_body(status.as_u16(), &body))
    }

    /// `POST .../cancel`.
    pub async fn cancel(&self, target: &WorkerRef) -> Result<CancelAccepted, ClientError> {
        self.post(&worker_path(target, "/cancel"), &serde_json::json!({}))
            .await
    }

    /// `POST .../approvals/{call_id}`: a person's decision on a tool call.
    pub async fn decide(
        &self,
        target: &WorkerRef,
        call_id: &str,
        request: &ApprovalRequest,
    ) -> Result<ApprovalAnswer, ClientError> {
        // Call ids are `call_` and a ULID; anything else would not be a path segment.
        if call_id.is_empty()
            || !call_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ClientError::Decode(
                "a tool call id the server never gives".into(),
            ));
        }
        self.post(
            &worker_path(target, &format!("/approvals/{call_id}")),
            request,
        )
        .await
    }

    /// `DELETE .../queue/{message_id}`: takes a queued input back.
    pub async fn remove_queued(
        &self,
        target: &WorkerRef,
        message_id: MessageId,
    ) -> Result<(), ClientError> {
        let path = worker_path(target, &format!("/queue/{message_id}"));
        let mut request = self.http.delete(self.url(&path)?);
        if let Some(value) = self.bearer()? {
            request = request.header("authorization", value);
        }
        let response = request.send().await.map_err(ClientError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.map_err(ClientError::from_reqwest)?;
        Err(ClientError::from_status_body(status.as_u16(), &body))
    }

    /// The handshake request of a worker's event socket, resuming after `cursor`.
    pub fn worker_events_request(
        &self,
        target: &WorkerRef,
        cursor: Option<Seq>,
    ) -> Result<tungstenite::handshake::client::Request, ClientError> {
        let mut url = self.ws_url(&worker_path(target, "/events"))?;
        if let Some(seq) = cursor {
            url.query_pairs_mut()
                .append_pair("cursor", &seq.0.to_string());
        }
        self.ws_request(url)
    }

    /// The handshake request of the workspace socket (`/api/events`).
    pub fn workspace_events_request(
        &self,
    ) -> Result<tungstenite::handshake::client::Request, ClientError> {
        let url = self.ws_url("api/events")?;
        self.ws_request(url)
    }

    fn ws_request(&self, url: Url) -> Result<tungstenite::handshake::client::Request, ClientError> {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if let Some(value) = self.bearer()? {
            request.headers_mut().insert("authorization", value);
        }
        Ok(request)
    }

    fn ws_url(&self, path: &str) -> Result<Url, ClientError> {
        let mut url = self.url(path)?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| ClientError::Decode(format!("cannot use {scheme} for {path}")))?;
        Ok(url)
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path)
            .map_err(|e| ClientError::Decode(format!("bad path {path}: {e}")))
    }

    fn bearer(&self) -> Result<Option<HeaderValue>, ClientError> {
        match &self.token {
            None => Ok(None),
            Some(token) => HeaderValue::from_str(&format!("Bearer {token}"))
                .map(Some)
                // The message names the problem, never the token.
                .map_err(|_| {
                    ClientError::Decode("YOI_TOKEN holds characters a header cannot carry".into())
                }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let request = self.http.get(self.url(path)?);
        self.send(request).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self.http.post(self.url(path)?).json(body);
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        if let Some(value) = self.bearer()? {
            request = request.header("authorization", value);
        }
        let response = request.send().await.map_err(ClientError::from_reqwest)?;
        let status = response.status();
        let body = response.bytes().await.map_err(ClientError::from_reqwest)?;
        if !status.is_success() {
            return Err(ClientError::from_status_body(status.as_u16(), &body));
        }
        decode_success(status, &body)
    }
}

fn decode_success<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body)
        .map_err(|e| ClientError::Decode(format!("HTTP {}: {e}", status.as_u16())))
}

fn worker_path(target: &WorkerRef, rest: &str) -> String {
    format!(
        "api/runtimes/{}/workers/{}{rest}",
        target.runtime_id, target.worker_id
    )
}

/// Accepts `http://host:port` with or without a path prefix; the prefix is kept
/// (so a backend behind a reverse proxy at `/yoi/` works) and ends in `/` so
/// that `api/...` joins below it.
pub fn parse_base_url(server: &str) -> Result<Url, TuiError> {
    let bad = |reason: &str| TuiError::InvalidServerUrl {
        url: server.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(server.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("a host is required"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment, just the server's address"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::{ErrorCode, RuntimeId, WorkerId};

    fn target() -> WorkerRef {
        WorkerRef {
            runtime_id: RuntimeId::backend_internal(),
            worker_id: WorkerId::new(),
        }
    }

    #[test]
    fn base_urls_are_normalised_and_bad_ones_refused() {
        let url = parse_base_url("http://127.0.0.1:7760").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:7760/");
        let url = parse_base_url("https://example.test/yoi").unwrap();
        assert_eq!(url.as_str(), "https://example.test/yoi/");
        for bad in ["127.0.0.1:7760", "ftp://x", "http://x/?a=1", "not a url"] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn worker_socket_url_is_ws_with_the_cursor_and_the_bearer_token() {
        let client = ApiClient::new("http://127.0.0.1:7760", Some("s3cret".into())).unwrap();
        let t = target();
        let req = client.worker_events_request(&t, Some(Seq(42))).unwrap();
        assert_eq!(
            req.uri().to_string(),
            format!(
                "ws://127.0.0.1:7760/api/runtimes/backend-internal/workers/{}/events?cursor=42",
                t.worker_id
            )
        );
        assert_eq!(req.headers()["authorization"], "Bearer s3cret");

        let first = client.worker_events_request(&t, None).unwrap();
        assert!(first.uri().query().is_none());
    }

    #[test]
    fn https_servers_get_wss_sockets_and_no_token_means_no_header() {
        let client = ApiClient::new("https://example.test/yoi/", None).unwrap();
        let req = client.workspace_events_request().unwrap();
        assert_eq!(req.uri().to_string(), "wss://example.test/yoi/api/events");
        assert!(req.headers().get("authorization").is_none());
    }

    #[test]
    fn error_envelopes_become_typed_errors_and_other_bodies_http_errors() {
        let body = br#"{"error":{"code":"busy","message":"worker companion@backend-internal is already running a turn","retryable":true,"active_run_id":"01JD6Z8Y3M2Q9W7T4R5E6N1XKA"}}"#;
        let err = ClientError::from_status_body(409, body);
        let api = err.api().unwrap();
        assert_eq!(api.code, ErrorCode::Busy);
        assert!(api.active_run_id.is_some());
        assert_eq!(
            ClientError::from_status_body(502, b"<html>bad gateway</html>"),
            ClientError::Http { status: 502 }
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let client = ApiClient::new("http://127.0.0.1:1", Some("s3cret".into())).unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
    }
}
