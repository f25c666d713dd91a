//! The run task: opens the provider stream, enforces the first-token and
//! whole-run timeouts, and reports every item to its Worker by message, so
//! that the Worker's mailbox stays free while an answer streams. Aborting the
//! task drops the HTTP request.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use yoi_protocol::{ApiError, ErrorCode};

use crate::config::ProviderConfig;
use crate::provider::{ChatRequest, Provider, ProviderError, ProviderEvent};

/// An item from the run task to its Worker.
#[derive(Debug)]
pub enum RunItem {
    Event(ProviderEvent),
    /// The model finished and the stream ended.
    End,
    Failed(ApiError),
}

/// Most items reported to the Worker in one message.
const MAX_BATCH: usize = 64;

/// Where the stream stands, for deadlines and for how it may end.
#[derive(Default)]
struct Progress {
    got_first: bool,
    finished: bool,
}

impl Progress {
    /// Takes one outcome of the stream: an event joins `batch`; an end is
    /// returned as the run's last item.
    fn take(
        &mut self,
        next: Option<Result<ProviderEvent, ProviderError>>,
        batch: &mut Vec<RunItem>,
    ) -> Option<RunItem> {
        match next {
            None if self.finished => Some(RunItem::End),
            None => Some(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                "the provider's stream ended before the model finished its answer",
            ))),
            // A connection cut after the model finished loses only the usage.
            Some(Err(_)) if self.finished => Some(RunItem::End),
            Some(Err(e)) => Some(RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                e.to_string(),
            ))),
            Some(Ok(event)) => {
                match &event {
                    ProviderEvent::Text(_)
                    | ProviderEvent::Reasoning(_)
                    | ProviderEvent::ToolCall(_) => self.got_first = true,
                    ProviderEvent::Finished { .. } => {
                        self.got_first = true;
                        self.finished = true;
                    }
                    ProviderEvent::Usage(_) => {}
                }
                batch.push(RunItem::Event(event));
                None
            }
        }
    }
}

/// The run task: opens the provider stream, enforces both timeouts, and
/// reports every item to the Worker; items that are ready together go in
/// one message. Aborting the task drops the HTTP request.
pub(super) async fn drive_run(
    provider: Arc<dyn Provider>,
    config: Arc<ProviderConfig>,
    request: ChatRequest,
    send: impl Fn(Vec<RunItem>) + Send + 'static,
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
        vec![RunItem::Failed(ApiError::new(ErrorCode::Timeout, message))]
    };

    let mut stream = match tokio::time::timeout_at(first_deadline, provider.stream(request)).await {
        Err(_) => return send(timeout_error(true)),
        Ok(Err(e)) => {
            return send(vec![RunItem::Failed(ApiError::new(
                ErrorCode::ProviderError,
                e.to_string(),
            ))])
        }
        Ok(Ok(stream)) => stream,
    };
    let mut progress = Progress::default();
    loop {
        let deadline = if progress.got_first {
            run_deadline
        } else {
            first_deadline
        };
        let Ok(next) = tokio::time::timeout_at(deadline, stream.next()).await else {
            return send(timeout_error(!progress.got_first));
        };
        let mut batch = Vec::new();
        let mut end = progress.take(next, &mut batch);
        while end.is_none() && batch.len() < MAX_BATCH {
            match stream.next().now_or_never() {
                Some(next) => end = progress.take(next, &mut batch),
                None => break,
            }
        }
        let ended = end.is_some();
        batch.extend(end);
        send(batch);
        if ended {
            return;
        }
    }
}
