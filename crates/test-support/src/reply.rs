//! What the mock answers: the [`Reply`] builder.
//!
//! A `Reply` is a plain description (tokens, delays, how the stream ends). The server
//! turns it into bytes only when a request arrives, because the echo reply and the
//! automatic usage numbers depend on that request.

use std::time::Duration;

/// One scripted answer to one chat-completions request.
///
/// Build it with [`Reply::text`], [`Reply::tokens`], [`Reply::echo`],
/// [`Reply::http_error`] or [`Reply::hang`], then refine it with the builder methods.
/// Builder methods that only make sense for a successful answer (delays, reasoning,
/// usage, endings) are ignored by error replies.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(crate) kind: ReplyKind,
    pub(crate) reasoning: Vec<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) first_token_delay: Duration,
    pub(crate) token_delay: Duration,
    pub(crate) ending: Ending,
    pub(crate) finish_reason: String,
    /// Sent as an `{"error": ...}` chunk after the content, ending the stream.
    pub(crate) stream_error: Option<String>,
    /// Tool calls the model makes after the content (finish reason `tool_calls`).
    pub(crate) tool_calls: Vec<MockToolCall>,
}

/// A tool call the mock makes: the name as the request's `tools` spell it
/// and the arguments' JSON text, streamed in several fragments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Clone, Debug)]
pub(crate) enum ReplyKind {
    /// Stream exactly these content tokens.
    Tokens(Vec<String>),
    /// "You said: <last user message>", honouring `[[...]]` directives.
    Echo,
    /// Answer with an HTTP error in OpenAI's error format.
    HttpError(ApiError),
    /// Send 200 and the headers, then nothing, ever.
    Hang,
    /// Send one line of `bytes` bytes with no end (an SSE `data:` line for
    /// 200, an error JSON otherwise), then nothing, ever.
    LongLine {
        status: u16,
        bytes: usize,
        /// Text the error message starts with (unused for 200).
        prefix: String,
    },
}

/// How a successful stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Finish chunk, optional usage chunk, `[DONE]`.
    Complete,
    /// After this many content chunks the TCP connection is dropped mid-body.
    CutAfter(usize),
    /// The content chunks, then a clean end of body: no finish chunk, no `[DONE]`.
    WithoutDone,
    /// The content chunks, then nothing, ever: the connection stays open.
    HangAfter,
}

/// Token counts reported in the `usage` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The fields of OpenAI's error envelope, `{"error":{"message","type","param","code"}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub error_type: String,
    pub code: Option<String>,
}

impl ApiError {
    /// The `type` and `code` OpenAI uses for a status, as far as one status has one.
    pub fn for_status(status: u16, message: &str) -> ApiError {
        let (error_type, code) = match status {
            400 => ("invalid_request_error", Some("invalid_request")),
            401 => ("invalid_request_error", Some("invalid_api_key")),
            403 => ("invalid_request_error", Some("permission_denied")),
            404 => ("invalid_request_error", Some("model_not_found")),
            429 => ("requests", Some("rate_limit_exceeded")),
            500..=599 => ("server_error", Some("server_error")),
            _ => ("invalid_request_error", None),
        };
        ApiError {
            status,
            message: message.to_owned(),
            error_type: error_type.to_owned(),
            code: code.map(str::to_owned),
        }
    }
}

impl Reply {
    fn with_kind(kind: ReplyKind) -> Reply {
        Reply {
            kind,
            reasoning: Vec::new(),
            usage: None,
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            ending: Ending::Complete,
            stream_error: None,
            finish_reason: "stop".to_owned(),
            tool_calls: Vec::new(),
        }
    }

    /// After the content, these tool calls (name, arguments JSON), each
    /// streamed as real providers do: the name first, then the arguments in
    /// fragments; the finish reason is `tool_calls`. A name is matched to the
    /// request's tools (`yoi.list_workers` finds `yoi__list_workers`).
    pub fn with_tool_calls<I, N, A>(mut self, calls: I) -> Reply
    where
        I: IntoIterator<Item = (N, A)>,
        N: Into<String>,
        A: Into<String>,
    {
        self.tool_calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| MockToolCall {
                id: format!("call_{}_{i}", crate::directive::call_serial()),
                name: name.into(),
                arguments: arguments.into(),
            })
            .collect();
        self.finish_reason = "tool_calls".to_owned();
        self
    }

    /// Streams `s` split into word pieces; the pieces keep their leading whitespace,
    /// so concatenating them gives back `s` exactly.
    pub fn text(s: &str) -> Reply {
        Reply::with_kind(ReplyKind::Tokens(split_tokens(s)))
    }

    /// Streams exactly these content tokens, one chunk each.
    pub fn tokens<I, S>(tokens: I) -> Reply
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Reply::with_kind(ReplyKind::Tokens(
            tokens.into_iter().map(Into::into).collect(),
        ))
    }

    /// The default: streams `"You said: <last user message>"` and honours the
    /// `[[...]]` directives described in the crate docs.
    pub fn echo() -> Reply {
        Reply::with_kind(ReplyKind::Echo)
    }

    /// An HTTP error with OpenAI's error JSON; `type` and `code` are chosen from the
    /// status (`404` gives `invalid_request_error` / `model_not_found`, `5xx` gives
    /// `server_error`, `429` gives `requests` / `rate_limit_exceeded`, ...).
    pub fn http_error(status: u16, message: &str) -> Reply {
        Reply::with_kind(ReplyKind::HttpError(ApiError::for_status(status, message)))
    }

    /// An HTTP error with an explicit error `type` and `code`, e.g.
    /// `Reply::http_error_with(429, "quota", "insufficient_quota", Some("insufficient_quota"))`.
    pub fn http_error_with(
        status: u16,
        message: &str,
        error_type: &str,
        code: Option<&str>,
    ) -> Reply {
        Reply::with_kind(ReplyKind::HttpError(ApiError {
            status,
            message: message.to_owned(),
            error_type: error_type.to_owned(),
            code: code.map(str::to_owned),
        }))
    }

    /// Accepts the request, sends 200 and the response headers, then never sends a
    /// byte until the client goes away (or the mock is dropped).
    pub fn hang() -> Reply {
        Reply::with_kind(ReplyKind::Hang)
    }

    /// A 200 SSE answer whose first line, `data: {"choices":[{"delta":{"content":"aaa...`,
    /// runs for `bytes` bytes without a newline; then nothing more is sent and the
    /// connection stays open. A client that buffers lines without a bound waits
    /// for its own timeout.
    pub fn long_line(bytes: usize) -> Reply {
        Reply::with_kind(ReplyKind::LongLine {
            status: 200,
            bytes,
            prefix: String::new(),
        })
    }

    /// An HTTP error whose body, `{"error":{"message":"<prefix>aaa...`, runs for
    /// `bytes` bytes and never ends: the connection stays open. `prefix` may hold
    /// what a test wants to see masked (a key, a marker).
    pub fn long_error_body(status: u16, prefix: &str, bytes: usize) -> Reply {
        Reply::with_kind(ReplyKind::LongLine {
            status,
            bytes,
            prefix: prefix.to_owned(),
        })
    }

    /// `reasoning_content` chunks sent before the content chunks.
    pub fn reasoning<I, S>(mut self, tokens: I) -> Reply
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reasoning = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The usage numbers to report. Without this, `prompt_tokens` is a rough word
    /// count of the request's messages and `completion_tokens` the number of chunks.
    pub fn usage(mut self, prompt: u64, completion: u64) -> Reply {
        self.usage = Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
        });
        self
    }

    /// Delay after the response headers are sent, before the first chunk.
    pub fn first_token_delay(mut self, d: Duration) -> Reply {
        self.first_token_delay = d;
        self
    }

    /// Delay before every reasoning or content chunk after the first one.
    pub fn token_delay(mut self, d: Duration) -> Reply {
        self.token_delay = d;
        self
    }

    /// Sends `n` content chunks, then drops the TCP connection abruptly: no finish
    /// chunk, no `[DONE]`, no chunked-encoding terminator.
    pub fn cut_after(mut self, n: usize) -> Reply {
        self.ending = Ending::CutAfter(n);
        self
    }

    /// Sends the content chunks, then nothing more, with the connection left
    /// open: a run that is in flight for as long as the test wants.
    pub fn then_hang(mut self) -> Reply {
        self.ending = Ending::HangAfter;
        self
    }

    /// Sends the content chunks, then ends the body cleanly with no finish chunk,
    /// no usage chunk and no `[DONE]`.
    pub fn without_done(mut self) -> Reply {
        self.ending = Ending::WithoutDone;
        self
    }

    /// After the content chunks, an `{"error": {"message": ...}}` chunk (how some
    /// servers report a failure mid-stream), then a clean end of body.
    pub fn error_mid_stream(mut self, message: &str) -> Reply {
        self.stream_error = Some(message.to_owned());
        self
    }

    /// The `finish_reason` of the finish chunk (default `"stop"`), e.g. `"length"`.
    pub fn finish_reason(mut self, reason: &str) -> Reply {
        self.finish_reason = reason.to_owned();
        self
    }
}

/// Splits text into word pieces that each carry their leading whitespace, so that
/// `split_tokens(s).concat() == s`.
pub(crate) fn split_tokens(s: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in s.chars() {
        if c.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_tokens_concatenates_back_to_the_input() {
        for s in [
            "",
            "Hello",
            "Hello world",
            "  leading and trailing  ",
            "line one\nline two\n\n```rust\nfn main() {}\n```",
        ] {
            assert_eq!(split_tokens(s).concat(), s, "input {s:?}");
        }
    }

    #[test]
    fn split_tokens_keeps_leading_spaces_on_words() {
        assert_eq!(split_tokens("You said: hi"), vec!["You", " said:", " hi"]);
    }
}
