//! The transcript as wrapped, styled rows.
//!
//! User messages carry a coloured bar and header; answers are indented under
//! the worker's name, with fenced code in a framed block, reasoning dimmed (or
//! folded to one line), and a marker when an answer was cancelled or failed.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use yoi_protocol::{ApiError, MessageState};

use super::tool;
use super::wrap::{expand_tabs, str_width, wrap_chars, wrap_styled, wrap_words};
use crate::app::App;
use crate::markdown::{to_lines, LineKind, Marks, MdLine};
use crate::notice::describe_api_error;
use crate::tool_calls::CallLine;
use crate::transcript::{Body, Entry, History};

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
    history_marker(app, &mut out);
    for (i, entry) in app.transcript.entries().iter().enumerate() {
        if i > 0 {
            out.push(Line::default());
        }
        entry_lines(entry, app, width, &mut out);
    }
    queued_lines(app, width, &mut out);
    out
}

/// Above the oldest message: whether earlier ones are on their way, or the
/// conversation starts here. Nothing before the person has scrolled up.
fn history_marker(app: &App, out: &mut Vec<Line<'static>>) {
    let text = match (app.loading_older, app.transcript.history()) {
        (true, _) => "… loading earlier messages",
        (false, History::Complete) if app.transcript.paged_in() => {
            "─ beginning of the conversation ─"
        }
        (false, History::More) => "↑ earlier messages: scroll up",
        _ => return,
    };
    out.push(Line::from(Span::styled(text, dim())));
    out.push(Line::default());
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
            calls,
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
            if calls.is_empty() {
                answer_lines(text, *state, width, out);
            } else {
                answer_with_calls(text, calls, *state, app.show_tools, width, out);
            }
            let answered = out.len() > body_start;
            let failure = error.as_ref().map(|e| (e, app.worker_name()));
            answer_end_lines(*state, answered, failure, width, out);
        }
    }
}

/// An answer whose run called tools: the text streamed before each call,
/// the call, and the rest, in the order it happened.
fn answer_with_calls(
    text: &str,
    calls: &[CallLine],
    state: MessageState,
    unfolded: bool,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let mut at = 0;
    for call in calls {
        let mut offset = call.offset.clamp(at, text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset > at {
            answer_lines(&text[at..offset], MessageState::Complete, width, out);
        }
        tool::call_lines(call, unfolded, width, out);
        at = offset.max(at);
    }
    answer_lines(&text[at..], state, width, out);
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

/// How marked-up text looks in a terminal.
fn style_of(marks: Marks) -> Style {
    let mut style = Style::new();
    if marks.strong {
        style = style.add_modifier(Modifier::BOLD);
    }
    if marks.emphasis {
        style = style.add_modifier(Modifier::ITALIC);
    }
    if marks.strike {
        style = style.add_modifier(Modifier::CROSSED_OUT);
    }
    if marks.code {
        style = style.patch(code_style());
    }
    if marks.link {
        style = style.fg(Color::Blue).add_modifier(Modifier::UNDERLINED);
    }
    if marks.aside {
        style = style.patch(dim());
    }
    style
}

/// The columns before a line's text: the answer's indent, quote bars and
/// list nesting.
fn lead(line: &MdLine) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(INDENT)];
    for _ in 0..line.quote {
        spans.push(Span::styled("▎ ", dim()));
    }
    if line.indent > 0 {
        spans.push(Span::raw(" ".repeat(line.indent)));
    }
    spans
}

fn lead_width(line: &MdLine) -> usize {
    INDENT.len() + line.quote * 2 + line.indent
}

/// Prose and headings: word-wrapped, marks as styles; a list item's marker
/// on its first row, its later rows under its text.
fn prose_rows(line: &MdLine, width: usize, out: &mut Vec<Line<'static>>) {
    let heading = matches!(line.kind, LineKind::Heading(_));
    let runs: Vec<(String, Style)> = line
        .pieces
        .iter()
        .map(|p| {
            let style = style_of(p.marks);
            let style = if heading {
                style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
            } else {
                style
            };
            (expand_tabs(&p.text), style)
        })
        .collect();
    let marker_width = str_width(&line.marker);
    let room = width.saturating_sub(lead_width(line) + marker_width);
    for (i, row) in wrap_styled(&runs, room).into_iter().enumerate() {
        let mut spans = lead(line);
        if marker_width > 0 {
            let marker = if i == 0 {
                line.marker.clone()
            } else {
                " ".repeat(marker_width)
            };
            spans.push(Span::styled(marker, assistant_style()));
        }
        spans.extend(row);
        out.push(Line::from(spans));
    }
}

/// A table: columns as wide as their widest cell (cut with `…` when the
/// terminal is narrower), the head underlined.
fn table_rows(
    line: &MdLine,
    rows: &[Vec<String>],
    header: usize,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return;
    }
    let mut widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| str_width(s))
                .max()
                .unwrap_or(0)
                .max(1)
        })
        .collect();
    let room = width.saturating_sub(lead_width(line) + 3 * (columns - 1));
    while widths.iter().sum::<usize>() > room && widths.iter().any(|w| *w > 3) {
        if let Some(widest) = widths.iter_mut().max() {
            *widest -= 1;
        }
    }
    let frame = dim();
    for (i, row) in rows.iter().enumerate() {
        let mut spans = lead(line);
        for (c, w) in widths.iter().enumerate() {
            if c > 0 {
                spans.push(Span::styled(" │ ", frame));
            }
            let cell = fit(row.get(c).map_or("", String::as_str), *w);
            let style = if i < header {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            spans.push(Span::styled(cell, style));
        }
        out.push(Line::from(spans));
        if i + 1 == header {
            let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
            let mut spans = lead(line);
            spans.push(Span::styled(rule.join("─┼─"), frame));
            out.push(Line::from(spans));
        }
    }
}

/// `text` cut or padded to exactly `width` columns.
fn fit(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let total = str_width(text);
    for c in text.chars() {
        let w = super::wrap::char_width(c);
        if total > width && used + w + 1 > width {
            out.push('…');
            used += 1;
            break;
        }
        out.push(c);
        used += w;
    }
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

fn md_line_rows(line: &MdLine, width: usize, out: &mut Vec<Line<'static>>) {
    let frame = dim();
    match &line.kind {
        LineKind::Prose | LineKind::Heading(_) => prose_rows(line, width, out),
        LineKind::Blank => out.push(Line::default()),
        LineKind::Rule => {
            let mut spans = lead(line);
            let room = width.saturating_sub(lead_width(line)).min(40);
            spans.push(Span::styled("─".repeat(room), frame));
            out.push(Line::from(spans));
        }
        LineKind::CodeStart(lang) => {
            let label = if lang.is_empty() {
                "code"
            } else {
                lang.as_str()
            };
            let mut spans = lead(line);
            spans.push(Span::styled(format!("╭─ {label}"), frame));
            out.push(Line::from(spans));
        }
        LineKind::Code(text) => {
            let room = width.saturating_sub(lead_width(line) + 2);
            for row in wrap_chars(&expand_tabs(text), room) {
                let mut spans = lead(line);
                spans.push(Span::styled("│ ", frame));
                spans.push(Span::styled(row, code_style()));
                out.push(Line::from(spans));
            }
        }
        LineKind::CodeEnd => {
            let mut spans = lead(line);
            spans.push(Span::styled("╰─", frame));
            out.push(Line::from(spans));
        }
        LineKind::Table { rows, header } => table_rows(line, rows, *header, width, out),
    }
}

fn answer_lines(text: &str, state: MessageState, width: usize, out: &mut Vec<Line<'static>>) {
    // Trailing blank lines of an answer are not worth rows.
    let text = text.trim_end_matches(['\n', '\r', ' ']);
    if text.is_empty() {
        return;
    }
    for line in to_lines(text, state == MessageState::Streaming) {
        md_line_rows(&line, width, out);
    }
}
