//! The benchmark's own client: REST with reqwest, worker events over a
//! WebSocket, every timing taken around one request.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::BenchError;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    pub fn new(base: String, token: Option<String>) -> Client {
        Client {
            base,
            http: reqwest::Client::new(),
            token,
        }
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, BenchError> {
        let resp = self
            .auth(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await?;
        Self::json(resp).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, BenchError> {
        let resp = self
            .auth(self.http.post(format!("{}{path}", self.base)).json(&body))
            .send()
            .await?;
        Self::json(resp).await
    }

    async fn json(resp: reqwest::Response) -> Result<Value, BenchError> {
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(BenchError::Answer(status.as_u16(), body.to_string()))
        }
    }

    /// The time one GET takes.
    pub async fn time_get(&self, path: &str) -> Result<Duration, BenchError> {
        let start = Instant::now();
        self.get(path).await?;
        Ok(start.elapsed())
    }

    /// Creates a worker; returns the path of its routes.
    pub async fn create_worker(&self, runtimes: &str) -> Result<String, BenchError> {
        let w = self.post(&format!("{runtimes}/workers"), json!({})).await?;
        let id = w["worker_id"]
            .as_str()
            .ok_or(BenchError::Shape("worker_id"))?;
        Ok(format!("{runtimes}/workers/{id}"))
    }

    /// Opens the event socket of the worker at `path`.
    pub async fn events(&self, path: &str) -> Result<Socket, BenchError> {
        let url = format!("{}{path}/events", self.base.replacen("http", "ws", 1));
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)?;
        if let Some(t) = &self.token {
            let value = format!("Bearer {t}")
                .parse()
                .map_err(|_| BenchError::Shape("token"))?;
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }
}

/// Reads frames until the run ends; returns how many `assistant_delta` came.
pub async fn until_run_end(socket: &mut Socket) -> Result<usize, BenchError> {
    let mut deltas = 0;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .map_err(|_| BenchError::Shape("a run that never ended"))?;
        let Some(Ok(Message::Text(text))) = frame else {
            match frame {
                Some(Ok(_)) => continue,
                _ => return Err(BenchError::Shape("the socket closed")),
            }
        };
        // Cheap checks on the text: parsing every frame would measure us.
        if text.contains("\"type\":\"assistant_delta\"") {
            deltas += 1;
        } else if text.contains("\"type\":\"run_completed\"")
            || text.contains("\"type\":\"run_failed\"")
            || text.contains("\"type\":\"run_cancelled\"")
        {
            return Ok(deltas);
        }
    }
}

/// The `q`-quantile of `samples` in milliseconds (`q` in 0..=1).
pub fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let last = samples.len() - 1;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((last as f64) * q).round() as usize;
    samples[i.min(last)].as_secs_f64() * 1000.0
}
