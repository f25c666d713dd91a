//! Turning a [`Reply`] and the request it answers into an HTTP response.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::body::{scripted, OpenStream, Step};
use crate::directive::echo_reply_for;
use crate::reply::{ApiError, Ending, Reply, ReplyKind, Usage};
use crate::request::rough_prompt_tokens;
use crate::wire::{self, Completion, DONE_FRAME};

/// What a response needs besides the reply itself.
pub(crate) struct Context<'a> {
    pub request: &'a Value,
    pub stream: bool,
    pub completion: Completion,
    pub shutdown: watch::Receiver<()>,
    pub open_streams: Arc<watch::Sender<usize>>,
}

pub(crate) async fn respond(reply: Reply, cx: Context<'_>) -> Response {
    let reply = match reply.kind {
        ReplyKind::Echo => echo_reply_for(&reply, cx.request),
        _ => reply,
    };
    match &reply.kind {
        ReplyKind::HttpError(error) => error_response(error),
        ReplyKind::Hang => {
            let open = OpenStream::new(cx.open_streams.clone());
            with_body(cx.stream, scripted(vec![Step::Hang], cx.shutdown, open))
        }
        ReplyKind::LongLine {
            status,
            bytes,
            prefix,
        } => long_line(*status, *bytes, prefix, cx),
        ReplyKind::Tokens(tokens) if cx.stream => {
            let open = OpenStream::new(cx.open_streams.clone());
            let steps = stream_script(&reply, tokens, &cx);
            with_body(true, scripted(steps, cx.shutdown, open))
        }
        ReplyKind::Tokens(tokens) => whole(&reply, tokens, cx).await,
        // `echo_reply` never answers with another echo.
        ReplyKind::Echo => error_response(&ApiError::for_status(500, "mock: unresolved echo")),
    }
}

/// An error in OpenAI's envelope; an impossible status becomes a 500.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(wire::error_body(error))).into_response()
}

fn with_body(stream: bool, body: Body) -> Response {
    let content_type = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn usage_for(reply: &Reply, tokens: &[String], request: &Value) -> Usage {
    reply.usage.unwrap_or_else(|| Usage {
        prompt_tokens: rough_prompt_tokens(request),
        completion_tokens: (reply.reasoning.len() + tokens.len()) as u64,
    })
}

/// The SSE script: role chunk, reasoning, content, then the ending.
fn stream_script(reply: &Reply, tokens: &[String], cx: &Context<'_>) -> Vec<Step> {
    let c = &cx.completion;
    let mut steps = Vec::new();
    push_wait(&mut steps, reply.first_token_delay);
    steps.push(Step::Send(wire::frame(
        &c.chunk(json!({"role": "assistant", "content": ""}), None),
    )));

    let sent = match reply.ending {
        Ending::CutAfter(n) => n.min(tokens.len()),
        Ending::Complete | Ending::WithoutDone | Ending::HangAfter => tokens.len(),
    };
    let deltas = reply
        .reasoning
        .iter()
        .map(|r| json!({"reasoning_content": r}))
        .chain(tokens[..sent].iter().map(|t| json!({"content": t})));
    for (i, delta) in deltas.enumerate() {
        if i > 0 {
            push_wait(&mut steps, reply.token_delay);
        }
        steps.push(Step::Send(wire::frame(&c.chunk(delta, None))));
    }

    for (index, call) in reply.tool_calls.iter().enumerate() {
        let name = crate::request::tool_name(cx.request, &call.name);
        steps.push(Step::Send(wire::frame(&c.chunk(
            json!({"tool_calls": [{
                "index": index, "id": call.id, "type": "function",
                "function": {"name": name, "arguments": ""}
            }]}),
            None,
        ))));
        for fragment in argument_fragments(&call.arguments) {
            steps.push(Step::Send(wire::frame(&c.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ))));
        }
    }

    if let Some(message) = &reply.stream_error {
        let chunk = json!({"error": {"message": message, "type": "server_error"}});
        steps.push(Step::Send(wire::frame(&chunk)));
        return steps;
    }
    match reply.ending {
        Ending::Complete => {
            steps.push(Step::Send(wire::frame(
                &c.chunk(json!({}), Some(&reply.finish_reason)),
            )));
            if c.include_usage {
                let usage = usage_for(reply, tokens, cx.request);
                steps.push(Step::Send(wire::frame(&c.usage_chunk(usage))));
            }
            steps.push(Step::Send(Bytes::from_static(DONE_FRAME)));
        }
        Ending::CutAfter(_) => steps.push(Step::Cut),
        Ending::WithoutDone => {}
        Ending::HangAfter => steps.push(Step::Hang),
    }
    steps
}

/// Arguments in about three fragments, cut at character boundaries, as
/// providers stream them.
fn argument_fragments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// One line of `bytes` bytes without an end, sent in 64 KiB pieces, then a hang.
fn long_line(status: u16, bytes: usize, prefix: &str, cx: Context<'_>) -> Response {
    const PIECE: usize = 64 * 1024;
    let head = if status == 200 {
        r#"data: {"choices":[{"index":0,"delta":{"content":""#.to_owned()
    } else {
        format!(r#"{{"error":{{"message":"{prefix}"#)
    };
    let piece = Bytes::from(vec![b'a'; PIECE]);
    let mut steps = vec![Step::Send(Bytes::from(head))];
    steps.extend((0..bytes / PIECE).map(|_| Step::Send(piece.clone())));
    steps.push(Step::Send(piece.slice(..bytes % PIECE)));
    steps.push(Step::Hang);
    let open = OpenStream::new(cx.open_streams.clone());
    let mut response = with_body(status == 200, scripted(steps, cx.shutdown, open));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn push_wait(steps: &mut Vec<Step>, delay: Duration) {
    if !delay.is_zero() {
        steps.push(Step::Wait(delay));
    }
}

/// A non-streamed answer. A cut sends half the JSON and then drops the connection.
async fn whole(reply: &Reply, tokens: &[String], cx: Context<'_>) -> Response {
    let content = tokens.concat();
    let reasoning = (!reply.reasoning.is_empty()).then(|| reply.reasoning.concat());
    let usage = usage_for(reply, tokens, cx.request);
    let value = cx
        .completion
        .full(&content, reasoning.as_deref(), &reply.finish_reason, usage);
    let json = Bytes::from(value.to_string());

    if let Ending::CutAfter(_) = reply.ending {
        let open = OpenStream::new(cx.open_streams.clone());
        let steps = vec![Step::Send(json.slice(..json.len() / 2)), Step::Cut];
        return with_body(false, scripted(steps, cx.shutdown, open));
    }
    let chunks = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    let delay = reply
        .first_token_delay
        .saturating_add(reply.token_delay.saturating_mul(chunks));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    with_body(false, Body::from(json))
}
