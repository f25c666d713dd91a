//! The transcript as wrapped, styled rows.
//!
//! User messages carry a coloured bar and header; answers are indented under
//! the worker's name, with fenced code in a framed block, reasoning dimmed (or
//! folded to one line), and a marker when an answer was cancelled or failed.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use yoi_protocol::{ApiError, MessageState};

use super::wrap::{expand_tabs, wrap_chars, wrap_words};
use crate::app::App;
use crate::markdown::{classify, split_blocks, Block, ProseLine};
use crate::notice::describe_api_error;
use crate::transcript::{Body, Entry};

const INDENT: &str = "  ";

pub fn user_style() -> Style {
    Style::new().fg(Color::Cyan)
}

fn assistant_style() -> Style {
    Style::new().fg(Color::Green)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

fn code_style() -> Style {
    Style::new().fg(Color::Yellow)
}

/// Every row of the transcript at `width` columns.
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for (i, entry) in app.transcript.entries().iter().enumerate() {
        if i > 0 && !matches!(entry.body, Body::Tool { .. }) {
            out.push(Line::default());
        }
        entry_lines(entry, app, width, &mut out);
    }
    queued_lines(app, width, &mut out);
    out
}

/// The messages waiting for the answer in flight, dimmed under it.
fn queued_lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    for (i, queued) in app.queue.items().iter().enumerate() {
        if !out.is_empty() {
            out.push(Line::default());
        }
        out.push(Line::from(Span::styled(
            format!("› you · queued {}", i + 1),
            dim().add_modifier(Modifier::BOLD),
        )));
        let bar = Span::styled("┊ ", dim());
        for line in queued.text.split('\n') {
            for row in wrap_words(&expand_tabs(line), width.saturating_sub(2)) {
                out.push(Line::from(vec![bar.clone(), Span::styled(row, dim())]));
            }
        }
    }
}

fn entry_lines(entry: &Entry, app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    match &entry.body {
        Body::User { text } => user_lines(text, width, out),
        Body::Assistant {
            text,
            state,
            reasoning,
            error,
        } => {
            let mut header = vec![Span::styled(
                format!("◆ {}", app.worker_name()),
                assistant_style().add_modifier(Modifier::BOLD),
            )];
            if *state == MessageState::Streaming {
                header.push(Span::styled("  answering…", dim()));
            }
            out.push(Line::from(header));
            if !reasoning.is_empty() {
                reasoning_lines(reasoning, app.show_reasoning, width, out);
            }
            let body_start = out.len();
            answer_lines(text, *state, width, out);
            let answered = out.len() > body_start;
            let failure = error.as_ref().map(|e| (e, app.worker_name()));
            answer_end_lines(*state, answered, failure, width, out);
        }
        Body::Tool {
            name,
            arguments,
            outcome,
            ..
        } => tool_lines(name, arguments, outcome.as_ref(), width, out),
    }
}

fn user_lines(text: &str, width: usize, out: &mut Vec<Line<'static>>) {
    out.push(Line::from(Span::styled(
        "› you",
        user_style().add_modifier(Modifier::BOLD),
    )));
    let bar = Span::styled("▌ ", user_style());
    for line in text.split('\n') {
        for row in wrap_words(&expand_tabs(line), width.saturating_sub(2)) {
            out.push(Line::from(vec![bar.clone(), Span::raw(row)]));
        }
    }
}

/// How an answer ends on screen: the cursor of one still streaming, or the
/// mark of one cancelled or failed (with its error and the worker's name, to
/// say why in a person's words). `answered` says whether the answer drew any
/// rows of text.
fn answer_end_lines(
    state: MessageState,
    answered: bool,
    failure: Option<(&ApiError, &str)>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    match state {
        MessageState::Streaming => {
            if !answered {
                out.push(Line::from(Span::raw(INDENT)));
            }
            if let Some(last) = out.last_mut() {
                last.push_span(Span::styled("▍", assistant_style()));
            }
        }
        MessageState::Cancelled => {
            // A run stopped before its first word has no text to call partial.
            let mark = if answered {
                "⊘ cancelled"
            } else {
                "⊘ stopped before any answer"
            };
            out.push(Line::from(Span::styled(
                format!("{INDENT}{mark}"),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            )));
        }
        MessageState::Failed => {
            // The same words as the notice line of a live `run_failed`.
            let why = failure.map_or_else(
                || "the run failed".to_owned(),
                |(e, worker_name)| describe_api_error(e, worker_name).text,
            );
            let style = Style::new().fg(Color::Red);
            let text = format!("✗ failed: {why}");
            for row in wrap_words(&text, width.saturating_sub(2)) {
                out.push(Line::from(Span::styled(format!("{INDENT}{row}"), style)));
            }
        }
        MessageState::Complete => {}
    }
}

fn tool_lines(
    name: &str,
    arguments: &str,
    outcome: Option<&(bool, String)>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let call = format!("{INDENT}⚙ {name} {arguments}");
    let call: String = wrap_chars(&call, width)
        .into_iter()
        .next()
        .unwrap_or_default();
    out.push(Line::from(Span::styled(call, dim())));
    let (mark, style, summary) = match outcome {
        None => ("…", dim(), String::new()),
        Some((true, s)) => ("✓", Style::new().fg(Color::Green), s.clone()),
        Some((false, s)) => ("✗", Style::new().fg(Color::Red), s.clone()),
    };
    for row in wrap_words(&format!("{mark} {summary}"), width.saturating_sub(4)) {
        out.push(Line::from(Span::styled(
            format!("{INDENT}{INDENT}{row}"),
            style,
        )));
    }
}

fn reasoning_lines(reasoning: &str, unfolded: bool, width: usize, out: &mut Vec<Line<'static>>) {
    let style = dim().add_modifier(Modifier::ITALIC);
    if !unfolded {
        let n = reasoning.lines().count().max(1);
        let plural = if n == 1 { "" } else { "s" };
        out.push(Line::from(Span::styled(
            format!("{INDENT}▸ reasoning, {n} line{plural} (Ctrl-R shows it)"),
            style,
        )));
        return;
    }
    out.push(Line::from(Span::styled(
        format!("{INDENT}▾ reasoning"),
        style,
    )));
    for line in reasoning.split('\n') {
        for row in wrap_words(&expand_tabs(line), width.saturating_sub(4)) {
            out.push(Line::from(Span::styled(format!("{INDENT}┊ {row}"), style)));
        }
    }
}

fn prose_line(line: &str, width: usize, out: &mut Vec<Line<'static>>) {
    match classify(line) {
        ProseLine::Heading(text) => {
            let style = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            for row in wrap_words(text, width.saturating_sub(2)) {
                out.push(Line::from(vec![
                    Span::raw(INDENT),
                    Span::styled(row, style),
                ]));
            }
        }
        ProseLine::Bullet(indent, text) => {
            let pad = " ".repeat(indent);
            let rows = wrap_words(text, width.saturating_sub(4 + indent));
            for (i, row) in rows.into_iter().enumerate() {
                let mark = if i == 0 { "• " } else { "  " };
                out.push(Line::from(format!("{INDENT}{pad}{mark}{row}")));
            }
        }
        ProseLine::Plain(text) => {
            for row in wrap_words(text, width.saturating_sub(2)) {
                out.push(Line::from(format!("{INDENT}{row}")));
            }
        }
    }
}

fn answer_lines(text: &str, state: MessageState, width: usize, out: &mut Vec<Line<'static>>) {
    // Trailing blank lines of an answer are not worth rows.
    let text = text.trim_end_matches(['\n', '\r', ' ']);
    if text.is_empty() {
        return;
    }
    let frame = dim();
    for block in split_blocks(text) {
        match block {
            Block::Prose(lines) => {
                for line in lines {
                    prose_line(&expand_tabs(line), width, out);
                }
            }
            Block::Code {
                lang,
                lines,
                closed,
            } => {
                let label = if lang.is_empty() { "code" } else { lang };
                out.push(Line::from(Span::styled(
                    format!("{INDENT}╭─ {label}"),
                    frame,
                )));
                for line in lines {
                    for row in wrap_chars(&expand_tabs(line), width.saturating_sub(4)) {
                        out.push(Line::from(vec![
                            Span::styled(format!("{INDENT}│ "), frame),
                            Span::styled(row, code_style()),
                        ]));
                    }
                }
                // An open fence of a finished answer is closed for the eye.
                if closed || state != MessageState::Streaming {
                    out.push(Line::from(Span::styled(format!("{INDENT}╰─"), frame)));
                }
            }
        }
    }
}
