//! The run task: opens the provider stream, enforces the first-token and
//! whole-run timeouts, and reports every item to its Worker by message, so
//! that the Worker's mailbox stays free while an answer streams. Aborting the
//! task drops the HTTP request.

use std::sync::Arc;

use futures::StreamExt;
use yoi_protocol::{ApiError, ErrorCode};

use crate::config::ProviderConfig;
use crate::provider::{ChatRequest, Provider, ProviderEvent};

/// An item from the run task to its Worker.
#[derive(Debug)]
pub enum RunItem {
    Event(ProviderEvent),
    /// The model finished and the stream ended.
    End,
    Failed(ApiError),
}

/// The run task: opens the provider stream, enforces both timeouts, and
/// reports every item to the Worker. Aborting it drops the HTTP request.
pub(super) async fn drive_run(
    provider: Arc<dyn Provider>,
    config: Arc<ProviderConfig>,
    request: ChatRequest,
    send: impl Fn(RunItem) + Send + 'static,
) {
    let start = tokio::time::Instant::now();
    let run_deadline = start + config.run_timeout;
    let first_deadline = (start + config.first_token_timeout).min(run_deadline);
    let timeout_error = |first: bool| {
        let message = if first && config.first_token_timeout <= config.run_timeout {
            format!(
                "the provider sent no answer within {} ms",
                config.first_token_timeout.as_millis()
            )
        } else {
            format!(
                "the answer took longer than {} ms",
                config.run_timeout.as_millis()
            )
        };
        ApiError::new(ErrorCode::Timeout, message)
    };

    let mut stream = match tokio::time::timeout_at(first_deadline, provider.stream(request)).await {
        Err(_) => return send(RunItem::Failed(timeout_error(true))),
        Ok(Err(e)) => {
            return send(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                e.to_string(),
            )))
        }
        Ok(Ok(stream)) => stream,
    };
    let mut got_first = false;
    let mut finished = false;
    loop {
        let deadline = if got_first {
            run_deadline
        } else {
            first_deadline
        };
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return send(RunItem::Failed(timeout_error(!got_first))),
            Ok(None) if finished => return send(RunItem::End),
            Ok(None) => {
                return send(RunItem::Failed(ApiError::new(
                    ErrorCode::ProviderError,
                    "the provider's stream ended before the model finished its answer",
                )))
            }
            // A connection cut after the model finished loses only the usage.
            Ok(Some(Err(_))) if finished => return send(RunItem::End),
            Ok(Some(Err(e))) => {
                return send(RunItem::Failed(ApiError::new(
                    ErrorCode::ProviderError,
                    e.to_string(),
                )))
            }
            Ok(Some(Ok(event))) => {
                match &event {
                    ProviderEvent::Text(_) | ProviderEvent::Reasoning(_) => got_first = true,
                    ProviderEvent::Finished { .. } => {
                        got_first = true;
                        finished = true;
                    }
                    ProviderEvent::Usage(_) => {}
                }
                send(RunItem::Event(event));
            }
        }
    }
}
