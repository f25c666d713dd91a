//! `[[...]]` directives: scripting the echo reply from inside a chat message.
//!
//! End-to-end tests drive a real `yoi serve` from a browser or a terminal and cannot
//! call [`MockOpenAi::push`](crate::MockOpenAi::push). In echo mode the mock therefore
//! reads directives from the last user message and builds the reply from them.
//! Directives combine (`[[slow:50]] [[cut:3]]`); an error wins over a hang, a hang
//! over a long line, a long line over tool calls. Unknown `[[...]]` text is left
//! alone.
//!
//! `[[tool:NAME ARGS]]` (repeat it for several calls in one turn) answers with a
//! tool call of NAME with the JSON arguments ARGS (`{}` when left out; ARGS may not
//! hold `]]`), streamed in fragments like OpenAI's, after the rest of the message as
//! the turn's text. NAME is matched to the request's `tools` (`yoi.list_workers`
//! finds `yoi__list_workers`). `[[tool_rounds:N]]` makes the same calls in N turns.
//! The request after the last of them, which ends with the `tool` messages, is
//! answered `[<call_id>] <content>`, one line per result, so a test sees what each
//! tool returned.

use std::time::Duration;

use crate::reply::Reply;

/// Delay between tokens for a bare `[[slow]]`.
pub const SLOW_TOKEN_DELAY: Duration = Duration::from_millis(300);
/// Number of tokens streamed for `[[slow]]` when no other directive sets the content.
pub const SLOW_TOKEN_COUNT: usize = 40;
/// Upper bound for `[[tokens:N]]`, so a typo cannot exhaust memory.
const MAX_TOKENS: usize = 100_000;

/// Upper bound for `[[long-line:BYTES]]`.
const MAX_LONG_LINE: usize = 64 * 1024 * 1024;

/// The answer `[[markdown]]` streams.
pub const MARKDOWN_REPLY: &str = include_str!("markdown_reply.md");

/// The reasoning chunks `[[reasoning]]` sends before the content.
pub const REASONING_TOKENS: [&str; 4] = ["Thinking", " about", " the", " answer."];

#[derive(Debug, Default, PartialEq, Eq)]
struct Directives {
    slow: Option<Duration>,
    tokens: Option<usize>,
    error: Option<u16>,
    hang: bool,
    cut: Option<usize>,
    reasoning: bool,
    markdown: bool,
    long_line: Option<usize>,
    usage: Option<(u64, u64)>,
    /// `[[tool:NAME ARGS]]`: tool calls of each tool turn, in order.
    tools: Vec<(String, String)>,
    /// `[[tool_rounds:N]]`: how many turns make the calls (default 1).
    tool_rounds: Option<usize>,
}

/// A number that makes every tool call id of this process unique.
pub(crate) fn call_serial() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The echo reply for a request, tool turns included: while the message's
/// `[[tool:...]]` turns are not all made, the next one; after them (or after
/// tool calls a test pushed), an answer that quotes each result of the last
/// turn (`[call_id] content`).
pub(crate) fn echo_reply_for(base: &Reply, request: &serde_json::Value) -> Reply {
    let last = crate::request::last_user_message(request);
    let (directives, rest) = parse(&last);
    let (rounds, results) = crate::request::tool_progress(request);
    let wants_calls = !directives.tools.is_empty()
        && directives.error.is_none()
        && !directives.hang
        && directives.long_line.is_none();
    if !wants_calls && rounds == 0 {
        return echo_reply(base, &last);
    }
    if wants_calls && rounds < directives.tool_rounds.unwrap_or(1) {
        let mut reply = base.clone();
        reply.kind = Reply::text(rest.trim()).kind;
        if let Some(delay) = directives.slow {
            reply = reply.token_delay(delay);
        }
        if let Some((prompt, completion)) = directives.usage {
            reply = reply.usage(prompt, completion);
        }
        return reply.with_tool_calls(directives.tools);
    }
    let answer = results
        .iter()
        .map(|(id, content)| format!("[{id}] {content}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut reply = base.clone();
    reply.kind = Reply::text(&answer).kind;
    reply
}

/// Builds the echo reply for a last user message, honouring its directives.
/// `base` carries builder settings (delays, usage) that directives may override.
pub(crate) fn echo_reply(base: &Reply, last_user_message: &str) -> Reply {
    let (directives, rest) = parse(last_user_message);

    if let Some(status) = directives.error {
        return Reply::http_error(status, &format!("mock error {status}"));
    }
    if directives.hang {
        return Reply::hang();
    }
    if let Some(bytes) = directives.long_line {
        return Reply::long_line(bytes);
    }

    let text = if directives.markdown {
        MARKDOWN_REPLY.to_owned()
    } else if let Some(n) = directives.tokens {
        numbered_tokens(n)
    } else if directives.slow.is_some() {
        numbered_tokens(SLOW_TOKEN_COUNT)
    } else {
        format!("You said: {}", rest.trim())
    };

    let mut reply = base.clone();
    reply.kind = Reply::text(&text).kind;
    if let Some(delay) = directives.slow {
        reply = reply.token_delay(delay);
    }
    if directives.reasoning {
        reply = reply.reasoning(REASONING_TOKENS);
    }
    if let Some(n) = directives.cut {
        reply = reply.cut_after(n);
    }
    if let Some((prompt, completion)) = directives.usage {
        reply = reply.usage(prompt, completion);
    }
    reply
}

/// A token count of `[[usage:P:C]]`: a number, or `max` for `u64::MAX`.
fn count(raw: &str) -> Option<u64> {
    match raw.trim() {
        "max" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

fn numbered_tokens(n: usize) -> String {
    (1..=n.min(MAX_TOKENS))
        .map(|i| format!("tok{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a message into its directives and the text around them.
fn parse(message: &str) -> (Directives, String) {
    let mut directives = Directives::default();
    let mut rest = String::new();
    let mut remaining = message;
    while let Some(start) = remaining.find("[[") {
        let after_open = &remaining[start + 2..];
        let Some(len) = after_open.find("]]") else {
            break;
        };
        let inner = &after_open[..len];
        rest.push_str(&remaining[..start]);
        if !apply(&mut directives, inner) {
            // Not a directive: keep it as text.
            rest.push_str(&remaining[start..start + 2 + len + 2]);
        }
        remaining = &after_open[len + 2..];
    }
    rest.push_str(remaining);
    (directives, rest)
}

/// Records one directive; `false` when `inner` is not one.
fn apply(d: &mut Directives, inner: &str) -> bool {
    let (name, arg) = match inner.split_once(':') {
        Some((name, arg)) => (name.trim(), Some(arg.trim())),
        None => (inner.trim(), None),
    };
    match (name, arg) {
        ("slow", None) => d.slow = Some(SLOW_TOKEN_DELAY),
        ("slow", Some(ms)) => match ms.parse() {
            Ok(ms) => d.slow = Some(Duration::from_millis(ms)),
            Err(_) => return false,
        },
        ("tokens", Some(n)) => match n.parse() {
            Ok(n) => d.tokens = Some(n),
            Err(_) => return false,
        },
        ("error", Some(status)) => match status.parse() {
            Ok(status @ 100..=999) => d.error = Some(status),
            _ => return false,
        },
        ("cut", Some(n)) => match n.parse() {
            Ok(n) => d.cut = Some(n),
            Err(_) => return false,
        },
        ("long-line", Some(n)) => match n.parse::<usize>() {
            Ok(n) => d.long_line = Some(n.min(MAX_LONG_LINE)),
            Err(_) => return false,
        },
        ("usage", Some(counts)) => {
            match counts
                .split_once(':')
                .and_then(|(p, c)| Some((count(p)?, count(c)?)))
            {
                Some(usage) => d.usage = Some(usage),
                None => return false,
            }
        }
        ("hang", None) => d.hang = true,
        ("tool", Some(call)) => {
            let (name, arguments) = call.split_once(char::is_whitespace).unwrap_or((call, "{}"));
            if name.is_empty() {
                return false;
            }
            d.tools.push((name.to_owned(), arguments.trim().to_owned()));
        }
        ("tool_rounds", Some(n)) => match n.parse() {
            Ok(n) => d.tool_rounds = Some(n),
            Err(_) => return false,
        },
        ("reasoning", None) => d.reasoning = true,
        ("markdown", None) => d.markdown = true,
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Ending, ReplyKind};

    #[test]
    fn parse_strips_known_directives_and_keeps_the_rest() {
        let (d, rest) = parse("a [[slow:20]] b [[cut:3]][[nope]] c [[tokens:x]]");
        assert_eq!(d.slow, Some(Duration::from_millis(20)));
        assert_eq!(d.cut, Some(3));
        assert_eq!(d.tokens, None);
        assert_eq!(rest, "a  b [[nope]] c [[tokens:x]]");
    }

    #[test]
    fn unterminated_directive_is_text() {
        let (d, rest) = parse("x [[slow");
        assert_eq!(d, Directives::default());
        assert_eq!(rest, "x [[slow");
    }

    #[test]
    fn plain_message_is_echoed() {
        let reply = echo_reply(&Reply::echo(), "  hello there ");
        match reply.kind {
            ReplyKind::Tokens(t) => assert_eq!(t.concat(), "You said: hello there"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_wins_over_everything_else() {
        let reply = echo_reply(&Reply::echo(), "[[hang]] [[error:503]] [[slow]]");
        match reply.kind {
            ReplyKind::HttpError(e) => {
                assert_eq!(e.status, 503);
                assert_eq!(e.message, "mock error 503");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn long_line_and_usage_are_read() {
        let reply = echo_reply(&Reply::echo(), "[[long-line:100]]");
        assert!(matches!(
            reply.kind,
            ReplyKind::LongLine {
                status: 200,
                bytes: 100,
                ..
            }
        ));
        let reply = echo_reply(&Reply::echo(), "hi [[usage:max:7]]");
        assert_eq!(
            reply.usage,
            Some(crate::Usage {
                prompt_tokens: u64::MAX,
                completion_tokens: 7
            })
        );
        let (d, _) = parse("[[usage:1]] [[usage:x:2]]");
        assert_eq!(d.usage, None);
    }

    #[test]
    fn tool_directives_make_tool_calls_in_order_after_the_turns_text() {
        let request = serde_json::json!({"messages": [{"role": "user",
            "content": r#"Looking. [[tool:yoi.list_workers]] [[tool:time.now {"tz":"UTC"}]]"#}]});
        let reply = echo_reply_for(&Reply::echo(), &request);
        assert_eq!(reply.finish_reason, "tool_calls");
        let calls: Vec<(String, String)> = reply
            .tool_calls
            .iter()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect();
        assert_eq!(
            calls,
            [
                ("yoi.list_workers".to_owned(), "{}".to_owned()),
                ("time.now".to_owned(), r#"{"tz":"UTC"}"#.to_owned())
            ]
        );
        match reply.kind {
            ReplyKind::Tokens(t) => assert_eq!(t.concat(), "Looking."),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn after_the_tool_turns_the_answer_quotes_each_result() {
        let request = serde_json::json!({"messages": [
            {"role": "user", "content": "[[tool:yoi.list_workers]]"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "yoi__list_workers", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "3 workers"}
        ]});
        let reply = echo_reply_for(&Reply::echo(), &request);
        assert!(reply.tool_calls.is_empty());
        match reply.kind {
            ReplyKind::Tokens(t) => assert_eq!(t.concat(), "[c1] 3 workers"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn slow_cut_and_reasoning_combine() {
        let reply = echo_reply(&Reply::echo(), "[[slow:5]][[cut:2]][[reasoning]]");
        assert_eq!(reply.token_delay, Duration::from_millis(5));
        assert_eq!(reply.ending, Ending::CutAfter(2));
        assert_eq!(reply.reasoning.len(), REASONING_TOKENS.len());
        match reply.kind {
            ReplyKind::Tokens(t) => assert_eq!(t.len(), SLOW_TOKEN_COUNT),
            other => panic!("unexpected {other:?}"),
        }
    }
}
